"""The persistent store of search results (customs_check.views): a checker that reads
its views from the store gives exactly the results of one that searched, and a view is
never read under settings other than those it was made with."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import write_jsonl
from customs_check.embeddings import HashingEmbedder, MemoryCache

from customs_check.batch import BatchOptions, run_batch
from customs_check.checker import Checker
from customs_check.index import HSIndex
from customs_check.rules import TariffRules
from customs_check.scoring import ScoringConfig
from customs_check.views import ViewStore, view_context
from customs_check.watchlist import Watchlist


def _checker(fake_checker: Checker, store: ViewStore | None, **kwargs: object) -> Checker:
    return Checker(HashingEmbedder(cache=MemoryCache()), index=fake_checker.index, catalogue=fake_checker.catalogue,
                   home=fake_checker.home, view_store=store, **kwargs)  # type: ignore[arg-type]


def _no_search(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: object, **_k: object) -> None:
        raise AssertionError("searched a text whose view is stored")

    monkeypatch.setattr(HSIndex, "search_levels", fail)
    monkeypatch.setattr(Watchlist, "match", fail)


def test_stored_views_give_the_same_results_without_searching(
    fake_checker: Checker, shipments_rows: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [*shipments_rows, {"listing_title": "TDP-5 tablet press", "declared_description": "hydraulic press",
                              "declared_hs_code": "8479.89"}]
    searched = _checker(fake_checker, ViewStore(tmp_path / "views.sqlite"))
    expected = [r.model_dump() for r in searched.check_many(rows)]
    assert searched.view_store is not None and searched.view_store.stored == 10  # 5 listings + 5 declarations
    assert any(r["watchlist_hits"] for r in expected)  # watchlist hits go through the store too

    _no_search(monkeypatch)
    reader = _checker(fake_checker, ViewStore(tmp_path / "views.sqlite"))
    assert [r.model_dump() for r in reader.check_many(rows)] == expected
    assert reader.view_store is not None and reader.view_store.hits == 10
    assert reader.check_rows(rows) == searched.check_rows(rows)


def test_a_view_keeps_every_bit_of_its_scores(fake_checker: Checker, tmp_path: Path) -> None:
    store = ViewStore(tmp_path / "views.sqlite")
    checker = _checker(fake_checker, store)
    keys = [("D", "wireless earphones"), ("D", "stainless steel vacuum flask 500ml")]
    made = checker._build_declaration_views(keys)
    read = _checker(fake_checker, ViewStore(tmp_path / "views.sqlite"))._build_declaration_views(keys)
    for a, b in zip(made, read, strict=True):
        assert (a.hs6, a.hs4, a.watch) == (b.hs6, b.hs4, b.watch)
        assert np.array_equal(a.exact, b.exact)
        assert [h.score.hex() for h in a.hs6] == [h.score.hex() for h in b.hs6]


@pytest.mark.parametrize("change", ["config", "rules", "watchlist", "exemplar rows", "model"])
def test_other_settings_make_another_context(fake_checker: Checker, change: str) -> None:
    parts = {"model_id": fake_checker.embedder.model_id, "index": fake_checker.index,
             "catalogue": fake_checker.catalogue, "rules": fake_checker.rules, "config": fake_checker.config,
             "watchlist": fake_checker.watchlist}
    before = view_context(**parts)  # type: ignore[arg-type]
    if change == "config":
        parts["config"] = dataclasses.replace(ScoringConfig(), watchlist_min_margin=0.07)
    elif change == "rules":
        parts["rules"] = TariffRules(fake_checker.catalogue, fake_checker.embedder, enabled=frozenset({"parts"}))
    elif change == "watchlist":
        wl = Watchlist.load()
        wl.lookalikes = (*wl.lookalikes, "a new look-alike")
        parts["watchlist"] = wl
    elif change == "exemplar rows":
        vec = fake_checker.embedder.embed(["garden hose reel"])
        parts["index"] = fake_checker.index.with_rows(["842489"], ["exemplar"], vec, texts=["garden hose reel"])
    else:
        parts["model_id"] = "another-model"
    assert view_context(**parts) != before  # type: ignore[arg-type]
    # The same settings, made again, are the same context.
    assert view_context(model_id=fake_checker.embedder.model_id, index=fake_checker.index,
                        catalogue=fake_checker.catalogue, rules=TariffRules(fake_checker.catalogue),
                        config=ScoringConfig(), watchlist=Watchlist.load()) == before


def test_a_changed_setting_searches_afresh(fake_checker: Checker, shipments_rows: list[dict], tmp_path: Path) -> None:
    _checker(fake_checker, ViewStore(tmp_path / "views.sqlite")).check_many(shipments_rows)
    other = _checker(fake_checker, ViewStore(tmp_path / "views.sqlite"),
                     config=dataclasses.replace(ScoringConfig(), lexical_weight=0.2))
    other.check_many(shipments_rows)
    assert other.view_store is not None and (other.view_store.hits, other.view_store.stored) == (0, 8)
    # Swapping the rules of a checker voids its views, in memory and in the store.
    other.rules = TariffRules(fake_checker.catalogue, fake_checker.embedder, enabled=frozenset())
    other.check_many(shipments_rows)
    assert (other.view_store.hits, other.view_store.stored) == (0, 16)


def test_the_context_does_not_depend_on_the_process(fake_checker: Checker) -> None:
    # Set order (the watchlist's CAS numbers) follows the hash seed, and a nightly run is
    # a new process: its context must be the one of the night before.
    code = ("from customs_check.checker import Checker; from customs_check.embeddings import HashingEmbedder;"
            "from customs_check.views import view_context; import sys;"
            f"c = Checker(HashingEmbedder(), home=__import__('pathlib').Path({str(fake_checker.home)!r}));"
            "print(view_context(model_id=c.embedder.model_id, index=c.index, catalogue=c.catalogue, "
            "rules=c.rules, config=c.config, watchlist=c.watchlist).hex())")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout for seed in ("1", "2", "3")}
    assert len(seen) == 1
    assert seen.pop().strip() == view_context(
        model_id=fake_checker.embedder.model_id, index=fake_checker.index, catalogue=fake_checker.catalogue,
        rules=fake_checker.rules, config=fake_checker.config, watchlist=fake_checker.watchlist).hex()


def test_an_unusable_store_warns_once_and_searches(fake_checker: Checker, shipments_rows: list[dict],
                                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = [r.model_dump() for r in _checker(fake_checker, None).check_many(shipments_rows)]
    store = ViewStore(tmp_path / "views.sqlite")
    with sqlite3.connect(store.path) as conn:  # the table gone under a running store
        conn.execute("DROP TABLE views")
    checker = _checker(fake_checker, store)
    assert [r.model_dump() for r in checker.check_many(shipments_rows)] == expected
    err = capsys.readouterr().err
    assert err.count("cannot be used") == 1
    assert "searching every text instead" in err


@pytest.mark.parametrize("damage", [[], [[["851830"]], [], []], [[[7, 0.5, 0.5]], [], []], "text",
                                    [[], [], [["press", "x", "not a list", 1.0]]]])
def test_a_damaged_entry_is_searched_again(fake_checker: Checker, tmp_path: Path, damage: object) -> None:
    rows = [{"listing_title": "TDP-5 tablet press", "declared_description": "wireless earphones",
             "declared_hs_code": "8518.30"}]
    expected = [r.model_dump() for r in _checker(fake_checker, None).check_many(rows)]
    store = ViewStore(tmp_path / "views.sqlite")
    checker = _checker(fake_checker, store)
    store.put_many(checker._context(), "x", [(("D", "wireless earphones"), damage)])
    assert [r.model_dump() for r in checker.check_many(rows)] == expected
    assert store.stored == 1 + 2  # the damaged entry was replaced by a fresh view
    assert (store.hits, checker.views_reused) == (1, 0)  # read, but not reused
    fresh = _checker(fake_checker, store)
    assert [r.model_dump() for r in fresh.check_many(rows)] == expected
    assert fresh.views_reused == 2  # both views, the mended one included


def test_store_prune_and_counts(tmp_path: Path) -> None:
    store = ViewStore(tmp_path / "views.sqlite")
    store.put_many(b"c1", "model-a", [(("D", "a"), [[], [], []]), (("D", "b"), [[], [], []])])
    store.put_many(b"c2", "model-b", [(("D", "a"), [[["851830", 0.5, 0.5]], [], []])])
    assert store.by_model() == {"model-a": 2, "model-b": 1}
    # Keys are per context: the same text under two contexts is two views.
    assert store.get_many(b"c1", [("D", "a")]) == {("D", "a"): [[], [], []]}
    assert store.get_many(b"c2", [("D", "a"), ("D", "b")]) == {("D", "a"): [[["851830", 0.5, 0.5]], [], []]}
    assert store.prune(keep_model="model-b") == 2
    assert store.prune(older_than_days=0) == 1
    assert store.by_model() == {}
    with pytest.raises(ValueError, match="prune needs"):
        store.prune()


def test_batch_runs_reuse_stored_search_results(fake_checker: Checker, shipments_rows: list[dict],
                                                tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", shipments_rows)
    runs = [run_batch(_checker(fake_checker, ViewStore(tmp_path / "views.sqlite")), inp, tmp_path / f"{name}.parquet",
                      BatchOptions(report=False), notify=lambda _m: None) for name in ("a", "b")]
    assert [r.manifest["cache"]["search_results_reused"] for r in runs] == [0, 8]  # 4 listings + 4 declarations
    assert json.loads(runs[1].manifest_path.read_text())["cache"]["search_results_reused"] == 8
    assert pl.read_parquet(tmp_path / "a.parquet").equals(pl.read_parquet(tmp_path / "b.parquet"))


def _changed(value: object) -> object:
    """Another value of the same kind, for any setting or field below."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, frozenset):
        return value ^ {"50-00-0"} if all(isinstance(v, str) and v[:1].isdigit() for v in value) else value ^ {"parts"}
    if isinstance(value, tuple):
        return (*value, re.compile("zz") if value and isinstance(value[0], re.Pattern) else "zz")
    raise AssertionError(f"no change known for {value!r}")


