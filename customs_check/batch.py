"""The nightly batch: stream shipments from a file, check them chunk by chunk, write the
results with a manifest and an HTML report.

Guarantees:

* every input row appears exactly once in the output, invalid rows with ``error`` set;
* each chunk is written atomically to ``OUTPUT.parts/`` before the next starts, so a run
  killed at any point (even ``kill -9``) resumes with the same command and produces the
  same output as an uninterrupted run;
* within a chunk each distinct (listing, declaration) is checked once, and across chunks
  and runs embeddings come from the persistent cache;
* an existing output is never overwritten unless asked.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import json
import operator
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from customs_check.embeddings.cache import BoundedLRU
from customs_check.errors import ErrorRateExceededError, InputFileError, InvalidInputError, OutputError
from customs_check.io import BAD_LINE_COLUMN, InputSource, file_format, open_input, write_frame_atomic
from customs_check.models import CheckResult, Shipment
from customs_check.paths import file_sha256

if TYPE_CHECKING:
    from customs_check.checker import Checker

__all__ = [
    "CHECK_COLUMNS",
    "INPUT_COLUMNS",
    "RESULT_SCHEMA",
    "BatchOptions",
    "BatchSummary",
    "SeenIds",
    "VerdictCache",
    "check_frame",
    "check_shipments",
    "long_run_gc",
    "manifest_counts",
    "preflight_batch",
    "results_frame",
    "run_batch",
]

INPUT_COLUMNS = (
    "shipment_id",
    "listing_title",
    "listing_category",
    "listing_attributes",
    "declared_description",
    "declared_hs_code",
)
REQUIRED_COLUMNS = ("listing_title",)
# The columns a verdict depends on: rows equal on these share one check.
CHECK_COLUMNS = INPUT_COLUMNS[1:]

RESULT_SCHEMA: dict[str, Any] = {
    "mismatch": pl.Boolean,
    "mismatch_score": pl.Float64,
    "severity": pl.String,
    "reasons": pl.List(pl.String),
    "listing_hs6_top": pl.List(pl.String),
    "listing_hs6_scores": pl.List(pl.Float64),
    "declared_hs6": pl.String,
    "watchlist": pl.String,
    "watchlist_evidence": pl.List(pl.String),
    "error": pl.String,
    "error_kind": pl.String,
}
_ROW_ID = "__row"
# Rows per row group of a Parquet output. The writer holds a row group decoded: polars'
# default added 200-350 MB to a run's peak RSS (measured at 1M and 3M rows); 20,000 rows
# add ~60 MB and make the file ~7% larger. Fixed, not the chunk size, so that chunking
# never changes the output's bytes.
_OUTPUT_ROW_GROUP = 20_000
_STATE_VERSION = 1


def _result_row(r: CheckResult) -> dict[str, Any]:
    return {
        "mismatch": r.mismatch,
        "mismatch_score": r.mismatch_score,
        "severity": r.severity.value if r.severity is not None else None,
        "reasons": r.reasons if r.error is None else None,
        "listing_hs6_top": [c.code for c in r.listing_hs6_top] if r.error is None else None,
        "listing_hs6_scores": [c.score for c in r.listing_hs6_top] if r.error is None else None,
        "declared_hs6": r.declared_hs6,
        "watchlist": r.watchlist,
        "watchlist_evidence": [e for h in r.watchlist_hits for e in h.evidence] if r.error is None else None,
        "error": r.error,
        "error_kind": r.error_kind,
    }


def results_frame(results: Iterable[CheckResult]) -> pl.DataFrame:
    return _rows_frame(_result_row(r) for r in results)


def _rows_frame(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    import pyarrow as pa

    schema = _arrow_result_schema()
    # Transposed in C (itemgetter + zip), not in a Python loop per cell.
    columns = list(zip(*map(operator.itemgetter(*schema.names), rows), strict=True)) or [()] * len(schema)
    # Through Arrow: polars builds list columns from Python one Series per row, ~5x slower.
    return pl.from_arrow(pa.table([_arrow_column(list(col), f.type) for col, f in zip(columns, schema, strict=True)],
                                  schema=schema))


def _arrow_column(values: list[Any], type_: Any) -> Any:
    """One result column as Arrow. A list column is built flat (offsets + all items) and
    not list by list: about 3x faster on a chunk's verdicts."""
    import pyarrow as pa

    if not pa.types.is_large_list(type_):
        return pa.array(values, type=type_)
    present = [v for v in values if v is not None]
    offsets = pa.array(list(itertools.accumulate((len(v) if v is not None else 0 for v in values), initial=0)),
                       type=pa.int64())
    items = pa.array(list(itertools.chain.from_iterable(present)), type=type_.value_type)
    mask = pa.array([v is None for v in values], type=pa.bool_()) if len(present) < len(values) else None
    return pa.LargeListArray.from_arrays(offsets, items, mask=mask)


