"""The nightly batch on Ray Data: the same checks as :mod:`customs_check.batch`, spread over
actors on a laptop or a cluster (``customs-check batch INPUT -o OUTPUT --engine ray``).

How a run goes (see ``docs/ray.md`` for running it and for the cost model):

1. **Plan, on the driver.** INPUT is a file, a folder of Parquet parts or a glob. Parquet
   files are cut into chunks of ``chunk_rows`` rows by row range (no data is read, only
   the footer); CSV/JSONL files are parsed here with the local engine's reader (same bad-line
   rows, same text conversion) and staged as Parquet chunks beside the output. Every row
   gets its global position, ``row_index``: files in name order, rows in file order.
2. **Duplicate ids, on the driver.** One pass over the ``shipment_id`` column alone finds
   every id seen before; each chunk is told which of its ids occurred in an earlier chunk,
   and :func:`customs_check.batch.check_frame` does the rest, exactly as the local engine's
   shared ``seen_ids`` does. Nothing about duplicates is decided inside an actor.
3. **Check, on actors.** A Ray Data actor pool (``map_batches`` over chunk descriptors,
   fractional ``num_cpus``) builds one :class:`~customs_check.checker.Checker` per actor
   from *specs* (model spec, home path, watchlist/exemplars paths; never a model object),
   sets its embedding threads to its CPU share, reads its chunk (Arrow → polars, no
   pandas), checks it with ``check_frame`` and writes ``part-NNNNNN.parquet`` atomically.
   A chunk's part name is fixed, so a chunk retried after its actor died rewrites the same
   file: no row is lost or written twice. Ray restarts dead actors and retries their task
   (Ray Data's defaults); a chunk that kills its actor more than ``MAX_ATTEMPTS`` times
   fails the run instead of looping.
4. **Cache.** One cache-service actor on the driver's node owns the persistent SQLite
   embedding cache (``HOME/embeddings.sqlite``, the same file the local engine uses); each
   actor reads through it (one call per embedding batch, with a local in-memory front) and
   writes new vectors back once per chunk. SQLite wants one writer and a local disk, so the
   cache is served, not shared over NFS. The manifest reports the hit rate.
5. **Finish, on the driver**: the same manifest and HTML report as the local engine,
   beside the output (``OUTPUT.manifest.json``, ``OUTPUT.report.html``); then the finished
   ``OUTPUT.parts/`` folder is renamed to ``OUTPUT``, a folder of Parquet parts that sort
   into input order by file name (and by ``row_index``). A killed run resumes, like the
   local engine, from the parts already written.

Ray is an optional extra (``pip install 'customs-check[ray]'``) and is imported only here,
only when a run starts.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from customs_check.batch import (
    REQUIRED_COLUMNS,
    BatchSummary,
    ProgressFn,
    VerdictCache,
    _check_error_rate,
    _output_stats,
    _parts_dir,
    _prepare_parts,
    _version,
    _write_json_atomic,
    check_frame,
    manifest_counts,
)
from customs_check.errors import (
    CustomsCheckError,
    InputFileError,
    InvalidInputError,
    OutputError,
)
from customs_check.io import BAD_LINE_COLUMN, InputSource, _text_columns, open_input, write_frame_atomic
from customs_check.paths import file_sha256

if TYPE_CHECKING:
    from customs_check.checker import Checker

__all__ = [
    "INSTALL_HINT",
    "ROW_INDEX",
    "RayPlan",
    "plan_actors",
    "preflight_ray",
    "require_ray",
    "resolve_inputs",
    "run_batch_ray",
]

INSTALL_HINT = "pip install 'customs-check[ray]'"
# Every output row's position in the input (files in name order, then rows in file order).
ROW_INDEX = "row_index"
# A chunk whose actor dies this many times is poison (a row that crashes the runtime, an
# out-of-memory chunk): fail the run instead of restarting actors forever.
MAX_ATTEMPTS = 4
# Testing hook: a path; the first actor to reach a chunk write creates it and dies
# (os._exit) right after writing its part, before reporting it. See tests/test_ray_engine.py.
INJECT_FAILURE_ENV = "CUSTOMS_CHECK_RAY_INJECT_FAILURE"
_STATE_VERSION = 1
_STAGING = "_input"
_GLOB_CHARS = set("*?[")
# Above this many ids, duplicates are found in 16 slices by hash (bounded driver memory).
_SLICE_ROWS = 1_000_000


def require_ray() -> Any:
    """Import Ray (with Ray Data) or say how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise InvalidInputError(
            "--engine ray needs Ray (with Ray Data), which is not installed",
            hint=f"{INSTALL_HINT}, or run without --engine ray",
        ) from None
    return ray


