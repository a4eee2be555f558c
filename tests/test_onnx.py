"""The ONNX backend (int8, and fp32): build, accuracy against fp32, integrity checks, torch-free load.

The model build (~10-20 s) happens once per module into a private home; tests that need a
broken build work on copies of it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from customs_check.embeddings.onnx import (
    MANIFEST_NAME,
    MODEL_NAME,
    PRECISIONS,
    OnnxEmbedder,
    StaleModelError,
    _pool,
    build_onnx_model,
    verify_onnx_model,
)

from customs_check.errors import ModelLoadError

TITLES = [
    "TWS Bluetooth 5.3 wireless earbuds with charging case, 40h playtime, IPX7, black",
    "Stainless steel chef knife 8 inch, German steel, ergonomic handle",
    "Women's 100% cotton crew neck t-shirt short sleeve, size M, white",
    "USB-C to HDMI 2.1 adapter 8K@60Hz aluminium shell for MacBook",
    "Organic Japanese matcha green tea powder 100g ceremonial grade",
    "18650 lithium-ion rechargeable battery 3.7V 3000mAh, 4 pack",
    "Kids wooden jigsaw puzzle 24 pieces farm animals, ages 3+",
    "Cordless drill driver 20V with 2 batteries and charger, 30-piece bit set",
    "Men's waterproof hiking jacket with detachable hood, navy, XL",
    "LED desk lamp with wireless phone charger, dimmable, touch control",
    "Laptop backpack 15.6 inch anti-theft with USB charging port",
    "High-speed blender 1200W, 2L BPA-free jar, 6 speed settings",
    "Running shoes men lightweight breathable mesh sneakers size 42",
    "Smartwatch fitness tracker heart rate SpO2 sleep monitor 1.7\" AMOLED",
    "Ceramic coffee mug 350ml, handmade, matte glaze, dishwasher safe",
    "Silicone phone case for iPhone 15 Pro, shockproof, lavender",
    "Vitamin D3 5000 IU softgels, 360 count",
    "Carbon fiber road bike frame 54cm disc brake",
    "toy",
    # Longer than max_seq_length (256 tokens): both backends must truncate the same way.
    "Heavy-duty stainless steel garden hose nozzle with 10 spray patterns, " * 25,
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(home, model folder) of one default build, shared by the module."""
    home = tmp_path_factory.mktemp("onnx-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CUSTOMS_CHECK_HOME", str(home))
        path = build_onnx_model()
    yield home, path