def _arrow_result_schema() -> Any:
    global _ARROW_SCHEMA
    if _ARROW_SCHEMA is None:
        _ARROW_SCHEMA = pl.DataFrame(schema=RESULT_SCHEMA).to_arrow().schema
    return _ARROW_SCHEMA


_ARROW_SCHEMA: Any = None


class VerdictCache(BoundedLRU[tuple[Any, ...], dict[str, Any]]):
    """The verdicts of recently checked distinct rows, kept across the chunks of a run.

    Rows equal on :data:`CHECK_COLUMNS` get the same verdict (every score is computed
    exactly, whatever else is checked with it), so the best-seller shipped in every chunk
    is checked once a run. Bounded: the least recently used verdicts go first (about
    1.5 KB each); ``hits`` counts the verdicts re-used."""

    def __init__(self, size: int = 50_000) -> None:
        super().__init__(size)


class SeenIds:
    """The shipment ids a run has met, to flag a repeat, in 16 bytes an id.

    A night can hold tens of millions of ids, and a ``set`` of ``str`` costs about 90 bytes
    each (10M ids: ~900 MB, growing with the input). Here an id is kept as its 128-bit
    BLAKE2b digest (10M ids: 160 MB): a collision, which would flag a shipment as a repeat,
    has odds of about n²/2¹²⁹ and cannot be crafted. Digests are two 64-bit halves in runs
    sorted by the first half (numbers sort and merge far faster than bytes); new ids make
    a small run, and runs of similar size merge, so a lookup searches at most about
    log2(ids / chunk) runs."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (first halves sorted, second halves)

    def __len__(self) -> int:
        return sum(len(hi) for hi, _ in self._runs)

    @property
    def nbytes(self) -> int:
        return sum(hi.nbytes + lo.nbytes for hi, lo in self._runs)

    def __contains__(self, sid: object) -> bool:
        return isinstance(sid, str) and self.mark_repeats([sid], add=False)[0]

    def update(self, ids: Iterable[str]) -> None:
        self.mark_repeats(list(ids))

    @staticmethod
    def _digests(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The two 64-bit halves of each id's digest."""
        raw = b"".join([hashlib.blake2b(i.encode("utf-8", "surrogatepass"), digest_size=16).digest() for i in ids])
        digests = np.frombuffer(raw, dtype=np.uint64).reshape(-1, 2)
        return digests[:, 0], digests[:, 1]

    def mark_repeats(self, ids: list[str], *, add: bool = True) -> list[bool]:
        """For each id, whether it was met before: in an earlier call, or earlier in
        ``ids``. With ``add``, the ids count as met from now on."""
        if not ids:
            return []
        hi, lo = self._digests(ids)
        order = np.lexsort((np.arange(len(ids)), lo, hi))  # equal ids adjacent, the first one first
        shi, slo = hi[order], lo[order]
        again_sorted = np.zeros(len(ids), dtype=bool)
        again_sorted[1:] = (shi[1:] == shi[:-1]) & (slo[1:] == slo[:-1])
        for run_hi, run_lo in self._runs:
            # Sorted keys: each binary search starts near the last one's answer.
            at = np.minimum(np.searchsorted(run_hi, shi), len(run_hi) - 1)
            same_hi = run_hi[at] == shi
            again_sorted |= same_hi & (run_lo[at] == slo)
            # A first half met twice in the run (odds ~n²/2⁶⁵): compare every second half.
            twins = np.flatnonzero(same_hi & (at + 1 < len(run_hi))
                                   & (run_hi[np.minimum(at + 1, len(run_hi) - 1)] == shi))
            for j in twins.tolist():
                stop = int(np.searchsorted(run_hi, shi[j], "right"))
                again_sorted[j] |= bool((run_lo[at[j] : stop] == slo[j]).any())
        again = np.empty(len(ids), dtype=bool)
        again[order] = again_sorted
        fresh = ~again_sorted  # met for the first time, each once, in sorted order
        if add and fresh.any():
            self._runs.append((shi[fresh], slo[fresh]))
            while len(self._runs) > 1 and 2 * len(self._runs[-1][0]) >= len(self._runs[-2][0]):
                (hi2, lo2), (hi1, lo1) = self._runs.pop(), self._runs[-1]
                merged_hi = np.concatenate([hi1, hi2])
                # Two sorted runs: the stable sort (Timsort) merges them in one pass.
                at = np.argsort(merged_hi, kind="stable")
                self._runs[-1] = (merged_hi[at], np.concatenate([lo1, lo2])[at])
        return again.tolist()