# -- inputs ---------------------------------------------------------------------------------
def resolve_inputs(input_path: str | Path) -> list[Path]:
    """The files of INPUT: the file itself, the ``*.parquet`` files under a folder (sorted by
    relative path, hidden and ``_``-prefixed names skipped), or the files a glob matches
    (sorted)."""
    text = str(input_path)
    path = Path(text)
    if path.is_dir():
        files = sorted(
            (p for p in path.rglob("*.parquet")
             if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)),
            key=lambda p: p.relative_to(path).as_posix(),
        )
        if not files:
            raise InputFileError(f"{path}: folder holds no .parquet files",
                                 hint="give a file, a folder of Parquet parts, or a quoted glob")
        return files
    if path.exists():
        return [path]
    if _GLOB_CHARS & set(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise InputFileError(f"{text}: no file matches")
        return files
    raise InputFileError(f"{path}: no such file")


def preflight_ray(input_path: str | Path, output_dir: str | Path, *, chunk_rows: int = 20_000,
                  max_error_rate: float = 1.0, overwrite: bool = False,
                  encoding: str = "utf-8") -> list[InputSource]:
    """Every check that needs neither Ray nor the model (the CLI runs it first)."""
    output = Path(output_dir)
    if chunk_rows < 1:
        raise InvalidInputError("chunk_rows must be at least 1")
    if not 0.0 <= max_error_rate <= 1.0:
        raise InvalidInputError("max_error_rate must be between 0 and 1")
    files = resolve_inputs(input_path)
    out_resolved = output.resolve()
    folder = Path(input_path).resolve() if Path(input_path).is_dir() else None
    if folder is not None and (out_resolved == folder or folder in out_resolved.parents):
        raise OutputError(f"{output}: output inside the input folder would be read as input next time",
                          hint="write it beside the input folder")
    for f in files:
        r = f.resolve()
        if r == out_resolved or out_resolved in r.parents:
            raise OutputError(f"{output}: output would overwrite the input", hint="choose another output path")
    sources = [open_input(f, encoding=encoding) for f in files]
    for src in sources:
        missing = [c for c in REQUIRED_COLUMNS if c not in src.columns]
        if missing:
            raise InputFileError(
                f"{src.path}: missing required column(s) {', '.join(missing)}; found: {', '.join(src.columns)}",
                hint="rename the columns or see `customs-check batch --help`",
            )
        if ROW_INDEX in src.columns:
            raise InputFileError(f"{src.path}: has a column {ROW_INDEX!r}, which the ray engine adds to its output",
                                 hint="rename that column")
    if output.exists() and not overwrite and not _parts_dir(output).exists():
        raise OutputError(f"{output} already exists", hint="pass --overwrite to replace it")
    if output.parent.exists() and not output.parent.is_dir():
        raise OutputError(f"cannot write {output}: {output.parent} is not a folder")
    return sources


@dataclass
class _Chunk:
    chunk: int
    path: str
    start: int  # first row within the file
    rows: int
    row_offset: int  # global row index of the first row
    prior_ids: list[str] = field(default_factory=list)


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _parquet_text_schema(path: Path) -> dict[str, pl.DataType]:
    """The polars schema a Parquet file's frames have after the local engine's text
    conversion (INPUT_COLUMNS as strings, other columns as they are)."""
    import pyarrow.parquet as pq

    empty = pl.from_arrow(pq.read_schema(path).empty_table())
    assert isinstance(empty, pl.DataFrame)
    return dict(_text_columns(empty).schema)


def _ids_of(frame: pl.DataFrame) -> pl.Series:
    if "shipment_id" in frame.columns:
        return frame["shipment_id"].cast(pl.String)
    return pl.Series("shipment_id", [None] * frame.height, dtype=pl.String)


def _parquet_ids_at(path: Path, at: pl.Series) -> pl.Series:
    """The shipment ids at rows ``at`` (sorted) of a Parquet file, read batch by batch."""
    import pyarrow.parquet as pq

    out, offset = [], 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 20, columns=["shipment_id"]):
        mine = at.filter((at >= offset) & (at < offset + batch.num_rows))
        if not mine.is_empty():
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            out.append(_ids_of(_text_columns(frame)).gather(mine - offset))
        offset += batch.num_rows
    return pl.concat(out)


def _hashed(ids: pl.Series) -> pl.Series:
    # 8 bytes a row instead of the string: 100M ids take ~1 GB on the driver.
    return pl.select(pl.when(ids.is_not_null()).then(ids.hash(seed=0))).to_series()


def _parquet_id_hashes(path: Path, columns: list[str], rows: int) -> pl.Series:
    import pyarrow.parquet as pq

    if "shipment_id" not in columns:
        return pl.Series("h", [None] * rows, dtype=pl.UInt64)
    out = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 20, columns=["shipment_id"]):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        out.append(_hashed(_ids_of(_text_columns(frame))))
    return pl.concat(out) if out else pl.Series("h", [], dtype=pl.UInt64)


