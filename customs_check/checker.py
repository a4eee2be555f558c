"""The :class:`Checker`: loads the model, HS index and watchlist once, then serves many
checks (one shipment, a list, a polars DataFrame). Every entry point funnels into one
verdict function (``Checker._verdicts``), which validates each distinct listing and
declaration once per call and searches each distinct text once per checker (its view
cache); :meth:`Checker.check_many` returns models, :meth:`Checker.check_rows` flat rows."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from pydantic import ValidationError

from customs_check.embeddings import EmbeddingModel, SQLiteCache, load_embedder
from customs_check.embeddings.base import ProgressCallback
from customs_check.embeddings.cache import BoundedLRU
from customs_check.errors import CustomsCheckError, InputFileError, InvalidInputError
from customs_check.hs_codes.catalogue import HSCatalogue, HSCode, format_hs_code, load_catalogue
from customs_check.index import HSIndex, SearchHit, exact_rowdot, exact_units
from customs_check.models import CheckResult, Declaration, HSCandidate, Listing, Severity, Shipment, WatchlistHit
from customs_check.paths import home_dir
from customs_check.rules import TariffRules
from customs_check.scoring import ScoringConfig, is_vague, mismatch_score, severity_for
from customs_check.text import clean_text
from customs_check.views import VIEW_STORE_FILE, ViewStore, view_context
from customs_check.watchlist import Watchlist

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Checker", "format_validation_error", "listing_texts"]

# The listing is embedded as its title and, separately, its category path; the two
# vectors are mixed. Categories repeat across millions of listings, so a separate
# category text is embedded once and then always comes from the cache.
_TITLE_WEIGHT = 0.75
_CATEGORY_WEIGHT = 0.25
_TOP_K = 5
# Past this a field is not a product text but a pasted page or an attack: the row is
# rejected. Below it, long text is cut to the model's window with a note in the reasons.
MAX_FIELD_CHARS = 100_000
# Views of texts kept between calls: a nightly batch meets the same best-selling listing
# and the same "LINEAR GUIDE RAIL" in every chunk, and a view costs a search and a
# watchlist match. About 3 KB each.
_VIEW_CACHE_SIZE = 50_000
# Validated listings and declarations kept between calls (a few hundred bytes each).
_PART_MEMO_SIZE = 100_000


# Field names as the batch columns call them, so a row error names the column to fix.
_COLUMN_PREFIX = {"Listing": "listing_", "Declaration": "declared_"}


def format_validation_error(exc: ValidationError) -> str:
    """One line per field, the way a user wants to read it."""
    prefix = _COLUMN_PREFIX.get(exc.title, "")
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        parts.append(f"{prefix}{loc}: {_plain_message(err)}")
    return "; ".join(parts)


def _plain_message(err: Any) -> str:
    # Pydantic's words for the two commonest cases describe the model, not the input:
    # "at least 1 character" for a title of three spaces, "a valid string" for a null.
    if err["type"] == "string_too_short" and err.get("ctx", {}).get("min_length") == 1:
        return "is empty (or only white space)"
    if err["type"] == "string_type" and err.get("input") is None:
        return "is missing"
    return str(err["msg"])


def listing_texts(listing: Listing) -> tuple[str, str | None, bool]:
    """(title text, category text or None, truncated?) after text hygiene."""
    title = clean_text(listing.title)
    text = title.text
    if listing.attributes:
        # Material and item type change the code (zinc alloy ring vs gold ring); the
        # rest of the attributes is noise to a sentence model.
        wanted = [
            kv.split(":", 1)[1].strip()
            for kv in listing.attributes.split(";")
            if ":" in kv and kv.split(":", 1)[0].strip().lower() in {"material", "item type", "metals type"}
        ]
        wanted = [w for w in wanted if w and w.lower() not in {"none", "other", "others"}]
        if wanted:
            text = f"{text} ({clean_text(', '.join(wanted)).text})"
    category = clean_text(listing.category).text if listing.category else None
    return text, category or None, title.truncated


@dataclass
class _TextView:
    # The text's vector on the exact-scoring grid (index.exact_units), as int32: a view
    # cache of 50,000 texts holds 75 MB of these, not 150 MB of float64.
    exact: np.ndarray
    hs6: list[SearchHit]
    hs4: list[SearchHit]
    watch: list[WatchlistHit]
    candidates: list[HSCandidate] | None = None
    code_scores: dict[str, float | None] = field(default_factory=dict)
    # Best cosine (without the lexical bonus) of the subheadings and headings found.
    top6: float = field(init=False)
    top4: float = field(init=False)
    # The chapters of the headings found, best first.
    chapters: list[str] = field(init=False)
    # The three best headings, which a declaration's text is scored against.
    top_headings: tuple[str, ...] = field(init=False)
    # The subheadings found and their rounded scores, as a result row holds them.
    top_codes: list[str] = field(init=False)
    top_scores: list[float] = field(init=False)
    # The best subheading as the reasons name it, and as a declaration's reason says what
    # the text reads as alone; made when first needed.
    best_text: str | None = None
    alone_text: str | None = None

    def __post_init__(self) -> None:
        self.top6 = max((h.dense or h.score) for h in self.hs6) if self.hs6 else 0.0
        self.top4 = max((h.dense or h.score) for h in self.hs4) if self.hs4 else 0.0
        self.chapters = list(dict.fromkeys(h.code[:2] for h in self.hs4))
        self.top_headings = tuple(h.code for h in self.hs4[:3])
        self.top_codes = [h.code for h in self.hs6]
        self.top_scores = [round(h.score, 4) for h in self.hs6]


@dataclass(slots=True)
class _ListingPart:
    """A listing after validation and text hygiene; shared by every row that sells it."""

    title: str
    category: str | None
    watch_text: str
    notes: tuple[str, ...]
    view_key: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.view_key = ("L", self.title, self.category or "", self.watch_text)


@dataclass(slots=True)
class _DeclarationPart:
    text: str
    code: HSCode | None
    notes: tuple[str, ...]


@dataclass(slots=True)
class _Prepared:
    shipment_id: str | None
    listing: _ListingPart
    declaration: _DeclarationPart


# The order in which the errors of one row are reported: the first a reader would fix.
# A row's listing and declaration are validated apart (each distinct one once per call)
# and the row gets the lowest-ranked of their errors.
_RANK_LISTING_FIELDS, _RANK_DECLARATION_FIELDS = 0, 1
_RANK_LISTING_SIZE, _RANK_DECLARATION_SIZE = 2, 3
_RANK_LISTING_TITLE, _RANK_DECLARATION_CODE = 4, 5


class _PartError(NamedTuple):
    rank: int
    error: CustomsCheckError


@dataclass(slots=True)
class _Verdict:
    """One shipment's verdict, before it becomes a :class:`CheckResult` (library) or a
    result row (batch, which skips building models)."""

    shipment_id: str | None
    mismatch: bool
    score: float
    severity: Severity
    reasons: list[str]
    lview: _TextView
    dview: _TextView | None
    code: HSCode | None
    watch: WatchlistHit | None
    watch_hits: list[WatchlistHit]
    signals: dict[str, float | None]


class Checker:
    """Check shipments against their listings.

    >>> checker = Checker.open()                       # default model, cached index
    >>> checker.check(Shipment(listing=Listing(title="TDP-5 pill press"),
    ...               declaration=Declaration(description="linear guide rail", hs_code="8482.10")))
    """

    def __init__(self, embedder: EmbeddingModel, *, index: HSIndex | None = None,
                 catalogue: HSCatalogue | None = None, watchlist: Watchlist | None = None,
                 config: ScoringConfig | None = None, home: Path | None = None,
                 progress: ProgressCallback | None = None,
                 notify: Callable[[str], None] | None = None, view_cache_size: int = _VIEW_CACHE_SIZE,
                 view_store: ViewStore | None = None) -> None:
        self.embedder = embedder
        self.catalogue = catalogue or load_catalogue()
        self.home = home or home_dir()
        self.index = index or HSIndex.load_or_build(
            embedder, self.catalogue, self.home, progress=progress, notify=notify
        )
        if self.index.model_id != embedder.model_id:
            raise InvalidInputError(
                f"index was built with {self.index.model_id}, not {embedder.model_id}"
            )
        self.watchlist = watchlist or Watchlist.load()
        self.config = config or ScoringConfig()
        self.rules = TariffRules(self.catalogue, self.embedder)
        # How reasons name a declared code ("8482.10 (Ball bearings)"): one entry per
        # distinct code declared, so at most one per tariff line of a schedule.
        self._declared_texts: dict[HSCode, str] = {}
        self._view_cache: BoundedLRU[tuple[str, ...], _TextView] = BoundedLRU(view_cache_size)
        self._view_owner: tuple[Any, ...] | None = None
        self._view_lock = threading.Lock()
        self._parts: tuple[dict[Any, Any], dict[Any, Any], HSCatalogue | None] = ({}, {}, None)
        # Views kept across runs (see customs_check.views); None: only in this process.
        self.view_store = view_store
        self._view_context: bytes | None = None
        # Texts whose view came from the store and was usable (a damaged entry is
        # searched again and not counted): the manifests' search_results_reused.
        self.views_reused = 0

    @property
    def view_cache_size(self) -> int:
        """How many texts' views (search and watchlist results) are kept between calls."""
        return self._view_cache.size

    @view_cache_size.setter
    def view_cache_size(self, size: int) -> None:
        self._view_cache.size = size

    @classmethod
    def open(cls, model: str = "default", *, home: str | Path | None = None, cache: bool = True,
             watchlist: str | Path | None = None, exemplars: str | Path | None = None,
             progress: ProgressCallback | None = None,
             notify: Callable[[str], None] | None = None) -> Checker:
        """The usual way in: a backend by spec (see ``customs_check.embeddings``), the
        persistent embedding cache and search results under ``home`` and the stored HS
        index. ``cache=False``: nothing is kept beyond this process.

        ``exemplars``: a file (.csv/.jsonl/.parquet) of ``text`` and ``hs_code`` columns,
        e.g. a customs office's past declarations with their verified codes; each row is
        added to the index as one more vote for its code."""
        home_path = Path(home) if home is not None else home_dir()
        store = SQLiteCache(home_path / "embeddings.sqlite") if cache else None
        embedder = load_embedder(model, cache=store)
        checker = cls(embedder, home=home_path, watchlist=Watchlist.load(watchlist) if watchlist else None,
                      progress=progress, notify=notify,
                      view_store=ViewStore(home_path / VIEW_STORE_FILE) if cache else None)
        if exemplars is not None:
            checker.add_exemplars(exemplars)
        return checker

    def add_exemplars(self, path: str | Path) -> int:
        """Extend the index with labelled texts from a file; returns how many were added.
        Rows with an invalid code or no text are skipped and counted in the message."""
        from customs_check.io import open_input

        source = open_input(path)
        missing = [c for c in ("text", "hs_code") if c not in source.columns]
        if missing:
            raise InputFileError(f"{path}: exemplars need columns text and hs_code; found: "
                                 f"{', '.join(source.columns)}")
        texts, codes, skipped = [], [], 0
        for chunk in source.iter_chunks(50_000):
            for text, raw in chunk.select("text", "hs_code").iter_rows():
                cleaned = clean_text(text).text
                try:
                    parsed = self.catalogue.resolve(raw) if raw is not None else None
                except CustomsCheckError:
                    parsed = None
                if not cleaned or parsed is None or parsed.hs6 is None:
                    skipped += 1
                    continue
                texts.append(cleaned)
                codes.append(parsed.hs6)
        if texts:
            vectors = self.embedder.embed(texts)
            self.index = self.index.with_rows(codes, ["exemplar"] * len(codes), vectors, texts=texts)
        if skipped:
            print(f"customs-check: {skipped} exemplar row(s) skipped (no text, or no valid 6-digit code)",
                  file=sys.stderr)
        return len(texts)

    # -- classification ------------------------------------------------------------------
    def _candidates(self, hits: list[SearchHit]) -> list[HSCandidate]:
        return [
            HSCandidate(code=h.code, level=len(h.code), description=self.catalogue.describe(h.code),
                        score=round(h.score, 4))
            for h in hits
        ]

    def _listing_vectors(self, titles: Sequence[str], categories: Sequence[str | None]) -> np.ndarray:
        cat_list = [c for c in categories if c]
        vecs = self.embedder.embed(list(titles) + cat_list)
        title_vecs = vecs[: len(titles)]
        out = title_vecs.copy()
        j = len(titles)
        for i, c in enumerate(categories):
            if c:
                out[i] = _TITLE_WEIGHT * title_vecs[i] + _CATEGORY_WEIGHT * vecs[j]
                j += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def classify(self, item: str | Listing, top_k: int = _TOP_K, level: int = 6) -> list[HSCandidate]:
        """Ranked HS candidates for a free text or a listing. A text that is empty once
        markup and control characters are removed raises :class:`InvalidInputError`."""
        [cands] = self.classify_many([item], top_k=top_k, level=level)
        if not cands:  # classify_many leaves only an item without text with no candidates
            raise InvalidInputError("the text to classify is empty after removing markup and control characters",
                                    hint="give a description of the goods")
        return cands

    def classify_many(self, items: Sequence[str | Listing], top_k: int = _TOP_K,
                      level: int = 6) -> list[list[HSCandidate]]:
        """:meth:`classify` for many items, in order; an item without text gets no
        candidates (a search for nothing would rank arbitrary codes)."""
        if top_k < 1 or top_k > 100:
            raise InvalidInputError(f"top_k must be between 1 and 100, got {top_k}")
        if level not in (2, 4, 6):
            raise InvalidInputError(f"level must be 2, 4 or 6, got {level}")
        out: list[list[HSCandidate]] = [[] for _ in items]
        present = [i for i, item in enumerate(items) if _has_text(item)]
        if present:
            vecs, search_texts = self._classify_queries([items[i] for i in present])
            hits = self.index.search_levels(vecs, top_k=top_k, levels=(level,), texts=search_texts,
                                            lexical_weight=self.config.lexical_weight, rules=self.rules)
            for i, h in zip(present, hits, strict=True):
                out[i] = self._candidates(h[level])
        return out

    def _classify_queries(self, items: Sequence[str | Listing]) -> tuple[np.ndarray, list[str]]:
        """What classification searches with for each item: its vector (a listing's title
        mixed with its category) and the text BM25 reads."""
        titles, cats = [], []
        for item in items:
            if isinstance(item, Listing):
                t, c, _ = listing_texts(item)
            else:
                t, c = clean_text(item).text, None
            titles.append(t)
            cats.append(c)
        return (self._listing_vectors(titles, cats),
                [_listing_search_text(t, c) for t, c in zip(titles, cats, strict=True)])

    # -- checking ------------------------------------------------------------------------
    def check(self, shipment: Shipment | dict[str, Any]) -> CheckResult:
        """Check one shipment. Invalid input raises :class:`InvalidInputError` (for a code,
        its subclass :class:`InvalidHSCodeError` or :class:`UnknownHSCodeError`, with its
        hint); use :meth:`check_many` to get invalid rows back as results with ``error`` set."""
        prepared = self._prepare(shipment, *self._part_memos())
        if isinstance(prepared, _PartError):
            raise prepared.error
        return self._result(self._judge([prepared])[0])

    def check_many(self, shipments: Iterable[Shipment | dict[str, Any]]) -> list[CheckResult]:
        """Check shipments; one result per input, in order. A row that cannot be checked
        comes back with ``error`` set and no verdict, never as an exception."""
        return [v if isinstance(v, CheckResult) else self._result(v) for v in self._verdicts(shipments)]

    def check_rows(self, rows: Iterable[Shipment | dict[str, Any]]) -> list[dict[str, Any]]:
        """Like :meth:`check_many`, but each verdict comes back as a flat result row (the
        columns of ``customs_check.batch.RESULT_SCHEMA``) without building pydantic models:
        the batch's fast path, where a night holds millions of verdicts."""
        from customs_check.batch import _result_row  # an invalid row: rare, built as the batch builds it

        return [_result_row(v) if isinstance(v, CheckResult) else _verdict_row(v) for v in self._verdicts(rows)]

    def check_frame(self, frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        """Check a polars DataFrame (or LazyFrame, collected first) with the batch columns;
        returns the input columns plus the result columns (see
        ``customs_check.batch.RESULT_SCHEMA``)."""
        from customs_check.batch import check_frame

        return check_frame(self, frame)

    def _verdicts(self, shipments: Iterable[Shipment | dict[str, Any]]) -> list[_Verdict | CheckResult]:
        """Verdicts in input order; an invalid row gets a :class:`CheckResult` with its error."""
        items = list(shipments)
        out: list[_Verdict | CheckResult | None] = [None] * len(items)
        prepared: list[tuple[int, _Prepared]] = []
        listings, declarations = self._part_memos()
        for i, item in enumerate(items):
            p = self._prepare(item, listings, declarations)
            if isinstance(p, _PartError):
                out[i] = CheckResult(shipment_id=_sid(item), error=str(p.error), error_kind=p.error.kind)
            else:
                prepared.append((i, p))
        if prepared:
            for (i, _), verdict in zip(prepared, self._judge([p for _, p in prepared]), strict=True):
                out[i] = verdict
        return [v for v in out if v is not None]

    def _part_memos(self) -> tuple[dict[Any, _ListingPart | _PartError], dict[Any, _DeclarationPart | _PartError]]:
        """Each distinct listing and declaration is validated once, and kept for later
        calls: a nightly run's chunks repeat the same best-seller and the same "LINEAR
        GUIDE RAIL" again and again. New dicts (never cleared in place, so a call in
        another thread keeps its own) when they grow large or the catalogue is swapped."""
        listings, declarations, owner = self._parts
        if owner is not self.catalogue or len(listings) + len(declarations) > _PART_MEMO_SIZE:
            listings, declarations = {}, {}
            self._parts = (listings, declarations, self.catalogue)
        return listings, declarations

    def _prepare(self, item: Shipment | dict[str, Any], listings: dict[Any, _ListingPart | _PartError],
                 declarations: dict[Any, _DeclarationPart | _PartError]) -> _Prepared | _PartError:
        if isinstance(item, Shipment):
            sid = item.shipment_id
            lsrc: Listing | tuple[Any, ...] = item.listing
            dsrc: Declaration | tuple[Any, ...] = item.declaration
        elif isinstance(item, dict):
            raw_sid = item.get("shipment_id")
            sid = None if raw_sid is None else str(raw_sid)
            lsrc = (item.get("listing_title"), item.get("listing_category"), item.get("listing_attributes"))
            dsrc = (item.get("declared_description"), item.get("declared_hs_code"))
        else:
            return _PartError(_RANK_LISTING_FIELDS, InvalidInputError(
                f"expected a Shipment or a dict of batch columns, got {type(item).__name__}"))
        lpart = _memo(listings, lsrc, self._listing_part)
        dpart = _memo(declarations, dsrc, self._declaration_part)
        if isinstance(lpart, _PartError) or isinstance(dpart, _PartError):
            return min((x for x in (lpart, dpart) if isinstance(x, _PartError)), key=lambda e: e.rank)
        return _Prepared(sid, lpart, dpart)

    def _listing_part(self, src: Listing | tuple[Any, ...]) -> _ListingPart | _PartError:
        if isinstance(src, Listing):
            listing = src
        else:
            try:
                listing = Listing(title=src[0], category=src[1], attributes=src[2])
            except ValidationError as exc:
                missing_title = any(e["loc"][:1] == ("title",) for e in exc.errors())
                return _PartError(_RANK_LISTING_FIELDS, InvalidInputError(
                    format_validation_error(exc), kind="missing_title" if missing_title else None))
        for column, value in (("listing_title", listing.title), ("listing_category", listing.category),
                              ("listing_attributes", listing.attributes)):
            if value is not None and len(value) > MAX_FIELD_CHARS:
                return _PartError(_RANK_LISTING_SIZE, _oversize(column, value))
        title, category, truncated = listing_texts(listing)
        if not title:
            return _PartError(_RANK_LISTING_TITLE, InvalidInputError(
                "listing_title: is empty after removing markup and control characters", kind="missing_title"))
        notes = ("listing title was longer than the model reads and was truncated",) if truncated else ()
        watch_text = " | ".join(x for x in (title, listing.category or "", clean_text(listing.attributes).text) if x)
        return _ListingPart(title, category, watch_text, notes)

    def _declaration_part(self, src: Declaration | tuple[Any, ...]) -> _DeclarationPart | _PartError:
        if isinstance(src, Declaration):
            declaration = src
        else:
            try:
                declaration = Declaration(description=src[0], hs_code=src[1])
            except ValidationError as exc:
                return _PartError(_RANK_DECLARATION_FIELDS, InvalidInputError(format_validation_error(exc)))
        text = declaration.description
        if text is not None and len(text) > MAX_FIELD_CHARS:
            return _PartError(_RANK_DECLARATION_SIZE, _oversize("declared_description", text))
        cleaned = clean_text(text)
        notes = ("declared description was truncated to the model's window",) if cleaned.truncated else ()
        code = None
        if declaration.hs_code is not None:
            try:
                code = self.catalogue.resolve(declaration.hs_code)
            except CustomsCheckError as exc:
                return _PartError(_RANK_DECLARATION_CODE, exc)
        return _DeclarationPart(cleaned.text, code, notes)

    def _view_candidates(self, view: _TextView) -> list[HSCandidate]:
        if view.candidates is None:
            view.candidates = self._candidates(view.hs6)
        return view.candidates

    def _views(self, keys: list[tuple[str, ...]], vectors: np.ndarray, search_texts: list[str],
               watch_texts: list[str]) -> list[_TextView]:
        exact = exact_units(vectors).astype(np.int32)
        store, context = self.view_store, self._context()
        made: dict[int, _TextView] = {}
        stored = store.get_many(context, keys) if store is not None else {}
        for i, k in enumerate(keys):
            if k in stored:
                with contextlib.suppress(TypeError, ValueError):  # a damaged entry is searched again
                    made[i] = _view_from_payload(exact[i], stored[k])
        if made:
            with self._view_lock:
                self.views_reused += len(made)
        todo = [i for i in range(len(keys)) if i not in made]
        if todo:
            # Searched apart from the stored ones: every score is exact, so a text's view
            # does not depend on the texts searched with it.
            cfg, sub = self.config, vectors[todo]
            hits = self.index.search_levels(sub, top_k=_TOP_K, levels=(6, 4), texts=[search_texts[i] for i in todo],
                                            lexical_weight=cfg.lexical_weight, rules=self.rules)
            watch = self.watchlist.match([watch_texts[i] for i in todo], sub, self.embedder,
                                         min_similarity=cfg.watchlist_min_similarity,
                                         min_margin=cfg.watchlist_min_margin)
            for i, h, w in zip(todo, hits, watch, strict=True):
                made[i] = _TextView(exact[i], h[6], h[4], w)
            if store is not None:
                store.put_many(context, self.embedder.model_id, [(keys[i], _view_payload(made[i])) for i in todo])
        return [made[i] for i in range(len(keys))]

    def _context(self) -> bytes:
        if self._view_context is None and self.view_store is not None:
            self._view_context = view_context(model_id=self.embedder.model_id, index=self.index,
                                              catalogue=self.catalogue, rules=self.rules, config=self.config,
                                              watchlist=self.watchlist)
        return self._view_context or b""

    def _cached_views(self, keys: list[tuple[str, ...]],
                      build: Callable[[list[tuple[str, ...]]], list[_TextView]]) -> dict[tuple[str, ...], _TextView]:
        """Views of ``keys`` from the cache, building the missing ones in one call."""
        owner = (self.index, self.config, self.watchlist, self.rules, self.view_store)
        with self._view_lock:  # Checker objects are shared by threads (a web service)
            if self._view_owner is None or any(a is not b for a, b in zip(owner, self._view_owner, strict=True)):
                # Views depend on the index, scoring config, rules and watchlist: any swap
                # voids them, and the stored ones are looked up under a new context.
                self._view_cache.clear()
                self._view_owner = owner
                self._view_context = None
        out = self._view_cache.get_many(keys)
        missing = [k for k in keys if k not in out]
        if missing:
            # Built outside any lock; two threads may build one view, and get the same one.
            built = dict(zip(missing, build(missing), strict=True))
            self._view_cache.put_many(built.items())
            out.update(built)
        return out

    def _build_listing_views(self, keys: list[tuple[str, ...]]) -> list[_TextView]:
        vecs = self._listing_vectors([k[1] for k in keys], [k[2] or None for k in keys])
        return self._views(keys, vecs, [_listing_search_text(k[1], k[2] or None) for k in keys],
                           [k[3] for k in keys])

    def _build_declaration_views(self, keys: list[tuple[str, ...]]) -> list[_TextView]:
        texts = [k[1] for k in keys]
        return self._views(keys, self.embedder.embed(texts), texts, texts)

    def _fill_code_scores(self, by_code: dict[str, dict[int, _TextView]]) -> None:
        """Score every (view, code) a batch of pairs will ask for, one matrix product per
        code, instead of one small product per pair."""
        for code, views in by_code.items():
            vs = list(views.values())
            scores = self.index.code_scores(np.stack([v.exact for v in vs]), code, on_grid=True)
            for j, v in enumerate(vs):
                v.code_scores[code] = None if scores is None else float(scores[j])

    def _judge(self, items: list[_Prepared]) -> list[_Verdict]:
        # Everything about a text (its vector, HS candidates, watchlist hits) is computed
        # once per distinct text, and kept for later calls; what depends on a listing and
        # a declared code together once per such pair; only the rest is per shipment.
        cfg = self.config
        lviews = self._cached_views(list(dict.fromkeys(p.listing.view_key for p in items)),
                                    self._build_listing_views)
        dkeys = list(dict.fromkeys(("D", p.declaration.text) for p in items if p.declaration.text))
        dviews = {k[1]: v for k, v in self._cached_views(dkeys, self._build_declaration_views).items()}
        pairs = [(lviews[p.listing.view_key], dviews.get(p.declaration.text)) for p in items]

        # The (view, code) scores the signals below read, by code; those a view already
        # holds (from an earlier chunk) are not asked for again.
        wanted: dict[str, dict[int, _TextView]] = {}
        for p, (lview, dview) in zip(items, pairs, strict=True):
            code = p.declaration.code
            if code is not None:
                known = lview.code_scores
                for c in (code.hs2, code.hs4) if code.hs4 else (code.hs2,):
                    if c not in known:
                        wanted.setdefault(c, {})[id(lview)] = lview
            if dview is not None:
                known = dview.code_scores
                for c in (*lview.top_headings, code.hs4 or code.hs2) if code is not None else lview.top_headings:
                    if c not in known:
                        wanted.setdefault(c, {})[id(dview)] = dview
        self._fill_code_scores(wanted)
        sims = _text_sims(pairs)
        by_code: dict[tuple[int, HSCode | None], tuple[float | None, float | None, bool, list[str]]] = {}
        verdicts = []
        for p, (lview, dview), sim in zip(items, pairs, sims, strict=True):
            code = p.declaration.code
            decl_text = p.declaration.text
            signals: dict[str, float | None] = dict.fromkeys(cfg.weights)
            known = by_code.get((id(lview), code))
            if known is None:
                known = by_code[(id(lview), code)] = self._code_signals(lview, code)
            signals["code_gap2"], signals["code_gap4"], chapter_diverges, code_reasons = known
            if dview is not None:
                # Signals compare cosines only: the lexical bonus ranks candidates but has no
                # counterpart for an arbitrary declared code.
                signals["text_sim"] = sim
                scores = dview.code_scores
                fit = max([scores[c] or 0.0 for c in lview.top_headings], default=0.0)
                signals["decl_gap4"] = max(0.0, dview.top4 - fit)
                if code is not None:
                    fit_code = dview.code_scores[code.hs4 or code.hs2]
                    if fit_code is not None:
                        signals["text_code_gap4"] = max(0.0, dview.top4 - fit_code)
            score = mismatch_score(signals, cfg)
            vague = is_vague(decl_text or None)  # memoised there
            reasons: list[str] = []
            if vague:
                score = max(score, cfg.vague_score)
                reasons.append(f"vague declaration: {vague}")
            mismatch = score >= cfg.mismatch_threshold
            severity = severity_for(score, mismatch=mismatch, chapter_diverges=chapter_diverges and mismatch,
                                    config=cfg)
            if vague and severity.rank < Severity.MEDIUM.rank:
                severity = Severity.MEDIUM
            reasons.extend(code_reasons)
            if dview is not None and sim is not None:
                reasons.append(_text_reason(decl_text, sim, dview))

            # Watchlist: a listing on it whose declaration does not name the same kind of
            # goods is concealment, whatever the codes say (a tablet press declared as a
            # "hydraulic press" carries the right code, 8479.89).
            lhits, dhits = lview.watch, (dview.watch if dview is not None else [])
            watch: WatchlistHit | None = lhits[0] if lhits else (dhits[0] if dhits else None)
            if lhits:
                family = self.watchlist.family(lhits[0].category)
                declared = [h for h in dhits if self.watchlist.family(h.category) == family]
                ev = ", ".join(lhits[0].evidence[:3])
                if declared:
                    reasons.insert(0, f"watchlist {lhits[0].category}: the listing is {lhits[0].label} ({ev}) "
                                      f"and the declaration says so ({', '.join(declared[0].evidence[:2])}); "
                                      "controlled goods: check the import permit")
                    family_codes = [c for cat in self.watchlist.categories.values() if cat.family == family
                                    for c in cat.hs6]
                    if code is None or any(c.startswith(code.international) for c in family_codes):
                        # Goods and code both declared as what they are: a watchlist hit, not a
                        # mismatch, whatever the nearest headings say (8479.89 "machines n.e.c."
                        # is rarely the nearest text to a tablet press).
                        mismatch = False
                        score = min(score, cfg.mismatch_threshold - 0.01)
                        severity = Severity.MEDIUM
                    else:
                        severity = max(severity, Severity.MEDIUM, key=lambda s: s.rank)
                else:
                    mismatch = True
                    score = max(score, 0.97)
                    severity = Severity.CRITICAL
                    reasons.insert(0, f"watchlist {lhits[0].category}: the listing is {lhits[0].label} ({ev}) "
                                      f'but the declaration "{decl_text or "(none)"}" does not declare it')
            elif dhits:
                reasons.insert(0, f"watchlist {dhits[0].category}: the declaration names {dhits[0].label} "
                                  f"({', '.join(dhits[0].evidence[:2])})")
                severity = max(severity, Severity.MEDIUM, key=lambda s: s.rank)
            reasons.extend(p.listing.notes)
            reasons.extend(p.declaration.notes)
            verdicts.append(_Verdict(
                shipment_id=p.shipment_id, mismatch=mismatch, score=round(float(min(max(score, 0.0), 1.0)), 4),
                severity=severity, reasons=reasons, lview=lview, dview=dview, code=code, watch=watch,
                watch_hits=lhits or dhits, signals=signals,
            ))
        return verdicts

    def _code_signals(self, lview: _TextView,
                      code: HSCode | None) -> tuple[float | None, float | None, bool, list[str]]:
        """What a listing and a declared code say together: (code_gap2, code_gap4, whether
        the code's chapter is outside the listing's likely chapters, the reasons)."""
        if code is None:
            return None, None, False, self._code_reasons(None, lview, 0.0)
        top = lview.top6
        s4 = lview.code_scores[code.hs4] if code.hs4 else None
        s2 = lview.code_scores[code.hs2]
        gap2 = max(0.0, top - s2) if s2 is not None else None
        gap4 = max(0.0, top - s4) if s4 is not None else gap2
        return gap2, gap4, code.hs2 not in lview.chapters, self._code_reasons(code, lview, gap4 or 0.0)

    def _result(self, v: _Verdict) -> CheckResult:
        return CheckResult(
            shipment_id=v.shipment_id,
            mismatch=v.mismatch,
            mismatch_score=v.score,
            severity=v.severity,
            reasons=v.reasons,
            listing_hs6_top=self._view_candidates(v.lview),
            declared_hs6=v.code.hs6 if v.code else None,
            declared_text_hs6_top=self._view_candidates(v.dview) if v.dview is not None else [],
            watchlist=v.watch.category if v.watch else None,
            watchlist_hits=v.watch_hits,
            signals={n: (None if x is None else round(x, 4)) for n, x in v.signals.items()},
        )

    def _code_reasons(self, code: HSCode | None, lview: _TextView, gap: float) -> list[str]:
        hits, chapters = lview.hs6, lview.chapters
        if not hits:
            return []
        best = hits[0]
        if lview.best_text is None:
            lview.best_text = (f"{format_hs_code(best.code)} {self.catalogue.get(best.code).description} "
                               f"({best.score:.2f})")
        best_txt = lview.best_text
        if code is None:
            return [f"no HS code declared; the listing most likely is {best_txt}"]
        decl_txt = self._declared_texts.get(code)
        if decl_txt is None:
            declared = self.catalogue.get(code.hs6 or code.hs4 or code.hs2)
            decl_txt = self._declared_texts[code] = f"{format_hs_code(code.digits)} ({declared.description})"
        if code.hs2 not in chapters:
            return [f"declared code {decl_txt} is in chapter {code.hs2}; the listing most likely is "
                    f"{best_txt}, chapter {best.code[:2]}"]
        if code.hs4 and code.hs4 != best.code[:4]:
            return [f"declared code {decl_txt} is in the listing's chapter but another heading "
                    f"(fit {gap:.2f} below the best); the listing most likely is {best_txt}"]
        return [f"declared code {decl_txt} agrees with the listing's likely heading {best.code[:4]}"]


def _view_payload(view: _TextView) -> list[Any]:
    """What the view store keeps of a view (the vector comes from the embedding cache)."""
    return [[[h.code, h.score, h.dense] for h in view.hs6], [[h.code, h.score, h.dense] for h in view.hs4],
            [[w.category, w.label, w.evidence, w.score] for w in view.watch]]


def _view_from_payload(exact: np.ndarray, payload: list[Any]) -> _TextView:
    """The view back from its stored form; TypeError or ValueError if the entry is damaged."""
    hs6, hs4, watch = payload

    def hit(code: Any, score: Any, dense: Any) -> SearchHit:
        if not isinstance(code, str):
            raise TypeError("stored HS code is not a string")
        return SearchHit(code, float(score), None if dense is None else float(dense))

    return _TextView(exact, [hit(*h) for h in hs6], [hit(*h) for h in hs4],
                     [WatchlistHit(category=c, label=lb, evidence=e, score=sc) for c, lb, e, sc in watch])


def _text_reason(text: str, sim: float, dview: _TextView) -> str:
    if dview.alone_text is None:
        dview.alone_text = f"; read alone it is {format_hs_code(dview.hs6[0].code)}" if dview.hs6 else ""
    view = dview.alone_text
    if sim < 0.3:
        return f'declared description "{text}" is unlike the listing (similarity {sim:.2f}){view}'
    return f'declared description "{text}" resembles the listing (similarity {sim:.2f}){view}'


def _has_text(item: str | Listing | None) -> bool:
    """Whether an item to classify has any text left after hygiene."""
    title = item.title if isinstance(item, Listing) else item
    return isinstance(title, str) and bool(clean_text(title).text)


def _listing_search_text(title: str, category: str | None) -> str:
    """What BM25 reads for a listing; classify and check must search the same text."""
    return f"{title} {category or ''}"


def _memo(memo: dict[Any, Any], src: Any, build: Callable[[Any], Any]) -> Any:
    """``build(src)`` once per distinct ``src``: keyed only when every value is a str or
    None, since 1, 1.0 and True are equal keys but not equal inputs."""
    if isinstance(src, tuple) and not all(v is None or type(v) is str for v in src):
        return build(src)
    found = memo.get(src)
    if found is None:
        found = memo[src] = build(src)
    return found


def _oversize(column: str, value: str) -> InvalidInputError:
    return InvalidInputError(f"{column}: {len(value):,} characters, more than the {MAX_FIELD_CHARS:,} "
                             "a product text can plausibly have", kind="oversize_text")


def _text_sims(pairs: list[tuple[_TextView, _TextView | None]]) -> list[float | None]:
    """Exact cosine of each (listing, declaration) pair's views, in blocks of rows."""
    out: list[float | None] = [None] * len(pairs)
    both = [i for i, (_, d) in enumerate(pairs) if d is not None]
    for s in range(0, len(both), 4096):
        block = both[s : s + 4096]
        a = np.stack([pairs[i][0].exact for i in block])
        b = np.stack([pairs[i][1].exact for i in block])  # type: ignore[union-attr]
        for i, sim in zip(block, exact_rowdot(a, b).tolist(), strict=True):
            out[i] = sim
    return out


def _verdict_row(v: _Verdict) -> dict[str, Any]:
    """A verdict as the batch's result columns (what ``batch.results_frame`` makes of the
    same verdict's :class:`CheckResult`)."""
    return {
        "mismatch": v.mismatch,
        "mismatch_score": v.score,
        "severity": v.severity.value,
        "reasons": v.reasons,
        "listing_hs6_top": v.lview.top_codes,
        "listing_hs6_scores": v.lview.top_scores,
        "declared_hs6": v.code.hs6 if v.code else None,
        "watchlist": v.watch.category if v.watch else None,
        "watchlist_evidence": [e for h in v.watch_hits for e in h.evidence] if v.watch_hits else [],
        "error": None,
        "error_kind": None,
    }


def _sid(item: Any) -> str | None:
    if isinstance(item, Shipment):
        return item.shipment_id
    if isinstance(item, dict) and item.get("shipment_id") is not None:
        return str(item["shipment_id"])
    return None
