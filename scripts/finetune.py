#!/usr/bin/env python
"""Fine-tune the sentence model on the project's own nomenclature data (experiment).

    python scripts/finetune.py OUT_DIR [--epochs 1] [--batch 64] [--max-pairs 0] [--seed 0]

Training pairs come only from this repository: each exemplar title and each group of
plain-language terms (``hs_codes/exemplars``, ``hs_codes/enrichment``) is paired with the
legal text of its subheading; the loss is in-batch multiple-negatives ranking (each text
must pick its own code's legal text among the batch's), with at most one pair per
subheading in a batch so that no in-batch "negative" is in fact the right answer. The
evaluation data in ../shared/data is never read. Torch only: no datasets/accelerate.

Measured (one epoch, 29,190 pairs, batch 64, max 48 tokens, lr 3e-5: 20 min on 2 cores;
then ``python scripts/evaluate.py ../shared/data --model OUT_DIR``, index built in ~3 min):

    listings HS4@1/@3/HS6@1    0.576 / 0.759 / 0.463  ->  0.588 / 0.771 / 0.473
    declarations HS4@1/HS6@1   0.507 / 0.338          ->  0.547 / 0.348
    shipments AUROC            0.964                  ->  0.965 (heading_swap 0.75 -> 0.81,
                               consistent flagged 0.083 -> 0.100 with the same weights)

A gain, but not one that reaches the accuracy minimums, for 20 minutes of training on
every install (weights are never shipped); so the default stays the base model and this
stays an experiment. Use the result with ``--model OUT_DIR``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path


def training_pairs() -> list[tuple[str, str, str]]:
    """(anchor text, positive legal text, code) from the index recipe's own texts."""
    from customs_check.hs_codes.catalogue import load_catalogue
    from customs_check.hs_codes.texts import index_texts

    texts = index_texts(load_catalogue())
    legal = {t.code: t.text for t in texts if t.kind == "legal"}
    return [(t.text, legal[t.code], t.code) for t in texts if t.kind in ("exemplar", "terms") and t.code in legal]


def batches(pairs: list[tuple[str, str, str]], size: int, rng: random.Random) -> list[list[tuple[str, str, str]]]:
    """Shuffled batches with no subheading twice in one batch."""
    order = pairs[:]
    rng.shuffle(order)
    out: list[list[tuple[str, str, str]]] = []
    pending = order
    while pending:
        batch, codes, rest = [], set(), []
        for p in pending:
            if len(batch) < size and p[2] not in codes:
                batch.append(p)
                codes.add(p[2])
            else:
                rest.append(p)
        out.append(batch)
        pending = rest
    return [b for b in out if len(b) >= 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--max-pairs", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch
    from customs_check.embeddings.sentence_transformer import default_model_path
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    pairs = training_pairs()
    if args.max_pairs:
        rng.shuffle(pairs)
        pairs = pairs[: args.max_pairs]
    model = SentenceTransformer(str(default_model_path()), device="cpu", trust_remote_code=False)
    model.max_seq_length = args.max_len
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    plan = batches(pairs, args.batch, rng)
    total = int(len(plan) * args.epochs)
    warmup = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / max(1, total - warmup))
    )
    print(f"{len(pairs):,} pairs, {len(plan)} batches/epoch, {total} steps", file=sys.stderr)

    def encode(texts: list[str]) -> torch.Tensor:
        feats = model.tokenize(texts)
        out = model(feats)["sentence_embedding"]
        return torch.nn.functional.normalize(out, dim=-1)

    started = time.time()
    step = 0
    while step < total:
        for batch in plan:
            if step >= total:
                break
            a = encode([p[0] for p in batch])
            b = encode([p[1] for p in batch])
            logits = args.scale * a @ b.T
            labels = torch.arange(len(batch))
            # Symmetric: the text picks its code, and the code picks its text.
            loss = (torch.nn.functional.cross_entropy(logits, labels)
                    + torch.nn.functional.cross_entropy(logits.T, labels)) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 20 == 0 or step == total:
                rate = step / (time.time() - started)
                print(f"step {step}/{total} loss {loss.item():.3f} ({rate:.2f} steps/s, "
                      f"eta {(total - step) / rate / 60:.1f} min)", file=sys.stderr, flush=True)
        plan = batches(pairs, args.batch, rng)
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(str(args.out))
    print(f"saved to {args.out} after {(time.time() - started) / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
