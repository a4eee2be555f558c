"""The embedding base class, the fake embedder and the caches."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from customs_check.embeddings import EmbeddingModel, HashingEmbedder, MemoryCache, SQLiteCache, text_key


# -- HashingEmbedder ----------------------------------------------------------------------
def test_hashing_embedder_is_deterministic_across_instances() -> None:
    texts = ["TDP-5 pill press", "cotton t-shirt", "", "stainless steel water bottle"]
    a = HashingEmbedder().embed(texts)
    b = HashingEmbedder(cache=MemoryCache()).embed(list(reversed(texts)))[::-1]
    np.testing.assert_array_equal(a, b)
    assert HashingEmbedder().model_id == HashingEmbedder().model_id == "fake-hashing-v1-d256"


def test_hashing_embedder_shape_and_unit_norm() -> None:
    emb = HashingEmbedder()
    vecs = emb.embed(["a b c", "x", "", "!!!", "Wireless earphones"])
    assert vecs.shape == (5, 256)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(vecs).all()
    small = HashingEmbedder(dimensions=32)
    assert small.embed(["x"]).shape == (1, 32)
    assert small.model_id != emb.model_id
    assert emb.embed([]).shape == (0, 256)
    assert emb.embed_one("x").shape == (256,)


def test_hashing_embedder_similar_texts_are_closer() -> None:
    emb = HashingEmbedder()
    a, b, c = emb.embed(["wireless bluetooth earphones", "bluetooth wireless earbuds", "cast iron frying pan"])
    assert a @ b > a @ c + 0.2
    assert a @ b > b @ c + 0.2


# -- the base class -----------------------------------------------------------------------
class CountingEmbedder(EmbeddingModel):
    """Records every batch it is asked to embed."""

    def __init__(
        self,
        model_id: str = "counting-v1",
        dimensions: int = 8,
        batch_size: int = 3,
        cache=None,
        bad_shape: bool = False,
    ) -> None:
        super().__init__(cache)
        self.model_id = model_id
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.bad_shape = bad_shape
        self.batches: list[list[str]] = []

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        if self.bad_shape:
            return np.ones((len(texts), self.dimensions + 1), dtype=np.float32)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, len(t) % self.dimensions] = 1.0 + len(t)
            out[i, (len(t) + 1) % self.dimensions] = 1.0
        return out

    @property
    def embedded(self) -> list[str]:
        return [t for b in self.batches for t in b]


def test_duplicates_are_embedded_once() -> None:
    emb = CountingEmbedder()
    texts = ["aa", "b", "aa", "ccc", "b", "aa"]
    vecs = emb.embed(texts)
    assert sorted(emb.embedded) == ["aa", "b", "ccc"]
    assert emb.texts_embedded == 3
    np.testing.assert_array_equal(vecs[0], vecs[2])
    np.testing.assert_array_equal(vecs[0], vecs[5])
    np.testing.assert_array_equal(vecs[1], vecs[4])
    assert not np.array_equal(vecs[0], vecs[1])
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-6)


def test_second_call_hits_the_cache() -> None:
    emb = CountingEmbedder()
    first = emb.embed(["one", "two", "three"])
    assert emb.cache_hits == 0
    second = emb.embed(["three", "two", "four"])
    assert emb.cache_hits == 2
    assert emb.embedded == ["three", "one", "two", "four"]  # only "four" is new
    np.testing.assert_array_equal(first[2], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_batches_are_length_sorted_and_bounded() -> None:
    emb = CountingEmbedder(batch_size=3)
    texts = ["a" * n for n in (5, 1, 9, 3, 7, 2, 8)]
    progress: list[tuple[int, int]] = []
    emb.embed(texts, progress=lambda done, total: progress.append((done, total)))
    assert [len(b) for b in emb.batches] == [3, 3, 1]
    lengths = [len(t) for t in emb.embedded]
    assert lengths == sorted(lengths, reverse=True)
    assert progress == [(3, 7), (6, 7), (7, 7)]


def test_wrong_shape_from_backend_raises() -> None:
    emb = CountingEmbedder(bad_shape=True)
    with pytest.raises(RuntimeError, match=r"CountingEmbedder\.embed_batch returned shape"):
        emb.embed(["x", "y"])


def test_zero_vector_is_not_nan() -> None:
    class Zero(CountingEmbedder):
        def embed_batch(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), self.dimensions), dtype=np.float32)

    vecs = Zero().embed(["x"])
    assert np.isfinite(vecs).all()


def test_text_key_differs_per_model() -> None:
    assert text_key("model-a", "pill press") != text_key("model-b", "pill press")
    assert text_key("model-a", "pill press") == text_key("model-a", "pill press")
    assert text_key("model-a", "pill press") != text_key("model-a", "pill  press")
    assert len(text_key("m", "t")) == 32
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert text_key("ab", "c") != text_key("a", "bc")


def test_two_models_share_a_cache_without_collisions() -> None:
    cache = MemoryCache()
    a = CountingEmbedder("model-a", cache=cache)
    b = CountingEmbedder("model-b", cache=cache)
    a.embed(["x"])
    b.embed(["x"])
    assert a.embedded == ["x"] and b.embedded == ["x"]
    assert len(cache) == 2


# -- MemoryCache --------------------------------------------------------------------------
def _vec(i: float, dim: int = 4) -> np.ndarray:
    return np.full(dim, i, dtype=np.float32)


def test_memory_cache_lru_bound() -> None:
    cache = MemoryCache(max_items=3)
    cache.put_many({b"a": _vec(1), b"b": _vec(2), b"c": _vec(3)}, "m")
    assert set(cache.get_many([b"a"], 4)) == {b"a"}  # "a" is now the most recent
    cache.put_many({b"d": _vec(4)}, "m")
    assert len(cache) == 3
    got = cache.get_many([b"a", b"b", b"c", b"d"], 4)
    assert set(got) == {b"a", b"c", b"d"}  # "b" was least recently used
    np.testing.assert_array_equal(got[b"d"], _vec(4))


def test_memory_cache_ignores_wrong_dimensions() -> None:
    cache = MemoryCache()
    cache.put_many({b"a": _vec(1, 4)}, "m")
    assert cache.get_many([b"a"], 8) == {}
    assert set(cache.get_many([b"a"], 4)) == {b"a"}


# -- SQLiteCache --------------------------------------------------------------------------
def _key(i: int) -> bytes:
    return text_key("m", f"text {i}")


def test_sqlite_round_trip(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    vectors = {_key(i): np.arange(8, dtype=np.float32) + i for i in range(10)}
    cache.put_many(vectors, "m")
    got = cache.get_many([_key(i) for i in range(12)], 8)
    assert set(got) == {_key(i) for i in range(10)}
    for k, v in vectors.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == np.float32
    assert cache.get_many([_key(1)], 16) == {}  # wrong dimensions: a miss
    cache.put_many({}, "m")  # no-op
    cache.close()


def test_sqlite_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.sqlite"
    first = SQLiteCache(path)
    first.put_many({_key(1): _vec(1.5, 8)}, "m")
    first.close()
    second = SQLiteCache(path)
    got = second.get_many([_key(1)], 8)
    np.testing.assert_array_equal(got[_key(1)], _vec(1.5, 8))
    assert second.recovered_from is None


def test_sqlite_many_keys_in_one_call(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    cache.put_many({_key(i): _vec(i, 4) for i in range(1200)}, "m")
    fresh = SQLiteCache(tmp_path / "c.sqlite")  # empty front cache: every key goes to SQLite
    got = fresh.get_many([_key(i) for i in range(1200)], 4)
    assert len(got) == 1200
    np.testing.assert_array_equal(got[_key(1199)], _vec(1199, 4))


def test_sqlite_as_embedder_cache(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    first = CountingEmbedder(cache=SQLiteCache(path))
    v1 = first.embed(["alpha", "beta"])
    second = CountingEmbedder(cache=SQLiteCache(path))
    v2 = second.embed(["beta", "alpha"])
    assert second.batches == []
    assert second.cache_hits == 2
    np.testing.assert_array_equal(v1, v2[::-1])


def test_sqlite_from_eight_threads(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    barrier = threading.Barrier(8)

    def work(t: int) -> int:
        barrier.wait()
        ok = 0
        for round_ in range(20):
            batch = {text_key("m", f"{t}-{round_}-{j}"): _vec(t * 1000 + round_ * 10 + j, 8) for j in range(5)}
            cache.put_many(batch, "m")
            got = cache.get_many(list(batch), 8)
            ok += sum(np.array_equal(got[k], v) for k, v in batch.items())
            # Read what the other threads wrote so far (present or absent, never broken).
            other = cache.get_many([text_key("m", f"{(t + 1) % 8}-0-{j}") for j in range(5)], 8)
            assert all(v.shape == (8,) for v in other.values())
        return ok

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [100] * 8
    assert SQLiteCache(tmp_path / "c.sqlite").stats().vectors == 8 * 20 * 5


def _process_writer(path: str, worker: int, rounds: int, start: Any) -> None:
    cache = SQLiteCache(path, timeout=60)
    start.wait(30)  # both processes write at the same moment
    for r in range(rounds):
        cache.put_many(
            {
                text_key("m", f"p{worker}-{r}-{j}"): np.full(16, worker * 10_000 + r * 10 + j, np.float32)
                for j in range(10)
            },
            f"model-{worker}",
        )
    cache.close()


def test_sqlite_two_processes_writing_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    SQLiteCache(path).close()  # create the schema first, as a first run would
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_process_writer, args=(str(path), w, 100, start)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    cache = SQLiteCache(path)
    assert cache.recovered_from is None
    stats = cache.stats()
    assert stats.by_model == {"model-1": 1000, "model-2": 1000}
    keys = [text_key("m", f"p{w}-{r}-{j}") for w in (1, 2) for r in range(100) for j in range(10)]
    got = cache.get_many(keys, 16)
    assert len(got) == 2000
    np.testing.assert_array_equal(got[text_key("m", "p2-99-9")], np.full(16, 20_999, np.float32))
    np.testing.assert_array_equal(got[text_key("m", "p1-0-0")], np.full(16, 10_000, np.float32))


def test_sqlite_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    garbage = b"this is not a database\x00\xff" * 500
    path.write_bytes(garbage)
    cache = SQLiteCache(path)
    assert cache.recovered_from is not None
    assert cache.recovered_from.exists()
    assert cache.recovered_from.name.startswith("c.sqlite.corrupt-")
    assert cache.recovered_from.read_bytes() == garbage  # kept for inspection, untouched
    cache.put_many({_key(1): _vec(1, 4)}, "m")
    assert set(cache.get_many([_key(1)], 4)) == {_key(1)}
    reopened = SQLiteCache(path)
    assert reopened.recovered_from is None
    assert set(reopened.get_many([_key(1)], 4)) == {_key(1)}


def test_sqlite_ignores_wrong_length_and_non_finite_blobs(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    SQLiteCache(path).close()
    conn = sqlite3.connect(path)
    rows = [
        (_key(1), "m", 4, np.ones(3, np.float32).tobytes(), time.time()),  # blob too short
        (_key(2), "m", 4, b"\x00" * 15, time.time()),  # not a whole float32 count
        (_key(3), "m", 5, np.ones(5, np.float32).tobytes(), time.time()),  # other dimensions
        (_key(4), "m", 4, np.array([1, np.nan, 0, 0], np.float32).tobytes(), time.time()),
        (_key(5), "m", 4, np.arange(4, dtype=np.float32).tobytes(), time.time()),  # good
    ]
    conn.executemany("INSERT INTO vectors VALUES (?,?,?,?,?)", rows)
    conn.commit()
    conn.close()
    cache = SQLiteCache(path)
    got = cache.get_many([_key(i) for i in range(1, 6)], 4)
    assert set(got) == {_key(5)}
    np.testing.assert_array_equal(got[_key(5)], np.arange(4, dtype=np.float32))
    # A bad row is overwritten by the next put.
    cache.put_many({_key(1): _vec(7, 4)}, "m")
    assert set(SQLiteCache(path).get_many([_key(1)], 4)) == {_key(1)}


def test_sqlite_stats(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    empty = cache.stats()
    assert empty.vectors == 0 and empty.by_model == {}
    cache.put_many({text_key("a", str(i)): _vec(i, 8) for i in range(3)}, "a")
    cache.put_many({text_key("b", str(i)): _vec(i, 8) for i in range(2)}, "b")
    stats = cache.stats()
    assert stats.vectors == 5
    assert stats.by_model == {"a": 3, "b": 2}
    assert stats.path == str(tmp_path / "c.sqlite")
    assert stats.file_bytes > 0


def _filled(tmp_path: Path) -> SQLiteCache:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    cache.put_many({text_key("a", str(i)): _vec(i, 8) for i in range(4)}, "a")
    cache.put_many({text_key("b", str(i)): _vec(i, 8) for i in range(3)}, "b")
    cache.put_many({text_key("c", str(i)): _vec(i, 8) for i in range(2)}, "c")
    return cache


def test_sqlite_prune_by_model(tmp_path: Path) -> None:
    cache = _filled(tmp_path)
    assert cache.prune(model_id="b") == 3
    assert cache.stats().by_model == {"a": 4, "c": 2}
    # The in-memory front is dropped too: pruned vectors are really gone.
    assert cache.get_many([text_key("b", "0")], 8) == {}
    assert set(cache.get_many([text_key("a", "0")], 8)) == {text_key("a", "0")}
    assert cache.prune(model_id="nope") == 0


def test_sqlite_prune_keep_model(tmp_path: Path) -> None:
    cache = _filled(tmp_path)
    assert cache.prune(keep_model="a") == 5
    assert cache.stats().by_model == {"a": 4}


def test_sqlite_prune_by_age(tmp_path: Path) -> None:
    cache = _filled(tmp_path)
    conn = sqlite3.connect(cache.path)
    old = time.time() - 40 * 86400
    conn.execute("UPDATE vectors SET created = ? WHERE model_id IN ('a', 'c')", (old,))
    conn.commit()
    conn.close()
    assert cache.prune(older_than_days=30) == 6
    assert cache.stats().by_model == {"b": 3}
    assert cache.prune(older_than_days=30) == 0


def test_sqlite_prune_age_and_model_combine(tmp_path: Path) -> None:
    cache = _filled(tmp_path)
    conn = sqlite3.connect(cache.path)
    conn.execute("UPDATE vectors SET created = ?", (time.time() - 40 * 86400,))
    conn.commit()
    conn.close()
    assert cache.prune(model_id="a", older_than_days=30) == 4
    assert cache.prune(model_id="b", older_than_days=50) == 0
    assert cache.stats().by_model == {"b": 3, "c": 2}


def test_sqlite_prune_needs_a_criterion(tmp_path: Path) -> None:
    cache = _filled(tmp_path)
    with pytest.raises(ValueError, match="prune needs"):
        cache.prune()
    assert cache.stats().vectors == 9
