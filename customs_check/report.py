"""The morning report of a batch run: one self-contained HTML file (inline CSS and SVG,
no scripts, nothing fetched), for a compliance lead to open offline."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["write_report"]

_MAX_FLAGGED_ROWS = 500
_SEVERITY_COLOURS = {"critical": "#7f0000", "high": "#d7301f", "medium": "#fc8d59", "low": "#fdcc8a",
                     "none": "#9ecae1", "error": "#969696"}


def _esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _bar_chart(pairs: list[tuple[str, int]], *, width: int = 640, bar: int = 18, colour: str = "#3182bd",
               colours: dict[str, str] | None = None) -> str:
    if not pairs:
        return "<p>nothing to show</p>"
    top = max(v for _, v in pairs) or 1
    label_w, h = 150, bar + 6
    rows = []
    for i, (label, value) in enumerate(pairs):
        w = int((width - label_w - 60) * value / top)
        y = i * h
        fill = (colours or {}).get(label, colour)
        rows.append(
            f'<text x="{label_w - 6}" y="{y + bar - 4}" text-anchor="end">{_esc(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar}" fill="{fill}"/>'
            f'<text x="{label_w + w + 4}" y="{y + bar - 4}">{value:,}</text>'
        )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{len(pairs) * h}" '
            f'font-family="sans-serif" font-size="12">{"".join(rows)}</svg>')


def _histogram(counts: list[int], *, width: int = 640, height: int = 160, threshold: float | None = None) -> str:
    top = max(counts) if counts and max(counts) else 1
    n = len(counts)
    bw = (width - 40) / n
    bars = []
    for i, c in enumerate(counts):
        bh = (height - 30) * c / top
        x = 30 + i * bw
        bars.append(f'<rect x="{x:.1f}" y="{height - 20 - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" '
                    f'fill="#3182bd"><title>{i / n:.2f}-{(i + 1) / n:.2f}: {c:,}</title></rect>')
    axis = "".join(
        f'<text x="{30 + k * (width - 40) / 4:.0f}" y="{height - 4}" text-anchor="middle">{k / 4:.2f}</text>'
        for k in range(5)
    )
    line = ""
    if threshold is not None:
        x = 30 + threshold * (width - 40)
        line = (f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" stroke="#d7301f" '
                f'stroke-dasharray="4"/><text x="{x + 4:.1f}" y="12" fill="#d7301f">flag threshold</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
            f'font-size="11">{"".join(bars)}{axis}{line}</svg>')


def write_report(path: Path, manifest: dict[str, Any], part_files: list[Path], *,
                 threshold: float = 0.5) -> None:
    lazy = pl.scan_parquet(part_files)
    scores = (
        lazy.filter(pl.col("mismatch_score").is_not_null())
        .select((pl.col("mismatch_score") * 20).floor().clip(0, 19).cast(pl.Int32).alias("bin"))
        .group_by("bin").agg(pl.len()).collect()
    )
    hist = [0] * 20
    for b, c in scores.rows():
        hist[b] = c
    chapters = (
        lazy.filter(pl.col("mismatch").fill_null(False))
        .select(pl.col("declared_hs6").str.slice(0, 2).fill_null("none").alias("chapter"))
        .group_by("chapter").agg(pl.len().alias("n")).sort("n", descending=True).head(25).collect().rows()
    )
    columns = lazy.collect_schema().names()
    wanted = [c for c in ("shipment_id", "severity", "mismatch_score", "watchlist", "listing_title",
                          "declared_description", "declared_hs_code", "listing_hs6_top", "reasons") if c in columns]
    # Rank on three small columns first, then read the wide ones (reasons, titles) for the
    # rows shown only: a million-row night must not pull every flagged row's text into memory.
    numbered = pl.scan_parquet(part_files, row_index_name="_row")
    top = (
        numbered.filter(pl.col("mismatch").fill_null(False))
        .select("_row", "mismatch_score", pl.col("severity").replace_strict(
            {"critical": 0, "high": 1, "medium": 2, "low": 3}, default=4, return_dtype=pl.Int8).alias("_rank"))
        .sort(["_rank", "mismatch_score", "_row"], descending=[False, True, False])
        .head(_MAX_FLAGGED_ROWS).collect()
    )
    order = {row: i for i, row in enumerate(top["_row"].to_list())}
    flagged = (
        numbered.filter(pl.col("_row").is_in(list(order))).select("_row", *wanted).collect()
        .sort(pl.col("_row").replace_strict(order, return_dtype=pl.Int64)).select(wanted)
    )
    errors = lazy.filter(pl.col("error").is_not_null()).select(
        [c for c in ("shipment_id", "error") if c in columns]).head(100).collect()

    sev = manifest.get("by_severity", {})
    order = ["critical", "high", "medium", "low", "none", "error"]
    sev_pairs = [(k, sev[k]) for k in order if k in sev]
    wl_pairs = sorted(manifest.get("by_watchlist", {}).items(), key=lambda kv: -kv[1])

    def table(frame: pl.DataFrame) -> str:
        head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
        body = []
        for row in frame.iter_rows(named=True):
            cells = []
            for c, v in row.items():
                if isinstance(v, list):
                    v = "<br>".join(_esc(x) for x in v) if c == "reasons" else _esc(" ".join(map(str, v)))
                elif isinstance(v, float):
                    v = f"{v:.3f}"
                else:
                    v = _esc(v)
                cls = f' class="sev-{row.get("severity")}"' if c == "severity" else ""
                cells.append(f"<td{cls}>{v}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    t = manifest.get("timings", {})
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>customs-check report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; text-align: left; }}
th {{ background: #f0f0f0; }}
.kpi {{ display: inline-block; margin-right: 2em; }} .kpi b {{ font-size: 1.6em; display: block; }}
{''.join(f'.sev-{k} {{ background: {c}; color: {"#fff" if k in ("critical", "high") else "#000"}; }}'
         for k, c in _SEVERITY_COLOURS.items())}
</style></head><body>
<h1>customs-check report</h1>
<p>Input <code>{_esc(manifest['input']['path'])}</code> (sha256 {_esc(manifest['input']['sha256'][:16])}…),
model <code>{_esc(manifest['model'])}</code>, {_esc(manifest['catalogue_version'])},
{t.get('seconds', 0):,.0f} s.</p>
<div class="kpi"><b>{manifest['rows']:,}</b>shipments</div>
<div class="kpi"><b>{manifest['flagged']:,}</b>flagged</div>
<div class="kpi"><b>{sev.get('critical', 0):,}</b>critical</div>
<div class="kpi"><b>{manifest['errors']:,}</b>invalid rows</div>
<h2>By severity</h2>{_bar_chart(sev_pairs, colours=_SEVERITY_COLOURS)}
<h2>Watchlist categories hit</h2>{_bar_chart(wl_pairs, colour="#7f0000")}
<h2>Mismatch score distribution</h2>{_histogram(hist, threshold=threshold)}
<h2>Flagged shipments by declared HS chapter</h2>{_bar_chart(chapters)}
<h2>Flagged shipments, most severe first</h2>
<p>{min(flagged.height, _MAX_FLAGGED_ROWS):,} of {manifest['flagged']:,} shown;
the full list is in the results file.</p>
{table(flagged)}
<h2>Invalid rows</h2>
{(f"<p>{errors.height:,} of {manifest['errors']:,} shown; the full list is in the results file "
  "(rows whose 'error' is set).</p>" + table(errors)) if errors.height else '<p>none</p>'}
</body></html>
"""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(path)
