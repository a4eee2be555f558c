"""Embedding caches, keyed by sha256(model id + text).

:class:`SQLiteCache` is the persistent store. SQLite in WAL mode was chosen over LMDB or
Parquet shards because it is in the standard library, survives ``kill -9`` (every batch
commits atomically), lets many readers and one writer share a file across processes
(two nightly runs on one cache are safe), and supports pruning in place. Vectors are
stored as raw float32 bytes, never pickled.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from customs_check.errors import OutputError

__all__ = ["BoundedLRU", "CacheStats", "EmbeddingCache", "MemoryCache", "SQLiteCache", "SQLiteStore"]

K = TypeVar("K")
V = TypeVar("V")


class EmbeddingCache(Protocol):
    def get_many(self, keys: Iterable[bytes], dimensions: int) -> dict[bytes, np.ndarray]: ...

    def put_many(self, vectors: Mapping[bytes, np.ndarray], model_id: str) -> None: ...


class BoundedLRU(Generic[K, V]):
    """A thread-safe map that keeps its ``size`` most recently used entries and counts
    hits. The in-memory embedding cache, a checker's text views and a batch's verdicts
    are all one of these."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """The entries found among ``keys``; each becomes the most recently used."""
        out: dict[K, V] = {}
        with self._lock:
            for k in keys:
                v = self._data.get(k)
                if v is not None:
                    self._data.move_to_end(k)
                    out[k] = v
            self.hits += len(out)
        return out

    def put_many(self, items: Iterable[tuple[K, V]]) -> None:
        with self._lock:
            for k, v in items:
                self._data[k] = v
                self._data.move_to_end(k)
            while len(self._data) > max(self.size, 0):
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class MemoryCache:
    """An in-process LRU cache (the default when no cache path is given)."""

    def __init__(self, max_items: int = 200_000) -> None:
        self._lru: BoundedLRU[bytes, np.ndarray] = BoundedLRU(max_items)

    @property
    def max_items(self) -> int:
        return self._lru.size

    def get_many(self, keys: Iterable[bytes], dimensions: int) -> dict[bytes, np.ndarray]:
        return {k: v for k, v in self._lru.get_many(keys).items() if v.shape == (dimensions,)}

    def put_many(self, vectors: Mapping[bytes, np.ndarray], model_id: str) -> None:
        self._lru.put_many(vectors.items())

    def __len__(self) -> int:
        return len(self._lru)


@dataclass(frozen=True)
class CacheStats:
    path: str
    file_bytes: int
    vectors: int
    by_model: dict[str, int]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    key BLOB PRIMARY KEY,
    model_id TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vec BLOB NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vectors_model ON vectors(model_id);
"""


