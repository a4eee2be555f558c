#!/usr/bin/env python
"""Experiment (not shipped): a linear probe over HS headings, mixed into the ranking.

    python scripts/probe_ensemble.py ../shared/data [--model default] [--lambdas 0,0.05,0.1,0.2]

A softmax over the ~1,200 headings is trained on the HS index's own rows (the legal texts,
enrichment and exemplars with their codes: never the evaluation data), in a few seconds.
Each candidate's score then gains lambda times the probe's probability of its heading,
and the script prints heading and subheading accuracy on the dev listings and
declarations for each lambda (lambda 0 is the shipped ranking). Measured in session 3:
declarations HS4 top-1 +1.0 point with the default backend and +3.5 with onnx, listings
flat; so it is not part of the checker.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from evaluate import listing_item, read_jsonl

from customs_check import Checker

_LOGIT_SCALE = 20.0  # unit vectors: cosines times this make useful logits


def train_probe(x: np.ndarray, y: np.ndarray, classes: int, *, epochs: int = 8, weight_decay: float = 1e-3,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression by Adam on mini-batches of 512; returns (weights, bias)."""
    rng = np.random.default_rng(seed)
    w = np.zeros((x.shape[1], classes), np.float32)
    b = np.zeros(classes, np.float32)
    moments = [[np.zeros_like(w), np.zeros_like(w)], [np.zeros_like(b), np.zeros_like(b)]]
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 512):
            i = order[start : start + 512]
            z = _LOGIT_SCALE * (x[i] @ w) + b
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(i)), y[i]] -= 1
            p /= len(i)
            grads = (_LOGIT_SCALE * (x[i].T @ p) + weight_decay * w, p.sum(0))
            step += 1
            for param, grad, (m, v) in zip((w, b), grads, moments, strict=True):
                m *= 0.9
                m += 0.1 * grad
                v *= 0.999
                v += 0.001 * grad * grad
                param -= 1e-3 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return w, b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--model", default="default")
    ap.add_argument("--lambdas", default="0,0.05,0.1,0.15,0.2")
    args = ap.parse_args()

    checker = Checker.open(args.model)
    index = checker.index
    headings = sorted({c[:4] for c in index.codes})
    heading_id = {h: i for i, h in enumerate(headings)}
    w, b = train_probe(np.asarray(index.vectors, np.float32), np.array([heading_id[c[:4]] for c in index.codes]),
                       len(headings))

    decls = read_jsonl(args.data_dir / "declarations_dev.jsonl")
    listings = read_jsonl(args.data_dir / "listings_dev.jsonl")
    # What classification searches with (cleaned texts, listing title mixed with category).
    sets = {
        "declarations": (*checker._classify_queries([r["description"] for r in decls]), [r["hs6"] for r in decls]),
        "listings": (*checker._classify_queries([listing_item(r) for r in listings]), [r["hs6"] for r in listings]),
    }
    for name, (vectors, texts, golds) in sets.items():
        hits = index.search_levels(vectors, top_k=20, levels=(6, 4), texts=texts,
                                   lexical_weight=checker.config.lexical_weight, rules=checker.rules)
        z = _LOGIT_SCALE * (vectors @ w) + b
        prob = np.exp(z - z.max(1, keepdims=True))
        prob /= prob.sum(1, keepdims=True)
        print(name)
        for lam in (float(x) for x in args.lambdas.split(",")):
            hs4 = hs4_3 = hs6 = 0
            for i, h in enumerate(hits):
                r4 = sorted(((x.score + lam * prob[i, heading_id[x.code]], x.code) for x in h[4]), reverse=True)
                r6 = sorted(((x.score + lam * prob[i, heading_id[x.code[:4]]], x.code) for x in h[6]), reverse=True)
                hs4 += r4[0][1] == golds[i][:4]
                hs4_3 += golds[i][:4] in [c for _, c in r4[:3]]
                hs6 += r6[0][1] == golds[i]
            n = len(golds)
            print(f"  lambda {lam:<5} HS4 top-1 {hs4 / n:.3f}  HS4 top-3 {hs4_3 / n:.3f}  HS6 top-1 {hs6 / n:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