def _mark_repeats(seen: set[str] | SeenIds, ids: list[str]) -> list[bool]:
    if isinstance(seen, SeenIds):
        return seen.mark_repeats(ids)
    out = []
    for sid in ids:
        out.append(sid in seen)
        seen.add(sid)
    return out


def check_frame(checker: Checker, frame: pl.DataFrame | pl.LazyFrame, *,
                seen_ids: set[str] | SeenIds | None = None, verdicts: VerdictCache | None = None) -> pl.DataFrame:
    """Check every row of ``frame``: its columns plus the result columns, in input order.
    A LazyFrame is collected first (the whole frame is checked at once; for inputs larger
    than memory, use :func:`run_batch`, which reads in chunks).

    Rows that agree on every column a verdict depends on are checked once; with
    ``verdicts`` (shared across the chunks of one run), once per run. ``seen_ids`` (shared
    the same way) turns a repeated shipment id into a row error.
    """
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    for name in INPUT_COLUMNS:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    work = frame.with_row_index(_ROW_ID)
    errors: dict[int, tuple[str, str]] = {}
    if BAD_LINE_COLUMN in work.columns:
        for idx, msg in work.filter(pl.col(BAD_LINE_COLUMN).is_not_null()).select(_ROW_ID, BAD_LINE_COLUMN).rows():
            errors[idx] = (msg, "unparsable_row")
    if seen_ids is not None:
        sids = work["shipment_id"].to_list()
        at = [idx for idx, sid in enumerate(sids) if sid is not None and idx not in errors]  # idx: the _ROW_ID
        for idx, again in zip(at, _mark_repeats(seen_ids, [sids[i] for i in at]), strict=True):
            if again:
                errors[idx] = (f"shipment_id {sids[idx]!r} appears more than once in the input; only the first is "
                               "checked", "duplicate_shipment_id")
    valid = work.filter(~pl.col(_ROW_ID).is_in(list(errors))) if errors else work
    distinct = valid.select(CHECK_COLUMNS).unique(maintain_order=True)
    keys = distinct.rows()
    found = verdicts.get_many(keys) if verdicts is not None else {}
    rows: list[dict[str, Any] | None] = [found.get(k) for k in keys]
    todo = [i for i, row in enumerate(rows) if row is None]
    if todo:
        fresh = checker.check_rows(dict(zip(CHECK_COLUMNS, keys[i], strict=True)) for i in todo)
        for i, row in zip(todo, fresh, strict=True):
            rows[i] = row
        if verdicts is not None:
            verdicts.put_many((keys[i], rows[i]) for i in todo)
    table = pl.concat([distinct, _rows_frame(r for r in rows if r is not None)], how="horizontal")
    checked = valid.select(_ROW_ID, *CHECK_COLUMNS).join(table, on=list(CHECK_COLUMNS), how="left",
                                                        nulls_equal=True)
    failed = results_frame(CheckResult(error=msg, error_kind=kind) for msg, kind in errors.values()).with_columns(
        pl.Series(_ROW_ID, list(errors), dtype=checked.schema[_ROW_ID])
    )
    merged = pl.concat([checked.select(_ROW_ID, *RESULT_SCHEMA), failed.select(_ROW_ID, *RESULT_SCHEMA)])
    out = work.drop([c for c in RESULT_SCHEMA if c in work.columns]).join(merged, on=_ROW_ID, how="left")
    out = out.sort(_ROW_ID).drop(_ROW_ID)
    if BAD_LINE_COLUMN in out.columns:
        out = out.drop(BAD_LINE_COLUMN)
    return out