def _plan_chunks(sources: list[InputSource], parts: Path, chunk_rows: int, done: Mapping[int, Any],
                 notify: Callable[[str], None]) -> tuple[list[_Chunk], dict[str, pl.DataType]]:
    """Cut the input into chunks (staging CSV/JSONL as Parquet), assign row positions, and
    tell each chunk which of its shipment ids an earlier chunk already had.

    Duplicates are found on 64-bit hashes of the ids, then confirmed on the ids themselves
    (re-read for the candidate rows only), so a hash collision never makes a false error."""
    chunks: list[_Chunk] = []
    schema: dict[str, pl.DataType] = {}
    hashes: list[pl.Series] = []
    # (first global row, rows, ids at given rows of it) per file or staged text chunk
    loaders: list[tuple[int, int, Callable[[pl.Series], pl.Series]]] = []
    row = 0
    staging = parts / _STAGING
    for src in sources:
        if src.format == "parquet":
            for name, dtype in _parquet_text_schema(src.path).items():
                schema.setdefault(name, dtype)
            n = _parquet_rows(src.path)
            hashes.append(_parquet_id_hashes(src.path, src.columns, n))
            loaders.append((row, n, lambda at, p=src.path: _parquet_ids_at(p, at)))
            for start in range(0, n, chunk_rows):
                size = min(chunk_rows, n - start)
                chunks.append(_Chunk(len(chunks), str(src.path.resolve()), start, size, row))
                row += size
        else:
            # Parsed once here with the local engine's reader; the actors read the staged chunks.
            staging.mkdir(parents=True, exist_ok=True)
            for frame in src.iter_chunks(chunk_rows):
                n = len(chunks)
                for name in frame.columns:
                    if name != BAD_LINE_COLUMN:
                        schema.setdefault(name, pl.String)
                staged = staging / f"chunk-{n:06d}.parquet"
                if n not in done:
                    write_frame_atomic(frame, staged)
                ids = _ids_of(frame)
                hashes.append(_hashed(ids))
                loaders.append((row, frame.height, lambda at, v=ids: v.gather(at)))
                chunks.append(_Chunk(n, str(staged.resolve()), 0, frame.height, row))
                row += frame.height
    if not chunks:
        return chunks, schema
    everything = pl.DataFrame({"h": pl.concat(hashes)}).with_row_index("row").drop_nulls("h")
    del hashes
    # In 16 slices by hash: the hash table for "is duplicated" is then 1/16 of the rows.
    slices = 16 if everything.height > _SLICE_ROWS else 1
    candidates = pl.concat([
        everything.filter(pl.col("h") % slices == k).filter(pl.col("h").is_duplicated())["row"]
        for k in range(slices)
    ]).sort()
    del everything
    if candidates.is_empty():
        return chunks, schema
    found = []
    for first, n, load in loaders:
        mine = candidates.filter((candidates >= first) & (candidates < first + n))
        if not mine.is_empty():
            found.append(pl.DataFrame({"row": mine, "sid": load(mine - first)}))
    dup = pl.concat(found).filter(pl.col("sid").is_duplicated())
    if dup.is_empty():
        return chunks, schema
    starts = pl.Series([c.row_offset for c in chunks], dtype=dup["row"].dtype)
    dup = dup.with_columns(
        pl.col("row").min().over("sid").alias("first"),
        (starts.search_sorted(dup["row"], side="right") - 1).alias("chunk"),
    )
    dup = dup.with_columns(pl.Series("start", starts.gather(dup["chunk"])))
    prior = (dup.filter(pl.col("first") < pl.col("start"))
             .group_by("chunk").agg(pl.col("sid").unique(maintain_order=True)))
    for n, sids in prior.iter_rows():
        chunks[n].prior_ids = list(sids)
    notify(f"customs-check: {dup.height - dup['sid'].n_unique():,} row(s) repeat an earlier shipment_id")
    return chunks, schema


def _input_fingerprint(sources: list[InputSource]) -> dict[str, Any]:
    if len(sources) == 1:
        return {"sha256": file_sha256(sources[0].path), "bytes": sources[0].path.stat().st_size}
    h = hashlib.sha256()
    total = 0
    for src in sources:
        size = src.path.stat().st_size
        total += size
        h.update(f"{src.path.name}\0{size}\0{file_sha256(src.path)}\n".encode())
    return {"sha256": h.hexdigest(), "bytes": total}


# -- sizing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RayPlan:
    actors: int
    cpus: float
    gpus: float
    threads: int


