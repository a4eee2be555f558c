#!/usr/bin/env python
"""Compare the torch fp32 and ONNX int8 embedding backends on this machine.

    python scripts/bench_embed.py [--n 2000] [--threads 2] [--seed 7]

Measures, in one run: raw encode throughput of each backend (``embed_batch`` on batches of
64 taken longest-first, as ``EmbeddingModel.embed`` batches them, after a warm-up batch; no
cache involved), start-up time (import + load) of each in a fresh subprocess, and the
cosine between the two backends' vectors. The titles are synthetic product listings of
about 35 tokens, generated deterministically from ``--seed``.

The ONNX model is built once under the customs-check home if it is not there yet; that
build is not part of any timing.
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


def startup_seconds(module: str, cls: str, args: str) -> float:
    """Import + load time of a backend in a fresh interpreter (what a CLI run pays)."""
    code = (
        "import time; t = time.perf_counter()\n"
        f"from customs_check.embeddings.{module} import {cls}\n"
        f"{cls}({args})\n"
        "print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def throughput(embedder: EmbeddingModel, titles: list[str], batch: int) -> tuple[float, np.ndarray]:
    """texts/s of ``embed_batch`` alone, and the unit vectors in the order of ``titles``."""
    order = sorted(range(len(titles)), key=lambda i: len(titles[i]), reverse=True)
    embedder.embed_batch([titles[i] for i in order[:batch]])  # warm-up: first-run allocations, thread start
    out = np.zeros((len(titles), embedder.dimensions), dtype=np.float32)
    t = time.perf_counter()
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        out[idx] = embedder.embed_batch([titles[i] for i in idx])
    elapsed = time.perf_counter() - t
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return len(titles) / elapsed, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="number of titles (default 2000)")
    ap.add_argument("--threads", type=int, default=2, help="threads per backend (default 2)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the synthetic titles")
    ap.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    args = ap.parse_args(argv)

    from customs_check.embeddings.onnx import OnnxEmbedder
    from tokenizers import Tokenizer

    titles = make_titles(args.n, args.seed)
    onnx = OnnxEmbedder(threads=args.threads)  # builds the model once if needed, untimed
    tok = Tokenizer.from_file(str(Path(onnx.model_dir) / "tokenizer.json"))
    tokens = np.array([len(e.ids) for e in tok.encode_batch(titles)])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.n} titles, {tokens.mean():.1f} tokens on average ({tokens.min()}-{tokens.max()}), "
          f"batch {args.batch}, {args.threads} thread(s); load average before start {load:.2f}", flush=True)

    onnx_rate, onnx_vecs = throughput(onnx, titles, args.batch)
    del onnx

    from customs_check.embeddings.sentence_transformer import SentenceTransformerEmbedder

    torch_model = SentenceTransformerEmbedder(None, threads=args.threads)
    torch_rate, torch_vecs = throughput(torch_model, titles, args.batch)
    del torch_model

    torch_start = startup_seconds("sentence_transformer", "SentenceTransformerEmbedder",
                                  f"None, threads={args.threads}")
    onnx_start = startup_seconds("onnx", "OnnxEmbedder", f"threads={args.threads}")
    cos = (onnx_vecs * torch_vecs).sum(axis=1)

    print()
    print(f"{'backend':<12} {'texts/s':>9} {'start-up s':>11}")
    print(f"{'torch fp32':<12} {torch_rate:>9.1f} {torch_start:>11.2f}")
    print(f"{'onnx int8':<12} {onnx_rate:>9.1f} {onnx_start:>11.2f}")
    print(f"{'onnx/torch':<12} {onnx_rate / torch_rate:>8.2f}x {onnx_start / torch_start:>10.2f}x")
    print(f"\ncosine onnx int8 vs torch fp32: mean {cos.mean():.4f}, min {cos.min():.4f}, "
          f"p1 {np.percentile(cos, 1):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
