"""The fast backend: a sentence-transformers model as ONNX with int8 weights.

Quantisation: *dynamic* int8 (onnxruntime ``quantize_dynamic``), weights per output channel,
activations quantised at run time with one scale per tensor; and every text runs through the
model **alone**, as a batch of one with no padding. The activation scales therefore come
from the text itself and nothing else: a text's vector is a pure function of the text (and
of the built model), bit for bit the same whether it is embedded alone or among any other
texts, before or after a resume, with any number of threads. (Across machines it holds for
one kind of CPU: ONNX Runtime picks its int8 kernels by instruction set, e.g. AVX-512 VNNI
or AVX2, and those may differ in the last bits.) The embedding cache relies on
that: it keeps the first vector it sees for a text, so a batch-dependent vector would make
results depend on run history. (The earlier build ran dynamic int8 on padded batches of
64: a text's vector moved by up to ~0.04 per component, cosine ~0.98-0.99, with its
neighbours. Its vectors are cached under another model id and are never reused.)

Throughput comes from running texts concurrently instead of batching them: ``threads``
single-threaded ONNX Runtime runs at a time on one session. Measured on 2 AVX-512 VNNI
cores with ``scripts/bench_embed.py``: ~3.2x torch fp32, no slower than the old padded
batches (no padding is computed at all), mean cosine 0.9925 (min 0.985) to the fp32
vectors. Inference needs only ``tokenizers`` + ``onnxruntime`` + numpy, so start-up takes
well under a second instead of the several seconds that importing torch and
sentence-transformers costs.

Alternatives measured and rejected (the bench's first 500 synthetic titles, 2 cores):

* static int8 (``quantize_static``, QDQ or QOperator, per-channel weights, activations
  calibrated on HS index texts + synthetic titles with MinMax, Percentile or Entropy) is
  batch-independent but loses too much: mean cosine 0.80 (int8 activations) or 0.92-0.93
  (uint8), because the inputs of the FFN output projections carry large outlier channels
  that one fixed per-tensor scale cannot hold; keeping those six MatMuls in float gives
  0.990 (min 0.982) but only ~1.5x torch fp32;
* weight-only int8 (``MatMulNBits``, 8 bits, int8 compute) is accurate (0.9996) but ~1.5x
  torch fp32 here, and not batch-independent at every block size.

The ONNX file is not downloaded: it is built once from the local model folder (torch +
transformers export, onnxruntime quantisation) into
``home_dir()/models/<model name>-<fingerprint>-int8/`` with a manifest that records the
source fingerprint and the sha256 of ``model.onnx``. Every load verifies both; a corrupt or
stale build is rebuilt, never used. This module imports neither torch nor transformers:
they are imported only inside :func:`build_onnx_model`.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from customs_check.embeddings.base import EmbeddingModel
from customs_check.embeddings.cache import EmbeddingCache
from customs_check.embeddings.sentence_transformer import (
    DEFAULT_MODEL_ID,
    default_model_path,
    fingerprint_model_dir,
)

from customs_check.errors import ModelLoadError
from customs_check.paths import home_dir

__all__ = [
    "MANIFEST_NAME",
    "MODEL_NAME",
    "PRECISIONS",
    "QUANTISATION",
    "OnnxEmbedder",
    "StaleModelError",
    "build_onnx_model",
    "default_onnx_dir",
    "verify_onnx_model",
]

MODEL_NAME = "model.onnx"
TOKENIZER_NAME = "tokenizer.json"
MANIFEST_NAME = "manifest.json"
# Bumped whenever the export or the manifest changes meaning, so older builds count as stale.
# 2: one text per run (batch-independent vectors, new model id); format-1 builds are stale.
FORMAT_VERSION = 2
OPSET = 17
# per_channel is what keeps int8 close to fp32 (mean cosine 0.950 -> 0.993 on product
# titles); reduce_range only lowers accuracy (0.991) at equal speed on VNNI CPUs.
# "activations": how the run-time activation scales are scoped. "per-text" = each text is
# run alone, unpadded, so its scales (and vector) depend on nothing but the text.
QUANTISATION: dict[str, Any] = {
    "method": "dynamic",
    "weight_type": "QInt8",
    "per_channel": True,
    "reduce_range": False,
    "activations": "per-text",
}
# Suffix of the model id (the embedding cache key): vectors of the old batch-dependent
# "#onnx-int8" build are never served for this one.
MODEL_ID_SUFFIX = "#onnx-int8-per-text"


@dataclass(frozen=True)
class _Precision:
    """What a build of one precision differs in."""

    settings: dict[str, Any]  # recorded as the manifest's "quantisation"
    id_suffix: str  # of the model id, the embedding cache's key
    self_test: str  # prefix of the manifest's self-test cosines
    min_cosine: float  # a build whose per-text vectors fall below this to torch's is refused


# The builds this backend makes: ``int8`` (the fast backend) and ``fp32``, the model's own
# float weights unquantised. fp32 encodes at 1.0-1.2x torch's speed on 2 cores
# (scripts/bench_embed.py) but gives torch's vectors to ~1e-6 (cosine 1.000000) with a
# torch-free start-up, so a spot check gets the reference's outcomes in a fraction of the time.
# The floors sit below the measured per-text cosines (int8 ~0.99, fp32 1.000000): they catch a
# broken trace or a broken quantiser, not ordinary int8 noise.
_PRECISIONS = {
    "int8": _Precision(QUANTISATION, MODEL_ID_SUFFIX, "int8", 0.95),
    "fp32": _Precision({"method": "none", "activations": "per-text"}, "#onnx-fp32-per-text", "per_text", 0.999),
}
PRECISIONS: dict[str, dict[str, Any]] = {name: p.settings for name, p in _PRECISIONS.items()}
_BUILD_SECONDS_HINT = 15
_POOLING_KEYS = {
    "mean": "pooling_mode_mean_tokens",
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
}
_POOLING_MODES = tuple(_POOLING_KEYS)
_SUPPORTED_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}
# Probes for the post-build self-test: varied lengths so padding and truncation are exercised.
_PROBES = (
    "Wireless bluetooth earbuds with charging case, 24h battery, black",
    "Stainless steel chef knife 8 inch",
    "toy",
    "Men's 100% cotton crew neck t-shirt, short sleeve, navy blue, size XL, pack of 3",
    "Lithium-ion battery pack 18650 3.7V 2600mAh rechargeable for flashlights " * 20,
    "Organic green tea, 100 bags",
)

BuildProgress = Callable[[str], None]


class StaleModelError(ModelLoadError):
    """A built ONNX folder that is missing, corrupt, or from another source or format."""


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    return _sha256_bytes(path.read_bytes())


def _model_name(source: Path) -> str:
    # The packaged default lives in a folder called plain "model": name it after the model.
    if _is_default_source(source):
        return DEFAULT_MODEL_ID.rsplit("/", 1)[-1]
    return source.name


def _is_default_source(source: Path) -> bool:
    try:
        return source.resolve() == default_model_path().resolve()
    except ModelLoadError:
        return False


def _check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown ONNX precision {precision!r}",
                             hint=f"use one of {', '.join(PRECISIONS)}")
    return precision


def default_onnx_dir(model_dir: Path | None = None, precision: str = "int8") -> Path:
    """Where :func:`build_onnx_model` puts the ``precision`` build of ``model_dir`` (default
    model if None). The fingerprint in the name means a changed source never reuses a build."""
    source = Path(model_dir).resolve() if model_dir is not None else default_model_path()
    name = f"{_model_name(source)}-{fingerprint_model_dir(source)}-{_check_precision(precision)}"
    return home_dir() / "models" / name


# --------------------------------------------------------------------------- source config


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _source_settings(source: Path) -> dict[str, Any]:
    """Pooling, sequence length and width of a sentence-transformers folder; refuses the
    layouts this backend cannot reproduce (a Dense head, exotic pooling)."""
    try:
        return _read_source_settings(source)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"cannot read the model configuration in {source}: {exc!r}",
                             hint="give an intact sentence-transformers model folder") from exc


def _read_source_settings(source: Path) -> dict[str, Any]:
    if not (source / "config.json").is_file():
        raise ModelLoadError(
            f"{source} is not a transformers model folder (no config.json)",
            hint="give a sentence-transformers model folder or a built ONNX folder",
        )
    config = _read_json(source / "config.json")
    pooling_dir = source / "1_Pooling"
    if (source / "modules.json").is_file():
        for module in _read_json(source / "modules.json"):
            kind = module.get("type", "")
            if kind not in _SUPPORTED_MODULES:
                raise ModelLoadError(
                    f"{source}: module {kind!r} is not supported by the ONNX backend",
                    hint="use the sentence-transformers backend for this model",
                )
            if kind.endswith(".Pooling"):
                pooling_dir = source / module.get("path", "1_Pooling")
    pooling = "mean"
    if (pooling_dir / "config.json").is_file():
        pcfg = _read_json(pooling_dir / "config.json")
        switched_on = {k for k, v in pcfg.items() if k.startswith("pooling_mode_") and v}
        modes = [m for m, key in _POOLING_KEYS.items() if key in switched_on]
        if len(switched_on) != 1 or len(modes) != 1:
            raise ModelLoadError(
                f"{source}: pooling {sorted(switched_on)} is not supported by the ONNX backend "
                "(one of mean, cls or max only)",
                hint="use the sentence-transformers backend for this model",
            )
        pooling = modes[0]
    max_positions = int(config.get("max_position_embeddings", 512))
    max_seq_length = max_positions
    if (source / "sentence_bert_config.json").is_file():
        max_seq_length = int(_read_json(source / "sentence_bert_config.json").get("max_seq_length")
                             or max_positions)
    return {
        "pooling": pooling,
        "max_seq_length": min(max_seq_length, max_positions),
        "dimensions": int(config["hidden_size"]),
    }


def _model_id(source: Path, fingerprint: str, precision: str) -> str:
    # The cache is keyed by model id: int8 vectors must never be served as fp32 ones, nor
    # ONNX fp32 vectors (equal to ~1e-6, not bit for bit) as torch's.
    base = DEFAULT_MODEL_ID if _is_default_source(source) else f"{source.name}@{fingerprint}"
    return f"{base}{_PRECISIONS[precision].id_suffix}"


def _precision_of(manifest: dict[str, Any]) -> str | None:
    """The precision whose settings a manifest records, or None for unknown settings."""
    return next((name for name, settings in PRECISIONS.items() if manifest.get("quantisation") == settings), None)


# --------------------------------------------------------------------------- pooling


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Sentence vectors from token states, padding excluded, L2-normalised."""
    if mode == "mean":
        m = mask[..., None].astype(np.float32)
        vecs = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    elif mode == "cls":
        vecs = hidden[:, 0]
    elif mode == "max":
        vecs = np.where(mask[..., None] > 0, hidden, -np.inf).max(axis=1)
    else:
        raise ValueError(f"unknown pooling mode {mode!r}")
    vecs = vecs.astype(np.float32, copy=False)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vecs / norms


