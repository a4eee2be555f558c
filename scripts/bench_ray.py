#!/usr/bin/env python
"""Benchmark the Ray engine against the local one on the same input (the cost model's input
numbers in docs/ray.md).

    python scripts/bench_ray.py 5000 [--backend minilm] [--actors 1,2]

N synthetic shipments (the Zipf-repeated pools of scripts/bench_batch.py) are checked:

* ``local``: ``run_batch``, empty embedding cache (cold);
* ``ray-N``: ``run_batch_ray`` with N actors on a local Ray, empty cache (cold), then the
  same input again (``warm``: every text comes from the cache service).

Both engines use the same chunk size (a process searches each distinct text once, but how
many verdicts a chunk re-uses depends on its size). Each phase runs in its own process.
Per phase it prints the wall time end to end (for Ray:
starting Ray and the actors included), rows/s end to end, rows/s in steady state (for Ray:
rows per actor-second, the number a cluster scales by), texts embedded and the cache hit
rate. The HS index is shared with the real home (built once, read-only); caches are fresh.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _bench_batch():  # scripts/ is not a package
    spec = importlib.util.spec_from_file_location("bench_batch", _HERE / "bench_batch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def phase(args: argparse.Namespace) -> None:
    home = Path(args.home)
    out = Path(args.out)
    t = time.perf_counter()
    if args.phase == "local":
        from customs_check.batch import BatchOptions, run_batch
        from customs_check.checker import Checker

        checker = Checker.open(args.backend, home=home, notify=lambda _m: None)
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        summary = run_batch(checker, Path(args.input), out,
                            BatchOptions(chunk_rows=args.chunk_rows, overwrite=True, report=False),
                            notify=lambda _m: None)
        seconds = time.perf_counter() - t
        steady = summary.manifest["timings"]["rows_per_second_this_session"]
        extra = {"model_load_s": round(load_s, 2)}
    else:
        from customs_check.ray_engine import run_batch_ray

        summary = run_batch_ray(Path(args.input), out, model=args.backend, home=home, num_actors=args.actors,
                                chunk_rows=args.chunk_rows, overwrite=True, report=False, notify=lambda _m: None)
        seconds = time.perf_counter() - t
        engine = summary.manifest["engine"]
        steady = engine["rows_per_actor_second"]
        extra = {"actors": engine["actors"], "actor_cpus": engine["actor_cpus"],
                 "threads_per_actor": engine["threads_per_actor"], "ray_seconds": engine["ray_seconds"],
                 "steady_rows_per_s_all_actors": round(steady * engine["actors"], 1) if steady else None}
    cache = summary.manifest["cache"]
    lookups = cache["texts_embedded"] + cache["cache_hits"]
    print(json.dumps({
        "phase": args.phase if args.phase == "local" else f"ray-{args.actors}", "cache": args.cache_state,
        "rows": summary.rows, "wall_s": round(seconds, 2), "rows_per_s_end_to_end": round(summary.rows / seconds, 1),
        "rows_per_s_steady_per_worker": steady, "texts_embedded": cache["texts_embedded"],
        "cache_hit_rate": round(cache["cache_hits"] / lookups, 4) if lookups else None,
        "driver_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), **extra,
    }), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, nargs="?", default=5000)
    ap.add_argument("--backend", default="minilm")
    ap.add_argument("--actors", default="1", help="comma-separated actor counts to try")
    ap.add_argument("--listings", type=int, default=2000)
    ap.add_argument("--declarations", type=int, default=600)
    ap.add_argument("--chunk-rows", type=int,
                    help="rows per chunk, both engines (dedup works within a chunk) [default: N/4]")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--cache-state", help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args, _ = ap.parse_known_args()
    args.chunk_rows = args.chunk_rows or max(1, args.n // 4)
    if args.phase:
        args.actors = int(args.actors)
        phase(args)
        return 0

    import os

    from customs_check.paths import home_dir

    with tempfile.TemporaryDirectory(prefix="cc-bench-ray-") as tmp:
        tmp_path = Path(tmp)
        inp = tmp_path / "shipments.parquet"
        _bench_batch().write_input(inp, args.n, args.listings, args.declarations)
        print(f"{args.n:,} shipments, pools of {args.listings:,} listings and {args.declarations:,} declarations "
              f"(Zipf a=1.1); backend {args.backend}; cpu count {os.cpu_count()}", flush=True)
        runs = [("local", 1, "cold")]
        for a in args.actors.split(","):
            runs += [("ray", int(a), "cold"), ("ray", int(a), "warm")]
        results = []
        for ph, actors, state in runs:
            home = tmp_path / f"home-{ph}-{actors}"
            if not home.exists():  # a fresh (cold) cache; the HS index is the real home's
                home.mkdir()
                (home / "index").symlink_to(home_dir() / "index", target_is_directory=True)
                if (home_dir() / "models").exists():
                    (home / "models").symlink_to(home_dir() / "models", target_is_directory=True)
            cmd = [sys.executable, __file__, "--phase", ph, "--actors", str(actors), "--cache-state", state,
                   "--chunk-rows", str(args.chunk_rows),
                   "--backend", args.backend, "--home", str(home), "--input", str(inp),
                   "--out", str(tmp_path / (f"out-{ph}-{actors}" + (".parquet" if ph == "local" else "")))]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                return 1
            line = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(line)
            print(json.dumps(line), flush=True)
        cols = ["phase", "cache", "wall_s", "rows_per_s_end_to_end", "rows_per_s_steady_per_worker",
                "texts_embedded", "cache_hit_rate"]
        print()
        print(" | ".join(cols))
        for r in results:
            print(" | ".join(str(r.get(c)) for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