class SQLiteStore:
    """One SQLite file in WAL mode with a connection per thread: the plumbing that the
    embedding cache and the checker's store of search results share.

    A file that is not a readable SQLite database is moved aside (``*.corrupt-<time>``)
    and a new one is started: a cache is never worth a crash. Subclasses give the schema
    and a query that must run on a healthy file.
    """

    schema = ""
    probe = ""

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the cache folder {self.path.parent}: {exc.strerror or exc}",
                              hint="give a writable folder with --home or CUSTOMS_CHECK_HOME") from exc
        self._timeout = timeout
        self._local = threading.local()
        self.recovered_from: Path | None = None
        try:
            self._init_db()
        except sqlite3.DatabaseError:
            self.recovered_from = self._move_aside()
            self._init_db()

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _init_db(self) -> None:
        conn = self._connect()
        conn.executescript(self.schema)
        conn.execute(self.probe).fetchone()

    def _move_aside(self) -> Path:
        self.close()
        target = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        self.path.replace(target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.unlink()
        return target

    def _select_in(self, sql: str, keys: list[bytes]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (ending in ``IN``) for the keys, a statement per 500 keys:
        SQLite limits host parameters per statement, 500 stays far below every build's cap."""
        conn = self._connect()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            yield from conn.execute(f"{sql} ({','.join('?' * len(chunk))})", chunk)

    def _write_many(self, sql: str, rows: list[tuple[Any, ...]],
                    also: tuple[str, tuple[Any, ...]] | None = None) -> None:
        """One transaction, with the statement ``also`` if given: a kill leaves all of
        the rows or none."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(sql, rows)
            if also is not None:
                conn.execute(*also)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _delete(self, table: str, clauses: list[str], params: list[Any]) -> int:
        """Delete the rows matching every clause, then compact the file."""
        conn = self._connect()
        deleted = conn.execute(f"DELETE FROM {table} WHERE {' AND '.join(clauses)}", params).rowcount
        conn.execute("VACUUM")
        return int(deleted)

    def file_bytes(self) -> int:
        """The file and its write-ahead log, as they take up disk."""
        return sum(p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal"))
                   if p.exists())

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class SQLiteCache(SQLiteStore):
    """Persistent cache in one SQLite file; a small in-memory LRU sits in front of it.
    Rows whose vector has the wrong length or non-finite values are ignored and
    overwritten on the next put."""

    schema = _SCHEMA
    probe = "SELECT count(*) FROM vectors LIMIT 1"

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        self._front = MemoryCache(max_items=50_000)
        super().__init__(path, timeout=timeout)

    def get_many(self, keys: Iterable[bytes], dimensions: int) -> dict[bytes, np.ndarray]:
        keys = list(keys)
        out = self._front.get_many(keys, dimensions)
        fetched = {}
        for key, dim, blob in self._select_in("SELECT key, dim, vec FROM vectors WHERE key IN",
                                              [k for k in keys if k not in out]):
            if dim != dimensions or len(blob) != 4 * dimensions:
                continue
            vec = np.frombuffer(blob, dtype=np.float32)
            if not np.isfinite(vec).all():
                continue
            fetched[bytes(key)] = vec
        out.update(fetched)
        self._front.put_many(fetched, "")
        return out

    def put_many(self, vectors: Mapping[bytes, np.ndarray], model_id: str) -> None:
        if not vectors:
            return
        now = time.time()
        self._write_many("INSERT OR REPLACE INTO vectors VALUES (?,?,?,?,?)", [
            (k, model_id, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes(), now)
            for k, v in vectors.items()
        ])
        self._front.put_many(vectors, model_id)

    def stats(self) -> CacheStats:
        conn = self._connect()
        by_model = dict(conn.execute("SELECT model_id, count(*) FROM vectors GROUP BY model_id").fetchall())
        return CacheStats(str(self.path), self.file_bytes(), sum(by_model.values()), by_model)

    def prune(self, *, model_id: str | None = None, older_than_days: float | None = None,
              keep_model: str | None = None) -> int:
        """Delete vectors by model, by age, or of every model but ``keep_model``.
        Returns the number deleted; the file is compacted afterwards."""
        clauses, params = prune_clauses(model_id=model_id, older_than_days=older_than_days, keep_model=keep_model)
        deleted = self._delete("vectors", clauses, params)
        self._front = MemoryCache(max_items=self._front.max_items)
        return deleted


def prune_clauses(*, model_id: str | None, older_than_days: float | None,
                  keep_model: str | None) -> tuple[list[str], list[Any]]:
    """SQL conditions for a prune by model, by age, or of every model but one (tables
    with ``model_id`` and ``created`` columns)."""
    clauses: list[str] = []
    params: list[Any] = []
    if model_id is not None:
        clauses.append("model_id = ?")
        params.append(model_id)
    if keep_model is not None:
        clauses.append("model_id != ?")
        params.append(keep_model)
    if older_than_days is not None:
        clauses.append("created < ?")
        params.append(time.time() - older_than_days * 86400)
    if not clauses:
        raise ValueError("prune needs a model id, keep_model or an age")
    return clauses, params
