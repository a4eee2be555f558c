"""Watchlist of controlled goods: tablet presses, encapsulators, press tooling and parts,
drug precursors. The data is ``hs_codes/watchlist.toml``; this module matches it.

Two kinds of evidence:

* exact: a listed phrase, a model-name pattern (TDP-5, ZP17, NJP-200) or a CAS number
  with a valid check digit. Each suffices alone, unless a category's ``exclude``
  pattern vetoes it ("TDP 65 W" on a CPU, "fentanyl test strips").
* semantic: the text's embedding is near a category exemplar and clearly nearer than to
  every legitimate look-alike (hydraulic shop press, candy machine, injection mould...).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path

import numpy as np

from customs_check.embeddings.base import EmbeddingModel
from customs_check.errors import CustomsCheckError, InputFileError
from customs_check.hs_codes.catalogue import parse_hs_code
from customs_check.index import exact_dot, exact_units
from customs_check.models import WatchlistHit

_WATCHLIST_HINT = ("give a UTF-8 TOML file with [categories.NAME] tables, like the built-in "
                   "customs_check/hs_codes/watchlist.toml; or leave out --watchlist")

__all__ = ["Watchlist", "WatchlistCategory", "valid_cas"]

# A backreference (\1, (?P=name)) or a conditional group: such a pattern cannot be joined.
_GROUP_REFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")
_CAS = re.compile(r"(?<![\d-])(\d{2,7})-(\d{2})-(\d)(?![\d-])")


def valid_cas(number: str) -> bool:
    """CAS check digit: the digits right to left, weighted 1, 2, 3..., sum mod 10."""
    m = _CAS.fullmatch(number.strip())
    if not m:
        return False
    digits = (m.group(1) + m.group(2))[::-1]
    return sum(int(d) * (i + 1) for i, d in enumerate(digits)) % 10 == int(m.group(3))


@dataclass
class WatchlistCategory:
    id: str
    label: str
    family: str
    hs6: tuple[str, ...]
    phrases: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    cas: frozenset[str]
    exemplars: tuple[str, ...]
    exclude: tuple[re.Pattern[str], ...]
    priority: int = 1
    _phrase_re: re.Pattern[str] | None = field(default=None, repr=False)
    _prefilter: bool = field(default=False, repr=False)
    _any_re: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.phrases:
            alts = "|".join(re.escape(p).replace(r"\ ", r"[\s-]+") for p in sorted(self.phrases, key=len, reverse=True))
            self._phrase_re = re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", re.IGNORECASE)
        # One search that says whether any phrase or pattern could match: most texts are
        # innocent, and a batch asks every category about every new text. Patterns that
        # refer to a group (its number would change once joined) keep their own search.
        parts = [self._phrase_re.pattern] if self._phrase_re is not None else []
        if not any(_GROUP_REFERENCE.search(p.pattern) for p in self.patterns):
            parts += [p.pattern for p in self.patterns]
            self._any_re = _joined(parts) if parts else None
            self._prefilter = not parts or self._any_re is not None

    def excluded(self, text: str) -> bool:
        return any(p.search(text) for p in self.exclude)

    def exact_evidence(self, text: str) -> list[str]:
        return [] if self.excluded(text) else self._evidence(text)

    def _evidence(self, text: str) -> list[str]:
        if self._prefilter and not (self._any_re is not None and self._any_re.search(text)) and not (
                self.cas and _CAS.search(text)):
            return []
        evidence: list[str] = []
        if self._phrase_re is not None:
            for m in self._phrase_re.finditer(text):
                evidence.append(f'phrase "{m.group(0)}"')
        for p in self.patterns:
            m = p.search(text)
            if m:
                evidence.append(f'pattern "{m.group(0)[:60]}"')
        for m in _CAS.finditer(text):
            if m.group(0) in self.cas and valid_cas(m.group(0)):
                evidence.append(f"CAS {m.group(0)}")
        # A phrase and a pattern often match the same words: report the words once.
        seen: set[str] = set()
        unique = []
        for item in evidence:
            words = item.split('"')[1].lower() if '"' in item else item
            if words not in seen:
                seen.add(words)
                unique.append(item)
        return unique


def _evidence_prefilter(categories: list[WatchlistCategory]) -> re.Pattern[str] | None:
    """One search over every category's prefilter and the CAS number form: a text it does
    not match has no exact evidence in any category. None where a category cannot be
    prefiltered (a pattern that refers to its own groups)."""
    if not categories or not all(c._prefilter for c in categories):
        return None
    return _joined([c._any_re.pattern for c in categories if c._any_re is not None] + [_CAS.pattern])


def _joined(patterns: list[str]) -> re.Pattern[str] | None:
    """One case-insensitive search for any of ``patterns``; None where they cannot be
    joined (e.g. a pattern with its own inline flags)."""
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    except re.error:
        return None


class Watchlist:
    def __init__(self, categories: list[WatchlistCategory], lookalikes: list[str], source: str) -> None:
        self.categories = {c.id: c for c in categories}
        self.lookalikes = tuple(lookalikes)
        self.source = source
        self._vectors: tuple[str, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._any_evidence = _evidence_prefilter(categories)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Watchlist:
        """The built-in watchlist, or the TOML file at ``path``. A file that cannot be read,
        parsed or compiled, or that has no category, raises :class:`InputFileError`: a
        watchlist that silently matched nothing would let concealed presses through."""
        if path is None:
            raw = (resources.files("customs_check.hs_codes") / "watchlist.toml").read_bytes()
            source = "builtin"
        else:
            try:
                raw = Path(path).read_bytes()
            except OSError as exc:
                raise InputFileError(f"{path}: cannot read the watchlist: {exc.strerror or exc}",
                                     hint=_WATCHLIST_HINT) from exc
            source = str(path)
        try:
            data = tomllib.loads(raw.decode("utf-8"))
            cats = []
            for cid, spec in data.get("categories", {}).items():
                cats.append(
                    WatchlistCategory(
                        id=cid,
                        label=spec.get("label", cid),
                        family=spec.get("family", cid),
                        hs6=tuple(parse_hs_code(c).digits[:6] for c in spec.get("hs_codes", [])),
                        phrases=tuple(spec.get("phrases", [])),
                        patterns=tuple(re.compile(p, re.IGNORECASE) for p in spec.get("patterns", [])),
                        cas=frozenset(spec.get("cas", [])),
                        exemplars=tuple(spec.get("exemplars", [])),
                        exclude=tuple(re.compile(p, re.IGNORECASE) for p in spec.get("exclude", [])),
                        priority=int(spec.get("priority", 1)),
                    )
                )
            lookalikes = list(data.get("lookalikes", {}).get("exemplars", []))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, re.error, CustomsCheckError, AttributeError,
                TypeError, ValueError) as exc:
            reason = exc.message if isinstance(exc, CustomsCheckError) else str(exc)
            raise InputFileError(f"{source}: not a usable watchlist: {reason}", hint=_WATCHLIST_HINT) from exc
        if not cats:
            raise InputFileError(f"{source}: the watchlist has no category (no [categories.NAME] table)",
                                 hint=_WATCHLIST_HINT)
        return cls(cats, lookalikes, source)

    def fingerprint(self) -> str:
        """sha256 of the categories and look-alikes (not of the file's bytes: a reformatted
        file is the same watchlist): every public field of each category, read from the
        dataclass, so a field added later is covered. CAS numbers are sorted, since a set's
        order changes from one process to the next."""
        cats = [{f.name: _canonical(getattr(c, f.name)) for f in fields(c) if not f.name.startswith("_")}
                for c in self.categories.values()]
        return hashlib.sha256(json.dumps([cats, list(self.lookalikes)], sort_keys=True).encode()).hexdigest()

    def _exemplar_vectors(self, embedder: EmbeddingModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(exemplar vectors, category index of each, look-alike vectors), embedded once per model."""
        if self._vectors is None or self._vectors[0] != embedder.model_id:
            texts, owner = [], []
            for i, cat in enumerate(self.categories.values()):
                texts.extend(cat.exemplars)
                owner.extend([i] * len(cat.exemplars))
            pos = embedder.embed(texts)
            neg = embedder.embed(list(self.lookalikes)) if self.lookalikes else np.zeros((0, embedder.dimensions))
            self._vectors = (embedder.model_id, pos, np.asarray(owner), neg)
        return self._vectors[1], self._vectors[2], self._vectors[3]

    def match(self, texts: list[str], vectors: np.ndarray, embedder: EmbeddingModel, *,
              min_similarity: float, min_margin: float) -> list[list[WatchlistHit]]:
        """Hits for each text, strongest first. ``vectors`` are the texts' embeddings."""
        pos, owner, neg = self._exemplar_vectors(embedder)
        cats = list(self.categories.values())
        # Exact products: a hit and its evidence must not depend on the batch (see index.exact_dot).
        exact = exact_units(vectors)
        sims = exact_dot(exact, exact_units(pos)) if len(pos) else np.zeros((len(texts), 0))
        neg_best = exact_dot(exact, exact_units(neg)).max(axis=1) if len(neg) else np.full(len(texts), -1.0)
        # Each category's best exemplar for every text at once (the first of equal ones).
        best_of: list[tuple[np.ndarray, np.ndarray] | None] = []
        for ci in range(len(cats)):
            cols = np.flatnonzero(owner == ci)
            if len(cols):
                j = sims[:, cols].argmax(axis=1)
                best_of.append((j, sims[np.arange(len(texts)), cols[j]]))
            else:
                best_of.append(None)
        priority = {c.id: c.priority for c in cats}
        out: list[list[WatchlistHit]] = []
        for row, text in enumerate(texts):
            hits: list[WatchlistHit] = []
            # Most texts have no exact evidence in any category: one search says so.
            maybe_evidence = self._any_evidence is None or self._any_evidence.search(text) is not None
            for cat, best in zip(cats, best_of, strict=True):
                evidence = cat._evidence(text) if maybe_evidence else []
                s = float(best[1][row]) if best is not None else None
                near = s is not None and s >= min_similarity and s - float(neg_best[row]) >= min_margin
                # An excluded text ("TDP 65 W" of a CPU) has no hit at all; the exclusions
                # are searched only for a text that would otherwise have one.
                if not (evidence or near) or cat.excluded(text):
                    continue
                score = 1.0 if evidence else 0.0
                if near and best is not None and s is not None:
                    evidence.append(f'near exemplar "{cat.exemplars[int(best[0][row])]}" ({s:.2f})')
                    score = max(score, s)
                hits.append(WatchlistHit(category=cat.id, label=cat.label, evidence=evidence, score=score))
            hits.sort(key=lambda h: (-h.score, -len(h.evidence), -priority[h.category]))
            out.append(hits)
        return out

    def family(self, category: str) -> str:
        return self.categories[category].family


def _canonical(value: object) -> object:
    """A category field as JSON can hold it, the same in every process."""
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, frozenset | set):
        return sorted(_canonical(v) for v in value)  # type: ignore[type-var]
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    return value
