"""Can a batch hide its Python work behind the model? A probe, for issue 4's cold ratio.

    python scripts/probe_overlap.py [--backends onnx,minilm] [--texts 1500] [--repeats 2]

The cold-run ratio (pipeline texts/s over raw encode texts/s) would rise if the next
slice's texts were embedded in a second thread while Python judges this slice. This
measures whether the cores have room for that, with the pipeline's own work:

* encode: ``embed_batch`` over N new synthetic listing titles, in length-sorted batches;
* judge: checking M bench shipments whose texts are all embedded already but searched
  afresh (HS search, hybrid fold, rules, watchlist, per-pair verdicts: what a cold run
  does besides encoding);

each alone, then both at once in two threads. If "both" takes about "encode + judge",
nothing is gained: the model already keeps both cores busy, and Python work only takes
its cores away.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import make_pools


def probe(backend: str, n_texts: int, repeats: int) -> None:
    from customs_check.embeddings import MemoryCache, load_embedder
    from customs_check.hs_codes.catalogue import load_catalogue

    from customs_check.checker import Checker
    from customs_check.index import HSIndex
    from customs_check.paths import home_dir

    embedder = load_embedder(backend, cache=MemoryCache())
    index = HSIndex.load_or_build(embedder, load_catalogue(), home_dir(), notify=lambda _m: None)
    listings, decls = make_pools(n_texts, 400, seed=7)
    new_texts = sorted({t for t, _, _ in make_pools(n_texts, 12, seed=8)[0]}, key=len, reverse=True)
    rows = [{"listing_title": t, "listing_category": c, "declared_description": d, "declared_hs_code": code}
            for (t, c, _), (d, code) in zip(listings, decls * (len(listings) // len(decls) + 1), strict=False)]
    # The shipments' texts are embedded now, so that judging them later costs no encoding.
    Checker(embedder, index=index).check_rows(rows)
    size = embedder.batch_size

    def encode() -> None:
        for s in range(0, len(new_texts), size):
            embedder.embed_batch(new_texts[s : s + size])

    def judge() -> None:
        Checker(embedder, index=index).check_rows(rows)  # a new checker: nothing searched yet

    def timed(fn: object) -> float:
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        return time.perf_counter() - t

    encode()  # warm-up
    for _ in range(repeats):
        te, tj = timed(encode), timed(judge)
        t = time.perf_counter()
        worker = threading.Thread(target=encode)
        worker.start()
        judge()
        worker.join()
        both = time.perf_counter() - t
        print(f"{backend}: encode {len(new_texts):,} texts {te:.2f} s, judge {len(rows):,} shipments {tj:.2f} s, "
              f"one after the other {te + tj:.2f} s, at once {both:.2f} s (saved {te + tj - both:+.2f} s)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="onnx,minilm")
    ap.add_argument("--texts", type=int, default=1500, help="new texts to encode, and listings to judge")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    for backend in args.backends.split(","):
        probe(backend, args.texts, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
