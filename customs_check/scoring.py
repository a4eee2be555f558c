"""Turning signals into a verdict: vagueness, the mismatch score, severity.

The mismatch score is a logistic combination of a few interpretable signals, each
computed relative to the listing's own best match so that it means the same in every
chapter (a chapter with verbose legal texts scores everything higher):

``code_gap4``/``code_gap2``  how much worse the declared heading/chapter fits the listing
                            than the listing's best code (0 = the declared code is the best)
``text_sim``                cosine between listing and declared description
``decl_gap4``               how much worse the listing's likely heading fits the declared
                            text than the declared text's own best heading
``text_code_gap4``          how badly the declared description fits the declared code
``vague``                   1 if the declared description says nothing ("parts", "gift")
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from customs_check.models import Severity

__all__ = ["ScoringConfig", "is_vague", "mismatch_score", "severity_for"]

_WORDS = re.compile(r"[a-z]+")
# Words that say nothing about what the goods are (CBP: insufficient description).
_VAGUE_CORE = frozenset(
    "part parts accessory accessories gift gifts present sample samples goods item items product products "
    "merchandise stuff component components supplies supply article articles commodity commodities effects "
    "belongings package parcel cargo shipment spares".split()
)
# Words that may stand beside them without making the description specific.
_VAGUE_FILLER = frozenset(
    "a an the and or of for with to in on by no not free commercial value ncv new used spare machine machinery "
    "metal plastic auto car electronic electronics electrical hardware small assorted mixed various misc "
    "miscellaneous general other others personal household daily necessities consumer pcs pc pieces piece set "
    "sets lot lots box boxes kit unit units qty x replacement repair industrial".split()
)
_PART_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9./#_-]*\d[A-Z0-9./#_-]*$", re.IGNORECASE)


@lru_cache(maxsize=65_536)  # a night declares "LINEAR GUIDE RAIL" thousands of times
def is_vague(description: str | None) -> str | None:
    """Why a declared description is too vague to check, or None when it is specific."""
    if description is None or not description.strip():
        return "no description was declared"
    text = description.strip()
    tokens = text.split()
    if len(tokens) <= 2 and all(_PART_NUMBER.match(t) for t in tokens):
        return f'the description "{text}" is only a part number'
    words = _WORDS.findall(text.lower())
    if not words:
        return f'the description "{text}" has no words'
    if all(w in _VAGUE_CORE or w in _VAGUE_FILLER for w in words) and any(w in _VAGUE_CORE for w in words):
        return f'the description "{text}" does not say what the goods are'
    return None


@dataclass(frozen=True)
class ScoringConfig:
    """Weights of the logistic mismatch score and the thresholds of the verdict.

    Fitted on the dev shipments by ``scripts/calibrate.py`` and rounded; see that script
    for how to refit them on your own labelled history."""

    bias: float = -2.0
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "code_gap4": 14.0,
            "code_gap2": 10.0,
            "text_sim": -7.0,
            "decl_gap4": 8.0,
            "text_code_gap4": 6.0,
        }
    )
    # Used in place of a signal that cannot be computed (no declared code, say).
    neutral: dict[str, float] = field(
        default_factory=lambda: {
            "code_gap4": 0.05,
            "code_gap2": 0.02,
            "text_sim": 0.4,
            "decl_gap4": 0.05,
            "text_code_gap4": 0.05,
        }
    )
    # Weight of the scaled BM25 score added to the cosine when ranking HS candidates.
    lexical_weight: float = 0.1
    mismatch_threshold: float = 0.5
    high_threshold: float = 0.85
    medium_threshold: float = 0.7
    vague_score: float = 0.75
    # Watchlist semantic evidence: exemplar similarity, and margin over every look-alike.
    watchlist_min_similarity: float = 0.72
    watchlist_min_margin: float = 0.06


def mismatch_score(signals: dict[str, float | None], config: ScoringConfig) -> float:
    z = config.bias
    for name, weight in config.weights.items():
        value = signals.get(name)
        z += weight * (config.neutral[name] if value is None else value)
    return 1.0 / (1.0 + math.exp(-z))


def severity_for(score: float, *, mismatch: bool, chapter_diverges: bool, config: ScoringConfig) -> Severity:
    if not mismatch:
        return Severity.NONE
    if score >= config.high_threshold or chapter_diverges:
        return Severity.HIGH
    if score >= config.medium_threshold:
        return Severity.MEDIUM
    return Severity.LOW