def check_shipments(checker: Checker, shipments: Iterable[Shipment | dict[str, Any]]) -> list[CheckResult]:
    """Library entry point for a list of shipments (models or flat row dicts)."""
    return checker.check_many(shipments)


# -- the file-to-file batch -----------------------------------------------------------------
@dataclass
class BatchOptions:
    chunk_rows: int = 20_000
    overwrite: bool = False
    encoding: str = "utf-8"
    max_error_rate: float = 1.0
    # Don't judge the error rate on a handful of rows.
    min_rows_for_error_rate: int = 1000
    report: bool = True


@dataclass
class BatchSummary:
    output: Path
    manifest_path: Path
    report_path: Path | None
    rows: int
    errors: int
    flagged: int
    by_severity: dict[str, int]
    resumed_chunks: int
    seconds: float
    manifest: dict[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[int, int | None, float], None]


def _parts_dir(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def _count_rows(source: Any) -> int | None:
    """Row count for progress/ETA where it is cheap (Parquet metadata)."""
    if source.format == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(source.path).metadata.num_rows)
    return None


def preflight_batch(input_path: str | Path, output_path: str | Path,
                    options: BatchOptions | None = None) -> InputSource:
    """Every check that needs no model: options, output path, input readable with the
    required columns. The CLI runs it before loading the model, so a typo costs nothing."""
    opts = options or BatchOptions()
    input_path, output = Path(input_path), Path(output_path)
    if opts.chunk_rows < 1:
        raise InvalidInputError("chunk_rows must be at least 1")
    if not 0.0 <= opts.max_error_rate <= 1.0:
        raise InvalidInputError("max_error_rate must be between 0 and 1")
    try:
        file_format(output)
    except InputFileError as exc:
        raise OutputError(exc.message, hint=exc.hint) from None
    if output.resolve() == input_path.resolve():
        raise OutputError(f"{output}: output would overwrite the input", hint="choose another output path")
    source = open_input(input_path, encoding=opts.encoding)
    missing = [c for c in REQUIRED_COLUMNS if c not in source.columns]
    if missing:
        raise InputFileError(
            f"{input_path}: missing required column(s) {', '.join(missing)}; found: {', '.join(source.columns)}",
            hint="rename the columns or see `customs-check batch --help`",
        )
    # An output beside an unfinished run's parts is that run's, killed after writing it
    # but before its manifest and report: resuming finishes it.
    if output.exists() and not opts.overwrite and not _parts_dir(output).exists():
        raise OutputError(f"{output} already exists", hint="pass --overwrite to replace it")
    return source


def run_batch(checker: Checker, input_path: str | Path, output_path: str | Path,
              options: BatchOptions | None = None, progress: ProgressFn | None = None,
              notify: Callable[[str], None] | None = None, source: InputSource | None = None) -> BatchSummary:
    """Check every row of ``input_path`` into ``output_path`` (format by extension),
    resumable; writes ``OUTPUT.manifest.json`` and ``OUTPUT.report.html`` beside it.
    ``source`` is what :func:`preflight_batch` returned, if it was already run."""
    with long_run_gc():
        return _run_batch(checker, input_path, output_path, options, progress, notify, source)


