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
searches afresh, and views whose context no checker has used for a while go with
``customs-check cache prune --unused-for-days N`` (each store records when it used a context).

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
    created REAL NOT NULL,
    context BLOB
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS views_model ON views(model_id);
CREATE TABLE IF NOT EXISTS contexts (
    context BLOB PRIMARY KEY,
    last_used REAL NOT NULL
) WITHOUT ROWID;
"""
# How often one store object records that it used a context (cache prune
# --unused-for-days reads it): a nightly run or a service marks it once an hour at most.
_TOUCH_EVERY_S = 3600.0


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
        self._touched: dict[bytes, float] = {}
        super().__init__(path, timeout=timeout)
        self.hits = 0
        self.stored = 0
        self._warned = False

    def _init_db(self) -> None:
        conn = self._connect()
        conn.executescript(self.schema)
        # Files from before contexts were recorded: their views get no context (so the
        # first --unused-for-days prune clears them; the code that made them is gone).
        if "context" not in self._columns():
            try:
                conn.execute("ALTER TABLE views ADD COLUMN context BLOB")
            except sqlite3.OperationalError:
                if "context" not in self._columns():  # else another process added it first
                    raise
        conn.execute("CREATE INDEX IF NOT EXISTS views_context ON views(context)")
        conn.execute(self.probe).fetchone()

    def _columns(self) -> set[str]:
        return {str(row[1]) for row in self._connect().execute("PRAGMA table_info(views)")}

    def _use_sql(self, context: bytes) -> tuple[str, tuple[Any, ...]]:
        """The statement that records a use of ``context`` now (and notes that it did)."""
        now = time.time()
        self._touched[context] = now
        return ("INSERT INTO contexts VALUES (?, ?) ON CONFLICT(context) DO UPDATE SET last_used = excluded.last_used",
                (context, now))

    def _record_use(self, context: bytes) -> None:
        """Record, from a read, that ``context`` is in use, unless this object did lately;
        skipped, and tried again at a later read, if another process holds the write lock
        or the file is read-only: a read never waits on a writer, nor fails, for this."""
        if time.time() - self._touched.get(context, -_TOUCH_EVERY_S) < _TOUCH_EVERY_S:
            return
        conn = self._connect()
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute(*self._use_sql(context))
        except sqlite3.Error:
            self._touched.pop(context, None)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")

    @staticmethod
    def _key(context: bytes, key: Sequence[str]) -> bytes:
        return hashlib.sha256(context + json.dumps(list(key)).encode()).digest()

    def get_many(self, context: bytes, keys: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], Any]:
        """The stored payloads among ``keys``; nothing (and a warning) if the file fails."""
        hashed = {self._key(context, k): k for k in keys}
        out: dict[tuple[str, ...], Any] = {}
        try:
            self._record_use(context)
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
        rows = [(self._key(context, k), model_id, json.dumps(p, separators=(",", ":")).encode(), now, context)
                for k, p in items]
        try:
            # The context's use is recorded in the same transaction: no view without it.
            self._write_many("INSERT OR REPLACE INTO views (key, model_id, payload, created, context) "
                             "VALUES (?,?,?,?,?)", rows, also=self._use_sql(context))
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
              keep_model: str | None = None, unused_for_days: float | None = None) -> int:
        """Delete views by model, by age, of every model but ``keep_model`` (as
        :meth:`SQLiteCache.prune <customs_check.embeddings.SQLiteCache.prune>` does), or made
        under a context (settings, watchlist, index, version) that no checker has used for
        ``unused_for_days``: after an upgrade or a change of settings, the old views are
        never read again. Conditions given together must all hold."""
        others = (model_id, keep_model, older_than_days) != (None, None, None)
        clauses, params = (prune_clauses(model_id=model_id, older_than_days=older_than_days, keep_model=keep_model)
                           if others or unused_for_days is None else ([], []))
        if unused_for_days is None:
            return self._delete("views", clauses, params)
        cutoff = time.time() - unused_for_days * 86400
        clauses.append("(context IS NULL OR context NOT IN (SELECT context FROM contexts WHERE last_used >= ?))")
        deleted = self._delete("views", clauses, [*params, cutoff])
        self._connect().execute(
            "DELETE FROM contexts WHERE last_used < ? AND context NOT IN (SELECT DISTINCT context FROM views "
            "WHERE context IS NOT NULL)", (cutoff,))
        self._touched.clear()
        return deleted
