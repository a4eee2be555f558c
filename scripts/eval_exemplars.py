#!/usr/bin/env python
"""What a user's own labelled history (``--exemplars``) does for accuracy, by k-fold
cross-validation on the labelled data.

    python scripts/eval_exemplars.py ../shared/data [--model default] [--folds 2] [--seed 0]

The listings and declarations are split into k folds. For each fold, the other folds play
a customs office's verified history: their texts and gold codes are written to a file and
added with ``Checker.add_exemplars`` (exactly what ``--exemplars FILE`` does), and the
held-out fold is classified. Each item is scored once, by the checker that never saw it;
the baseline is the shipped checker on the same items. Nothing is written to the project.

This measures the lever, not the shipped defaults: a deployment's history is its own.
Items of one source can be near-duplicates of each other (rulings on similar goods), so
the gain is an upper estimate for a history of the same size from another office.

Measured on the dev files with the default backend (HS4@1 / HS4@3 / HS6@1):

| history | listings | declarations |
|---|---|---|
| none (shipped) | 0.576 / 0.756 / 0.463 | 0.532 / 0.706 / 0.348 |
| 2 folds (~263 rows), seed 0 | 0.582 / 0.756 / 0.460 | 0.522 / 0.711 / 0.338 |
| 5 folds (~420 rows) | 0.585 / 0.750 / 0.454 | 0.542 / 0.716 / 0.363 |
| 10 folds (~470 rows) | 0.585 / 0.750 / 0.454 | 0.542 / 0.716 / 0.363 |
| every item, itself included (a check that the rows are used) | 0.985 / 1.0 / 0.985 | 0.995 / 1.0 / 0.980 |

A few hundred verified rows move nothing by more than 1.5 points: the dev items spread
over hundreds of codes and rarely share one with the rest. Most of the small change comes
from the BM25 statistics of the grown index, not from the rows' votes: the 5- and 10-fold
runs give the same numbers. The lever pays only with a history that covers the goods a
site actually ships, thousands of rows per busy heading.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from evaluate import listing_item, read_jsonl, topk_hits

from customs_check import Checker


def accuracy(checker: Checker, items: list, golds: list[str]) -> dict[str, list[bool]]:
    return topk_hits(checker, items, golds, levels=(4, 6), ks=(1, 3))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--model", default="default")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.folds < 2:
        ap.error("--folds must be at least 2")

    listings = read_jsonl(args.data_dir / "listings_dev.jsonl")
    decls = read_jsonl(args.data_dir / "declarations_dev.jsonl")
    sets = {
        "listings": ([listing_item(r) for r in listings], [r["listing_title"] for r in listings],
                     [r["hs6"] for r in listings]),
        "declarations": ([r["description"] for r in decls], [r["description"] for r in decls],
                         [r["hs6"] for r in decls]),
    }
    rng = random.Random(args.seed)
    fold_of = {name: [i % args.folds for i in rng.sample(range(len(golds)), len(golds))]
               for name, (_, _, golds) in sets.items()}

    base = Checker.open(args.model, notify=lambda _m: None)
    baseline = {name: accuracy(base, items, golds) for name, (items, _, golds) in sets.items()}
    with_history: dict[str, dict[str, list[bool]]] = {
        name: {m: [False] * len(golds) for m in baseline[name]} for name, (_, _, golds) in sets.items()}
    for fold in range(args.folds):
        history = [{"text": text, "hs_code": gold}
                   for name, (_, texts, golds) in sets.items()
                   for text, gold, f in zip(texts, golds, fold_of[name], strict=True) if f != fold]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "history.jsonl"
            path.write_text("".join(json.dumps(h) + "\n" for h in history))
            checker = Checker(base.embedder, index=base.index, catalogue=base.catalogue, home=base.home,
                              notify=lambda _m: None)
            added = checker.add_exemplars(path)
        print(f"fold {fold + 1}/{args.folds}: {added} history rows added", file=sys.stderr, flush=True)
        for name, (items, _, golds) in sets.items():
            held = [i for i, f in enumerate(fold_of[name]) if f == fold]
            scored = accuracy(checker, [items[i] for i in held], [golds[i] for i in held])
            for metric, hits in scored.items():
                for i, hit in zip(held, hits, strict=True):
                    with_history[name][metric][i] = hit

    report = {"model": base.embedder.model_id, "folds": args.folds, "seed": args.seed}
    for name in sets:
        report[name] = {m: {"shipped": round(sum(baseline[name][m]) / len(baseline[name][m]), 4),
                            "with_history": round(sum(with_history[name][m]) / len(with_history[name][m]), 4)}
                        for m in baseline[name]}
        report[name]["n"] = len(sets[name][2])
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
