#!/usr/bin/env python
"""Compare the torch fp32, ONNX int8 and ONNX fp32 (the default) embedding backends on this machine.

    python scripts/bench_embed.py [--n 2000] [--threads 2] [--seed 7] [--repeat 3]

Measures, in one run: raw encode throughput of each backend (``embed_batch`` on batches of
64 taken longest-first, as ``EmbeddingModel.embed`` batches them, after a warm-up batch; no
cache involved; best of ``--repeat`` passes, the backends' passes interleaved so a busy
machine slows both alike), start-up time (import + load) of each in a fresh subprocess and
whether the ONNX ones imported torch, the cosine of each ONNX backend's vectors to torch's, and
batch independence: the largest difference between a text's ONNX vector embedded alone
and inside a mixed batch of 64 (titles of all lengths, a truncated 256-token text, "").
The titles are synthetic product listings of about 35 tokens, generated deterministically
from ``--seed``. It ends with the acceptance bar of the ONNX int8 backend, PASS or FAIL per line.

The ONNX models are built once under the customs-check home if they are not there yet;
those builds are not part of any timing.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from customs_check.embeddings.base import EmbeddingModel

BRANDS = ["Anker", "Baseus", "Ugreen", "Xiaomi", "Tefal", "Philips", "Bosch", "Makita", "Decathlon",
          "Lego", "Nike", "Adidas", "Casio", "Zwilling", "Ikea", "Logitech", "Generic", "OEM"]
ADJECTIVES = ["wireless", "portable", "waterproof", "rechargeable", "heavy-duty", "foldable", "ergonomic",
              "adjustable", "premium", "vintage", "ultra-thin", "non-stick", "anti-slip", "magnetic",
              "insulated", "breathable", "compact", "professional", "smart", "handmade"]
MATERIALS = ["stainless steel", "cotton", "bamboo", "silicone", "aluminium", "leather", "ceramic", "glass",
             "ABS plastic", "carbon fiber", "solid oak", "polyester", "wool", "cast iron", "nylon"]
PRODUCTS = ["bluetooth earbuds", "chef knife", "t-shirt", "USB-C hub", "green tea", "battery pack",
            "jigsaw puzzle", "cordless drill", "rain jacket", "desk lamp", "laptop backpack", "blender",
            "running shoes", "smartwatch", "coffee mug", "phone case", "yoga mat", "frying pan",
            "water bottle", "car seat cover", "dog harness", "hair dryer", "gaming mouse", "baby stroller",
            "tent", "electric toothbrush", "wall clock", "bath towel set", "screwdriver set", "lipstick"]
FEATURES = ["with charging case", "with LED display", "for kids and adults", "with noise cancelling",
            "dishwasher safe", "BPA free", "with 2 batteries and charger", "quick release buckle",
            "touch control", "with carry bag", "fast charging 65W", "IPX7 rated", "with lid",
            "machine washable", "for home and office", "with remote control", "anti-theft zipper",
            "18 month warranty", "gift box included", "suitable for camping and hiking"]
SIZES = ["size M", "size XL", "500ml", "1.5L", "15.6 inch", "20V", "3000mAh", "10 x 20 cm", "42mm",
         "1200W", "pack of 3", "set of 6", "100 bags", "2m", "king size", "EU 42"]
COLOURS = ["black", "white", "navy blue", "red", "grey", "rose gold", "olive green", "transparent",
           "multicolour", "beige"]
COMPAT = ["compatible with iPhone 15", "for Samsung Galaxy S24", "for MacBook Pro", "fits most cars",
          "for Nintendo Switch", "universal fit", "for Dyson V11", "EU plug"]


def make_titles(n: int, seed: int) -> list[str]:
    """``n`` product titles of roughly 25-45 word pieces, the same for the same seed."""
    rng = random.Random(seed)
    titles = []
    for _ in range(n):
        parts = [rng.choice(BRANDS), *rng.sample(ADJECTIVES, rng.randint(1, 3)), rng.choice(MATERIALS),
                 rng.choice(PRODUCTS), *rng.sample(FEATURES, rng.randint(2, 3))]
        tail = [*rng.sample(SIZES, rng.randint(1, 2)), rng.choice(COLOURS)]
        if rng.random() < 0.6:
            tail.append(rng.choice(COMPAT))
        if rng.random() < 0.5:
            tail.append(f"model {rng.choice('ABCDKXZ')}{rng.randint(10, 9999)}")
        titles.append(" ".join(parts) + ", " + ", ".join(tail))
    return titles


def startup_seconds(module: str, cls: str, args: str) -> tuple[float, bool]:
    """Import + load time of a backend in a fresh interpreter (what a CLI run pays), and
    whether torch got imported on the way."""
    code = (
        "import sys, time; t = time.perf_counter()\n"
        f"from customs_check.embeddings.{module} import {cls}\n"
        f"{cls}({args})\n"
        "print(time.perf_counter() - t, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    seconds, torch_loaded = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), torch_loaded == "True"


def encode_all(embedder: EmbeddingModel, titles: list[str], batch: int) -> np.ndarray:
    """Unit vectors in the order of ``titles``, embedded longest-first in batches."""
    order = sorted(range(len(titles)), key=lambda i: len(titles[i]), reverse=True)
    out = np.zeros((len(titles), embedder.dimensions), dtype=np.float32)
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        out[idx] = embedder.embed_batch([titles[i] for i in idx])
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def timed_pass(embedder: EmbeddingModel, titles: list[str], batch: int) -> float:
    """texts/s of ``embed_batch`` alone over ``titles``, after a warm-up batch."""
    ordered = sorted(titles, key=len, reverse=True)
    embedder.embed_batch(ordered[:batch])  # warm-up: first-run allocations, thread start
    t = time.perf_counter()
    for start in range(0, len(ordered), batch):
        embedder.embed_batch(ordered[start : start + batch])
    return len(titles) / (time.perf_counter() - t)


def mixed_batch(titles: list[str], size: int = 64) -> list[str]:
    """``size`` texts of very different lengths: one token to past the 256-token limit."""
    by_length = sorted(set(titles), key=len)
    step = max(1, len(by_length) // (size - 4))
    picked = by_length[::step][: size - 4]
    return [*picked, "", "toy", "USB-C hub", " ".join(titles[:12])][:size]


def batch_independence(embedder: EmbeddingModel, texts: list[str]) -> float:
    """Largest |component difference| between each text embedded alone and in ``texts``."""
    together = embedder.embed_batch(texts)
    alone = np.concatenate([embedder.embed_batch([t]) for t in texts])
    return float(np.abs(together - alone).max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="number of titles (default 2000)")
    ap.add_argument("--threads", type=int, default=2, help="threads per backend (default 2)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the synthetic titles")
    ap.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per backend, best kept (default 3)")
    args = ap.parse_args(argv)

    from customs_check.embeddings.onnx import OnnxEmbedder
    from tokenizers import Tokenizer

    titles = make_titles(args.n, args.seed)
    t = time.perf_counter()
    onnx = OnnxEmbedder(threads=args.threads)  # builds the model once if needed, untimed
    load_s = time.perf_counter() - t
    tok = Tokenizer.from_file(str(Path(onnx.model_dir) / "tokenizer.json"))
    tokens = np.array([len(e.ids) for e in tok.encode_batch(titles)])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.n} titles, {tokens.mean():.1f} tokens on average ({tokens.min()}-{tokens.max()}), "
          f"batch {args.batch}, {args.threads} thread(s), best of {args.repeat}; "
          f"load average before start {load:.2f}", flush=True)
    print(f"onnx model {onnx.model_id} ({onnx.manifest['quantisation']}); "
          f"load{' + build' if load_s > 5 else ''} {load_s:.1f}s", flush=True)

    from customs_check.embeddings.sentence_transformer import SentenceTransformerEmbedder

    torch_model = SentenceTransformerEmbedder(None, threads=args.threads)
    fp32 = OnnxEmbedder(threads=args.threads, precision="fp32")
    onnx_vecs = encode_all(onnx, titles, args.batch)
    torch_vecs = encode_all(torch_model, titles, args.batch)
    fp32_vecs = encode_all(fp32, titles, args.batch)
    independence = batch_independence(onnx, mixed_batch(titles, args.batch))
    rates: dict[str, float] = {"torch fp32": 0.0, "onnx int8": 0.0, "onnx fp32": 0.0}
    for _ in range(args.repeat):
        for name, model in (("torch fp32", torch_model), ("onnx int8", onnx), ("onnx fp32", fp32)):
            rates[name] = max(rates[name], timed_pass(model, titles, args.batch))
    del onnx, torch_model, fp32

    torch_start, _ = startup_seconds("sentence_transformer", "SentenceTransformerEmbedder",
                                     f"None, threads={args.threads}")
    onnx_start, onnx_torch = startup_seconds("onnx", "OnnxEmbedder", f"threads={args.threads}")
    fp32_start, fp32_torch = startup_seconds("onnx", "OnnxEmbedder", f"threads={args.threads}, precision='fp32'")
    fp32_cos = (fp32_vecs * torch_vecs).sum(axis=1)
    cos = (onnx_vecs * torch_vecs).sum(axis=1)
    cos500 = cos[:500]
    speedup = rates["onnx int8"] / rates["torch fp32"]

    print()
    print(f"{'backend':<12} {'texts/s':>9} {'start-up s':>11}")
    print(f"{'torch fp32':<12} {rates['torch fp32']:>9.1f} {torch_start:>11.2f}")
    print(f"{'onnx int8':<12} {rates['onnx int8']:>9.1f} {onnx_start:>11.2f}")
    print(f"{'onnx fp32':<12} {rates['onnx fp32']:>9.1f} {fp32_start:>11.2f}")
    print(f"{'onnx/torch':<12} {speedup:>8.2f}x {onnx_start / torch_start:>10.2f}x   (int8)")
    print(f"{'onnx/torch':<12} {rates['onnx fp32'] / rates['torch fp32']:>8.2f}x {fp32_start / torch_start:>10.2f}x   "
          "(fp32, the default)")
    print(f"\ncosine onnx int8 vs torch fp32 ({len(cos)} titles): mean {cos.mean():.4f}, min {cos.min():.4f}, "
          f"p1 {np.percentile(cos, 1):.4f}")
    print(f"batch independence: max |alone - in a mixed batch of {args.batch}| = {independence:.2e}")
    print(f"cosine onnx fp32 vs torch fp32: mean {fp32_cos.mean():.6f}, min {fp32_cos.min():.6f}")
    print(f"onnx start-up imports torch: int8 {'yes' if onnx_torch else 'no'}, fp32 {'yes' if fp32_torch else 'no'}")

    bar = [
        (f"cosine mean >= 0.99 (first {len(cos500)} titles: {cos500.mean():.4f})", cos500.mean() >= 0.99),
        (f"cosine min >= 0.97 (first {len(cos500)} titles: {cos500.min():.4f})", cos500.min() >= 0.97),
        (f"batch independence <= 1e-5 ({independence:.2e})", independence <= 1e-5),
        (f"throughput >= 2.0x torch fp32 ({speedup:.2f}x)", speedup >= 2.0),
        ("start-up torch-free", not onnx_torch),
    ]
    print("\nacceptance bar:")
    for label, ok in bar:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