@contextlib.contextmanager
def long_run_gc() -> Iterator[None]:
    """Garbage collection tuned for a long run, restored afterwards.

    A night makes millions of small objects that live for the whole run (verdicts, search
    results), and CPython's collector would walk them again and again: 35% of a warm
    200,000-row run, measured. The objects from before the run (model, index, catalogue)
    are frozen out of collection, and young collections happen 70x less often; cycles
    are still collected, only less often."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _run_batch(checker: Checker, input_path: str | Path, output_path: str | Path, options: BatchOptions | None,
               progress: ProgressFn | None, notify: Callable[[str], None] | None,
               source: InputSource | None) -> BatchSummary:
    opts = options or BatchOptions()
    notify = notify or (lambda msg: print(msg, file=sys.stderr))
    input_path, output = Path(input_path), Path(output_path)
    if source is None:
        source = preflight_batch(input_path, output, opts)
    parts = _parts_dir(output)

    started = time.time()
    state = {
        "version": _STATE_VERSION,
        "input": str(input_path.resolve()),
        "input_sha256": file_sha256(input_path),
        "input_bytes": input_path.stat().st_size,
        "chunk_rows": opts.chunk_rows,
        "encoding": opts.encoding,
        "model_id": checker.embedder.model_id,
        "index_recipe": checker.index.manifest.get("recipe_sha256"),
        "watchlist": checker.watchlist.source,
    }
    done_chunks = _prepare_parts(parts, state, overwrite=opts.overwrite, notify=notify)
    total_rows = _count_rows(source)

    seen_ids = SeenIds()
    verdicts = VerdictCache()
    rows = errors = 0
    resumed = 0
    cache_hits_before = checker.embedder.cache_hits
    embedded_before = checker.embedder.texts_embedded
    views_before = checker.views_reused
    chunk_times: list[float] = []
    for n, chunk in enumerate(source.iter_chunks(opts.chunk_rows)):
        part = parts / f"part-{n:06d}.parquet"
        if n in done_chunks:
            # Already written by an earlier, interrupted run: re-read only the ids so that
            # duplicate detection sees the same history.
            if "shipment_id" in chunk.columns:
                seen_ids.update(s for s in chunk["shipment_id"].to_list() if s is not None)
            meta = done_chunks[n]
            rows += meta["rows"]
            errors += meta["errors"]
            resumed += 1
            # Also for resumed chunks: a rerun of a run stopped for its error rate stops again.
            _check_error_rate(rows, errors, opts.max_error_rate, opts.min_rows_for_error_rate, parts)
            continue
        t = time.perf_counter()
        checked = check_frame(checker, chunk, seen_ids=seen_ids, verdicts=verdicts)
        n_err = int(checked["error"].is_not_null().sum())
        write_frame_atomic(checked, part)
        _write_json_atomic(parts / f"part-{n:06d}.json", {"rows": checked.height, "errors": n_err})
        chunk_times.append(time.perf_counter() - t)
        rows += checked.height
        errors += n_err
        if progress is not None:
            progress(rows, total_rows, time.time() - started)
        _check_error_rate(rows, errors, opts.max_error_rate, opts.min_rows_for_error_rate, parts)

    if rows == 0:
        shutil.rmtree(parts, ignore_errors=True)  # nothing to resume: don't block a rerun on a fixed file
        raise InputFileError(f"{input_path}: has a header but no rows")
    part_files = sorted(parts.glob("part-*.parquet"))
    final = pl.scan_parquet(part_files)
    write_frame_atomic(final, output, row_group_rows=_OUTPUT_ROW_GROUP)

    manifest_path = output.with_name(output.name + ".manifest.json")
    report_path = output.with_name(output.name + ".report.html") if opts.report else None
    stats = _output_stats(part_files)
    manifest = {
        "tool": "customs-check",
        "version": _version(),
        "input": {"path": str(input_path), "sha256": state["input_sha256"], "bytes": state["input_bytes"],
                  "format": source.format},
        "output": {"path": str(output), "format": file_format(output)},
        **manifest_counts(checker, rows, errors, stats),
        "chunks": {"rows_per_chunk": opts.chunk_rows, "written_now": len(chunk_times), "resumed": resumed},
        "timings": {
            "seconds": round(time.time() - started, 3),
            "rows_per_second_this_session": round(
                (rows - sum(m["rows"] for m in done_chunks.values())) / max(sum(chunk_times), 1e-9), 1
            ) if chunk_times else None,
        },
        "cache": {
            "texts_embedded": checker.embedder.texts_embedded - embedded_before,
            "cache_hits": checker.embedder.cache_hits - cache_hits_before,
            "verdicts_reused": verdicts.hits,
            # Texts whose search results came from an earlier run (customs_check.views).
            "search_results_reused": checker.views_reused - views_before,
        },
    }
    _write_json_atomic(manifest_path, manifest)
    if report_path is not None:
        from customs_check.report import write_report

        write_report(report_path, manifest, part_files)
    # Renamed first, so that a kill mid-delete never leaves a half-emptied checkpoint.
    trash = parts.with_name(f"{parts.name}.done-{os.getpid()}")
    os.replace(parts, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return BatchSummary(
        output=output, manifest_path=manifest_path, report_path=report_path, rows=rows, errors=errors,
        flagged=stats["flagged"], by_severity=stats["by_severity"], resumed_chunks=resumed,
        seconds=time.time() - started, manifest=manifest,
    )


def _check_error_rate(rows: int, errors: int, max_error_rate: float, min_rows: int, parts: Path) -> None:
    """Raise :class:`ErrorRateExceededError` once ``min_rows`` rows are counted and more than
    ``max_error_rate`` of them are invalid (resumed chunks included)."""
    if rows >= min_rows and errors / rows > max_error_rate:
        raise ErrorRateExceededError(
            f"{errors} of {rows} rows ({errors / rows:.1%}) are invalid, more than --max-error-rate "
            f"{max_error_rate:.1%}; stopped",
            hint=f"the rows checked so far are kept in {parts}; see their 'error' column",
        )


def _prepare_parts(parts: Path, state: dict[str, Any], *, overwrite: bool,
                   notify: Callable[[str], None]) -> dict[int, dict[str, int]]:
    """Create or reuse the checkpoint folder; returns the chunks already complete."""
    state_file = parts / "state.json"
    if parts.exists():
        try:
            old = json.loads(state_file.read_text())
        except (OSError, ValueError):
            old = None
        if old != state:
            if not overwrite:
                raise OutputError(
                    f"{parts} holds an unfinished run with other input or settings",
                    hint="rerun that exact command to finish it, or pass --overwrite to discard it",
                )
            shutil.rmtree(parts)
    if not parts.exists():
        try:
            parts.mkdir(parents=True)
            _write_json_atomic(state_file, state)
        except OSError as exc:
            raise OutputError(f"cannot write {parts}: {exc.strerror or exc}",
                              hint="choose an output folder you can write to") from None
        return {}
    done: dict[int, dict[str, int]] = {}
    for meta_file in sorted(parts.glob("part-*.json")):
        n = int(meta_file.stem.split("-")[1])
        part = parts / f"part-{n:06d}.parquet"
        try:
            meta = json.loads(meta_file.read_text())
            if part.exists() and pl.scan_parquet(part).select(pl.len()).collect().item() == meta["rows"]:
                done[n] = meta
        except Exception:  # an unreadable leftover is redone, not trusted
            continue
    if done:
        notify(f"customs-check: resuming: {len(done)} chunk(s) already done in {parts}")
    return done


def _output_stats(part_files: list[Path]) -> dict[str, Any]:
    lazy = pl.scan_parquet(part_files)
    sev = lazy.group_by("severity").agg(pl.len()).collect().rows()
    wl = lazy.filter(pl.col("watchlist").is_not_null()).group_by("watchlist").agg(pl.len()).collect().rows()
    kinds = (
        lazy.filter(pl.col("error").is_not_null())
        .select(pl.col("error_kind").fill_null("other").alias("kind"))
        .group_by("kind").agg(pl.len()).collect().rows()
    )
    flagged = lazy.select(pl.col("mismatch").fill_null(False).sum()).collect().item()
    return {
        "by_severity": {str(k if k is not None else "error"): int(v) for k, v in sorted(sev, key=lambda r: str(r[0]))},
        "by_watchlist": {str(k): int(v) for k, v in sorted(wl)},
        "errors_by_kind": {str(k): int(v) for k, v in sorted(kinds)},
        "flagged": int(flagged or 0),
    }


def manifest_counts(checker: Checker, rows: int, errors: int, stats: dict[str, Any]) -> dict[str, Any]:
    """The part of a run manifest every engine shares: counts, model, catalogue, index."""
    return {
        "rows": rows,
        "errors": errors,
        "errors_by_kind": stats["errors_by_kind"],
        "flagged": stats["flagged"],
        "by_severity": stats["by_severity"],
        "by_watchlist": stats["by_watchlist"],
        "model": checker.embedder.model_id,
        "catalogue_version": checker.catalogue.version,
        "index": {k: checker.index.manifest.get(k) for k in ("recipe_version", "recipe_sha256", "rows")},
    }


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def _version() -> str:
    from customs_check import __version__

    return __version__