def plan_actors(total_cpus: float, total_gpus: float = 0.0, *, num_actors: int | None = None,
                actor_cpus: float | None = None, actor_gpus: float = 0.0) -> RayPlan:
    """How many actors, and what each claims. Actors never claim every CPU: half a CPU is
    left for Ray's own tasks (an actor pool that takes them all hangs the job silently).

    * GPU actors (``actor_gpus > 0``): one per ``actor_gpus`` of the cluster's GPUs, 1 CPU each.
    * CPU actors: 4 CPUs each where there are enough (a 4-thread ONNX session is where
      per-CPU throughput stops improving much), as many as fit; on a small machine one
      actor with what is left (1.5 CPUs on 2 cores). Given ``num_actors`` alone, the CPUs
      are shared out among them.
    """
    if actor_gpus < 0:
        raise InvalidInputError("--actor-gpus must be 0 or more")
    if actor_cpus is not None and actor_cpus <= 0:
        raise InvalidInputError("--actor-cpus must be more than 0")
    if num_actors is not None and num_actors < 1:
        raise InvalidInputError("--num-actors must be at least 1")
    usable = max(total_cpus - 0.5, 0.25)
    if actor_gpus > 0:
        cpus = actor_cpus or 1.0
        n = num_actors or max(1, int(total_gpus // actor_gpus))
    elif actor_cpus is not None:
        cpus = actor_cpus
        n = num_actors or max(1, int(usable // cpus))
    elif num_actors is not None:
        n = num_actors
        cpus = max(0.25, min(4.0, usable / n))
    else:
        cpus = min(4.0, usable)
        n = max(1, int(usable // cpus))
    cpus = round(cpus, 3)
    return RayPlan(actors=n, cpus=cpus, gpus=float(actor_gpus), threads=max(1, int(cpus + 0.5)))


# -- the cache service and the actors -------------------------------------------------------
class _CacheService:
    """Owns the persistent SQLite files on the driver's node (the embeddings and the
    stored search results beside them); actors read and write through it."""

    def __init__(self, path: str) -> None:
        from customs_check.embeddings import SQLiteCache
        from customs_check.views import VIEW_STORE_FILE, ViewStore

        self._cache = SQLiteCache(path)
        self._views = ViewStore(Path(path).with_name(VIEW_STORE_FILE))
        self.lookups = 0
        self.hits = 0
        self.stored = 0

    def get_many(self, keys: list[bytes], dimensions: int) -> tuple[list[bytes], np.ndarray]:
        found = self._cache.get_many(keys, dimensions)
        self.lookups += len(keys)
        self.hits += len(found)
        ks = list(found)
        mat = np.stack([found[k] for k in ks]) if ks else np.zeros((0, dimensions), np.float32)
        return ks, mat

    def put_many(self, keys: list[bytes], vectors: np.ndarray, model_id: str) -> int:
        self._cache.put_many(dict(zip(keys, vectors, strict=True)), model_id)
        self.stored += len(keys)
        return len(keys)

    def get_views(self, context: bytes, keys: list[tuple[str, ...]]) -> dict[tuple[str, ...], Any]:
        return self._views.get_many(context, keys)

    def put_views(self, context: bytes, model_id: str, items: list[tuple[tuple[str, ...], Any]]) -> int:
        self._views.put_many(context, model_id, items)
        return len(items)

    def stats(self) -> dict[str, int]:
        return {"lookups": self.lookups, "hits": self.hits, "stored": self.stored,
                "search_results_reused": self._views.hits, "search_results_stored": self._views.stored}


class _RemoteViews:
    """The checker's view store (customs_check.views.ViewStore's two calls) through the
    cache service: one call per chunk's new texts each way. A service error counts as a
    miss, as with the embeddings."""

    def __init__(self, service: Any) -> None:
        self._service = service
        self.hits = 0
        self.failures = 0

    def get_many(self, context: bytes, keys: list[tuple[str, ...]]) -> dict[tuple[str, ...], Any]:
        import ray

        try:
            found: dict[tuple[str, ...], Any] = ray.get(self._service.get_views.remote(context, list(keys)))
        except Exception:
            self.failures += 1
            return {}
        self.hits += len(found)
        return found

    def put_many(self, context: bytes, model_id: str, items: list[tuple[tuple[str, ...], Any]]) -> None:
        import ray

        try:
            ray.get(self._service.put_views.remote(context, model_id, list(items)))
        except Exception:
            self.failures += 1


class _RemoteCache:
    """An :class:`~customs_check.embeddings.EmbeddingCache` that reads through the cache
    service (one call per embedding batch) and writes back in one call per chunk. A cache
    is never worth a failed chunk: a service error counts as a miss."""

    def __init__(self, service: Any, front_items: int = 50_000) -> None:
        from customs_check.embeddings import MemoryCache

        self._service = service
        self._front = MemoryCache(max_items=front_items)
        self._pending: dict[bytes, np.ndarray] = {}
        self._model_id = ""
        self.failures = 0

    def get_many(self, keys: Any, dimensions: int) -> dict[bytes, np.ndarray]:
        import ray

        keys = list(keys)
        out = self._front.get_many(keys, dimensions)
        todo = [k for k in keys if k not in out]
        if todo:
            try:
                found, mat = ray.get(self._service.get_many.remote(todo, dimensions))
            except Exception:
                self.failures += 1
                return out
            # Copies: a row kept in the front must not pin the whole reply in the object store.
            fetched = {k: mat[i].copy() for i, k in enumerate(found)}
            self._front.put_many(fetched, "")
            out.update(fetched)
        return out

    def put_many(self, vectors: Mapping[bytes, np.ndarray], model_id: str) -> None:
        self._front.put_many(vectors, model_id)
        self._pending.update(vectors)
        self._model_id = model_id
        if len(self._pending) >= 8192:
            self.flush()

    def flush(self) -> None:
        import ray

        if not self._pending:
            return
        keys = list(self._pending)
        mat = np.stack([self._pending[k] for k in keys]).astype(np.float32, copy=False)
        try:
            ray.get(self._service.put_many.remote(keys, mat, self._model_id))
        except Exception:
            self.failures += 1
        self._pending = {}


def _stats_schema() -> Any:
    import pyarrow as pa

    return pa.schema([
        ("chunk", pa.int64()), ("rows", pa.int64()), ("errors", pa.int64()), ("seconds", pa.float64()),
        ("texts_embedded", pa.int64()), ("cache_hits", pa.int64()), ("verdicts_reused", pa.int64()),
        ("search_results_reused", pa.int64()), ("pid", pa.int64()), ("node", pa.string()),
        ("attempt", pa.int64()), ("fatal", pa.string()), ("fatal_type", pa.string()), ("fatal_hint", pa.string()),
    ])


def _fatal(row: Mapping[str, Any]) -> CustomsCheckError:
    """The error an actor returned, as the same CustomsCheckError class (same exit code)."""
    from customs_check import errors

    cls = getattr(errors, str(row.get("fatal_type")), None)
    if not (isinstance(cls, type) and issubclass(cls, CustomsCheckError)):
        cls = CustomsCheckError
    return cls(f"{row['fatal']} (chunk {row['chunk']}, on {row['node']})", hint=row.get("fatal_hint"))


class _ChunkChecker:
    """The Ray Data actor: builds its Checker once, then checks one chunk per call."""

    def __init__(self, spec: dict[str, Any]) -> None:
        # An error here would reach the driver only as the text of an ActorDiedError; raised
        # from the first call instead, it reaches it as itself (and the CLI's exit code).
        self._init_error: CustomsCheckError | None = None
        try:
            self._setup(spec)
        except CustomsCheckError as exc:
            self._init_error = exc

    def _setup(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.parts = Path(spec["parts"])
        self.schema: dict[str, pl.DataType] = spec["schema"]
        self.pid = os.getpid()
        threads = int(spec["threads"])
        os.environ["OMP_NUM_THREADS"] = str(threads)
        from customs_check.checker import Checker
        from customs_check.embeddings import MemoryCache, load_embedder
        from customs_check.errors import ModelLoadError
        from customs_check.watchlist import Watchlist

        self.cache = _RemoteCache(spec["cache_service"]) if spec.get("cache_service") is not None else None
        embedder = load_embedder(spec["model"], cache=self.cache if self.cache is not None else MemoryCache())
        if hasattr(embedder, "threads"):
            embedder.threads = threads  # ONNX: texts run concurrently on this many threads
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        if spec["gpus"] > 0:
            _to_gpu(embedder)
        if embedder.model_id != spec["model_id"]:
            raise ModelLoadError(f"actor on {os.uname().nodename} loaded {embedder.model_id}, "
                                 f"the driver {spec['model_id']}",
                                 hint="install the same model files on every node")
        home = Path(spec["home"])
        watchlist = Watchlist.load(spec["watchlist"]) if spec.get("watchlist") else None
        views = _RemoteViews(spec["cache_service"]) if spec.get("cache_service") is not None else None
        self.checker = Checker(embedder, home=home, watchlist=watchlist, notify=lambda _m: None,
                               view_store=views)  # type: ignore[arg-type]
        self.verdicts = VerdictCache()  # an actor checks many chunks: repeated rows once
        if spec.get("exemplars"):
            self.checker.add_exemplars(spec["exemplars"])
        recipe = self.checker.index.manifest.get("recipe_sha256")
        if recipe != spec["index_recipe"]:
            raise ModelLoadError(f"actor's HS index recipe {recipe} differs from the driver's {spec['index_recipe']}",
                                 hint="run every node on the same customs-check version")

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from customs_check.batch import long_run_gc

        out = []
        with long_run_gc():  # an actor's caches live across its chunks, as a local run's do
            for c in batch.to_pylist():
                try:
                    if self._init_error is not None:
                        raise self._init_error
                    out.append(self._run(c))
                except CustomsCheckError as exc:
                    # Returned, not raised: Ray would deliver only its text, without type or hint.
                    out.append({"chunk": c["chunk"], "pid": os.getpid(), "node": os.uname().nodename,
                                "fatal": exc.message, "fatal_type": type(exc).__name__, "fatal_hint": exc.hint})
        return pa.Table.from_pylist(out, schema=_stats_schema())

    def _attempt(self, n: int) -> int:
        marker = self.parts / f"part-{n:06d}.attempts"
        try:
            attempts = int(marker.read_text() or 0) + 1
        except (OSError, ValueError):
            attempts = 1
        tmp = marker.with_name(f".{marker.name}.{self.pid}.tmp")
        tmp.write_text(str(attempts))
        os.replace(tmp, marker)
        return attempts

    def _read(self, c: dict[str, Any]) -> pl.DataFrame:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(c["path"])
        md = pf.metadata
        lo, hi = c["start"], c["start"] + c["rows"]
        groups, first, offset = [], None, 0
        for g in range(md.num_row_groups):
            size = md.row_group(g).num_rows
            if offset < hi and offset + size > lo:
                groups.append(g)
                first = offset if first is None else first
            offset += size
        table = pf.read_row_groups(groups).slice(lo - (first or 0), c["rows"])
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        frame = _text_columns(frame)
        # Every part gets the same columns, so the folder reads as one table.
        add = [pl.lit(None, dtype=dt).alias(name) for name, dt in self.schema.items() if name not in frame.columns]
        if add:
            frame = frame.with_columns(add)
        cast = [pl.col(name).cast(dt, strict=False) for name, dt in self.schema.items() if frame.schema[name] != dt]
        if cast:
            frame = frame.with_columns(cast)
        return frame.select([*self.schema, *([BAD_LINE_COLUMN] if BAD_LINE_COLUMN in frame.columns else [])])

    def _run(self, c: dict[str, Any]) -> dict[str, Any]:
        n = int(c["chunk"])
        attempts = self._attempt(n)
        if attempts > MAX_ATTEMPTS:
            raise RuntimeError(f"chunk {n} (rows {c['row_offset']:,}+{c['rows']:,}) was started {attempts - 1} "
                               "times and each time its actor died; giving up on the run")
        t = time.perf_counter()
        embedder = self.checker.embedder
        hits0, embedded0, reused0 = embedder.cache_hits, embedder.texts_embedded, self.verdicts.hits
        views0 = self.checker.views_reused
        frame = self._read(c)
        checked = check_frame(self.checker, frame, seen_ids=set(c["prior_ids"] or ()), verdicts=self.verdicts)
        checked = checked.with_columns(
            pl.int_range(c["row_offset"], c["row_offset"] + checked.height, dtype=pl.Int64).alias(ROW_INDEX))
        if self.cache is not None:
            self.cache.flush()
        errors = int(checked["error"].is_not_null().sum())
        write_frame_atomic(checked, self.parts / f"part-{n:06d}.parquet")
        flag = self.spec.get("inject_failure")
        if flag:
            try:
                fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, f"{n} {self.pid}\n".encode())
                os.close(fd)
                os._exit(1)  # mid-task: the part is written, the task never reports
        _write_json_atomic(self.parts / f"part-{n:06d}.json", {"rows": checked.height, "errors": errors})
        return {
            "chunk": n, "rows": checked.height, "errors": errors, "seconds": time.perf_counter() - t,
            "texts_embedded": embedder.texts_embedded - embedded0, "cache_hits": embedder.cache_hits - hits0,
            "verdicts_reused": self.verdicts.hits - reused0,
            "search_results_reused": self.checker.views_reused - views0,
            "pid": self.pid, "node": os.uname().nodename, "attempt": attempts,
        }


def _to_gpu(embedder: Any) -> None:
    model = getattr(embedder, "_model", None)
    try:
        import torch

        if model is not None and torch.cuda.is_available():
            embedder._model = model.to("cuda")
            embedder.batch_size = max(embedder.batch_size, 256)
            return
    except ImportError:
        pass
    print(f"customs-check: {type(embedder).__name__} runs on the CPU in a GPU actor; use --model minilm "
          "(sentence-transformers on torch with CUDA) for GPU actors", file=sys.stderr)


# -- the run --------------------------------------------------------------------------------
def _init_ray(ray: Any, address: str | None) -> bool:
    """Connect (or start a local Ray); returns whether this call started it."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict[str, Any] = {"address": address, "logging_level": logging.WARNING}
    if address == "local":
        kwargs["include_dashboard"] = False
    try:
        ray.init(**kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"cannot connect to Ray at {address!r}: {exc}",
                                hint="--address auto joins the cluster of this node; ray://HOST:10001 "
                                     "a remote one; leave it out for a local Ray") from None
    return True


def _unwrap(exc: BaseException) -> BaseException | None:
    """The CustomsCheckError an actor raised, from under Ray's wrappers."""
    seen = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, CustomsCheckError):
            return e
        stack.extend([e.__cause__, e.__context__, getattr(e, "cause", None)])
    return None


def _warn_if_unschedulable(plan: RayPlan, resources: Mapping[str, float], notify: Callable[[str], None]) -> None:
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    if plan.actors * plan.cpus > cpus or plan.actors * plan.gpus > gpus:
        notify(f"customs-check: warning: {plan.actors} actor(s) x {plan.cpus:g} CPU, {plan.gpus:g} GPU need more than "
               f"the cluster has now ({cpus:g} CPU, {gpus:g} GPU); they wait for an autoscaler to add nodes")


def _drive(ray: Any, todo: list[_Chunk], plan: RayPlan, *, parts: Path, schema: dict[str, pl.DataType],
           model: str, home: Path, watchlist: str | Path | None, exemplars: str | Path | None, checker: Checker,
           cache: bool, progress: ProgressFn | None, started: float, rows: int, errors: int, total_rows: int,
           max_error_rate: float, min_rows_for_error_rate: int,
           notify: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, int] | None]:
    """Run the chunks on an actor pool; returns one stats row per chunk and the cache
    service's counters."""
    import dataclasses

    import ray.data as rd
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ctx = rd.DataContext.get_current()
    ctx.enable_progress_bars = False  # the CLI shows its own progress
    ctx.enable_auto_log_stats = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"

    service = None
    if cache:
        # Pinned to the driver's node: the SQLite file is on its disk, with one writer.
        here = ray.get_runtime_context().get_node_id()
        service = ray.remote(_CacheService).options(
            num_cpus=0, max_restarts=-1, max_task_retries=-1,
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True),
        ).remote(str(home / "embeddings.sqlite"))
    spec = {
        "model": model,
        "model_id": checker.embedder.model_id,
        "index_recipe": checker.index.manifest.get("recipe_sha256"),
        "home": str(home),
        "watchlist": str(Path(watchlist).resolve()) if watchlist else None,
        "exemplars": str(Path(exemplars).resolve()) if exemplars else None,
        "parts": str(parts.resolve()),
        "schema": schema,
        "threads": plan.threads,
        "gpus": plan.gpus,
        "cache_service": service,
        "inject_failure": os.environ.get(INJECT_FAILURE_ENV) or None,
    }
    threads = str(plan.threads)
    ds = rd.from_items([dataclasses.asdict(c) for c in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(
        _ChunkChecker,
        batch_size=1,
        batch_format="pyarrow",
        fn_constructor_kwargs={"spec": spec},
        compute=rd.ActorPoolStrategy(size=plan.actors, max_tasks_in_flight_per_actor=1),
        num_cpus=plan.cpus,
        num_gpus=plan.gpus or None,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": threads, "POLARS_MAX_THREADS": threads,
                                  "RAYON_NUM_THREADS": threads}},
    )
    notify(f"customs-check: {len(todo):,} chunk(s) on {plan.actors} Ray actor(s) "
           f"({plan.cpus:g} CPU{f', {plan.gpus:g} GPU' if plan.gpus else ''}, {plan.threads} thread(s) each)")
    results: list[dict[str, Any]] = []
    try:
        for r in ds.iter_rows():
            if r.get("fatal"):
                raise _fatal(r)
            results.append(dict(r))
            rows += int(r["rows"])
            errors += int(r["errors"])
            if progress is not None:
                progress(rows, total_rows, time.time() - started)
            _check_error_rate(rows, errors, max_error_rate, min_rows_for_error_rate, parts)
    except CustomsCheckError:
        raise
    except Exception as exc:
        inner = _unwrap(exc)
        if inner is not None:
            raise inner from None
        raise
    stats = None
    if service is not None:
        try:
            stats = ray.get(service.stats.remote())
        finally:
            ray.kill(service)
    return results, stats


def _int_file(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return 0


def _finish(parts: Path, output: Path) -> None:
    """Turn the finished checkpoint folder into the output folder: bookkeeping out, then
    one rename (after the manifest, so a kill before it just finishes on the rerun)."""
    for pattern in ("part-*.json", "part-*.attempts", ".*.tmp"):
        for p in parts.glob(pattern):
            p.unlink(missing_ok=True)
    shutil.rmtree(parts / _STAGING, ignore_errors=True)
    if output.exists() or output.is_symlink():
        trash = output.with_name(f"{output.name}.old-{os.getpid()}")
        os.replace(output, trash)
        if trash.is_dir() and not trash.is_symlink():
            shutil.rmtree(trash, ignore_errors=True)
        else:
            trash.unlink(missing_ok=True)
    os.replace(parts, output)
    (output / "state.json").unlink(missing_ok=True)


def run_batch_ray(input_path: str | Path, output_dir: str | Path, *, model: str = "default",
                  home: str | Path | None = None, watchlist: str | Path | None = None,
                  exemplars: str | Path | None = None, address: str | None = None,
                  num_actors: int | None = None, actor_cpus: float | None = None, actor_gpus: float = 0.0,
                  chunk_rows: int = 20_000, overwrite: bool = False, encoding: str = "utf-8",
                  max_error_rate: float = 1.0, min_rows_for_error_rate: int = 1000, report: bool = True,
                  cache: bool = True, checker: Checker | None = None, progress: ProgressFn | None = None,
                  notify: Callable[[str], None] | None = None,
                  sources: list[InputSource] | None = None) -> BatchSummary:
    """Check every row of INPUT (a file, a folder of Parquet parts or a glob) on Ray actors
    into the folder ``output_dir`` of Parquet parts, with ``OUTPUT.manifest.json`` and
    ``OUTPUT.report.html`` beside it; the same rows, verdicts and errors as
    :func:`customs_check.batch.run_batch`, plus a ``row_index`` column.

    ``checker``: the driver's own Checker (for the manifest, and so that the HS index is
    built once before the actors load it); opened from the specs when not given. Actors
    build theirs from the same specs. ``address``: None starts a local Ray (or joins the
    cluster in ``RAY_ADDRESS``); ``"auto"`` or ``"ray://host:10001"`` joins a cluster.
    """
    notify = notify or (lambda msg: print(msg, file=sys.stderr))
    input_path, output = Path(input_path), Path(output_dir)
    if sources is None:
        sources = preflight_ray(input_path, output, chunk_rows=chunk_rows, max_error_rate=max_error_rate,
                                overwrite=overwrite, encoding=encoding)
    ray = require_ray()
    from customs_check.paths import home_dir

    home_path = Path(home).resolve() if home is not None else home_dir().resolve()
    if checker is None:
        from customs_check.checker import Checker

        checker = Checker.open(model, home=home_path, watchlist=watchlist, exemplars=exemplars, notify=notify)
    started = time.time()
    parts = _parts_dir(output)
    fingerprint = _input_fingerprint(sources)
    state = {
        "version": _STATE_VERSION,
        "engine": "ray",
        "input": [str(s.path.resolve()) for s in sources],
        "input_sha256": fingerprint["sha256"],
        "chunk_rows": chunk_rows,
        "encoding": encoding,
        "model_id": checker.embedder.model_id,
        "index_recipe": checker.index.manifest.get("recipe_sha256"),
        "watchlist": checker.watchlist.source,
    }
    # A fresh run connects first, so that a wrong --address leaves nothing behind.
    started_ray = _init_ray(ray, address) if not parts.exists() else False
    try:
        done = _prepare_parts(parts, state, overwrite=overwrite, notify=notify)
        for marker in parts.glob("part-*.attempts"):  # poison chunks are counted per session
            marker.unlink(missing_ok=True)
        chunks, schema = _plan_chunks(sources, parts, chunk_rows, done, notify)
        total_rows = sum(c.rows for c in chunks)
        if total_rows == 0:
            shutil.rmtree(parts, ignore_errors=True)
            raise InputFileError(f"{input_path}: has a header but no rows")
        todo = [c for c in chunks if c.chunk not in done]
        rows = sum(m["rows"] for m in done.values())
        errors = sum(m["errors"] for m in done.values())
        # A rerun of a run stopped for its error rate stops again, even with nothing left to do.
        _check_error_rate(rows, errors, max_error_rate, min_rows_for_error_rate, parts)
        rows_before = rows
        results: list[dict[str, Any]] = []
        plan: RayPlan | None = None
        ray_seconds = 0.0
        cache_service_stats: dict[str, int] | None = None
        if todo:
            started_ray = _init_ray(ray, address) or started_ray
            resources = ray.cluster_resources()
            plan = plan_actors(resources.get("CPU", 1.0), resources.get("GPU", 0.0), num_actors=num_actors,
                               actor_cpus=actor_cpus, actor_gpus=actor_gpus)
            plan = RayPlan(min(plan.actors, len(todo)), plan.cpus, plan.gpus, plan.threads)
            _warn_if_unschedulable(plan, resources, notify)
            t_ray = time.time()
            results, cache_service_stats = _drive(
                ray, todo, plan, parts=parts, schema=schema, model=model, home=home_path, watchlist=watchlist,
                exemplars=exemplars, checker=checker, cache=cache, progress=progress, started=started,
                rows=rows, errors=errors, total_rows=total_rows, max_error_rate=max_error_rate,
                min_rows_for_error_rate=min_rows_for_error_rate, notify=notify,
            )
            ray_seconds = time.time() - t_ray
            rows += sum(r["rows"] for r in results)
            errors += sum(r["errors"] for r in results)
    finally:
        if started_ray:
            ray.shutdown()

    missing = [c.chunk for c in chunks if not (parts / f"part-{c.chunk:06d}.json").exists()]
    if missing:
        raise OutputError(f"{len(missing)} chunk(s) were not written (first: {missing[0]}); nothing was finished",
                          hint="run the same command again to finish them")
    part_files = sorted(parts.glob("part-*.parquet"))
    retried = sorted(int(p.name.split("-")[1].split(".")[0]) for p in parts.glob("part-*.attempts")
                     if _int_file(p) > 1)
    stats = _output_stats(part_files)
    manifest_path = output.with_name(output.name + ".manifest.json")
    report_path = output.with_name(output.name + ".report.html") if report else None
    embedded = sum(r["texts_embedded"] for r in results)
    hits = sum(r["cache_hits"] for r in results)
    actor_seconds = sum(r["seconds"] for r in results)
    rows_now = rows - rows_before
    manifest = {
        "tool": "customs-check",
        "version": _version(),
        "input": {"path": str(input_path), "sha256": fingerprint["sha256"], "bytes": fingerprint["bytes"],
                  "format": sources[0].format if len({s.format for s in sources}) == 1 else "mixed",
                  "files": len(sources)},
        "output": {"path": str(output), "format": "parquet-folder", "parts": len(part_files),
                   "row_index": ROW_INDEX},
        **manifest_counts(checker, rows, errors, stats),
        "chunks": {"rows_per_chunk": chunk_rows, "written_now": len(results), "resumed": len(done)},
        "timings": {
            "seconds": round(time.time() - started, 3),
            "rows_per_second_this_session": round(rows_now / ray_seconds, 1) if results and ray_seconds else None,
        },
        "cache": {
            "texts_embedded": embedded,
            "cache_hits": hits,
            "hit_rate": round(hits / (hits + embedded), 4) if hits + embedded else None,
            "verdicts_reused": sum(r.get("verdicts_reused") or 0 for r in results),
            "search_results_reused": sum(r.get("search_results_reused") or 0 for r in results),
            "shared": bool(cache),
            "path": str(home_path / "embeddings.sqlite") if cache else None,
            "service": cache_service_stats,
        },
        "engine": {
            "name": "ray",
            "ray_version": getattr(ray, "__version__", None),
            "address": address or os.environ.get("RAY_ADDRESS") or "local",
            "actors": plan.actors if plan else 0,
            "actor_cpus": plan.cpus if plan else None,
            "actor_gpus": plan.gpus if plan else None,
            "threads_per_actor": plan.threads if plan else None,
            "actor_processes": len({(r["node"], r["pid"]) for r in results}),
            "nodes": len({r["node"] for r in results}),
            "retried_chunks": retried,
            "ray_seconds": round(ray_seconds, 3),
            "actor_seconds": round(actor_seconds, 3),
            "rows_per_actor_second": round(rows_now / actor_seconds, 1) if actor_seconds else None,
        },
    }
    _write_json_atomic(manifest_path, manifest)
    if report_path is not None:
        from customs_check.report import write_report

        write_report(report_path, manifest, part_files)
    _finish(parts, output)
    return BatchSummary(
        output=output, manifest_path=manifest_path, report_path=report_path, rows=rows, errors=errors,
        flagged=stats["flagged"], by_severity=stats["by_severity"], resumed_chunks=len(done),
        seconds=time.time() - started, manifest=manifest,
    )
