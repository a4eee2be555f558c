"""Reading shipments and writing results, by file extension: .csv, .jsonl (.ndjson),
.parquet. Inputs stream in fixed-size chunks so memory stays bounded whatever the size
of the file, and chunk boundaries depend only on the row count, so a resumed run sees
exactly the chunks the first run saw.
"""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from customs_check.errors import InputFileError, OutputError

__all__ = [
    "FORMATS",
    "InputSource",
    "file_format",
    "open_input",
    "write_frame_atomic",
]

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
# Rows whose JSON could not be parsed keep their text here, so they reach the output
# as error rows instead of vanishing.
BAD_LINE_COLUMN = "_unparsed_line"
# Columns the checker reads; a JSON object or list in one of them makes the row invalid.
_CHECKED_COLUMNS = ("listing_title", "listing_category", "listing_attributes", "declared_description",
                    "declared_hs_code")


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(
            f"{path}: unknown file type {path.suffix or '(none)'!r}",
            hint="use .csv, .jsonl or .parquet",
        )
    return fmt


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@dataclass
class InputSource:
    path: Path
    format: str
    columns: list[str]
    encoding: str = "utf-8"

    def iter_chunks(self, chunk_rows: int) -> Iterator[pl.DataFrame]:
        """Frames of exactly ``chunk_rows`` rows (the last may be shorter), every column a
        string except Parquet columns of other types that the checker does not read."""
        buffer: list[pl.DataFrame] = []
        buffered = 0
        for frame in self._iter_frames():
            buffer.append(frame)
            buffered += frame.height
            while buffered >= chunk_rows:
                merged = pl.concat(buffer, how="diagonal_relaxed") if len(buffer) > 1 else buffer[0]
                yield merged.head(chunk_rows)
                rest = merged.slice(chunk_rows)
                buffer, buffered = ([rest], rest.height) if rest.height else ([], 0)
        if buffered:
            yield pl.concat(buffer, how="diagonal_relaxed") if len(buffer) > 1 else buffer[0]

    def _iter_frames(self) -> Iterator[pl.DataFrame]:
        try:
            if self.format == "parquet":
                yield from self._parquet_frames()
            elif self.format == "csv":
                yield from self._csv_frames()
            else:
                yield from self._jsonl_frames()
        except InputFileError:
            raise
        except UnicodeDecodeError as exc:
            raise _decode_error(self.path, exc) from None
        except Exception as exc:  # pyarrow raises many types for broken files
            raise InputFileError(f"{self.path}: cannot read past a corrupt part: {_short(exc)}") from None

    def _parquet_frames(self) -> Iterator[pl.DataFrame]:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.path)
        for batch in pf.iter_batches(batch_size=65_536):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield _text_columns(frame)

    def _csv_frames(self) -> Iterator[pl.DataFrame]:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        src, tmp = _utf8_file(self.path, self.encoding)
        try:
            reader = pcsv.open_csv(
                str(src),
                read_options=pcsv.ReadOptions(block_size=1 << 22, column_names=None),
                convert_options=pcsv.ConvertOptions(
                    column_types={c: pa.string() for c in self.columns},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
                parse_options=pcsv.ParseOptions(newlines_in_values=True),
            )
            for batch in reader:
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                yield frame
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    def _jsonl_frames(self) -> Iterator[pl.DataFrame]:
        rows: list[dict[str, Any]] = []
        with self.path.open(encoding=self.encoding, errors="strict", newline="") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError("not a JSON object")
                    nested = [k for k in _CHECKED_COLUMNS if isinstance(obj.get(k), dict | list)]
                    if nested:
                        raise ValueError(f"column {nested[0]} holds a JSON {type(obj[nested[0]]).__name__}, not text")
                    rows.append({k: _as_text(v) for k, v in obj.items()})
                except ValueError as exc:
                    rows.append({BAD_LINE_COLUMN: f"line {lineno}: invalid row ({_short(exc)})"})
                if len(rows) >= 65_536:
                    yield _rows_frame(rows)
                    rows = []
        if rows:
            yield _rows_frame(rows)


def _rows_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    names = list(dict.fromkeys(k for r in rows for k in r))
    return pl.DataFrame({n: [r.get(n) for r in rows] for n in names}, schema=dict.fromkeys(names, pl.String))


def _text_columns(frame: pl.DataFrame) -> pl.DataFrame:
    from customs_check.batch import INPUT_COLUMNS

    casts = [
        _float_text(c) if frame.schema[c].is_float() else pl.col(c).cast(pl.String)
        for c in INPUT_COLUMNS
        if c in frame.columns and frame.schema[c] != pl.String
    ]
    return frame.with_columns(casts) if casts else frame


def _float_text(name: str) -> pl.Expr:
    """847989.0 -> "847989", as for JSON Lines: integer columns with a missing value
    become floats in pandas, and "847989.0" would be read as a 7-digit HS code."""
    col = pl.col(name)
    as_int = col.cast(pl.Int64, strict=False)
    whole = col.is_finite() & (col == col.floor()) & as_int.is_not_null()
    return pl.when(whole).then(as_int.cast(pl.String)).otherwise(col.cast(pl.String)).alias(name)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _decode_error(path: Path, exc: UnicodeDecodeError, offset: int = 0) -> InputFileError:
    return InputFileError(
        f"{path}: bytes at position {offset + exc.start} are not valid {exc.encoding}",
        hint="pass --encoding latin-1 (or the file's real encoding)",
    )


def _validate_csv(path: Path, encoding: str) -> None:
    """Read the whole file once before any row is checked: strict decoding, so a bad
    byte gives one clear message with its position, and strict CSV quoting, because
    pyarrow silently swallows every following row into a field whose opening quote is
    never closed (or is closed mid-field)."""
    import csv

    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise _decode_error(path, exc, offset - pending) from None
            offset += len(block)
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise _decode_error(path, exc, offset - pending) from None
    old_limit = csv.field_size_limit(2**31 - 1)
    try:
        with path.open(encoding="utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding,
                       newline="") as f:
            reader = csv.reader(f, strict=True)
            row_start = 1
            width = None
            data_rows = 0
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    # A stray quote within one line (`"Deluxe" pen`) costs no row; one that
                    # runs over line ends has swallowed the rows after it.
                    if reader.line_num > row_start:
                        raise InputFileError(
                            f"{path}: malformed CSV: the quoted field in the row starting at line {row_start} "
                            f"runs on to line {reader.line_num} ({exc})",
                            hint='a quote opens a field but never closes it; quote whole fields and double '
                                 'the quotes inside them ("")',
                        ) from None
                    data_rows += 1
                else:
                    if width is None:
                        width = len(row)
                    elif row:
                        data_rows += 1
                    if row and len(row) != width:
                        raise InputFileError(
                            f"{path}: the row at line {row_start} has {len(row)} fields, the header {width}",
                            hint="quote fields that contain the delimiter",
                        )
                row_start = reader.line_num + 1
    finally:
        csv.field_size_limit(old_limit)
    if not data_rows:
        raise InputFileError(f"{path}: has a header but no rows")


def _utf8_file(path: Path, encoding: str) -> tuple[Path, Path | None]:
    """A UTF-8 file for pyarrow's CSV reader: ``path`` itself when it is UTF-8, else a
    transcoded copy in a temp file (returned second, for the caller to delete).

    pyarrow gets a file path, never a Python file object: its reader threads would then
    call back into Python and, if still running when the interpreter exits, abort the
    process ("terminate called without an active exception", exit 134) now and then."""
    if codecs.lookup(encoding).name == "utf-8":
        return path, None
    fd, name = tempfile.mkstemp(prefix="customs-check-", suffix=".csv")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, path.open(encoding=encoding, errors="strict", newline="") as f:
            for text in iter(lambda: f.read(1 << 20), ""):
                out.write(text.encode("utf-8"))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, tmp


def open_input(path: str | Path, *, encoding: str = "utf-8") -> InputSource:
    """Open an input file after checking everything that can be checked up front:
    existence, type, encoding name, readable header or schema, non-empty."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a file")
    fmt = file_format(path)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputFileError(f"unknown encoding {encoding!r}", hint="for example utf-8, latin-1, cp1252") from None
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: file is empty")
    if fmt == "parquet":
        columns = _parquet_columns(path)
    elif fmt == "csv":
        columns = _csv_header(path, encoding)
        _validate_csv(path, encoding)
    else:
        columns = _jsonl_columns(path, encoding)
    return InputSource(path, fmt, columns, encoding)


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except Exception as exc:
        raise InputFileError(
            f"{path}: not a readable Parquet file (truncated or corrupt): {_short(exc)}"
        ) from None


def _csv_header(path: Path, encoding: str) -> list[str]:
    import csv

    try:
        with path.open(encoding="utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding,
                       newline="") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, exc) from None
    if not header or not any(h.strip() for h in header):
        raise InputFileError(f"{path}: no header row")
    dupes = {h for h in header if header.count(h) > 1}
    if dupes:
        raise InputFileError(f"{path}: repeated column names {sorted(dupes)}")
    return header


def _jsonl_columns(path: Path, encoding: str) -> list[str]:
    """Column names from the first 1,000 parsable lines (JSON Lines has no header)."""
    names: dict[str, None] = {}
    seen = 0
    try:
        with path.open(encoding=encoding, errors="strict") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    names.update(dict.fromkeys(obj))
                    seen += 1
                if seen >= 1000:
                    break
    except UnicodeDecodeError as exc:
        raise _decode_error(path, exc) from None
    if not seen:
        raise InputFileError(f"{path}: no JSON object found on any line", hint="one JSON object per line")
    return list(names)


def write_frame_atomic(frame: pl.DataFrame | pl.LazyFrame, path: Path, *, row_group_rows: int | None = None) -> None:
    """Write by extension to a temp file beside ``path``, then rename over it: a reader
    never sees half a file, and a crash leaves the old file (or none). ``row_group_rows``
    (Parquet): rows a row group holds, which the writer buffers decoded."""
    fmt = file_format(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or _short(exc)}") from None
    # Not mkstemp: its file is private (0600); results get the mode any new file gets.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        lazy = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
        if fmt == "csv":
            lazy = _flatten_lists(lazy)
            lazy.sink_csv(tmp)
        elif fmt == "jsonl":
            lazy.sink_ndjson(tmp)
        else:
            lazy.sink_parquet(tmp, row_group_size=row_group_rows)
        os.replace(tmp, path)
    except PermissionError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or _short(exc)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _flatten_lists(lazy: pl.LazyFrame) -> pl.LazyFrame:
    """CSV has no lists: join them with " | " (HS codes with a space)."""
    schema = lazy.collect_schema()
    exprs = []
    for name, dtype in schema.items():
        if isinstance(dtype, pl.List):
            sep = " " if name.endswith(("_top", "_scores")) else " | "
            exprs.append(pl.col(name).cast(pl.List(pl.String)).list.join(sep).alias(name))
    return lazy.with_columns(exprs) if exprs else lazy
