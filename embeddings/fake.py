"""A deterministic, dependency-free embedder for tests and dry runs.

Texts are embedded by feature hashing of lower-cased words and character trigrams, so
texts that share words land near each other (tests of classification and watchlist logic
stay meaningful) and the same text always gets the same vector, in every process.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from customs_check.embeddings.base import EmbeddingModel
from customs_check.embeddings.cache import EmbeddingCache

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder(EmbeddingModel):
    batch_size = 256

    def __init__(self, dimensions: int = 256, cache: EmbeddingCache | None = None) -> None:
        super().__init__(cache)
        self.dimensions = dimensions
        self.model_id = f"fake-hashing-v1-d{dimensions}"

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = _WORD.findall(text.lower())
        feats = [(f"w:{w}", 1.0) for w in words]
        for w in words:
            padded = f"^{w}$"
            feats.extend((f"c:{padded[i:i + 3]}", 0.3) for i in range(len(padded) - 2))
        return feats

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, weight in self._features(text):
                h = hashlib.blake2b(feat.encode(), digest_size=8).digest()
                bucket = int.from_bytes(h[:4], "little") % self.dimensions
                sign = 1.0 if h[4] & 1 else -1.0
                out[row, bucket] += sign * weight
            if not out[row].any():
                out[row, 0] = 1.0  # empty text: a fixed unit vector, never NaN
        return out
