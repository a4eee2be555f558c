"""Classify every row of a file: listing rows (``listing_title`` ...) or free-text rows
(``description``). Output keeps the input columns and adds ``hs6_top`` and ``hs6_scores``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from customs_check.checker import Checker
from customs_check.errors import InputFileError, OutputError
from customs_check.io import InputSource, file_format, open_input, write_frame_atomic
from customs_check.models import Listing

__all__ = ["classify_file", "classify_frame", "preflight_classify"]


def classify_frame(checker: Checker, frame: pl.DataFrame, *, top_k: int = 5, level: int = 6) -> pl.DataFrame:
    """Add ``hs{level}_top`` and ``hs{level}_scores``. Rows without text get nulls."""
    if "listing_title" in frame.columns:
        items: list[str | Listing | None] = []
        for row in frame.select(
            [c for c in ("listing_title", "listing_category", "listing_attributes") if c in frame.columns]
        ).iter_rows(named=True):
            title = row.get("listing_title")
            items.append(
                Listing(title=title, category=row.get("listing_category"), attributes=row.get("listing_attributes"))
                if title and title.strip() else None
            )
    elif "description" in frame.columns:
        items = [t if t and t.strip() else None for t in frame["description"].to_list()]
    else:
        raise InputFileError(
            f"no listing_title or description column; found: {', '.join(frame.columns)}",
            hint="name the text column listing_title (with listing_category, listing_attributes) or description",
        )
    present = [i for i, it in enumerate(items) if it is not None]
    ranked = checker.classify_many([items[i] for i in present], top_k=top_k, level=level) if present else []
    codes: list[list[str] | None] = [None] * len(items)
    scores: list[list[float] | None] = [None] * len(items)
    for i, cands in zip(present, ranked, strict=True):
        codes[i] = [c.code for c in cands]
        scores[i] = [c.score for c in cands]
    return frame.with_columns(
        pl.Series(f"hs{level}_top", codes, dtype=pl.List(pl.String)),
        pl.Series(f"hs{level}_scores", scores, dtype=pl.List(pl.Float64)),
    )


def preflight_classify(input_path: Path, output: Path, *, overwrite: bool = False,
                       encoding: str = "utf-8") -> InputSource:
    """Checks that need no model, run before it loads."""
    try:
        file_format(output)
    except InputFileError as exc:
        raise OutputError(exc.message, hint=exc.hint) from None
    if output.exists() and not overwrite:
        raise OutputError(f"{output} already exists", hint="pass --overwrite to replace it")
    if output.resolve() == Path(input_path).resolve():
        raise OutputError(f"{output}: output would overwrite the input", hint="choose another output path")
    return open_input(input_path, encoding=encoding)


def classify_file(checker: Checker, input_path: Path, output: Path, *, top_k: int = 5, level: int = 6,
                  overwrite: bool = False, chunk_rows: int = 20_000, source: InputSource | None = None,
                  encoding: str = "utf-8") -> int:
    if source is None:
        source = preflight_classify(input_path, output, overwrite=overwrite, encoding=encoding)
    parts = [classify_frame(checker, chunk, top_k=top_k, level=level) for chunk in source.iter_chunks(chunk_rows)]
    if not parts:
        raise InputFileError(f"{input_path}: has no rows")
    write_frame_atomic(pl.concat(parts, how="diagonal_relaxed"), output)
    return sum(p.height for p in parts)
