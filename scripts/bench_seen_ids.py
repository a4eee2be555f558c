"""What remembering a night's shipment ids costs: a set of str against ``SeenIds``.

    python scripts/bench_seen_ids.py [N] [--chunk 20000]

Ids arrive as the batch gets them (a chunk's ``shipment_id`` column as Python strings,
dropped after the chunk), so the bytes held afterwards are what the run keeps per id.
Prints seconds and bytes per id for each, measured in one process.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc

import numpy as np
import polars as pl

from customs_check.batch import SeenIds, _mark_repeats


def run(kind: str, n: int, chunk: int, *, trace: bool) -> tuple[float, float, int]:
    """(seconds, bytes held an id, repeats found); bytes only with ``trace``, which slows
    every allocation, so seconds come from a run without it."""
    rng = np.random.default_rng(3)
    # Ids like "SHP-3f2a9c1b7e04": 16 characters, random, about 1 in 1,000 repeated.
    raw = rng.integers(0, 1 << 48, n, dtype=np.int64)
    raw[rng.integers(0, n, n // 1000)] = raw[0]
    column = pl.Series("shipment_id", [f"SHP-{x:012x}" for x in raw.tolist()])
    gc.collect()
    if trace:
        tracemalloc.start()
    seen: set[str] | SeenIds = set() if kind == "set" else SeenIds()
    repeats = 0
    t = time.perf_counter()
    for start in range(0, n, chunk):
        ids = column.slice(start, chunk).to_list()
        repeats += sum(_mark_repeats(seen, ids))
        del ids
    seconds = time.perf_counter() - t
    held = tracemalloc.get_traced_memory()[0] if trace else 0
    tracemalloc.stop()
    return seconds, held / n, repeats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, nargs="?", default=2_000_000)
    ap.add_argument("--chunk", type=int, default=20_000)
    args = ap.parse_args()
    results = {}
    for kind in ("set", "SeenIds"):
        seconds, _, repeats = run(kind, args.n, args.chunk, trace=False)
        results[kind] = (seconds, run(kind, args.n, args.chunk, trace=True)[1], repeats)
    for kind, (seconds, per_id, repeats) in results.items():
        print(f"{kind:8s} {args.n:,} ids: {seconds:.2f} s ({seconds / args.n * 1e6:.2f} us an id), "
              f"{per_id:.0f} bytes an id held, {repeats:,} repeats")
    if results["set"][2] != results["SeenIds"][2]:
        print("the two disagree on the repeats", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
