#!/usr/bin/env python
"""Benchmark the nightly batch: cold (empty embedding cache) and warm (everything cached),
for each backend, in one run.

    python scripts/bench_batch.py 100000 [--backends onnx,onnx-fp32,minilm] [--listings 5000] [--declarations 1500]

N synthetic shipments are drawn with realistic repetition: listing and declaration are
Zipf draws over pools of distinct synthetic texts (a best-seller ships thousands of times,
"LINEAR GUIDE RAIL" is declared again and again). Synthetic titles are as long as real
marketplace titles (about 28 MiniLM tokens, with specs and selling points) and
declarations as short as real ones (about 8); the raw encode rate is measured on the same
mix of texts, in length-sorted batches. Each phase runs in its own process so
peak RSS is that phase's alone. Per backend and phase it prints rows/s, distinct texts
embedded per second through the whole pipeline, the backend's raw ``embed_batch`` texts/s
measured in the same process, their ratio, the cache hit rate and peak RSS.

Phases: ``cold`` (empty cache, the Zipf input: checking the many repeated rows weighs as
much as embedding), ``warm`` (the same input again: every embedding and search result
stored by the cold run) and ``fresh``
(empty cache, every row new texts: the pipeline's cost per new text against raw encode).

Last, per backend, the cold ratio a run would reach if embedding its new texts were all it
paid on top of the warm run (which checks the same rows with every vector and search result
stored): an upper bound on the cold ratio for this input, whatever the search costs.
``scripts/profile_cold.py`` splits a cold run's other costs by stage.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_ADJ = "wireless portable mini smart waterproof stainless leather cotton silicone vintage luxury magnetic " \
       "foldable rechargeable ergonomic adjustable durable lightweight heavy-duty transparent".split()
_THINGS = [
    ("bluetooth earbuds", "Consumer Electronics > Earphones", "wireless earphones", "8518.30"),
    ("phone case", "Phone Accessories > Cases", "plastic phone cases", "3926.90"),
    ("water bottle", "Home > Drinkware", "vacuum flasks", "9617.00"),
    ("t-shirt", "Clothing > Tops", "cotton t-shirts knitted", "6109.10"),
    ("sneakers", "Shoes > Sneakers", "footwear with textile uppers", "6404.11"),
    ("ring", "Jewelry > Rings", "imitation jewellery", "7117.19"),
    ("desk lamp", "Lighting > Lamps", "electric lamps", "9405.21"),
    ("usb charger", "Electronics > Chargers", "static converters", "8504.40"),
    ("building blocks", "Toys > Blocks", "plastic toys", "9503.00"),
    ("wallet", "Bags > Wallets", "leather wallets", "4202.31"),
    ("linear guide rail", "Tools > Machine parts", "LINEAR GUIDE RAIL", "8482.10"),
    ("hair wig", "Hair > Wigs", "wigs of synthetic fibre", "6704.11"),
]
_SUFFIX = "for women men kids home office travel gym outdoor car kitchen gift 2024 new".split()
# Marketplace titles pile up specs and selling points; these bring the synthetic titles
# to the length of real ones (about 28 MiniLM tokens; declarations about 7).
_SPECS = ["20W", "500ml", "5.3", "IPX7", "3-pack", "XL", "10000mAh", "18K", "LED", "USB-C", "1.5m", "4K"]
_FEATURES = ["with charging case", "with gift box", "fast shipping", "best seller", "high quality",
             "free size", "long lasting", "easy to clean", "anti-slip", "compatible with iPhone Android",
             "BPA free", "hypoallergenic", "dustproof", "unisex", "multi-purpose", "eco friendly"]


def make_pools(n_listings: int, n_decls: int, seed: int) -> tuple[list[tuple[str, str, int]], list[tuple[str, str]]]:
    rng = random.Random(seed)
    listings = []
    for i in range(n_listings):
        k = rng.randrange(len(_THINGS))
        thing, cat, _, _ = _THINGS[k]
        words = [*rng.sample(_ADJ, 3), thing, *rng.sample(_SPECS, 2), *rng.sample(_FEATURES, 3),
                 *rng.sample(_SUFFIX, 3), f"model {i}"]
        listings.append((" ".join(words), cat, k))
    decls, seen = [], set()
    for i in range(n_decls):
        k = i % len(_THINGS)
        _, _, text, code = _THINGS[k]
        if i >= len(_THINGS):  # short, as declarations are: two words more, distinct
            while text in seen:
                text = f"{' '.join(rng.sample(_ADJ, 2))} {_THINGS[k][2]}"
        seen.add(text)
        decls.append((text, code))
    return listings, decls


def zipf_indices(rng: np.random.Generator, n: int, pool: int, a: float = 1.1) -> np.ndarray:
    ranks = np.arange(1, pool + 1)
    p = 1.0 / ranks**a
    return rng.choice(pool, size=n, p=p / p.sum())


def write_input(path: Path, n: int, n_listings: int, n_decls: int, seed: int = 0, *, unique: bool = False) -> None:
    """``unique``: every row a listing and a declaration never seen before (pools of n)."""
    import polars as pl

    if unique:
        n_listings = n_decls = n
    listings, decls = make_pools(n_listings, n_decls, seed)
    rng = np.random.default_rng(seed)
    li = np.arange(n) if unique else zipf_indices(rng, n, n_listings)
    di = rng.permutation(n) if unique else zipf_indices(rng, n, n_decls)
    pl.DataFrame({
        "shipment_id": [f"B{i:09d}" for i in range(n)],
        "listing_title": [listings[i][0] for i in li],
        "listing_category": [listings[i][1] for i in li],
        "listing_attributes": [None] * n,
        "declared_description": [decls[i][0] for i in di],
        "declared_hs_code": [decls[i][1] for i in di],
    }, schema_overrides={"listing_attributes": pl.String}).write_parquet(path)


def phase(args: argparse.Namespace) -> None:
    """One measured run (in its own process): prints a JSON line."""
    from customs_check.embeddings import SQLiteCache, load_embedder
    from customs_check.hs_codes.catalogue import load_catalogue

    from customs_check.batch import BatchOptions, run_batch
    from customs_check.checker import Checker
    from customs_check.index import HSIndex
    from customs_check.views import ViewStore

    home = Path(args.home)
    embedder = load_embedder(args.backend, cache=SQLiteCache(Path(args.cache)))
    index = HSIndex.load_or_build(embedder, load_catalogue(), home, notify=lambda _m: None)
    started = time.perf_counter()
    # Search results persist beside the embeddings, as with `Checker.open`: the warm phase
    # is a night after a night that met the same texts.
    views = ViewStore(Path(args.cache).with_suffix(".views.sqlite"))
    checker = Checker(embedder, index=index, home=home, view_store=views)
    # One-off costs of a process (BM25 index, watchlist exemplars) are start-up, not
    # throughput: paid here, reported apart.
    checker.check({"listing_title": "bench warm-up kettle", "declared_description": "electric kettle",
                   "declared_hs_code": "8516.71"})
    startup = time.perf_counter() - started
    # Raw encode speed of this backend, same process, on the phase's mix of new texts
    # (listing titles and declarations, other draws of the same generator), in length-
    # sorted batches as sentence-transformers' encode() runs them.
    n_list = round(args.raw_texts * args.raw_listing_share)
    listings, decls = make_pools(n_list, args.raw_texts - n_list + 12, seed=99)
    sample = sorted([t for t, _, _ in listings] + [t for t, _ in decls[12:]], key=len)
    # One pass to warm up, then the best of three: a conservative (high) raw rate.
    passes = []
    for _ in range(4):
        t = time.perf_counter()
        for s in range(0, len(sample), embedder.batch_size):
            embedder.embed_batch(sample[s : s + embedder.batch_size])
        passes.append(time.perf_counter() - t)
    raw_tps = len(sample) / min(passes[1:])

    out = Path(args.out)
    t = time.perf_counter()
    # With the report, as a nightly run writes it: its queries count towards time and peak RSS.
    summary = run_batch(checker, Path(args.input), out, BatchOptions(overwrite=True, report=True),
                        notify=lambda _m: None)
    seconds = time.perf_counter() - t
    cache = summary.manifest["cache"]
    embedded = cache["texts_embedded"]
    lookups = embedded + cache["cache_hits"]
    print(json.dumps({
        "backend": args.backend, "phase": args.phase, "rows": summary.rows, "seconds": round(seconds, 2),
        "startup_s": round(startup, 2),
        "rows_per_s": round(summary.rows / seconds, 1),
        "texts_embedded": embedded,
        "embedded_texts_per_s": round(embedded / seconds, 1) if embedded else None,
        "raw_encode_texts_per_s": round(raw_tps, 1),
        "pipeline_to_raw": round(embedded / seconds / raw_tps, 3) if embedded else None,
        "cache_hit_rate": round(cache["cache_hits"] / lookups, 4) if lookups else None,
        "search_results_reused": cache["search_results_reused"],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, nargs="?", default=100_000)
    ap.add_argument("--backends", default="onnx,onnx-fp32,minilm")
    ap.add_argument("--listings", type=int, default=5000, help="distinct listings in the pool")
    ap.add_argument("--declarations", type=int, default=1500, help="distinct declarations in the pool")
    ap.add_argument("--raw-texts", type=int, default=512, help="texts for the raw encode measurement")
    ap.add_argument("--fresh-rows", type=int, default=3000,
                    help="rows of the 'fresh' phase, where every listing and declaration is new (0: skip)")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--raw-listing-share", type=float, default=0.5, help=argparse.SUPPRESS)
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        phase(args)
        return 0

    from customs_check.paths import home_dir

    with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
        tmp_path = Path(tmp)
        inp = tmp_path / "shipments.parquet"
        write_input(inp, args.n, args.listings, args.declarations)
        fresh = tmp_path / "fresh.parquet"
        if args.fresh_rows:
            write_input(fresh, args.fresh_rows, 0, 0, seed=1, unique=True)
        print(f"{args.n:,} shipments, pools of {args.listings:,} listings and {args.declarations:,} declarations "
              f"(Zipf a=1.1); fresh phase: {args.fresh_rows:,} rows of new texts; cpu count {os.cpu_count()}",
              flush=True)
        # Share of listing titles among the distinct texts of the Zipf input (the rest are
        # declarations): the raw encode sample keeps the same mix.
        share = args.listings / (args.listings + args.declarations)
        results = []
        for backend in args.backends.split(","):
            cache = tmp_path / f"cache-{backend}.sqlite"  # empty: the cold run embeds everything
            for ph in ("cold", "warm", "fresh") if args.fresh_rows else ("cold", "warm"):
                # fresh: its own empty cache and an input of texts never seen before, so every
                # row pays for embedding; it measures the pipeline's cost per new text.
                ph_cache = tmp_path / f"cache-{backend}-fresh.sqlite" if ph == "fresh" else cache
                cmd = [sys.executable, __file__, "--phase", ph, "--backend", backend, "--home", str(home_dir()),
                       "--cache", str(ph_cache), "--input", str(fresh if ph == "fresh" else inp),
                       "--out", str(tmp_path / f"out-{backend}.parquet"), "--raw-texts", str(args.raw_texts),
                       "--raw-listing-share", str(0.5 if ph == "fresh" else share)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    return 1
                line = json.loads(proc.stdout.strip().splitlines()[-1])
                results.append(line)
                print(json.dumps(line), flush=True)
        cols = ["backend", "phase", "rows_per_s", "texts_embedded", "embedded_texts_per_s",
                "raw_encode_texts_per_s", "pipeline_to_raw", "cache_hit_rate", "search_results_reused",
                "peak_rss_mib"]
        print()
        print(" | ".join(cols))
        for r in results:
            print(" | ".join(str(r.get(c)) for c in cols))
        cold = {r["backend"]: r for r in results if r["phase"] == "cold"}
        warm = {r["backend"]: r for r in results if r["phase"] == "warm"}
        for backend, c in cold.items():
            if c["texts_embedded"] and backend in warm:
                # The warm run checks the same rows with every text's vector and search results
                # stored: roughly what a cold run pays besides embedding and searching new texts.
                encode_s = c["texts_embedded"] / c["raw_encode_texts_per_s"]
                print(f"{backend}: the cold ratio if embedding were a cold run's only extra cost over the warm "
                      f"run: {encode_s / (encode_s + warm[backend]['seconds']):.3f}")
        if "onnx" in cold and "minilm" in cold:
            print(f"\nraw encode onnx / torch fp32: "
                  f"{cold['onnx']['raw_encode_texts_per_s'] / cold['minilm']['raw_encode_texts_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