def _configure_tokenizer(tokenizer: Any, max_seq_length: int, pad_id: int, pad_token: str,
                         *, pad: bool = True) -> None:
    # Pad to the batch's longest, not to a fixed length: padding is wasted compute. The
    # embedder itself never pads (pad=False): it runs every text alone.
    tokenizer.enable_truncation(max_length=max_seq_length)
    if pad:
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    else:
        tokenizer.no_padding()


def _encode(tokenizer: Any, texts: list[str], input_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    enc = tokenizer.encode_batch(texts)
    feeds = {
        "input_ids": np.asarray([e.ids for e in enc], dtype=np.int64),
        "attention_mask": np.asarray([e.attention_mask for e in enc], dtype=np.int64),
    }
    if "token_type_ids" in input_names:
        feeds["token_type_ids"] = np.asarray([e.type_ids for e in enc], dtype=np.int64)
    return feeds


# --------------------------------------------------------------------------- build


def _require_build_deps() -> None:
    missing = []
    for mod in ("torch", "transformers", "onnx", "onnxruntime"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise ModelLoadError(
            f"building the ONNX int8 model needs {', '.join(missing)}, which is not installed",
            hint="pip install 'customs-check[onnx]' torch transformers (CPU torch: see README), "
            "or use the 'minilm' backend",
        )


class _DropQuantiseAdvice(logging.Filter):
    """quantize_dynamic logs a 'consider pre-processing' warning on the root logger. Here
    it is noise: quant_pre_process fails on this export (incomplete symbolic shapes), and
    ORT's BERT fusion before quantising made the int8 model slower (measured)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _quiet_build() -> Iterator[None]:
    import warnings

    import transformers.utils.logging as hf_logging

    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    root = logging.getLogger()
    drop = _DropQuantiseAdvice()
    root.addFilter(drop)
    try:
        with warnings.catch_warnings():
            # The legacy exporter's deprecation and tracer notes are expected and harmless
            # here: the self-test below checks the traced graph on other shapes.
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(drop)
        if bar_was_on:
            hf_logging.enable_progress_bar()


def _build_into(source: Path, fingerprint: str, dest: Path, progress: BuildProgress | None,
                precision: str = "int8") -> None:
    """Export, quantise (int8) and self-test ``source`` into the (empty, private) folder ``dest``."""
    import onnxruntime
    import torch
    import transformers
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoTokenizer

    def step(msg: str) -> None:
        if progress is not None:
            progress(msg)

    settings = _source_settings(source)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with _quiet_build():
        step("loading the model")
        try:
            hf_tok = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
            # Eager attention exports as plain MatMul/Softmax: the graph the quantisation
            # settings and the self-test thresholds were measured on.
            model = AutoModel.from_pretrained(str(source), local_files_only=True, attn_implementation="eager")
        except Exception as exc:
            raise ModelLoadError(
                f"cannot load {source} with transformers: {exc}",
                hint="give a local sentence-transformers model folder",
            ) from exc
        if not getattr(hf_tok, "is_fast", False):
            raise ModelLoadError(f"{source} has no fast tokenizer (tokenizer.json)",
                                 hint="use the sentence-transformers backend for this model")
        model.eval()
        # The tokenizer file's own padding/truncation defaults are cleared so the one
        # configuration that counts is the one applied at load time.
        backend = hf_tok.backend_tokenizer
        backend.no_padding()
        backend.no_truncation()
        backend.save(str(dest / TOKENIZER_NAME))
        tokenizer = Tokenizer.from_file(str(dest / TOKENIZER_NAME))
        pad_id = int(hf_tok.pad_token_id if hf_tok.pad_token_id is not None else 0)
        pad_token = str(hf_tok.pad_token or "[PAD]")
        _configure_tokenizer(tokenizer, settings["max_seq_length"], pad_id, pad_token)

        accepts_types = "token_type_ids" in inspect.signature(model.forward).parameters
        input_names: tuple[str, ...] = ("input_ids", "attention_mask") + (
            ("token_type_ids",) if accepts_types else ())

        class Encoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = model

            def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
                return self.inner(**dict(zip(input_names, inputs, strict=True))).last_hidden_state

        encoder = Encoder().eval()
        feeds = _encode(tokenizer, list(_PROBES), input_names)
        dummy = tuple(torch.from_numpy(feeds[n][:2, :16].copy()) for n in input_names)
        fp32_path = dest / "model.fp32.onnx"
        step("exporting to ONNX")
        with torch.no_grad():
            torch.onnx.export(
                encoder, dummy, str(fp32_path),
                input_names=list(input_names), output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "sequence"} for n in (*input_names, "last_hidden_state")},
                opset_version=OPSET, do_constant_folding=True, dynamo=False,
            )
            reference = encoder(*(torch.from_numpy(feeds[n]) for n in input_names)).numpy()
        model_path = dest / MODEL_NAME
        if precision == "int8":
            step("quantising to int8")
            quantize_dynamic(
                str(fp32_path), str(model_path), weight_type=QuantType.QInt8,
                per_channel=QUANTISATION["per_channel"], reduce_range=QUANTISATION["reduce_range"],
            )
        else:
            shutil.copyfile(fp32_path, model_path)

    step(f"checking the {precision} model against torch")
    mask = feeds["attention_mask"]
    ref = _pool(reference, mask, settings["pooling"])
    cos: dict[str, np.ndarray] = {}
    # fp32 on the padded batch (checks the traced masking); the built model one unpadded
    # probe at a time, as OnnxEmbedder runs it.
    sess = onnxruntime.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {n: feeds[n] for n in input_names})[0]
    cos["fp32"] = (_pool(out, mask, settings["pooling"]) * ref).sum(axis=1)
    sess = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    lengths = mask.sum(axis=1)
    built = np.concatenate([
        _pool(sess.run(None, {n: feeds[n][i : i + 1, :length] for n in input_names})[0],
              mask[i : i + 1, :length], settings["pooling"])
        for i, length in enumerate(lengths)
    ])
    spec = _PRECISIONS[precision]
    label = spec.self_test
    cos[label] = (built * ref).sum(axis=1)
    del sess
    fp32_path.unlink()
    if cos["fp32"].min() < 0.999 or cos[label].min() < spec.min_cosine:
        raise ModelLoadError(
            f"the ONNX export of {source} does not reproduce the torch model "
            f"(cosine fp32 {cos['fp32'].min():.4f}, {precision} per text {cos[label].min():.4f})",
            hint="use the sentence-transformers backend for this model",
        )

    manifest = {
        "format": FORMAT_VERSION,
        "model_id": _model_id(source, fingerprint, precision),
        "source_dir": str(source),
        "source_fingerprint": fingerprint,
        "model_sha256": _sha256_file(model_path),
        "tokenizer_sha256": _sha256_file(dest / TOKENIZER_NAME),
        "opset": OPSET,
        "quantisation": spec.settings,
        "inputs": list(input_names),
        "pooling": settings["pooling"],
        "max_seq_length": settings["max_seq_length"],
        "dimensions": settings["dimensions"],
        "pad_id": pad_id,
        "pad_token": pad_token,
        "self_test": {
            "probes": len(_PROBES),
            "fp32_min_cosine": round(float(cos["fp32"].min()), 5),
            f"{label}_mean_cosine": round(float(cos[label].mean()), 5),
            f"{label}_min_cosine": round(float(cos[label].min()), 5),
        },
        "built_with": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (dest / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@contextlib.contextmanager
def _build_lock(out: Path) -> Iterator[None]:
    """One builder per target across processes: a second process waits, then finds the
    first one's build and uses it instead of building again."""
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone keeps builds correct.
        yield
        return
    lock_path = out.parent / f".{out.name}.lock"
    with lock_path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _looks_like_ours(path: Path) -> bool:
    return not any(path.iterdir()) or (path / MANIFEST_NAME).exists() or (path / MODEL_NAME).exists()


def _install(tmp: Path, out: Path) -> None:
    """Put the finished ``tmp`` at ``out`` by renames only, so a reader (or a crash) sees
    either the old folder or the new one, never a mix."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if not out.is_dir() or not _looks_like_ours(out):
        raise ModelLoadError(f"refusing to replace {out}: it is not an ONNX model folder",
                             hint="choose an empty or new output folder")
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _build_locked(source: Path, out: Path, progress: BuildProgress | None, precision: str = "int8") -> Path:
    _require_build_deps()
    fingerprint = fingerprint_model_dir(source)
    # Leftovers of killed builds: safe to delete, the lock says nobody else is building.
    for leftover in out.parent.iterdir():
        if leftover.name.startswith((f".{out.name}.tmp-", f".{out.name}.old-")) and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        # mkdtemp makes it private (0700); the finished model is no secret.
        tmp.chmod(0o755)
        _build_into(source, fingerprint, tmp, progress, precision)
        _install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _resolve_source(model_dir: Path | str | None) -> Path:
    source = Path(model_dir).resolve() if model_dir is not None else default_model_path()
    if not source.is_dir():
        raise ModelLoadError(f"model folder {source} does not exist", hint="give a local model folder")
    return source


def build_onnx_model(
    model_dir: Path | None = None,
    out_dir: Path | None = None,
    progress: BuildProgress | None = None,
    *,
    precision: str = "int8",
) -> Path:
    """Export (and for ``precision="int8"`` quantise) a sentence-transformers folder (the
    default model if None) into ``out_dir`` (default :func:`default_onnx_dir`) and return
    that folder.

    Needs torch, transformers and onnx; nothing is downloaded. The build happens in a
    temporary sibling folder that is renamed into place only when complete and checked,
    so an interrupted build never leaves a half model. ``progress`` gets a short message
    per stage.
    """
    source = _resolve_source(model_dir)
    _source_settings(source)  # fail on an unsupported model before the slow imports
    _check_precision(precision)
    out = Path(out_dir).resolve() if out_dir is not None else default_onnx_dir(source, precision)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(out):
        return _build_locked(source, out, progress, precision)


# --------------------------------------------------------------------------- verify + load


def verify_onnx_model(
    model_dir: Path, *, source_fingerprint: str | None = None, precision: str | None = None
) -> tuple[dict[str, Any], bytes]:
    """Check a built folder and return its manifest and the verified bytes of model.onnx.

    Raises :class:`StaleModelError` naming the first problem found: missing files, an
    unreadable manifest, another format version, quantisation settings of no known
    precision (or not those of ``precision``, when given), another source fingerprint (when
    given) or a checksum mismatch.
    """
    manifest_path = model_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise StaleModelError(f"{model_dir} has no {MANIFEST_NAME}")
    try:
        manifest = _read_json(manifest_path)
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as exc:
        raise StaleModelError(f"{manifest_path} is unreadable: {exc}") from exc
    required = ("format", "model_id", "source_fingerprint", "model_sha256", "tokenizer_sha256", "inputs",
                "pooling", "max_seq_length", "dimensions", "pad_id", "pad_token", "quantisation")
    missing = [k for k in required if k not in manifest]
    if missing:
        raise StaleModelError(f"{manifest_path} lacks {', '.join(missing)}")
    if manifest["format"] != FORMAT_VERSION:
        raise StaleModelError(f"{model_dir} is format {manifest['format']}, this version reads {FORMAT_VERSION}")
    found = _precision_of(manifest)
    if found is None or (precision is not None and found != precision):
        raise StaleModelError(f"{model_dir} was built with other quantisation settings")
    if manifest["pooling"] not in _POOLING_MODES:
        raise StaleModelError(f"{model_dir}: unknown pooling {manifest['pooling']!r}")
    if source_fingerprint is not None and manifest["source_fingerprint"] != source_fingerprint:
        raise StaleModelError(f"{model_dir} was built from another version of the model")
    try:
        data = (model_dir / MODEL_NAME).read_bytes()
        tokenizer_sha = _sha256_file(model_dir / TOKENIZER_NAME)
    except OSError as exc:
        raise StaleModelError(f"{model_dir} is incomplete: {exc}") from exc
    if _sha256_bytes(data) != manifest["model_sha256"]:
        raise StaleModelError(f"{model_dir / MODEL_NAME} does not match its manifest checksum")
    if tokenizer_sha != manifest["tokenizer_sha256"]:
        raise StaleModelError(f"{model_dir / TOKENIZER_NAME} does not match its manifest checksum")
    return manifest, data


def _announce_build(reason: str | None, precision: str = "int8") -> None:
    prefix = f"ONNX model unusable ({reason}); " if reason else ""
    print(f"{prefix}building ONNX {precision} model once (~{_BUILD_SECONDS_HINT}s)…", file=sys.stderr, flush=True)


def _load_or_build(source: Path, out: Path, precision: str = "int8") -> tuple[dict[str, Any], bytes]:
    fingerprint = fingerprint_model_dir(source)
    try:
        return verify_onnx_model(out, source_fingerprint=fingerprint, precision=precision)
    except StaleModelError:
        pass
    out.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(out):
        # Another process may have built it while this one waited for the lock.
        try:
            return verify_onnx_model(out, source_fingerprint=fingerprint, precision=precision)
        except StaleModelError as exc:
            # Fail on an unbuildable model before promising a build.
            _source_settings(source)
            _require_build_deps()
            _announce_build(None if not out.exists() else exc.message, precision)
        _build_locked(source, out, None, precision)
        return verify_onnx_model(out, source_fingerprint=fingerprint, precision=precision)


def _cpu_count() -> int:
    # The CPUs this process may run on (a container or taskset can allow fewer than the
    # machine has): more ORT threads than that only contend.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class OnnxEmbedder(EmbeddingModel):
    """ONNX Runtime backend (int8 by default); torch-free at inference.

    ``model_dir``: None for the default model (built under ``home_dir()`` on first use), a
    folder made by :func:`build_onnx_model` (its manifest says its precision), or a
    sentence-transformers folder (built once under ``home_dir()``). ``precision``: ``int8``
    (fast) or ``fp32`` (torch's vectors, torch-free start-up) for a build made here; see
    :data:`PRECISIONS`. ``threads``: how many texts run at once, each a single-threaded
    ONNX Runtime run on the shared session (default: all CPUs this process may use). Every
    text runs alone and unpadded (see the module docstring), so a vector never depends on
    the other texts of a batch nor on ``threads``.
    """

    def __init__(
        self,
        model_dir: Path | str | None = None,
        *,
        cache: EmbeddingCache | None = None,
        threads: int | None = None,
        batch_size: int = 64,
        precision: str = "int8",
    ) -> None:
        super().__init__(cache)
        _check_precision(precision)
        self.batch_size = batch_size
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelLoadError(
                "the ONNX backend needs onnxruntime and tokenizers",
                hint="pip install 'customs-check[onnx]', or use the 'minilm' backend",
            ) from exc

        given = Path(model_dir).resolve() if model_dir is not None else None
        if given is not None and ((given / MANIFEST_NAME).exists() or (given / MODEL_NAME).exists()):
            self.model_dir = given
            manifest, data = self._load_built(given)
        else:
            source = _resolve_source(given)
            self.model_dir = default_onnx_dir(source, precision)
            manifest, data = _load_or_build(source, self.model_dir, precision)

        self.model_id = str(manifest["model_id"])
        self.precision = _precision_of(manifest)
        self.dimensions = int(manifest["dimensions"])
        self.max_seq_length = int(manifest["max_seq_length"])
        self.pooling = str(manifest["pooling"])
        self.manifest = manifest
        self._inputs: tuple[str, ...] = tuple(manifest["inputs"])
        self._tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_NAME))
        _configure_tokenizer(self._tokenizer, self.max_seq_length, int(manifest["pad_id"]),
                             str(manifest["pad_token"]), pad=False)
        self.threads = max(1, threads or _cpu_count())
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()

        options = ort.SessionOptions()
        # Parallelism is across texts (see embed_batch): one text's ~35-token matrices are
        # too small to split, and measured ~25% faster than intra-op threads on 2 cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            # From the bytes already checksummed: the file cannot change between check and use.
            self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelLoadError(f"onnxruntime cannot load {self.model_dir / MODEL_NAME}: {exc}",
                                 hint=f"delete {self.model_dir} to rebuild it") from exc
        self._output = self._session.get_outputs()[0].name

    @staticmethod
    def _load_built(path: Path) -> tuple[dict[str, Any], bytes]:
        """A folder given explicitly: used if valid; if not, rebuilt in place from the
        source its manifest names, but only if that source is still the same model."""
        try:
            return verify_onnx_model(path)
        except StaleModelError as exc:
            problem = exc
        try:
            manifest = _read_json(path / MANIFEST_NAME)
            source = Path(manifest["source_dir"])
            fingerprint = fingerprint_model_dir(source)
            # Settings of no known precision: an older build of the fast backend.
            precision = _precision_of(manifest) or "int8"
        except (OSError, ValueError, KeyError, TypeError):
            source, fingerprint, precision = None, None, "int8"
        if source is None or fingerprint != manifest.get("source_fingerprint"):
            raise ModelLoadError(f"the ONNX model at {path} is unusable: {problem.message}",
                                 hint="rebuild it with build_onnx_model(), or delete it") from problem
        with _build_lock(path):
            try:
                return verify_onnx_model(path, precision=precision)
            except StaleModelError:
                _announce_build(problem.message, precision)
            _build_locked(source, path, None, precision)
            return verify_onnx_model(path, precision=precision)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            # A forked child inherits the pool object but not its threads: make a new one.
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="onnx-embed")
                self._pool_pid = os.getpid()
            return self._pool

    def _embed_one(self, encoding: Any) -> np.ndarray:
        """The vector of one tokenised text, run alone: no padding, no neighbours."""
        feeds = {
            "input_ids": np.asarray([encoding.ids], dtype=np.int64),
            "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
        }
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.asarray([encoding.type_ids], dtype=np.int64)
        hidden = self._session.run([self._output], {n: feeds[n] for n in self._inputs})[0]
        return _pool(hidden, feeds["attention_mask"], self.pooling)[0]

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text. Each text is its own ONNX Runtime run (with int8, dynamic
        scales per text; with either precision, batch-independent vectors); up to ``threads`` run at once."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        if self.threads == 1 or len(encodings) == 1:
            vecs = [self._embed_one(e) for e in encodings]
        else:
            # ORT releases the GIL while it runs, and one session serves concurrent runs.
            vecs = list(self._executor().map(self._embed_one, encodings))
        return np.stack(vecs).astype(np.float32, copy=False)