@pytest.fixture
def built_home(built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CUSTOMS_CHECK_HOME", str(built[0]))
    return built[0]


@pytest.fixture(scope="module")
def onnx_embedder(built: tuple[Path, Path]) -> OnnxEmbedder:
    return OnnxEmbedder(built[1], threads=2)


@pytest.fixture(scope="module")
def fp32_vectors() -> np.ndarray:
    from customs_check.embeddings.sentence_transformer import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(None).embed(TITLES)


def _copy_build(built: tuple[Path, Path], home: Path) -> Path:
    dest = home / built[1].relative_to(built[0])
    shutil.copytree(built[1], dest)
    return dest


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.model
def test_build_layout_and_manifest(built: tuple[Path, Path]) -> None:
    home, path = built
    assert path.parent == home / "models"
    assert path.name.startswith("all-MiniLM-L6-v2-") and path.name.endswith("-int8")
    assert sorted(p.name for p in path.iterdir()) == [MANIFEST_NAME, MODEL_NAME, "tokenizer.json"]
    # No temporary or replaced folders survive a finished build.
    assert [p.name for p in path.parent.iterdir() if p.is_dir()] == [path.name]
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    assert manifest["pooling"] == "mean"
    assert manifest["max_seq_length"] == 256
    assert manifest["dimensions"] == 384
    assert manifest["opset"] == 17
    assert manifest["quantisation"]["weight_type"] == "QInt8"
    assert manifest["self_test"]["fp32_min_cosine"] >= 0.999
    assert manifest["self_test"]["int8_min_cosine"] >= 0.95
    verify_onnx_model(path)


@pytest.mark.model
def test_default_embedder_uses_the_built_model(built_home: Path, built: tuple[Path, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    emb = OnnxEmbedder()
    assert "building" not in capsys.readouterr().err
    assert emb.model_dir == built[1]
    # Not the "#onnx-int8" id of the old batch-dependent build: its cached vectors stay unused.
    assert emb.model_id == "sentence-transformers/all-MiniLM-L6-v2#onnx-int8-per-text"
    assert emb.dimensions == 384
    assert emb.max_seq_length == 256
    # Naming the source folder instead finds the same build.
    from customs_check.embeddings.sentence_transformer import default_model_path

    assert OnnxEmbedder(default_model_path()).model_dir == built[1]
    assert "building" not in capsys.readouterr().err


@pytest.mark.model
def test_close_to_sentence_transformers_fp32(onnx_embedder: OnnxEmbedder, fp32_vectors: np.ndarray) -> None:
    vecs = onnx_embedder.embed(TITLES)
    cos = (vecs * fp32_vectors).sum(axis=1)
    assert cos.min() >= 0.98, dict(zip(TITLES, cos.round(4), strict=True))
    assert cos.mean() >= 0.99


@pytest.mark.model
def test_shapes_and_normalisation(onnx_embedder: OnnxEmbedder) -> None:
    texts = [*TITLES, TITLES[0], "", "  "]
    vecs = onnx_embedder.embed(texts)
    assert vecs.shape == (len(texts), 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vecs[0], vecs[len(TITLES)])  # a duplicate is embedded once
    raw = onnx_embedder.embed_batch(TITLES[:5])
    assert raw.shape == (5, 384) and raw.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-5)
    assert onnx_embedder.embed_batch([]).shape == (0, 384)


def _mixed_batch() -> list[str]:
    """64 texts of very different lengths (padding would be heavy if there were any)."""
    texts = [*TITLES, "", "a", "Organic green tea"]
    texts += [f"{t} {i}" for i, t in enumerate(TITLES[:-1]) for _ in range(2)]
    texts += ["Cotton bath towel set of 6, grey, 500 gsm"] * 3
    return texts[:64]


@pytest.mark.model
def test_vectors_do_not_depend_on_the_batch(onnx_embedder: OnnxEmbedder) -> None:
    # The cache keeps the first vector it sees for a text: a vector that moved with its
    # batch neighbours would make results depend on run history (resume, cache state).
    batch = _mixed_batch()
    assert len(batch) == 64
    batched = onnx_embedder.embed_batch(batch)
    alone = np.stack([onnx_embedder.embed_batch([t])[0] for t in batch])
    assert np.abs(batched - alone).max() <= 1e-5
    reordered = onnx_embedder.embed_batch(batch[::-1])[::-1]
    assert np.abs(batched - reordered).max() <= 1e-5
    # Nor on the thread count, nor on the order texts reach the (caching) embed().
    serial = OnnxEmbedder(onnx_embedder.model_dir, threads=1)
    assert np.abs(serial.embed_batch(batch) - batched).max() <= 1e-5
    assert np.abs(serial.embed(batch[::-1])[::-1] - onnx_embedder.embed(batch)).max() <= 1e-5


@pytest.mark.model
def test_corrupt_model_is_detected_and_rebuilt(
    built: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    onnx_embedder: OnnxEmbedder, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CUSTOMS_CHECK_HOME", str(tmp_path))
    path = _copy_build(built, tmp_path)
    _flip_bytes(path / MODEL_NAME)
    with pytest.raises(StaleModelError, match="checksum"):
        verify_onnx_model(path)
    killed = path.parent / f".{path.name}.tmp-killed"  # what a build killed midway leaves
    killed.mkdir()
    (killed / MODEL_NAME).write_bytes(b"half")

    emb = OnnxEmbedder()
    assert "building ONNX int8 model once" in capsys.readouterr().err
    assert emb.model_dir == path
    assert [p.name for p in path.parent.iterdir() if p.is_dir()] == [path.name]
    verify_onnx_model(path)  # the rebuilt files match their new manifest
    # A rebuild gives the same vectors (the build is deterministic).
    np.testing.assert_allclose(emb.embed_batch(TITLES[:5]), onnx_embedder.embed_batch(TITLES[:5]), atol=1e-5)


@pytest.mark.model
@pytest.mark.parametrize("damage", ["flip", "truncate", "no-tokenizer", "bad-manifest", "old-format",
                                    "batched-quantisation", "no-model"])
def test_verify_rejects_damaged_builds(built: tuple[Path, Path], tmp_path: Path, damage: str) -> None:
    path = _copy_build(built, tmp_path)
    manifest_path = path / MANIFEST_NAME
    if damage == "flip":
        _flip_bytes(path / MODEL_NAME)
    elif damage == "truncate":
        data = (path / MODEL_NAME).read_bytes()
        (path / MODEL_NAME).write_bytes(data[: len(data) // 2])
    elif damage == "no-tokenizer":
        (path / "tokenizer.json").unlink()
    elif damage == "bad-manifest":
        manifest_path.write_text(manifest_path.read_text()[:40])
    elif damage == "old-format":
        manifest = json.loads(manifest_path.read_text())
        manifest["format"] = 0
        manifest_path.write_text(json.dumps(manifest))
    elif damage == "batched-quantisation":  # what a build made before per-text runs records
        manifest = json.loads(manifest_path.read_text())
        del manifest["quantisation"]["activations"]
        manifest_path.write_text(json.dumps(manifest))
    elif damage == "no-model":
        (path / MODEL_NAME).unlink()
    with pytest.raises(StaleModelError):
        verify_onnx_model(path)


@pytest.mark.model
def test_stale_source_fingerprint_is_rejected(built: tuple[Path, Path], tmp_path: Path) -> None:
    path = _copy_build(built, tmp_path)
    with pytest.raises(StaleModelError, match="another version"):
        verify_onnx_model(path, source_fingerprint="000000000000")


@pytest.mark.model
def test_explicit_folder_without_its_source_is_an_error(built: tuple[Path, Path], tmp_path: Path) -> None:
    path = _copy_build(built, tmp_path)
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    manifest["source_dir"] = str(tmp_path / "gone")
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))
    _flip_bytes(path / MODEL_NAME)
    with pytest.raises(ModelLoadError, match="unusable"):
        OnnxEmbedder(path)


@pytest.mark.model
def test_import_does_not_import_torch() -> None:
    code = "import customs_check.embeddings.onnx, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.model
def test_inference_does_not_import_torch(built: tuple[Path, Path]) -> None:
    code = (
        "import sys\n"
        "from customs_check.embeddings.onnx import OnnxEmbedder\n"
        f"v = OnnxEmbedder({str(built[1])!r}, threads=1).embed(['wireless earbuds'])\n"
        "assert v.shape == (1, 384)\n"
        "heavy = {'torch', 'transformers', 'sentence_transformers'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def built_fp32(built: tuple[Path, Path]) -> Path:
    """The fp32 build of the default model, in the same private home as the int8 one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CUSTOMS_CHECK_HOME", str(built[0]))
        return build_onnx_model(precision="fp32")


@pytest.mark.model
def test_fp32_build_gives_torchs_vectors_under_its_own_id(built_fp32: Path, built: tuple[Path, Path],
                                                          built_home: Path, fp32_vectors: np.ndarray) -> None:
    assert built_fp32.parent == built[1].parent
    assert built_fp32.name == built[1].name.removesuffix("-int8") + "-fp32"
    manifest = json.loads((built_fp32 / MANIFEST_NAME).read_text())
    assert manifest["quantisation"] == PRECISIONS["fp32"]
    assert manifest["self_test"]["per_text_min_cosine"] >= 0.999
    emb = OnnxEmbedder(precision="fp32", threads=2)
    assert emb.model_dir == built_fp32 and emb.precision == "fp32"
    # Its own cache key: neither torch's vectors nor int8 ones are ever served for it.
    assert emb.model_id == "sentence-transformers/all-MiniLM-L6-v2#onnx-fp32-per-text"
    cos = (emb.embed(TITLES) * fp32_vectors).sum(axis=1)
    assert cos.min() >= 0.99999, dict(zip(TITLES, cos.round(6), strict=True))
    # A folder given explicitly is read as what its manifest says it is.
    assert OnnxEmbedder(built_fp32).model_id == emb.model_id
    assert OnnxEmbedder(built[1]).precision == "int8"


@pytest.mark.model
def test_the_default_backend_is_the_fp32_build(built_fp32: Path, built_home: Path) -> None:
    from customs_check.embeddings import load_embedder

    default = load_embedder("default")
    assert isinstance(default, OnnxEmbedder) and default.model_dir == built_fp32
    assert default.model_id == load_embedder("onnx-fp32").model_id != load_embedder("onnx").model_id


@pytest.mark.model
def test_a_build_is_checked_against_the_precision_asked_for(built_fp32: Path, built: tuple[Path, Path]) -> None:
    verify_onnx_model(built_fp32, precision="fp32")
    verify_onnx_model(built[1], precision="int8")
    with pytest.raises(StaleModelError, match="quantisation"):
        verify_onnx_model(built_fp32, precision="int8")
    with pytest.raises(StaleModelError, match="quantisation"):
        verify_onnx_model(built[1], precision="fp32")


def test_unknown_precision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown ONNX precision 'fp16'") as info:
        build_onnx_model(out_dir=tmp_path / "out", precision="fp16")
    assert info.value.hint == "use one of int8, fp32"
    assert not (tmp_path / "out").exists()


def test_pooling_ignores_padding() -> None:
    hidden = np.array([[[1.0, 0.0], [3.0, 2.0], [100.0, -100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    mean = _pool(hidden, mask, "mean")[0]
    np.testing.assert_allclose(mean, np.array([2.0, 1.0]) / np.sqrt(5.0), rtol=1e-6)
    np.testing.assert_allclose(_pool(hidden, mask, "cls")[0], [1.0, 0.0])
    np.testing.assert_allclose(_pool(hidden, mask, "max")[0], np.array([3.0, 2.0]) / np.sqrt(13.0), rtol=1e-6)


def test_unsupported_model_layout_is_refused_before_building(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "sentence_transformers.models.Dense"},
    ]))
    with pytest.raises(ModelLoadError, match="not supported"):
        build_onnx_model(tmp_path, tmp_path / "out")


def test_missing_build_dependencies_give_an_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ModelLoadError) as info:
        build_onnx_model(out_dir=tmp_path / "out")
    assert "torch" in info.value.message and info.value.hint and "pip install" in info.value.hint
    assert not (tmp_path / "out").exists()
