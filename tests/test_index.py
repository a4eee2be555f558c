"""The HS index: search against a brute force, persistence and its integrity checks."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from customs_check.hs_codes.texts import RECIPE_VERSION, index_texts, recipe_hash

from customs_check.checker import Checker
from customs_check.errors import IndexIntegrityError
from customs_check.index import FORMAT_VERSION, HSIndex, SearchHit, _expected_manifest, _slug

# -- synthetic index vs numpy brute force -------------------------------------------------
_CHAPTERS = ["01", "02", "10", "84", "85", "90"]
_CODES = [f"{ch}{h:02d}{s:02d}" for ch in _CHAPTERS for h in (1, 2) for s in (10, 20, 90)]


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def synthetic() -> tuple[HSIndex, np.ndarray, list[str]]:
    rng = np.random.default_rng(1234)
    vectors = _unit(rng.normal(size=(200, 48)))
    codes = [_CODES[i] for i in rng.integers(0, len(_CODES), size=200)]
    kinds = ["legal" if i % 2 else "enriched" for i in range(200)]
    return HSIndex(codes, kinds, vectors, model_id="synthetic"), vectors, codes


def _brute(vectors: np.ndarray, codes: list[str], query: np.ndarray, level: int, top_k: int) -> list[tuple[str, float]]:
    sims = vectors @ query
    best: dict[str, float] = {}
    for code, s in zip(codes, sims.tolist(), strict=True):
        key = code[:level]
        best[key] = max(best.get(key, -np.inf), s)
    return sorted(best.items(), key=lambda kv: -kv[1])[:top_k]


@pytest.mark.parametrize("level", [6, 4, 2])
@pytest.mark.parametrize("top_k", [1, 3, 5, 10])
def test_search_matches_brute_force(synthetic, level: int, top_k: int) -> None:
    index, vectors, codes = synthetic
    rng = np.random.default_rng(level * 100 + top_k)
    queries = _unit(rng.normal(size=(12, vectors.shape[1])))
    # Also query with stored rows: the exact row must come first with score 1.
    queries = np.vstack([queries, vectors[[0, 57, 199]]])
    results = index.search(queries, top_k=top_k, level=level)
    assert len(results) == len(queries)
    for query, hits in zip(queries, results, strict=True):
        expected = _brute(vectors, codes, query, level, top_k)
        assert [h.code for h in hits] == [c for c, _ in expected]
        np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=1e-5)
        assert all(isinstance(h, SearchHit) and len(h.code) == level for h in hits)
    for row, hits in zip((0, 57, 199), results[-3:], strict=True):
        assert hits[0].code == codes[row][:level]
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("top_k", [1, 5, 10])
def test_search_levels_equals_one_search_per_level(synthetic, top_k: int) -> None:
    index, vectors, codes = synthetic
    queries = _unit(np.random.default_rng(top_k).normal(size=(10, vectors.shape[1])))
    combined = index.search_levels(queries, top_k=top_k, levels=(6, 4, 2))
    for level in (6, 4, 2):
        single = index.search(queries, top_k=top_k, level=level)
        assert [r[level] for r in combined] == single
        for query, hits in zip(queries, single, strict=True):
            assert [h.code for h in hits] == [c for c, _ in _brute(vectors, codes, query, level, top_k)]


def test_search_single_vector_and_all_codes(synthetic) -> None:
    index, vectors, codes = synthetic
    one = index.search(vectors[3], top_k=100, level=6)
    assert len(one) == 1
    assert sorted(h.code for h in one[0]) == sorted(set(codes))
    scores = [h.score for h in one[0]]
    assert scores == sorted(scores, reverse=True)


def test_search_finds_top_k_codes_when_one_code_owns_the_nearest_rows() -> None:
    # One chapter owns 150 rows near the query (chapter 84 has hundreds of rows in the real
    # index): the top-3 chapters must still be three chapters, as the brute force says.
    rng = np.random.default_rng(7)
    dim = 32
    query = _unit(rng.normal(size=dim))
    near = _unit(query + 0.3 * rng.normal(size=(150, dim)))
    far = _unit(rng.normal(size=(50, dim)))
    codes = (
        [f"84{i % 30:02d}10" for i in range(150)]
        + [f"{c}0110" for c in ("20", "30", "40", "50")] * 12
        + ["600110", "700110"]
    )
    vectors = np.vstack([near, far])
    index = HSIndex(codes, ["legal"] * 200, vectors, model_id="clustered")
    for level, top_k in ((2, 3), (2, 5), (4, 40), (6, 40)):
        hits = index.search(query, top_k=top_k, level=level)[0]
        expected = _brute(vectors, codes, query, level, top_k)
        assert [h.code for h in hits] == [c for c, _ in expected], (level, top_k)
        assert len(hits) == min(top_k, len({c[:level] for c in codes}))
        combined = index.search_levels(query, top_k=top_k, levels=(6, 4, 2))[0]
        assert [h.code for h in combined[level]] == [c for c, _ in expected]


def test_code_score_matches_brute_force(synthetic) -> None:
    index, vectors, codes = synthetic
    query = _unit(np.random.default_rng(5).normal(size=vectors.shape[1]))
    sims = vectors @ query
    for code in {*codes, *(c[:4] for c in codes), *(c[:2] for c in codes)}:
        want = max(s for c, s in zip(codes, sims, strict=True) if c.startswith(code))
        assert index.code_score(query, code) == pytest.approx(float(want), abs=1e-5)
    assert index.code_score(query, "999999") is None
    assert index.code_score(query, "99") is None


def test_code_scores_match_brute_force_and_code_score(synthetic) -> None:
    index, vectors, codes = synthetic
    queries = _unit(np.random.default_rng(6).normal(size=(7, vectors.shape[1])))
    for code in ("84", "8401", codes[0]):
        want = (vectors[[c.startswith(code) for c in codes]] @ queries.T).max(axis=0)
        got = index.code_scores(queries, code)
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert [index.code_score(q, code) for q in queries] == got.tolist()
    assert index.code_scores(queries, "99") is None


def test_scores_do_not_depend_on_the_batch(synthetic) -> None:
    # A resumed batch recomputes a chunk with other texts around it (and FAISS and BLAS
    # change kernels with the batch size): every score must come out bit for bit the same.
    index, vectors, _ = synthetic
    queries = _unit(np.random.default_rng(7).normal(size=(45, vectors.shape[1])))
    together = index.search_levels(queries, top_k=5, levels=(6, 4))
    for i in (0, 13, 44):
        alone = index.search_levels(queries[i], top_k=5, levels=(6, 4))[0]
        assert alone == together[i]
        # A hit's cosine is the same number code_score gives: a declared code that is the
        # best match has a gap of exactly 0, not float32 noise.
        for hits in alone.values():
            assert [h.dense for h in hits] == [index.code_score(queries[i], h.code) for h in hits]
        for n in (1, 2, 3, 30):
            assert index.code_scores(queries[i : i + n], "84")[0] == index.code_scores(queries, "84")[i]


def test_index_shape_checks() -> None:
    with pytest.raises(ValueError, match="one row each"):
        HSIndex(["010110"], ["legal", "legal"], np.zeros((1, 4), np.float32), model_id="x")
    with pytest.raises(ValueError, match="one row each"):
        HSIndex(["010110", "010120"], ["legal", "legal"], np.zeros((1, 4), np.float32), model_id="x")


def test_index_basic_attributes(synthetic) -> None:
    index, _vectors, codes = synthetic
    assert len(index) == 200
    assert index.dimensions == 48
    assert index.subheadings == sorted(set(codes))
    assert index.vectors.dtype == np.float32


# -- the real catalogue with the fake embedder --------------------------------------------
@pytest.fixture(scope="module")
def real(fake_checker: Checker):
    texts = index_texts(fake_checker.catalogue)
    expected = _expected_manifest(fake_checker.embedder, fake_checker.catalogue, texts)
    return fake_checker.index, fake_checker.embedder, fake_checker.catalogue, expected


@pytest.fixture
def saved(real, tmp_path: Path) -> Path:
    index = real[0]
    folder = tmp_path / "idx"
    index.save(folder)
    return folder


def _flip_byte(path: Path, offset: int = -5) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_real_index_covers_the_catalogue(real) -> None:
    index, embedder, catalogue, expected = real
    texts = index_texts(catalogue)
    assert len(index) == len(texts)
    assert index.model_id == embedder.model_id
    assert index.dimensions == embedder.dimensions
    # Every subheading but chapter 99's is indexed.
    assert index.subheadings == [c for c in catalogue.subheadings if not c.startswith("99")]
    assert expected["recipe_sha256"] == recipe_hash(texts)
    assert expected["recipe_version"] == RECIPE_VERSION
    assert expected["format_version"] == FORMAT_VERSION


def test_save_load_round_trip(real, saved: Path) -> None:
    index, embedder, _catalogue, expected = real
    assert sorted(p.name for p in saved.iterdir()) == ["codes.json", "manifest.json", "vectors.npy"]
    manifest = json.loads((saved / "manifest.json").read_text())
    for key, value in expected.items():
        assert manifest[key] == value
    assert manifest["rows"] == len(index)
    assert manifest["dimensions"] == embedder.dimensions
    assert "built_at" in manifest
    loaded = HSIndex.load(saved, expected)
    assert loaded.model_id == index.model_id
    assert loaded.manifest == manifest
    np.testing.assert_array_equal(loaded.vectors, index.vectors)
    assert list(loaded.codes) == list(index.codes)
    assert list(loaded.kinds) == list(index.kinds)
    query = embedder.embed(["TDP-5 pill press", "cotton t-shirt"])
    assert loaded.search(query, top_k=5) == index.search(query, top_k=5)


def test_save_replaces_an_older_index(real, saved: Path) -> None:
    index, _embedder, _catalogue, expected = real
    index.save(saved)  # saving again over a complete index leaves one complete index
    assert sorted(p.name for p in saved.iterdir()) == ["codes.json", "manifest.json", "vectors.npy"]
    assert len(HSIndex.load(saved, expected)) == len(index)


def test_load_rejects_a_flipped_byte(real, saved: Path) -> None:
    _flip_byte(saved / "vectors.npy")
    with pytest.raises(IndexIntegrityError, match=r"vectors\.npy .*checksum"):
        HSIndex.load(saved, real[3])


def test_load_rejects_a_changed_codes_file(real, saved: Path) -> None:
    meta = json.loads((saved / "codes.json").read_text())
    meta["codes"][0] = "847989"
    (saved / "codes.json").write_text(json.dumps(meta))
    with pytest.raises(IndexIntegrityError, match=r"codes\.json"):
        HSIndex.load(saved, real[3])


def test_load_rejects_a_wrong_model_id(real, saved: Path) -> None:
    expected = dict(real[3], model_id="some-other-model")
    with pytest.raises(IndexIntegrityError, match="model_id"):
        HSIndex.load(saved, expected)


def test_load_rejects_a_changed_recipe_hash(real, saved: Path) -> None:
    expected = dict(real[3], recipe_sha256="0" * 64)
    with pytest.raises(IndexIntegrityError, match="recipe_sha256"):
        HSIndex.load(saved, expected)


def test_load_rejects_other_stale_fields(real, saved: Path) -> None:
    for key, value in (("catalogue_version", "HS2017"), ("dimensions", 384), ("format_version", 0)):
        with pytest.raises(IndexIntegrityError, match=key):
            HSIndex.load(saved, dict(real[3], **{key: value}))


@pytest.mark.parametrize("name", ["vectors.npy", "codes.json"])
def test_load_rejects_a_missing_file(real, saved: Path, name: str) -> None:
    (saved / name).unlink()
    with pytest.raises(IndexIntegrityError, match="missing"):
        HSIndex.load(saved, real[3])


def test_load_rejects_missing_or_broken_manifest(real, saved: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexIntegrityError, match="no index"):
        HSIndex.load(tmp_path / "nowhere", real[3])
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(IndexIntegrityError, match="unreadable"):
        HSIndex.load(saved, real[3])


def _replace_vectors(folder: Path, write) -> None:
    """Swap vectors.npy and fix its checksum, so only the content check can object."""
    with (folder / "vectors.npy").open("wb") as fh:
        write(fh)
    manifest = json.loads((folder / "manifest.json").read_text())
    import hashlib

    manifest["vectors_sha256"] = hashlib.sha256((folder / "vectors.npy").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


class _Trap:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_load_never_unpickles(real, saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = _Trap(marker), "x"
    # Sanity: this payload really does run code when unpickled.
    pickle.loads(pickle.dumps(_Trap(tmp_path / "sanity")))
    assert (tmp_path / "sanity").exists()
    _replace_vectors(saved, lambda fh: np.save(fh, obj, allow_pickle=True))
    with pytest.raises(IndexIntegrityError, match="unreadable"):
        HSIndex.load(saved, real[3])
    assert not marker.exists()


def test_load_rejects_wrong_shape_and_non_finite(real, saved: Path) -> None:
    index = real[0]
    _replace_vectors(saved, lambda fh: np.save(fh, index.vectors[:-1], allow_pickle=False))
    with pytest.raises(IndexIntegrityError, match="wrong shape"):
        HSIndex.load(saved, real[3])
    bad = index.vectors.copy()
    bad[10, 3] = np.nan
    _replace_vectors(saved, lambda fh: np.save(fh, bad, allow_pickle=False))
    with pytest.raises(IndexIntegrityError, match="non-finite"):
        HSIndex.load(saved, real[3])


def test_load_or_build_builds_then_loads(real, tmp_path: Path) -> None:
    _index, embedder, catalogue, expected = real
    messages: list[str] = []
    built = HSIndex.load_or_build(embedder, catalogue, tmp_path, notify=messages.append)
    assert len(messages) == 1 and "building the HS index" in messages[0]
    folder = tmp_path / "index" / _slug(embedder.model_id)
    assert (folder / "manifest.json").exists()
    again = HSIndex.load_or_build(embedder, catalogue, tmp_path, notify=messages.append)
    assert len(messages) == 1  # loaded silently
    np.testing.assert_array_equal(again.vectors, built.vectors)
    assert list(HSIndex.load(folder, expected).codes) == list(built.codes)


def test_load_or_build_rebuilds_a_corrupt_index(real, tmp_path: Path) -> None:
    index, embedder, catalogue, expected = real
    folder = tmp_path / "index" / _slug(embedder.model_id)
    index.save(folder)
    _flip_byte(folder / "vectors.npy")
    messages: list[str] = []
    rebuilt = HSIndex.load_or_build(embedder, catalogue, tmp_path, notify=messages.append)
    assert len(messages) == 1
    assert "rebuilding HS index" in messages[0]
    assert "checksum" in messages[0]
    np.testing.assert_array_equal(rebuilt.vectors, index.vectors)
    # The rebuilt index was stored and now verifies.
    assert len(HSIndex.load(folder, expected)) == len(index)


def test_load_or_build_rebuilds_a_stale_index(real, tmp_path: Path) -> None:
    index, embedder, catalogue, _expected = real
    folder = tmp_path / "index" / _slug(embedder.model_id)
    index.save(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["recipe_sha256"] = "stale"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    messages: list[str] = []
    HSIndex.load_or_build(embedder, catalogue, tmp_path, notify=messages.append)
    assert len(messages) == 1 and "rebuilding" in messages[0] and "recipe_sha256" in messages[0]
    assert json.loads((folder / "manifest.json").read_text())["recipe_sha256"] != "stale"


def test_slug_is_a_safe_folder_name() -> None:
    a = _slug("sentence-transformers/all-MiniLM-L6-v2")
    b = _slug("sentence-transformers:all-MiniLM-L6-v2")
    assert "/" not in a and ":" not in b
    assert a != b  # the hash suffix keeps distinct model ids apart
    assert _slug("../../etc") != _slug("etc")
    assert "/" not in _slug("../../etc")
    assert len(_slug("x" * 500)) <= 80 + 9


# -- the stored BM25 postings ---------------------------------------------------------------
_QUERIES = ("wireless earbuds bluetooth", "tablet press punch die", "knitted cotton sweater", "zzz nothing")


def test_lexical_index_is_stored_beside_the_index_and_reused(real, saved: Path) -> None:
    index, _, _, expected = real
    first = HSIndex.load(saved, expected)
    assert not (saved / "lexical.npz").exists()
    built = first.lexical
    assert (saved / "lexical.npz").exists()
    again = HSIndex.load(saved, expected).lexical
    assert again is not None and built is not None
    assert again.codes == built.codes
    for q in _QUERIES:
        np.testing.assert_array_equal(again.scores(q), built.scores(q))
        np.testing.assert_array_equal(again.scores(q), index.lexical.scores(q))


@pytest.mark.parametrize("damage", ["flip", "truncate", "stale"])
def test_a_bad_or_stale_lexical_file_is_rebuilt(real, saved: Path, damage: str) -> None:
    index, _, _, expected = real
    assert HSIndex.load(saved, expected).lexical is not None  # and lexical.npz is written
    path = saved / "lexical.npz"
    if damage == "flip":
        _flip_byte(path, offset=len(path.read_bytes()) // 2)
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        manifest = json.loads((saved / "manifest.json").read_text())
        # Same file, but an index whose texts differ: the stored postings must not be used.
        other = HSIndex(index.codes[:-1], index.kinds[:-1].tolist(), index.vectors[:-1], model_id=index.model_id,
                        manifest=manifest, texts=index.texts[:-1])
        other._lexical_file = path
        lex = other.lexical
        assert lex is not None
        assert len(lex.codes) == len(set(index.codes[:-1]))
        np.testing.assert_array_equal(lex.scores(_QUERIES[0]),
                                      type(lex)(index.codes[:-1], index.texts[:-1]).scores(_QUERIES[0]))
        return
    lex = HSIndex.load(saved, expected).lexical
    assert lex is not None
    for q in _QUERIES:
        np.testing.assert_array_equal(lex.scores(q), index.lexical.scores(q))


# -- hybrid folding in arrays vs the plain dict version ------------------------------------
def _dict_fold(index: HSIndex, query, q_scores, q_rows, text, top_k, levels, weight, rules):
    """The hybrid fold written plainly with dicts (the first version of it): the array
    version must rank exactly as this does."""
    lexical = index.lexical
    dense: dict[str, float] = {}
    for s, r in zip(q_scores.tolist(), q_rows.tolist(), strict=True):
        if r >= 0:
            dense.setdefault(index.codes[r], s)
    bm25 = lexical.scores(text) if weight > 0 else np.zeros(len(lexical.codes))
    if bm25.any():
        order = sorted(range(len(bm25)), key=lambda i: (-bm25[i], i))[:20]
        extra = [lexical.codes[i] for i in order if bm25[i] > 0 and lexical.codes[i] not in dense]
        for code in extra:
            dense[code] = index.code_score(query, code)
    bonus = {c: weight * b for c, b in zip(lexical.codes, bm25.tolist(), strict=True) if b}
    scored = {c: (s + bonus.get(c, 0.0), s) for c, s in dense.items()}
    if rules is not None:

        def score_code(code):
            s = index.code_score(query, code)
            return None if s is None else (s + bonus.get(code, 0.0), s)

        scored = rules.rerank(text, scored, score_code)
    best: dict[int, dict[str, tuple[float, float]]] = {lv: {} for lv in levels}
    for score, s, code in sorted(((v[0], v[1], c) for c, v in scored.items()), reverse=True):
        for lv in levels:
            if len(best[lv]) < top_k:
                best[lv].setdefault(code[:lv], (score, s))
    return best


_FOLD_TEXTS = [
    "men's knitted cotton pullover", "women's woven silk blouse", "baby romper 100% cotton",
    "PVC rain jacket", "leather gloves for motorcycle", "sterling silver ring with cubic zirconia",
    "18k gold plated necklace", "spare parts for tablet press punch and die", "LINEAR GUIDE RAIL",
    "TWS bluetooth earbuds", "stainless steel water bottle", "kalimba thumb piano 17 keys",
    "zinc alloy earrings", "gear pump parts", "polyester fleece hoodie for boys", "dog food",
    "xyzzy qwerty", "",
]


@pytest.mark.parametrize("weight", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("with_rules", [False, True])
def test_array_fold_ranks_as_the_dict_fold(fake_checker: Checker, weight: float, with_rules: bool) -> None:
    index, rules = fake_checker.index, (fake_checker.rules if with_rules else None)
    queries = fake_checker.embedder.embed([t or "empty" for t in _FOLD_TEXTS])
    scores, rows = index._exact_rescore(queries, *index._faiss.search(queries, 160))
    for qi, text in enumerate(_FOLD_TEXTS):
        for top_k, levels in ((5, (6, 4)), (3, (6,)), (10, (6, 4, 2))):
            args = (queries[qi], scores[qi], rows[qi], text, top_k, levels, weight, rules)
            assert index._fold_hybrid(*args) == _dict_fold(index, *args), (text, top_k, levels)


def test_bm25_scores_do_not_depend_on_the_hash_seed() -> None:
    """A query's words are summed in one fixed order: a set's order changes with the
    process's hash seed, and float sums with their order (a resumed run is a new process)."""
    import os
    import subprocess
    import sys

    code = ("import random\n"
            "from customs_check.lexical import LexicalIndex\n"
            "rng = random.Random(0)\n"
            "words = [f'w{i}x' for i in range(40)]\n"
            "docs = [' '.join(rng.choices(words, k=rng.randint(3, 30))) for _ in range(30)]\n"
            "idx = LexicalIndex([f'{i:06d}' for i in range(30)], docs)\n"
            "for _ in range(10):\n"
            "    print(idx.scores(' '.join(rng.sample(words, 12))).tobytes().hex())\n")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1
