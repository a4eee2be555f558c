"""The embedding-backend contract.

A backend implements one method, :meth:`EmbeddingModel.embed_batch`. The base class owns
everything that makes embedding cheap at scale: de-duplication, the cache (keyed by a hash
of model id + text), length-sorted batching (padding is what a transformer wastes time on)
and L2 normalisation. Nothing else in customs-check calls ``embed_batch`` directly.
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
from customs_check.embeddings.cache import EmbeddingCache, MemoryCache

__all__ = ["EmbeddingModel", "ProgressCallback", "text_key"]

# Called with (texts done, texts to embed) while a long embedding job runs.
ProgressCallback = Callable[[int, int], None]


def text_key(model_id: str, text: str) -> bytes:
    """Cache key: sha256 of model id and text, so two models never share a vector."""
    return hashlib.sha256(f"{model_id}\x00{text}".encode()).digest()


class EmbeddingModel(ABC):
    """Base class of every backend.

    Subclasses set ``model_id`` (stable across processes: it keys the cache and the HS
    index manifest) and ``dimensions``, and implement :meth:`embed_batch`.
    """

    model_id: str
    dimensions: int
    batch_size: int = 64

    def __init__(self, cache: EmbeddingCache | None = None) -> None:
        self.cache: EmbeddingCache = cache if cache is not None else MemoryCache()
        # Backends wrap native runtimes that are not all re-entrant; one lock keeps a
        # Checker shared by many threads correct. The cache has its own lock.
        self._lock = threading.Lock()
        self.texts_embedded = 0  # distinct texts that went through the model
        self.cache_hits = 0

    @abstractmethod
    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed texts as a float32 array of shape (len(texts), dimensions)."""

    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed texts (any number, duplicates welcome): unit vectors, one row per text.

        Each distinct text is looked up in the cache and embedded at most once.
        """
        n = len(texts)
        out = np.zeros((n, self.dimensions), dtype=np.float32)
        if n == 0:
            return out
        positions: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            positions.setdefault(t, []).append(i)
        distinct = list(positions)
        keys = [text_key(self.model_id, t) for t in distinct]
        found = self.cache.get_many(keys, self.dimensions)
        missing = [(t, k) for t, k in zip(distinct, keys, strict=True) if k not in found]
        self.cache_hits += len(distinct) - len(missing)
        if missing:
            # Longest first: similar lengths share a batch, so little padding is computed.
            missing.sort(key=lambda tk: len(tk[0]), reverse=True)
            done = 0
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                with self._lock:
                    vecs = np.asarray(self.embed_batch([t for t, _ in chunk]), dtype=np.float32)
                if vecs.shape != (len(chunk), self.dimensions):
                    raise RuntimeError(
                        f"{type(self).__name__}.embed_batch returned shape {vecs.shape}, "
                        f"expected {(len(chunk), self.dimensions)}"
                    )
                vecs = _normalise(vecs)
                new = {k: v for (_, k), v in zip(chunk, vecs, strict=True)}
                self.cache.put_many(new, self.model_id)
                found.update(new)
                done += len(chunk)
                self.texts_embedded += len(chunk)
                if progress is not None:
                    progress(done, len(missing))
        for t, k in zip(distinct, keys, strict=True):
            out[positions[t]] = found[k]
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, dimensions={self.dimensions})"


def _normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vecs / norms
