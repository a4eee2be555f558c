#!/usr/bin/env python
"""Fit the mismatch score's logistic weights on labelled shipments.

    python scripts/calibrate.py ../shared/data/shipments_dev.jsonl [--model default]

The file needs the batch input columns plus ``label_mismatch`` (true/false). Rows whose
verdict comes from rules (vague descriptions, watchlist) are left out of the fit. Prints
the fitted weights (to copy into ``ScoringConfig`` or pass to ``Checker(config=...)``),
and 5-fold cross-validated AUROC next to the AUROC of the current weights, so a fit that
only memorises the file shows up. Use it on your own labelled history the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from customs_check import Checker, ScoringConfig
from customs_check.scoring import is_vague


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks of ties
    for s in np.unique(scores):
        m = scores == s
        ranks[m] = ranks[m].mean()
    pos = labels.sum()
    neg = len(labels) - pos
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.01, iters: int = 100) -> np.ndarray:
    """Newton's method on the L2-penalised log loss; the last column of x is the bias."""
    w = np.zeros(x.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0]
        hess = (x.T * (p * (1 - p))) @ x / len(y) + l2 * np.diag(np.r_[np.ones(len(w) - 1), 0])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shipments", type=Path)
    ap.add_argument("--model", default="default")
    ap.add_argument("--l2", type=float, default=0.01)
    args = ap.parse_args()

    rows = [json.loads(line) for line in args.shipments.read_text(encoding="utf-8").splitlines() if line.strip()]
    checker = Checker.open(args.model)
    cfg = ScoringConfig()
    names = list(cfg.weights)
    results = checker.check_many(rows)
    keep = [
        i for i, (r, res) in enumerate(zip(rows, results, strict=True))
        if res.error is None and not res.watchlist and not is_vague(r.get("declared_description"))
    ]
    x = np.array([[results[i].signals[n] if results[i].signals[n] is not None else cfg.neutral[n]
                   for n in names] + [1.0] for i in keep])
    y = np.array([bool(rows[i]["label_mismatch"]) for i in keep])
    current = np.array([results[i].mismatch_score for i in keep])

    rng = np.random.default_rng(0)
    folds = rng.permutation(len(y)) % 5
    cv_scores = np.zeros(len(y))
    for f in range(5):
        w = fit_logistic(x[folds != f], y[folds != f], args.l2)
        cv_scores[folds == f] = x[folds == f] @ w
    w = fit_logistic(x, y, args.l2)
    print(f"rows used: {len(y)} ({int(y.sum())} mismatches)")
    print(f"AUROC current weights: {auroc(current, y):.4f}")
    print(f"AUROC 5-fold CV fit:   {auroc(cv_scores, y):.4f}")
    print(f"AUROC in-sample fit:   {auroc(x @ w, y):.4f}")
    print("fitted weights:")
    print(json.dumps({"bias": round(float(w[-1]), 2),
                      "weights": {n: round(float(v), 2) for n, v in zip(names, w[:-1], strict=True)}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