def test_every_rules_setting_is_in_the_fingerprint(fake_checker: Checker) -> None:
    base = TariffRules(fake_checker.catalogue)
    names = [n for n, p in inspect.signature(TariffRules.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert {"enabled", "conflict_penalty", "context"} <= set(names)
    for name in names:
        if name == "enabled":
            other = TariffRules(fake_checker.catalogue, enabled=frozenset({"parts"}))
        else:
            other = TariffRules(fake_checker.catalogue, **{name: _changed(getattr(base, name))})
        assert other.fingerprint() != base.fingerprint(), name
    assert TariffRules(fake_checker.catalogue).fingerprint() == base.fingerprint()


def test_every_watchlist_field_is_in_the_fingerprint() -> None:
    base = Watchlist.load()
    cat_id, cat = next(iter(base.categories.items()))
    names = [f.name for f in dataclasses.fields(cat) if not f.name.startswith("_")]
    assert {"phrases", "patterns", "cas", "exclude", "priority"} <= set(names)
    for name in names:
        other = Watchlist.load()
        other.categories[cat_id] = dataclasses.replace(cat, **{name: _changed(getattr(cat, name))})
        assert other.fingerprint() != base.fingerprint(), name
    assert Watchlist.load().fingerprint() == base.fingerprint()


def test_prune_by_disuse_keeps_the_views_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    store = ViewStore(tmp_path / "views.sqlite")
    store.put_many(b"before upgrade", "m", [(("D", "a"), [[], [], []]), (("D", "b"), [[], [], []])])
    store.put_many(b"now", "m", [(("D", "a"), [[], [], []])])
    clock[0] += 10 * 86400
    # Read, not written, in the last ten days: still in use.
    assert ViewStore(tmp_path / "views.sqlite").get_many(b"now", [("D", "a")]) == {("D", "a"): [[], [], []]}
    clock[0] += 86400
    assert store.prune(unused_for_days=5) == 2
    assert [c for (c,) in store._connect().execute("SELECT context FROM contexts")] == [b"now"]
    assert store.get_many(b"now", [("D", "a")]) == {("D", "a"): [[], [], []]}
    assert store.get_many(b"before upgrade", [("D", "a"), ("D", "b")]) == {}
    assert store.prune(unused_for_days=0) == 0  # a use just now (the read above) counts
    clock[0] += 1
    assert store.prune(unused_for_days=0) == 1
    assert list(store._connect().execute("SELECT * FROM contexts")) == []


def test_a_store_from_before_contexts_were_recorded(tmp_path: Path) -> None:
    path = tmp_path / "views.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE views (key BLOB PRIMARY KEY, model_id TEXT NOT NULL, payload BLOB NOT NULL, "
                     "created REAL NOT NULL) WITHOUT ROWID")
        conn.execute("INSERT INTO views VALUES (?, 'm', '[[], [], []]', 0)", (b"k" * 32,))
    store = ViewStore(path)
    assert store.recovered_from is None and store.by_model() == {"m": 1}
    store.put_many(b"now", "m", [(("D", "a"), [[], [], []])])
    assert ViewStore(path).by_model() == {"m": 2}  # opened again: nothing to migrate
    assert store.prune(unused_for_days=30) == 1  # the old view, made by code that is gone
    assert store.get_many(b"now", [("D", "a")]) == {("D", "a"): [[], [], []]}


def test_a_read_does_not_wait_on_a_writer_to_record_its_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "views.sqlite"
    ViewStore(path).put_many(b"c", "m", [(("D", "a"), [[], [], []])])
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    reader = ViewStore(path, timeout=5)
    started = time.perf_counter()
    assert reader.get_many(b"c", [("D", "a")]) == {("D", "a"): [[], [], []]}
    assert time.perf_counter() - started < 2
    assert "cannot be used" not in capsys.readouterr().err
    writer.execute("COMMIT")
    before = list(reader._connect().execute("SELECT last_used FROM contexts"))
    reader.get_many(b"c", [("D", "a")])  # the use not recorded above is recorded now
    assert list(reader._connect().execute("SELECT last_used FROM contexts")) != before
    writer.close()
