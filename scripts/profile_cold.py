"""Where a cold batch's time goes besides encoding: the evidence for issue 4's cold ratio.

    python scripts/profile_cold.py 200000 [--backend onnx] [--fresh]

Checks N bench shipments (``bench_batch``'s Zipf input, or with ``--fresh`` every row new
texts) with an empty embedding cache, chunk by chunk as ``run_batch`` does (its files
aside), and times each stage by wrapping the function that does it: a wrapper costs about
a microsecond a call, unlike cProfile, which inflates Python work. Stages nest: the
indented ones are part of the line above them, and "other" is what is left.

The cold ratio of ``bench_batch`` is encode time over the whole run's time, so the
"budget" line is what everything else may cost for the issue's minimum of 0.85:
0.15 / 0.85 of the encode time. The stages above it say which of them alone exceed it.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import write_input

# (label, dotted owner, attribute): the functions timed. A label "a.b" nests under "a".
_STAGES = [
    ("check_frame", "customs_check.batch", "check_frame"),
    ("check_frame.check_rows", "customs_check.checker.Checker", "check_rows"),
    ("check_frame.check_rows.views", "customs_check.checker.Checker", "_cached_views"),
    ("check_frame.check_rows.views.search", "customs_check.index.HSIndex", "search_levels"),
    ("check_frame.check_rows.views.search.faiss", None, None),  # set on the index instance
    ("check_frame.check_rows.views.search.exact_rescore", "customs_check.index.HSIndex", "_exact_rescore"),
    ("check_frame.check_rows.views.search.rules_query_vectors", "customs_check.rules.TariffRules",
     "query_vectors"),
    ("check_frame.check_rows.views.search.fold", "customs_check.index.HSIndex", "_fold_hybrid"),
    ("check_frame.check_rows.views.search.fold.bm25", "customs_check.lexical.LexicalIndex", "scores"),
    ("check_frame.check_rows.views.search.fold.rules_rerank", "customs_check.rules.TariffRules", "rerank"),
    ("check_frame.check_rows.views.watchlist", "customs_check.watchlist.Watchlist", "match"),
    ("check_frame.check_rows.views.store_embeddings", "customs_check.embeddings.cache.SQLiteCache", "put_many"),
    ("check_frame.check_rows.views.store_search_results", "customs_check.views.ViewStore", "put_many"),
    ("check_frame.rows_frame", "customs_check.batch", "_rows_frame"),
]


def _resolve(dotted: str) -> Any:
    import importlib

    module, _, attr = dotted.rpartition(".")
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        return getattr(importlib.import_module(module), attr)


def _timed(fn: Callable[..., Any], label: str, totals: collections.Counter[str]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - t

    return wrapper


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, nargs="?", default=200_000)
    ap.add_argument("--backend", default="onnx")
    ap.add_argument("--fresh", action="store_true", help="every row a new listing and declaration")
    ap.add_argument("--listings", type=int, default=5000)
    ap.add_argument("--declarations", type=int, default=1500)
    ap.add_argument("--chunk-rows", type=int, default=20_000)
    args = ap.parse_args()

    import polars as pl
    from customs_check.embeddings import SQLiteCache, load_embedder
    from customs_check.hs_codes.catalogue import load_catalogue

    from customs_check import batch
    from customs_check.checker import Checker
    from customs_check.index import HSIndex
    from customs_check.paths import home_dir
    from customs_check.views import ViewStore

    totals: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="cc-profile-") as tmp:
        inp = Path(tmp) / "shipments.parquet"
        write_input(inp, args.n, args.listings, args.declarations, seed=1 if args.fresh else 0, unique=args.fresh)
        embedder = load_embedder(args.backend, cache=SQLiteCache(Path(tmp) / "cache.sqlite"))
        index = HSIndex.load_or_build(embedder, load_catalogue(), home_dir(), notify=lambda _m: None)
        # Search results stored beside the embeddings, as a nightly run does.
        checker = Checker(embedder, index=index, home=home_dir(),
                          view_store=ViewStore(Path(tmp) / "cache.views.sqlite"))
        # Start-up (BM25 postings, watchlist exemplars) is paid here, as bench_batch does.
        checker.check({"listing_title": "bench warm-up kettle", "declared_description": "electric kettle",
                       "declared_hs_code": "8516.71"})
        embedded_before = embedder.texts_embedded

        type(embedder).embed_batch = _timed(type(embedder).embed_batch, "encode", totals)  # type: ignore[method-assign]
        for label, owner, attr in _STAGES:
            if owner is None:
                continue
            target = _resolve(owner)
            setattr(target, attr, _timed(getattr(target, attr), label, totals))
        index._faiss.search = _timed(index._faiss.search, "check_frame.check_rows.views.search.faiss", totals)
        check_frame = batch.check_frame

        frame = pl.read_parquet(inp)
        seen, verdicts = batch.SeenIds(), batch.VerdictCache()
        started = time.perf_counter()
        for s in range(0, frame.height, args.chunk_rows):
            check_frame(checker, frame.slice(s, args.chunk_rows), seen_ids=seen, verdicts=verdicts)
        total = time.perf_counter() - started
        embedded = embedder.texts_embedded - embedded_before

    encode = totals["encode"]
    print(f"{args.n:,} rows ({'all new texts' if args.fresh else 'Zipf'}), backend {args.backend}: "
          f"{embedded:,} texts embedded, {total:.2f} s in all")
    print(f"{'encode (embed_batch)':56s} {encode:7.2f} s  ({embedded / encode:,.0f} texts/s)")
    print(f"{'everything else':56s} {total - encode:7.2f} s")
    print(f"{'  budget for a cold ratio of 0.85 (0.15/0.85 x encode)':56s} {encode * 0.15 / 0.85:7.2f} s")
    print(f"{'cold ratio of this run (encode / all)':56s} {encode / total:7.3f}")
    print("stages (encoding excluded from those that contain it):")
    labels = [label for label, _, _ in _STAGES]
    holds_encode = {"check_frame", "check_frame.check_rows", "check_frame.check_rows.views"}

    def own(label: str) -> float:
        return totals[label] - (encode if label in holds_encode else 0.0)

    for label in labels:
        depth = label.count(".")
        print(f"{'  ' * depth}{label.rsplit('.', 1)[-1]:{56 - 2 * depth}s} {own(label):7.2f} s")
        children = [c for c in labels if c.startswith(label + ".") and c.count(".") == depth + 1]
        if children:
            rest = own(label) - sum(own(c) for c in children)
            print(f"{'  ' * (depth + 1)}{'other':{56 - 2 * (depth + 1)}s} {rest:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
