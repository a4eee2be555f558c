"""What gets embedded for each HS subheading (the "text recipe").

Each subheading is indexed by one or more texts, all voting for its code:

* ``legal``: the heading's text followed by the subheading's, because a subheading such
  as "Other" means nothing alone;
* ``enriched``: the plain-language names of the goods from ``enrichment/chNN.tsv``
  (everyday names, product types, trade terms; the UK Online Trade Tariff's approach),
  subheading terms first, then the heading's;
* ``terms``: the subheading's own terms again, three at a time. A short product title
  sits closer to "bluetooth earbuds, TWS earbuds, wireless earphones" than to a list of
  twenty names, whose embedding blurs into their average (measured on the dev listings:
  HS6 top-1 0.24 -> 0.35, HS4 top-1 0.46 -> 0.48);
* ``exemplar``: example texts written for this project in the two styles the checker
  reads, marketplace listing titles and declaration/ruling descriptions
  (``exemplars/chNN.tsv``), each one more k-NN vote for its code.

The recipe's version and a hash of every text go into the HS index manifest, so editing
the enrichment data or this module rebuilds the index instead of serving stale vectors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from customs_check.hs_codes.catalogue import HSCatalogue

__all__ = ["RECIPE_VERSION", "IndexText", "index_texts", "load_enrichment", "load_exemplars", "recipe_hash"]

RECIPE_VERSION = "v3"
# How many enrichment terms go into one text: MiniLM reads ~256 word pieces, and a list
# too long blurs into an average of everything.
_MAX_TERMS = 24
_TERMS_PER_ROW = 3


@dataclass(frozen=True, slots=True)
class IndexText:
    code: str  # the HS6 subheading this text votes for
    kind: str  # "legal" | "enriched" | "exemplar"
    text: str


def _tsv_pairs(folder_name: str) -> list[tuple[str, str]]:
    """(code without dots, second column) from every ``folder_name/*.tsv`` shipped in
    this package, files in name order; comment and malformed lines are skipped."""
    folder = resources.files("customs_check.hs_codes") / folder_name
    if not folder.is_dir():
        return []
    pairs = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".tsv"):
            continue
        for line in item.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#") or "\t" not in line:
                continue
            code, _, value = line.partition("\t")
            pairs.append((code.replace(".", "").strip(), value.strip()))
    return pairs


@cache
def load_enrichment() -> dict[str, tuple[str, ...]]:
    """Plain-language terms by code (4 or 6 digits, no dots)."""
    terms: dict[str, tuple[str, ...]] = {}
    for code, words in _tsv_pairs("enrichment"):
        parsed = tuple(w.strip() for w in words.split(",") if w.strip())
        if parsed:
            terms[code] = parsed
    return terms


@cache
def load_exemplars() -> tuple[tuple[str, str], ...]:
    """(HS6 code, text) pairs from ``exemplars/chNN.tsv``."""
    return tuple((code, text) for code, text in _tsv_pairs("exemplars")
                 if len(code) == 6 and code.isdigit() and text)


def index_texts(catalogue: HSCatalogue, *, enrichment: bool = True) -> list[IndexText]:
    terms = load_enrichment() if enrichment else {}
    exemplars: dict[str, list[str]] = {}
    if enrichment:
        for code, text in load_exemplars():
            exemplars.setdefault(code, []).append(text)
    out: list[IndexText] = []
    for code in catalogue.subheadings:
        if code.startswith("99"):
            continue  # "commodities not specified according to kind" is never a classification
        entry = catalogue.get(code)
        heading = catalogue.get(code[:4])
        out.append(IndexText(code, "legal", f"{heading.description} > {entry.description}"))
        own = list(terms.get(code, ()))
        words = own + [t for t in terms.get(code[:4], ()) if t not in own]
        if words:
            out.append(IndexText(code, "enriched", ", ".join(words[:_MAX_TERMS])))
        for start in range(0, len(own), _TERMS_PER_ROW):
            out.append(IndexText(code, "terms", ", ".join(own[start : start + _TERMS_PER_ROW])))
        out.extend(IndexText(code, "exemplar", text) for text in exemplars.get(code, ()))
    return out


def recipe_hash(texts: list[IndexText]) -> str:
    h = hashlib.sha256(RECIPE_VERSION.encode())
    for t in texts:
        h.update(f"{t.code}\x1f{t.kind}\x1f{t.text}\x1e".encode())
    return h.hexdigest()
