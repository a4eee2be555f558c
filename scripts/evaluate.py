#!/usr/bin/env python
"""Evaluate customs-check on labelled data through the public API.

    python scripts/evaluate.py ../shared/data [--model default] [--json out.json]

DATA_DIR holds listings_dev.jsonl, declarations_dev.jsonl and shipments_dev.jsonl (see
their README). Prints top-1/3/5 accuracy at HS2/HS4/HS6 for listings and declarations;
AUROC, precision, recall, per-kind flag rates and watchlist results for shipments.
Labels are read here only, never by the checker.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from customs_check import Checker, Listing


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def auroc(scores: list[float], labels: list[bool]) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    pairs = sorted(zip(scores, labels, strict=True))
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + j + 1) / 2  # ranks are 1-based
        rank_sum += avg_rank * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def listing_item(row: dict) -> Listing:
    """A labelled listing row as the checker reads it (labels left out)."""
    return Listing(title=row["listing_title"], category=row.get("listing_category"),
                   attributes=row.get("listing_attributes"))


def topk_hits(checker: Checker, items: list, golds: list[str], levels: tuple[int, ...] = (2, 4, 6),
              ks: tuple[int, ...] = (1, 3, 5)) -> dict[str, list[bool]]:
    """Per item, whether its gold code is among the top k at each level ("hs4_top3")."""
    out = {}
    for level in levels:
        preds = checker.classify_many(items, top_k=max(ks), level=level)
        for k in ks:
            out[f"hs{level}_top{k}"] = [g[:level] in [c.code for c in p[:k]] for p, g in zip(preds, golds, strict=True)]
    return out


def topk_accuracy(checker: Checker, items: list, golds: list[str]) -> dict[str, float]:
    return {name: round(sum(hits) / len(golds), 4) for name, hits in topk_hits(checker, items, golds).items()}


def evaluate(data_dir: Path, model: str) -> dict:
    t0 = time.perf_counter()
    checker = Checker.open(model)
    report: dict = {"model": checker.embedder.model_id, "index_rows": len(checker.index),
                    "open_seconds": round(time.perf_counter() - t0, 2)}

    listings = read_jsonl(data_dir / "listings_dev.jsonl")
    items = [listing_item(r) for r in listings]
    t = time.perf_counter()
    report["listings"] = topk_accuracy(checker, items, [r["hs6"] for r in listings])
    report["listings"]["n"] = len(items)
    report["listings"]["ms_per_item_3_levels"] = round(1000 * (time.perf_counter() - t) / len(items), 2)

    decls = read_jsonl(data_dir / "declarations_dev.jsonl")
    report["declarations"] = topk_accuracy(checker, [r["description"] for r in decls], [r["hs6"] for r in decls])
    report["declarations"]["n"] = len(decls)

    ships = read_jsonl(data_dir / "shipments_dev.jsonl")
    t = time.perf_counter()
    results = checker.check_many(ships)
    report["shipments_ms_per_row"] = round(1000 * (time.perf_counter() - t) / len(ships), 2)
    labels = [bool(r["label_mismatch"]) for r in ships]
    scores = [res.mismatch_score if res.mismatch_score is not None else 0.0 for res in results]
    flags = [bool(res.mismatch) for res in results]
    tp = sum(f and y for f, y in zip(flags, labels, strict=True))
    s: dict = {
        "n": len(ships),
        "errors": sum(res.error is not None for res in results),
        "auroc": round(auroc(scores, labels), 4),
        "precision": round(tp / max(1, sum(flags)), 4),
        "recall": round(tp / max(1, sum(labels)), 4),
    }
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for r, f in zip(ships, flags, strict=True):
        by_kind[r["label_kind"]].append(f)
    s["flag_rate_by_kind"] = {k: {"n": len(v), "flag_rate": round(sum(v) / len(v), 4)}
                              for k, v in sorted(by_kind.items())}
    conceal = [(r, res) for r, res in zip(ships, results, strict=True) if r["label_kind"] == "watchlist_concealment"]
    wl_rows = [(r, res) for r, res in zip(ships, results, strict=True) if r["label_watchlist"]]
    s["watchlist"] = {
        "concealment_rows": len(conceal),
        "concealment_high_or_critical": sum(res.severity in ("high", "critical") for _, res in conceal),
        "rows_with_watchlist_label": len(wl_rows),
        "category_right": sum(res.watchlist == r["label_watchlist"] for r, res in wl_rows),
        "false_hits": sum(1 for r, res in zip(ships, results, strict=True)
                          if res.watchlist and not r["label_watchlist"]),
    }
    s["misses"] = [
        {"id": r["shipment_id"], "kind": r["label_kind"], "score": res.mismatch_score,
         "title": r["listing_title"][:70], "declared": r["declared_description"], "code": r["declared_hs_code"],
         "watchlist": res.watchlist, "label_watchlist": r["label_watchlist"]}
        for r, res in zip(ships, results, strict=True)
        if bool(res.mismatch) != bool(r["label_mismatch"])
        or (r["label_watchlist"] or None) != res.watchlist
    ]
    s["decisions"] = {r["shipment_id"]: bool(res.mismatch) for r, res in zip(ships, results, strict=True)}
    report["shipments"] = s
    return report


def compare(a: dict, b: dict) -> dict:
    """Outcome agreement of two backends: accuracy deltas and same mismatch decisions."""
    da, db = a["shipments"]["decisions"], b["shipments"]["decisions"]
    same = sum(da[k] == db.get(k) for k in da)
    deltas = {
        f"{part}.{m}": round(b[part][m] - a[part][m], 4)
        for part in ("listings", "declarations")
        for m in a[part]
        if m.startswith("hs")
    }
    return {"models": [a["model"], b["model"]], "same_mismatch_decision": round(same / len(da), 4),
            "max_abs_accuracy_delta": max(abs(v) for v in deltas.values()), "accuracy_delta": deltas,
            "auroc_delta": round(b["shipments"]["auroc"] - a["shipments"]["auroc"], 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--model", default="default", help="embedding backend spec (default, minilm, onnx, fake, PATH)")
    ap.add_argument("--json", type=Path, help="also write the full report (with misses) here")
    ap.add_argument("--show-misses", action="store_true", help="print each wrongly decided shipment")
    ap.add_argument("--compare", metavar="MODEL",
                    help="also evaluate MODEL and print how its outcomes differ (e.g. --model onnx --compare minilm)")
    args = ap.parse_args()
    report = evaluate(args.data_dir, args.model)
    if args.compare:
        report["comparison"] = compare(evaluate(args.data_dir, args.compare), report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    misses = report["shipments"].pop("misses")
    report["shipments"].pop("decisions")
    print(json.dumps(report, indent=2))
    if args.show_misses:
        for m in misses:
            print(json.dumps(m), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
