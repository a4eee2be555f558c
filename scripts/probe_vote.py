#!/usr/bin/env python
"""Experiment (measured, not shipped): headings ranked by a soft vote of their codes.

    python scripts/probe_vote.py ../shared/data [--model default]

The shipped search scores a heading by its best subheading (the max over its codes). Here
a heading scores ``max + alpha * T * log(sum(exp((s - max) / T)))`` over its candidate codes
(a log-sum-exp vote: a heading with several good codes gains on one with a single good
code), and a subheading is ranked within its heading's rank (hierarchical). T = 0 is the
shipped ranking. Candidates are those the hybrid search and the tariff rules produce.

Measured on the dev files with the default backend (all-MiniLM-L6-v2, torch fp32):

| T | alpha | listings HS4@1 / @3 / HS6@1 | declarations HS4@1 / @3 / HS6@1 |
|---|---|---|---|
| 0 (shipped) | | 0.576 / 0.756 / 0.463 | 0.532 / 0.706 / 0.348 |
| 0.01 | 0.5 | 0.579 / 0.756 / 0.466 | 0.537 / 0.706 / 0.348 |
| 0.02 | 1.0 | 0.579 / 0.756 / 0.466 | 0.532 / 0.721 / 0.343 |
| 0.05 | 0.5 | 0.585 / 0.750 / 0.466 | 0.532 / 0.716 / 0.338 |

Every change is within one or two items (0.3 points per listing, 0.5 per declaration):
the vote does not move accuracy, so it is not shipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from evaluate import listing_item, read_jsonl

import customs_check.index as index_module
from customs_check import Checker, Listing

Candidates = dict[str, tuple[float, float]]  # HS6 code -> (score, cosine), best first


def candidates(checker: Checker, items: list[str | Listing]) -> list[Candidates]:
    """Every candidate code of each item, as the shipped search ranks them (up to 200)."""
    vectors, texts = checker._classify_queries(items)
    queries, _ = checker.rules.query_vectors(texts, vectors)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    index = checker.index
    # Exact rescoring: a query's rows and scores do not depend on the others searched with it.
    scores, rows = index._exact_rescore(queries, *index._faiss.search(queries, 160))
    fold = index_module.HSIndex._fold_hybrid
    return [fold(index, q, s, r, t, 200, (6,), checker.config.lexical_weight, checker.rules)[6]
            for q, s, r, t in zip(queries, scores, rows, texts, strict=True)]


def ranked(found: Candidates, temperature: float, alpha: float, level: int) -> list[str]:
    codes = list(found)
    if temperature == 0:
        return list(dict.fromkeys(c[:level] for c in codes))
    groups: dict[str, list[float]] = {}
    for c in codes:
        groups.setdefault(c[:4] if level == 6 else c[:level], []).append(found[c][0])

    def vote(scores: list[float]) -> float:
        s = np.asarray(scores)
        top = s.max()
        return float(top + alpha * temperature * np.log(np.exp((s - top) / temperature).sum()))

    votes = {k: vote(v) for k, v in groups.items()}
    if level == 6:  # heading first, then the code within it
        return sorted(codes, key=lambda c: (-votes[c[:4]], -found[c][0]))
    return sorted(votes, key=lambda k: -votes[k])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    checker = Checker.open(args.model)
    listings = read_jsonl(args.data_dir / "listings_dev.jsonl")
    decls = read_jsonl(args.data_dir / "declarations_dev.jsonl")
    sets = {
        "listings": (candidates(checker, [listing_item(r) for r in listings]), [r["hs6"] for r in listings]),
        "declarations": (candidates(checker, [r["description"] for r in decls]), [r["hs6"] for r in decls]),
    }
    for temperature, alpha in [(0.0, 1.0), (0.01, 0.5), (0.01, 1.0), (0.02, 0.5), (0.02, 1.0), (0.03, 0.5),
                               (0.03, 1.0), (0.05, 0.5), (0.05, 1.0)]:
        cells = []
        for name, (found, golds) in sets.items():
            for level, k in ((4, 1), (4, 3), (6, 1)):
                hits = sum(g[:level] in ranked(f, temperature, alpha, level)[:k]
                           for f, g in zip(found, golds, strict=True))
                cells.append(f"{name} HS{level}@{k} {hits / len(golds):.3f}")
        print(f"T={temperature} alpha={alpha}: " + "  ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
