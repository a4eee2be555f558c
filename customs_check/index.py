"""The HS index: FAISS over the embeddings of every subheading's texts.

Embedding the catalogue costs about a minute on 2 cores, so the index is built once per
(model, catalogue, text recipe) and stored under ``home_dir()/index/``:

* ``vectors.npy``   float32 unit vectors, one row per index text (loaded with
                    ``allow_pickle=False``: nothing is ever unpickled from a user path)
* ``codes.json``    the HS6 code and kind of each row
* ``manifest.json`` written last: model id, dimensions, catalogue version, recipe version
                    and hash, row count, sha256 of both files

Loading re-checks all of it; a stale or corrupt index is reported and rebuilt, never used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from customs_check.embeddings.base import EmbeddingModel, ProgressCallback
from customs_check.errors import IndexIntegrityError
from customs_check.hs_codes.catalogue import HSCatalogue
from customs_check.hs_codes.texts import RECIPE_VERSION, IndexText, index_texts, recipe_hash
from customs_check.lexical import LexicalIndex, lexical_version
from customs_check.paths import file_sha256

if TYPE_CHECKING:
    from customs_check.rules import TariffRules

__all__ = ["FORMAT_VERSION", "HSIndex", "SearchHit", "exact_dot", "exact_rowdot", "exact_units"]

FORMAT_VERSION = 2
# How many index rows FAISS returns before they are folded into codes: several rows vote
# for one code, so top-k codes need more than k rows.
_ROWS_PER_CODE = 4
# Codes that BM25 adds to the dense candidates of one query.
_LEXICAL_CANDIDATES = 20
# Scores that decide a verdict are computed exactly: unit vectors are rounded to multiples
# of 2^-20 and multiplied as integers held in float64 (each product < 2^40, a sum of up
# to 8,192 of them < 2^53, so no rounding happens in any order). A float32 product's last
# bits depend on which other queries share the BLAS call, and a batch resumed after a
# crash, or checked with a warm view cache, must reproduce every score bit for bit.
_EXACT_SCALE = float(2**20)


def exact_units(vectors: np.ndarray) -> np.ndarray:
    """Vectors on the exact-scoring grid (integers in float64)."""
    return np.rint(np.asarray(vectors, dtype=np.float64) * _EXACT_SCALE)


def exact_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosines between rows of ``a`` and ``b`` (both already :func:`exact_units`),
    independent of batch shape and BLAS kernel."""
    return (a @ b.T) / (_EXACT_SCALE * _EXACT_SCALE)


