"""Output formatting shared by every CLI command: a readable table on a terminal,
``--json`` or ``--csv`` for machines. Results go to stdout; progress and warnings to
stderr (see :class:`Progress`)."""

from __future__ import annotations

import csv
import functools
import io
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

__all__ = ["Progress", "emit", "output_options", "render_table"]


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds ``--json`` / ``--csv`` (mutually exclusive) and passes ``fmt`` to the command."""

    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
    @functools.wraps(fn)
    def wrapper(*args: Any, as_json: bool, as_csv: bool, **kwargs: Any) -> Any:
        if as_json and as_csv:
            raise click.UsageError("--json and --csv cannot be combined")
        kwargs["fmt"] = "json" if as_json else "csv" if as_csv else "table"
        return fn(*args, **kwargs)

    return wrapper


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], max_width: int = 70) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, list):
            return " ".join(str(x) for x in v)
        text = str(v)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells)
    return "\n".join(lines)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2, ensure_ascii=False, default=str))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()})
        click.echo(buf.getvalue(), nl=False)
    else:
        click.echo(render_table(rows, columns))


class Progress:
    """Progress on stderr, redrawn in place; silent when quiet or stderr is not a terminal."""

    def __init__(self, label: str, *, quiet: bool = False, min_interval: float = 0.25) -> None:
        self.label = label
        self.enabled = not quiet and sys.stderr.isatty()
        self.min_interval = min_interval
        self._last = 0.0
        self._start = time.time()

    def items(self, done: int, total: int) -> None:
        """For (done, total) callbacks, e.g. embedding the HS catalogue."""
        self._draw(f"{self.label}: {done:,}/{total:,}", final=done >= total)

    def rows(self, done: int, total: int | None, elapsed: float) -> None:
        rate = done / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}: {done:,} rows"
        if total:
            text += f"/{total:,}"
        text += f" · {rate:,.0f} rows/s"
        if total and rate > 0 and done < total:
            text += f" · ETA {_duration((total - done) / rate)}"
        self._draw(text, final=bool(total) and done >= total)

    def _draw(self, text: str, *, final: bool) -> None:
        if not self.enabled:
            return
        now = time.time()
        if not final and now - self._last < self.min_interval:
            return
        self._last = now
        sys.stderr.write("\r\033[K" + text + ("\n" if final else ""))
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
