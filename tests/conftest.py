"""Shared fixtures. Every test runs against a private CUSTOMS_CHECK_HOME, so nothing in
the user's real cache is read or written; the fake embedder's HS index is built once per
test session (a few seconds) and shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from customs_check.embeddings import HashingEmbedder, MemoryCache

from customs_check.batch import INPUT_COLUMNS
from customs_check.checker import Checker


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cchome")


@pytest.fixture(autouse=True)
def _private_home(session_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMS_CHECK_HOME", str(session_home))
    monkeypatch.delenv("CUSTOMS_CHECK_MODEL", raising=False)


@pytest.fixture(scope="session")
def fake_checker(session_home: Path) -> Checker:
    """A Checker on the deterministic fake embedder (index built once per session)."""
    return Checker(HashingEmbedder(cache=MemoryCache()), home=session_home, notify=lambda _m: None)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


@pytest.fixture
def shipments_rows() -> list[dict]:
    """A small mixed input: honest, swapped, vague, watchlist and invalid rows."""
    rows = [
        ("S1", "TWS Bluetooth earbuds wireless earphones", "Electronics > Earphones", None,
         "Wireless earphones", "8518.30"),
        ("S2", "TDP-5 pill press 5000 pills per hour", "Industrial > Machinery", None, "LINEAR GUIDE RAIL", "848210"),
        ("S3", "Women's cotton t-shirt", "Clothing > Tops", "Material: Cotton", "PARTS", None),
        ("S4", "Stainless steel water bottle", None, None, "Electronic integrated circuits", "8542.31.0000"),
        ("S5", "", "Toys", None, "toy car", "9503.00"),
        ("S6", "Wooden cutting board", None, None, "Bamboo board", "4419.AB"),
        ("S7", "TWS Bluetooth earbuds wireless earphones", "Electronics > Earphones", None,
         "Wireless earphones", "8518.30"),
    ]
    return [dict(zip(INPUT_COLUMNS, r, strict=True)) for r in rows]


_OPENED: dict[tuple[str, str, bool], Checker] = {}
_REAL_OPEN = Checker.open.__func__  # type: ignore[attr-defined]


@pytest.fixture
def open_each_checker_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Share Checker.open across CLI calls: each open costs about a second (index load,
    lexical index), and CLI tests make hundreds. Calls with --exemplars or --watchlist
    change the checker, so they always open a fresh one."""

    def open_once(cls, model="default", *, home=None, cache=True, watchlist=None, exemplars=None,
                  progress=None, notify=None) -> Checker:
        if watchlist is not None or exemplars is not None:
            return _REAL_OPEN(cls, model, home=home, cache=cache, watchlist=watchlist, exemplars=exemplars,
                              progress=progress, notify=notify)
        key = (model, str(home), cache)
        if key not in _OPENED:
            _OPENED[key] = _REAL_OPEN(cls, model, home=home, cache=cache, progress=progress, notify=notify)
        return _OPENED[key]

    monkeypatch.setattr(Checker, "open", classmethod(open_once))