def exact_rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``a`` with the same row of ``b`` (both on the exact grid, any
    integer dtype): equal to the matching :func:`exact_dot` entry."""
    return np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64)) / (_EXACT_SCALE * _EXACT_SCALE)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A code and its score: the best cosine among its rows, plus (in hybrid search) the
    lexical weight times its scaled BM25 score; ``dense`` is the cosine part alone."""

    code: str
    score: float
    dense: float | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """Serialise builders of one index across processes (two nightly runs starting at once)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class HSIndex:
    """Rows of (HS6 code, kind, vector), searchable by code."""

    def __init__(self, codes: Sequence[str], kinds: Sequence[str], vectors: np.ndarray, *,
                 model_id: str, manifest: dict[str, Any] | None = None,
                 texts: Sequence[str] | None = None) -> None:
        if len(codes) != vectors.shape[0] or len(kinds) != len(codes):
            raise ValueError("codes, kinds and vectors must have one row each")
        if texts is not None and len(texts) != len(codes):
            raise ValueError("texts must have one row per code")
        import faiss  # lazy: faiss costs start-up time that `--help` must not pay

        self.model_id = model_id
        # Rows sorted by code: every HS6, HS4 and HS2 code then owns one contiguous slice,
        # so scoring a declared code reads a view instead of copying its rows.
        order = np.argsort(np.asarray(codes), kind="stable")
        self.codes = [codes[i] for i in order]
        self.kinds = np.asarray(kinds)[order]
        self.vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[order])
        self.dimensions = int(vectors.shape[1])
        self.manifest = manifest or {}
        self.texts = [texts[i] for i in order] if texts is not None else None
        self._lexical: LexicalIndex | None = None
        self._exact: np.ndarray | None = None
        self._lexical_file: Path | None = None  # set when the index lives in a folder
        self._fingerprint: str | None = None
        self._faiss = faiss.IndexFlatIP(self.dimensions)
        # FAISS switches from its one-query-at-a-time loop to BLAS only from queries x
        # dimensions = 128,000 (334 MiniLM queries). A nightly chunk brings fewer new texts
        # than that, and below it a query over 44k rows costs ~1.5 ms instead of ~0.25 ms.
        # Only which rows are fetched can change: their scores are recomputed exactly.
        # (A process-wide FAISS setting, lowered, never raised.)
        faiss.cvar.distance_compute_blas_threshold = min(faiss.cvar.distance_compute_blas_threshold,
                                                         8 * self.dimensions)
        self._faiss.add(self.vectors)
        # FAISS keeps its own copy of the rows: read that one (62 MB for MiniLM) instead of
        # holding two. Read-only, since FAISS owns the memory.
        stored = faiss.rev_swig_ptr(self._faiss.get_xb(), self.vectors.size).reshape(self.vectors.shape)
        if np.array_equal(stored, self.vectors):
            self.vectors = stored
            self.vectors.flags.writeable = False
        # The slice of rows of each HS6, HS4 and HS2 code, for scoring a declared code.
        self._rows: dict[str, slice] = {}
        bounds: dict[str, list[int]] = {}
        for i, code in enumerate(self.codes):
            for prefix in (code, code[:4], code[:2]):
                span = bounds.setdefault(prefix, [i, i])
                span[1] = i + 1
        self._rows = {k: slice(a, b) for k, (a, b) in bounds.items()}
        self.subheadings = sorted(set(self.codes))
        # Codes as ids (positions in `subheadings`, which is also the BM25 index's order):
        # each row's code, and each code's heading and chapter.
        self._code_id = {c: i for i, c in enumerate(self.subheadings)}
        self._row_code = np.searchsorted(np.asarray(self.subheadings), np.asarray(self.codes))
        self._prefix_ids = {lv: np.unique([c[:lv] for c in self.subheadings], return_inverse=True)[1].ravel()
                            for lv in (2, 4)}

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    # -- queries -------------------------------------------------------------------------
    def search(self, queries: np.ndarray, top_k: int = 5, level: int = 6) -> list[list[SearchHit]]:
        """Top ``top_k`` codes at ``level`` (6, 4 or 2) for each query vector; a code's score
        is the best cosine among its rows."""
        return [by_level[level] for by_level in self.search_levels(queries, top_k=top_k, levels=(level,))]

    def search_levels(self, queries: np.ndarray, top_k: int = 5, levels: tuple[int, ...] = (6, 4, 2),
                      texts: Sequence[str] | None = None, lexical_weight: float = 0.1,
                      rules: TariffRules | None = None) -> list[dict[int, list[SearchHit]]]:
        """One FAISS search per query, folded into the top codes at several levels.

        With ``texts`` (the queries' own texts) and an index that keeps its texts, the
        search is hybrid: codes found by BM25 join the candidates and every candidate's
        score gains ``lexical_weight`` times its scaled BM25 score. With ``rules`` too,
        the tariff rules rerank each query's candidates before the top-k cut."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if texts is not None and len(texts) != len(queries):
            raise ValueError("texts must have one entry per query")
        hybrid = texts is not None and self.texts is not None and (lexical_weight > 0 or rules is not None)
        originals = queries
        changed = [False] * len(queries)
        if rules is not None and texts is not None:
            queries, changed = rules.query_vectors(texts, queries)
            queries = np.ascontiguousarray(queries, dtype=np.float32)
        widest = 1 if levels == (6,) else 8
        n_rows = min(len(self), max(64, top_k * _ROWS_PER_CODE * widest))
        scores, rows = self._exact_rescore(queries, *self._faiss.search(queries, n_rows))

        def fold(qi: int, q_scores: np.ndarray, q_rows: np.ndarray) -> dict[int, dict[str, tuple[float, float]]]:
            if hybrid:
                assert texts is not None
                return self._fold_hybrid(queries[qi], q_scores, q_rows, texts[qi], top_k, levels, lexical_weight,
                                         rules)
            return self._fold(q_scores, q_rows, top_k, levels)

        out = []
        for qi, (q_scores, q_rows) in enumerate(zip(scores, rows, strict=True)):
            best = fold(qi, q_scores, q_rows)
            if n_rows < len(self) and any(len(best[lv]) < top_k for lv in levels):
                # The rows fetched belong to fewer than top_k codes (one chapter can own
                # hundreds of rows): rank every row for this query.
                all_scores, all_rows = self._exact_rescore(queries[qi : qi + 1],
                                                           *self._faiss.search(queries[qi : qi + 1], len(self)))
                best = fold(qi, all_scores[0], all_rows[0])
            if changed[qi]:
                # The search vector was adjusted to rank; the cosines reported stay those of
                # the query itself, which the mismatch signals compare with other codes.
                orig = originals[qi]
                best = {lv: {c: (v[0], _or(self.code_score(orig, c), v[1])) for c, v in found.items()}
                        for lv, found in best.items()}
            out.append({lv: [SearchHit(c, float(v[0]), float(v[1])) for c, v in best[lv].items()]
                        for lv in levels})
        return out

    def _exact_rescore(self, queries: np.ndarray, scores: np.ndarray,
                       rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """FAISS picks the rows; their scores and order are recomputed exactly, so a text's
        hits do not depend on the other texts searched with it."""
        exact_q = exact_units(queries)
        out_s = np.empty(scores.shape, dtype=np.float64)
        out_r = np.empty_like(rows)
        for qi in range(len(queries)):
            r = rows[qi]
            valid = r >= 0
            s = np.full(len(r), -np.inf)
            s[valid] = exact_dot(self._exact_rows(r[valid]), exact_q[qi : qi + 1])[:, 0]
            order = np.lexsort((r, -s))  # best first; ties by row, so the order is total
            out_s[qi], out_r[qi] = s[order], r[order]
        return out_s, out_r

    @property
    def lexical(self) -> LexicalIndex | None:
        """BM25 over the index texts: loaded from beside a stored index (building it costs
        a second or more, too much for a CLI spot check), else built and stored there."""
        if self._lexical is None and self.texts is not None:
            recipe = self.manifest.get("recipe_sha256")
            stored = self._lexical_file if recipe and "extra_rows" not in self.manifest else None
            source = f"{recipe}:{len(self)}:{lexical_version()}"
            if stored is not None:
                self._lexical = LexicalIndex.load(stored, source)
            if self._lexical is None:
                self._lexical = LexicalIndex(self.codes, self.texts)
                if stored is not None:
                    with contextlib.suppress(OSError):  # a read-only home still works, just slower
                        self._lexical.save(stored, source)
            if self._lexical.codes != self.subheadings:  # hybrid search reads BM25 by code id
                raise IndexIntegrityError("the BM25 postings do not match the index codes")
        return self._lexical

    def _fold_hybrid(self, query: np.ndarray, q_scores: np.ndarray, q_rows: np.ndarray, text: str, top_k: int,
                     levels: tuple[int, ...], weight: float,
                     rules: TariffRules | None = None) -> dict[int, dict[str, tuple[float, float]]]:
        # In arrays of code ids, not dicts of codes: this runs once for every new text of a
        # nightly batch. The order is the dict version's: codes as first met among the
        # rows (best first), then BM25's extra codes; ranked by score, cosine, code.
        lexical = self.lexical
        assert lexical is not None
        valid = q_rows >= 0
        ids = self._row_code[q_rows[valid]]
        first = _first_positions(ids)
        cand, dense = ids[first], q_scores[valid][first]
        bm25 = lexical.scores(text) if weight > 0 else None
        if bm25 is not None and bm25.any():
            n = min(_LEXICAL_CANDIDATES, len(bm25) - 1)
            top = np.argpartition(-bm25, n)[: n + 1] if n > 0 else np.arange(len(bm25))
            top = top[np.lexsort((top, -bm25[top]))][:_LEXICAL_CANDIDATES]
            known = set(cand.tolist())
            extra = np.array([i for i in top.tolist() if bm25[i] > 0 and i not in known], dtype=cand.dtype)
            if len(extra):
                cand = np.concatenate([cand, extra])
                dense = np.concatenate([dense, self.codes_score(query, [self.subheadings[i] for i in extra])])
        total = dense + weight * bm25[cand] if bm25 is not None else dense
        if rules is not None and rules.may_rerank(text, self._best_few(cand, total, rules.context)):
            subheadings = self.subheadings

            def score_code(code: str) -> tuple[float, float] | None:
                s = self.code_score(query, code)
                if s is None:
                    return None
                i = self._code_id.get(code)
                return (s + float(weight * bm25[i]) if bm25 is not None and i is not None else s), s

            scored = rules.rerank(text, dict(zip([subheadings[i] for i in cand.tolist()],
                                                 zip(total.tolist(), dense.tolist(), strict=True), strict=True)),
                                  score_code)
            cand = np.array([self._code_id[c] for c in scored], dtype=np.int64)
            total = np.array([v[0] for v in scored.values()], dtype=np.float64)
            dense = np.array([v[1] for v in scored.values()], dtype=np.float64)
        order = np.lexsort((-cand, -dense, -total))  # best first; ties: higher cosine, then higher code
        cand, total, dense = cand[order], total[order], dense[order]
        best: dict[int, dict[str, tuple[float, float]]] = {}
        for lv in levels:
            prefix = cand if lv == 6 else self._prefix_ids[lv][cand]
            best[lv] = {self.subheadings[cand[j]][:lv]: (float(total[j]), float(dense[j]))
                        for j in _first_positions(prefix)[:top_k].tolist()}
        return best

    def _best_few(self, cand: np.ndarray, total: np.ndarray, n: int) -> list[str]:
        """The ``n`` best candidates as the rules rank them: by score, ties in candidate order."""
        return [self.subheadings[i] for i in cand[np.lexsort((np.arange(len(total)), -total))[:n]].tolist()]

    def _fold(self, q_scores: np.ndarray, q_rows: np.ndarray, top_k: int,
              levels: tuple[int, ...]) -> dict[int, dict[str, tuple[float, float]]]:
        codes = self.codes
        best: dict[int, dict[str, tuple[float, float]]] = {lv: {} for lv in levels}
        for s, r in zip(q_scores.tolist(), q_rows.tolist(), strict=True):
            if r < 0:
                break
            code = codes[r]
            for lv in levels:
                found = best[lv]
                if len(found) < top_k:
                    found.setdefault(code[:lv], (s, s))  # rows come best first
            if all(len(best[lv]) >= top_k for lv in levels):
                break
        return best

    @property
    def exact_vectors(self) -> np.ndarray:
        """The rows on the exact-scoring grid, as int32 (half the memory of float64)."""
        if self._exact is None:
            self._exact = exact_units(self.vectors).astype(np.int32)
        return self._exact

    def _exact_rows(self, rows: np.ndarray | slice) -> np.ndarray:
        """Some rows on the exact-scoring grid, as the float64 that :func:`exact_dot` takes."""
        return self.exact_vectors[rows].astype(np.float64)

    def code_score(self, query: np.ndarray, code: str) -> float | None:
        """Best cosine between ``query`` and the rows of an HS2/HS4/HS6 code; None if the
        code has no rows."""
        scores = self.code_scores(query, code)
        return None if scores is None else float(scores[0])

    def codes_score(self, query: np.ndarray, codes: Sequence[str]) -> list[float]:
        """:meth:`code_score` of several codes (all with rows) for one query, in one product."""
        if not codes:
            return []
        slices = [self._rows[c] for c in codes]
        rows = np.concatenate([np.arange(sl.start, sl.stop) for sl in slices])
        sims = exact_dot(self._exact_rows(rows), exact_units(query[None]))[:, 0]
        starts = np.cumsum([0] + [sl.stop - sl.start for sl in slices[:-1]])
        return np.maximum.reduceat(sims, starts).tolist()

    def code_scores(self, queries: np.ndarray, code: str, *, on_grid: bool = False) -> np.ndarray | None:
        """:meth:`code_score` of one code for many query vectors at once (one matrix
        product: a batch asks for the same declared codes again and again); exact.
        ``on_grid``: the queries are already :func:`exact_units`."""
        rows = self._rows.get(code)
        if rows is None:
            return None
        block = self._exact_rows(rows)
        queries = np.atleast_2d(queries)
        grid = queries.astype(np.float64) if on_grid else exact_units(queries)
        return np.max(exact_dot(block, grid), axis=0)

    @property
    def fingerprint(self) -> str:
        """sha256 of what the index holds: its rows' codes, kinds, texts and vectors. An
        index loaded from disk has the checksums of its files (verified at load) in its
        manifest; extra rows add theirs."""
        if self._fingerprint is None:
            m = self.manifest
            if m.get("vectors_sha256") and m.get("codes_sha256"):
                parts = [self.model_id, m["vectors_sha256"], m["codes_sha256"], m.get("extra_sha256"), len(self)]
                self._fingerprint = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
            else:
                self._fingerprint = _rows_digest(self.model_id, self.codes, self.kinds.tolist(), self.texts,
                                                 self.vectors)
        return self._fingerprint

    def with_rows(self, codes: Sequence[str], kinds: Sequence[str], vectors: np.ndarray,
                  texts: Sequence[str] | None = None) -> HSIndex:
        """A new index with extra rows (a user's labelled exemplars); this one is unchanged."""
        extra_sha = _rows_digest(self.model_id, codes, kinds, texts, vectors)
        if self.manifest.get("extra_sha256"):  # rows added twice: both sets count
            extra_sha = hashlib.sha256(f"{self.manifest['extra_sha256']}:{extra_sha}".encode()).hexdigest()
        manifest = dict(self.manifest, extra_rows=self.manifest.get("extra_rows", 0) + len(codes),
                        extra_sha256=extra_sha)
        extra = list(texts) if texts is not None else [""] * len(codes)
        texts = self.texts + extra if self.texts is not None else None
        return HSIndex(self.codes + list(codes), self.kinds.tolist() + list(kinds),
                       np.vstack([self.vectors, vectors]), model_id=self.model_id, manifest=manifest, texts=texts)

    # -- persistence ---------------------------------------------------------------------
    @classmethod
    def build(cls, embedder: EmbeddingModel, catalogue: HSCatalogue, *,
              texts: list[IndexText] | None = None, progress: ProgressCallback | None = None) -> HSIndex:
        texts = texts if texts is not None else index_texts(catalogue)
        vectors = embedder.embed([t.text for t in texts], progress=progress)
        manifest = _expected_manifest(embedder, catalogue, texts)
        return cls([t.code for t in texts], [t.kind for t in texts], vectors,
                   model_id=embedder.model_id, manifest=manifest, texts=[t.text for t in texts])

    def save(self, folder: Path) -> None:
        """Write atomically: files go to temp names, the manifest is replaced last, so a
        reader sees either the old complete index or the new one."""
        folder.mkdir(parents=True, exist_ok=True)
        vec_tmp = _tmp_path(folder, "vectors.npy")
        with vec_tmp.open("wb") as fh:  # a file object: np.save would append ".npy" to a name
            np.save(fh, self.vectors, allow_pickle=False)
        codes_tmp = _tmp_path(folder, "codes.json")
        codes_tmp.write_text(json.dumps({"codes": self.codes, "kinds": self.kinds.tolist(), "texts": self.texts}))
        manifest = dict(self.manifest)
        manifest.update(
            vectors_sha256=file_sha256(vec_tmp),
            codes_sha256=file_sha256(codes_tmp),
            rows=len(self),
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        os.replace(vec_tmp, folder / "vectors.npy")
        os.replace(codes_tmp, folder / "codes.json")
        man_tmp = _tmp_path(folder, "manifest.json")
        man_tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(man_tmp, folder / "manifest.json")
        self.manifest = manifest
        self._lexical_file = folder / "lexical.npz"

    @classmethod
    def load(cls, folder: Path, expected: dict[str, Any]) -> HSIndex:
        """Load and verify; raises :class:`IndexIntegrityError` saying what is wrong."""
        man_path = folder / "manifest.json"
        if not man_path.exists():
            raise IndexIntegrityError(f"no index at {folder}")
        try:
            manifest = json.loads(man_path.read_text())
        except (OSError, ValueError) as exc:
            raise IndexIntegrityError(f"index manifest unreadable: {exc}") from exc
        for key, value in expected.items():
            if manifest.get(key) != value:
                raise IndexIntegrityError(f"index is stale: {key} is {manifest.get(key)!r}, expected {value!r}")
        vec_path, codes_path = folder / "vectors.npy", folder / "codes.json"
        for path, key in ((vec_path, "vectors_sha256"), (codes_path, "codes_sha256")):
            if not path.exists() or file_sha256(path) != manifest.get(key):
                raise IndexIntegrityError(f"index file {path.name} is missing or fails its checksum")
        try:
            vectors = np.load(vec_path, allow_pickle=False)
            meta = json.loads(codes_path.read_text())
        except (OSError, ValueError) as exc:
            raise IndexIntegrityError(f"index files unreadable: {exc}") from exc
        if vectors.shape != (manifest["rows"], manifest["dimensions"]) or not np.isfinite(vectors).all():
            raise IndexIntegrityError("index vectors have the wrong shape or non-finite values")
        index = cls(meta["codes"], meta["kinds"], vectors, model_id=manifest["model_id"], manifest=manifest,
                    texts=meta.get("texts"))
        index._lexical_file = folder / "lexical.npz"
        return index

    @classmethod
    def load_or_build(cls, embedder: EmbeddingModel, catalogue: HSCatalogue, home: Path, *,
                      progress: ProgressCallback | None = None,
                      notify: Callable[[str], None] | None = None) -> HSIndex:
        """The index for this embedder, from ``home/index/`` or built and stored there."""
        notify = notify or (lambda msg: print(msg, file=sys.stderr))
        texts = index_texts(catalogue)
        expected = _expected_manifest(embedder, catalogue, texts)
        folder = home / "index" / _slug(embedder.model_id)
        try:
            return cls.load(folder, expected)
        except IndexIntegrityError as first:
            with _build_lock(folder):
                try:  # another process may have built it while we waited for the lock
                    return cls.load(folder, expected)
                except IndexIntegrityError:
                    pass
                if (folder / "manifest.json").exists():
                    notify(f"customs-check: rebuilding HS index ({first})")
                else:
                    notify(f"customs-check: building the HS index for {embedder.model_id} "
                           f"({len(texts)} texts, once; later runs load it)")
                index = cls.build(embedder, catalogue, texts=texts, progress=progress)
                index.save(folder)
                return index


def _expected_manifest(embedder: EmbeddingModel, catalogue: HSCatalogue, texts: list[IndexText]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "model_id": embedder.model_id,
        "dimensions": embedder.dimensions,
        "catalogue_version": catalogue.version,
        "recipe_version": RECIPE_VERSION,
        "recipe_sha256": recipe_hash(texts),
    }


def _rows_digest(model_id: str, codes: Sequence[str], kinds: Sequence[str], texts: Sequence[str] | None,
                 vectors: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps([model_id, list(codes), list(kinds),
                                        list(texts) if texts is not None else None]).encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _first_positions(ids: np.ndarray) -> np.ndarray:
    """Where each distinct value of ``ids`` first occurs, in order (for the short arrays
    of one query a dict beats np.unique's sort)."""
    first: dict[int, int] = {}
    for j, i in enumerate(ids.tolist()):
        if i not in first:
            first[i] = j
    return np.fromiter(first.values(), dtype=np.intp, count=len(first))


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _tmp_path(folder: Path, name: str) -> Path:
    fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    return Path(path)
