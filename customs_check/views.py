"""The persistent store of search results: each distinct text's *view* (its best HS
subheadings and headings, and its watchlist hits), kept across runs beside the embedding
cache in ``home_dir()/views.sqlite``.

A nightly run meets mostly texts it met on earlier nights. The embedding cache already
spares embedding them again; this store spares searching them again, which is about 60%
of a warm run's time (FAISS, the hybrid fold, the tariff rules, the watchlist).

A view depends on more than its text: the model, the HS index (rows and exemplars), the
tariff rules and scoring settings, the watchlist and the code that searches. All of it is
hashed into a *context* (:func:`view_context`), and a view is found only under the context
it was made in. A changed setting, file or upgrade therefore never reads a stale view: it
searches afresh, and old views age out with ``customs-check cache prune``.

The store is a cache: if it cannot be read or written (a full disk, a locked file), the
check searches as if it were empty, and says so once on stderr.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customs_check.embeddings.cache import SQLiteStore, prune_clauses

if TYPE_CHECKING:
    from customs_check.hs_codes.catalogue import HSCatalogue
    from customs_check.index import HSIndex
    from customs_check.rules import TariffRules
    from customs_check.scoring import ScoringConfig
    from customs_check.watchlist import Watchlist

__all__ = ["VIEW_STORE_FILE", "ViewStore", "view_context"]

# The store's file name in a home folder, beside embeddings.sqlite.
VIEW_STORE_FILE = "views.sqlite"
# Bumped when what a stored view holds changes shape.
VIEW_FORMAT = 1
# The modules whose code decides a view: any edit to them (an upgrade, a local patch)
# makes a new context, so views made by other code are never read.
_VIEW_MODULES = (
    "customs_check.checker",
    "customs_check.index",
    "customs_check.lexical",
    "customs_check.models",
    "customs_check.rules",
    "customs_check.text",
    "customs_check.views",
    "customs_check.watchlist",
    "customs_check.hs_codes.catalogue",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS views (
    key BLOB PRIMARY KEY,
    model_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS views_model ON views(model_id);
"""


def _code_digest() -> str:
    digest = hashlib.sha256()
    for name in _VIEW_MODULES:
        path = getattr(importlib.import_module(name), "__file__", None)
        digest.update(name.encode() + b"\0" + (Path(path).read_bytes() if path else b""))
    return digest.hexdigest()


_CODE_DIGEST: str | None = None


def view_context(*, model_id: str, index: HSIndex, catalogue: HSCatalogue, rules: TariffRules,
                 config: ScoringConfig, watchlist: Watchlist) -> bytes:
    """sha256 of everything a view depends on besides its text."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        _CODE_DIGEST = _code_digest()
    from customs_check import __version__

    parts = {
        "format": VIEW_FORMAT,
        "version": __version__,
        "code": _CODE_DIGEST,
        "model": model_id,
        "index": index.fingerprint,
        "catalogue": catalogue.version,
        "rules": rules.fingerprint(),
        "config": dataclasses.asdict(config),
        "watchlist": watchlist.fingerprint(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).digest()


class ViewStore(SQLiteStore):
    """Views by (context, text key), as JSON (never pickled); see the module docstring.
    ``hits`` and ``stored`` count the entries read and written by this object; a damaged
    entry read counts as a hit here, and ``Checker.views_reused`` counts only usable ones."""

    schema = _SCHEMA
    probe = "SELECT count(*) FROM views LIMIT 1"

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        super().__init__(path, timeout=timeout)
        self.hits = 0
        self.stored = 0
        self._warned = False

    @staticmethod
    def _key(context: bytes, key: Sequence[str]) -> bytes:
        return hashlib.sha256(context + json.dumps(list(key)).encode()).digest()

    def get_many(self, context: bytes, keys: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], Any]:
        """The stored payloads among ``keys``; nothing (and a warning) if the file fails."""
        hashed = {self._key(context, k): k for k in keys}
        out: dict[tuple[str, ...], Any] = {}
        try:
            for h, payload in self._select_in("SELECT key, payload FROM views WHERE key IN", list(hashed)):
                out[hashed[bytes(h)]] = json.loads(payload)
        except (sqlite3.Error, ValueError) as exc:
            self._warn(exc)
            return {}
        self.hits += len(out)
        return out

    def put_many(self, context: bytes, model_id: str, items: Sequence[tuple[tuple[str, ...], Any]]) -> None:
        if not items:
            return
        now = time.time()
        rows = [(self._key(context, k), model_id, json.dumps(p, separators=(",", ":")).encode(), now)
                for k, p in items]
        try:
            self._write_many("INSERT OR REPLACE INTO views VALUES (?,?,?,?)", rows)
        except sqlite3.Error as exc:
            self._warn(exc)
            return
        self.stored += len(rows)

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            print(f"customs-check: the stored search results at {self.path} cannot be used ({exc}); "
                  "searching every text instead", file=sys.stderr)

    def by_model(self) -> dict[str, int]:
        """How many views each model has in the store (under every context)."""
        rows = self._connect().execute("SELECT model_id, count(*) FROM views GROUP BY model_id").fetchall()
        return {str(m): int(n) for m, n in rows}

    def prune(self, *, model_id: str | None = None, older_than_days: float | None = None,
              keep_model: str | None = None) -> int:
        """Delete views by model, by age, or of every model but ``keep_model`` (as
        :meth:`SQLiteCache.prune <customs_check.embeddings.SQLiteCache.prune>` does)."""
        clauses, params = prune_clauses(model_id=model_id, older_than_days=older_than_days, keep_model=keep_model)
        return self._delete("views", clauses, params)
