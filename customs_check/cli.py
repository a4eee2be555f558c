"""The ``customs-check`` command: a thin skin over the library. Each command parses its
input, calls one library function and formats the result."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from customs_check.errors import CustomsCheckError
from customs_check.output import Progress, emit, output_options

EXIT_CODES = """\b
Exit codes:
  0  done; nothing flagged
  1  done; at least one shipment flagged as a mismatch
  2  usage error or invalid value (bad HS code, empty title)
  3  input file unusable (missing, unknown type, bad encoding,
     corrupt, missing columns)
  4  output cannot be written (exists: use --overwrite)
  5  model or HS index cannot be loaded
  6  too many invalid rows (--max-error-rate)
"""


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CustomsCheckError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="customs-check")
@click.option("--model", envvar="CUSTOMS_CHECK_MODEL", default="default", show_default=True,
              help="Embedding backend: default, minilm, onnx, onnx-fp32, fake, or a sentence-transformers "
                   "model folder/name.")
@click.option("--home", envvar="CUSTOMS_CHECK_HOME", type=click.Path(file_okay=False, path_type=Path),
              help="Where the HS index and embedding cache live [default: ~/.cache/customs-check].")
@click.option("--watchlist", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A watchlist TOML file to use instead of the built-in one.")
@click.option("--exemplars", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your labelled history (.csv/.jsonl/.parquet with text, hs_code) to extend the HS index.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output on stderr.")
@click.pass_context
def cli(ctx: click.Context, model: str, home: Path | None, watchlist: Path | None, exemplars: Path | None,
        quiet: bool) -> None:
    """Flag shipments whose customs declaration diverges from the marketplace listing."""
    ctx.obj = {"model": model, "home": home, "watchlist": watchlist, "exemplars": exemplars, "quiet": quiet}


def _checker(ctx: click.Context) -> Any:
    from customs_check.checker import Checker

    o = ctx.obj
    progress = Progress("embedding HS catalogue", quiet=o["quiet"])
    notify: Callable[[str], None] = (lambda _m: None) if o["quiet"] else (lambda m: click.echo(m, err=True))
    checker = Checker.open(o["model"], home=o["home"], watchlist=o["watchlist"], exemplars=o["exemplars"],
                           progress=progress.items, notify=notify)
    progress.done()
    return checker


# -- check ----------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES)
@click.option("--listing-title", required=True, help="Title of the marketplace listing.")
@click.option("--listing-category", help='Category path, e.g. "Jewelry > Rings".')
@click.option("--listing-attributes", help='Seller attributes, "key: value; key: value".')
@click.option("--declared-description", help="Goods description on the declaration.")
@click.option("--declared-hs-code", help="Declared HS code, any spelling (8479.89, 847989...).")
@click.option("--shipment-id", help="An id to carry into the result.")
@click.option("--json", "as_json", is_flag=True, help="Print the result object as JSON.")
@click.pass_context
def check(ctx: click.Context, listing_title: str, listing_category: str | None, listing_attributes: str | None,
          declared_description: str | None, declared_hs_code: str | None, shipment_id: str | None,
          as_json: bool) -> None:
    """Check one shipment and print a verdict with reasons."""
    from customs_check.models import Declaration, Listing, Shipment

    shipment = _validated(lambda: Shipment(
        shipment_id=shipment_id,
        listing=Listing(title=listing_title, category=listing_category, attributes=listing_attributes),
        declaration=Declaration(description=declared_description, hs_code=declared_hs_code),
    ))
    result = _checker(ctx).check(shipment)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        click.echo(format_verdict(result))
    ctx.exit(1 if result.mismatch else 0)


def format_verdict(result: Any) -> str:
    verdict = "MISMATCH" if result.mismatch else "consistent"
    lines = [f"{verdict}  severity={result.severity.value}  score={result.mismatch_score:.2f}"
             + (f"  watchlist={result.watchlist}" if result.watchlist else "")]
    lines.extend(f"  - {r}" for r in result.reasons)
    if result.listing_hs6_top:
        lines.append("  listing's likely codes:")
        for c in result.listing_hs6_top:
            desc = c.description.split(" > ")[-1]  # the subheading's own words; the heading is implied
            desc = desc if len(desc) <= 90 else desc[:89] + "…"
            lines.append(f"    {c.code[:4]}.{c.code[4:]}  {c.score:.2f}  {desc}")
    return "\n".join(lines)


def _validated(build: Callable[[], Any]) -> Any:
    from pydantic import ValidationError

    from customs_check.checker import format_validation_error
    from customs_check.errors import InvalidInputError

    try:
        return build()
    except ValidationError as exc:
        raise InvalidInputError(format_validation_error(exc)) from None


def _candidate_rows(cands: list[Any], fmt: str) -> list[dict[str, Any]]:
    """Ranked candidates as rows. A table shows each code's own words: its description
    path starts with the heading, which a 70-character cell would show alone, the same
    for every sibling. JSON and CSV keep the whole path."""
    return [{"code": c.code, "score": round(c.score, 4),
             "description": c.description.split(" > ")[-1] if fmt == "table" else c.description} for c in cands]


# -- classify -------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES)
@click.argument("input_path", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (.csv, .jsonl, .parquet) for INPUT.")
@click.option("--text", help="Classify one text instead of a file.")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--level", default=6, show_default=True, type=click.Choice(["2", "4", "6"]),
              help="HS level of the candidates.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of CSV/JSONL input.")
@output_options
@click.pass_context
def classify(ctx: click.Context, input_path: Path | None, output: Path | None, text: str | None, top_k: int,
             level: str, overwrite: bool, encoding: str, fmt: str) -> None:
    """Rank HS codes for a text (--text) or for every row of INPUT.

    INPUT rows carry listing columns (listing_title, listing_category,
    listing_attributes) or a description column; OUTPUT keeps the input columns and
    adds hs6_top (codes, best first) and hs6_scores."""
    if (text is None) == (input_path is None):
        raise click.UsageError("give either --text or INPUT (with -o OUTPUT)")
    if text is not None:
        cands = _checker(ctx).classify(text, top_k=top_k, level=int(level))
        emit(_candidate_rows(cands, fmt), ["code", "score", "description"], fmt)
        return
    if output is None:
        raise click.UsageError("INPUT needs -o OUTPUT")
    from customs_check.classify import classify_file, preflight_classify

    assert input_path is not None
    source = preflight_classify(input_path, output, overwrite=overwrite, encoding=encoding)
    n = classify_file(_checker(ctx), input_path, output, top_k=top_k, level=int(level), source=source)
    if not ctx.obj["quiet"]:
        click.echo(f"classified {n:,} rows into {output}", err=True)


# -- batch ----------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES)
@click.argument("input_path", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Results file (.csv, .jsonl, .parquet), or with --engine ray a folder of Parquet parts; "
                   "manifest and report are written beside it.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output (and discard an unfinished run).")
@click.option("--chunk-rows", default=20_000, show_default=True, type=click.IntRange(1),
              help="Rows per checkpointed chunk.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of CSV/JSONL input.")
@click.option("--max-error-rate", default=1.0, show_default=True, type=click.FloatRange(0, 1),
              help="Stop (exit 6) when more than this share of rows is invalid, judged from 1,000 rows on "
                   "(a rerun of a stopped run stops again).")
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process. ray: Ray Data actors on this machine or a cluster; INPUT may then be "
                   "a folder of Parquet parts or a quoted glob (pip install 'customs-check[ray]'; docs/ray.md).")
@click.option("--address", help="--engine ray: the Ray cluster ('auto', 'ray://HOST:10001'); default: "
                                "$RAY_ADDRESS, else a new local Ray.")
@click.option("--num-actors", type=click.IntRange(1), help="--engine ray: checker actors [default: as many as fit].")
@click.option("--actor-cpus", type=click.FloatRange(0, min_open=True),
              help="--engine ray: CPUs per actor, fractions allowed [default: 4, or what a small machine has].")
@click.option("--actor-gpus", default=0.0, show_default=True, type=click.FloatRange(0),
              help="--engine ray: GPUs per actor (with --model minilm).")
@click.pass_context
def batch(ctx: click.Context, input_path: Path, output: Path, overwrite: bool, chunk_rows: int, encoding: str,
          max_error_rate: float, no_report: bool, engine: str, address: str | None, num_actors: int | None,
          actor_cpus: float | None, actor_gpus: float) -> None:
    """Check every shipment in INPUT and write results, a manifest and a report.

    INPUT (.csv, .jsonl, .parquet) has the columns shipment_id, listing_title,
    listing_category, listing_attributes, declared_description, declared_hs_code; only
    listing_title is required. Every input row appears once in OUTPUT with the verdict
    columns added. A killed run resumes when the same command is run again."""
    from customs_check.batch import BatchOptions, preflight_batch, run_batch

    if engine == "ray":
        summary = _batch_ray(ctx, input_path, output, overwrite=overwrite, chunk_rows=chunk_rows, encoding=encoding,
                             max_error_rate=max_error_rate, report=not no_report, address=address,
                             num_actors=num_actors, actor_cpus=actor_cpus, actor_gpus=actor_gpus)
    else:
        if address is not None or num_actors is not None or actor_cpus is not None or actor_gpus:
            raise click.UsageError("--address, --num-actors, --actor-cpus and --actor-gpus need --engine ray")
        if output.is_dir():
            raise click.BadParameter(f"File {str(output)!r} is a directory.", param_hint="'-o' / '--output'")
        options = BatchOptions(chunk_rows=chunk_rows, overwrite=overwrite, encoding=encoding,
                               max_error_rate=max_error_rate, report=not no_report)
        source = preflight_batch(input_path, output, options)  # before the model loads: a typo costs nothing
        checker = _checker(ctx)
        progress = Progress("checking", quiet=ctx.obj["quiet"])
        notify: Callable[[str], None] = (
            (lambda _m: None) if ctx.obj["quiet"] else (lambda m: click.echo(m, err=True)))
        summary = run_batch(checker, input_path, output, options, progress=progress.rows, notify=notify,
                            source=source)
        progress.done()
    sev = ", ".join(f"{k} {v:,}" for k, v in summary.by_severity.items())
    click.echo(f"{summary.rows:,} rows checked, {summary.flagged:,} flagged, {summary.errors:,} invalid ({sev})")
    if summary.errors:
        kinds = ", ".join(f"{k} {v:,}" for k, v in summary.manifest["errors_by_kind"].items())
        click.echo(f"invalid rows by kind: {kinds} (see the error column)")
    click.echo(f"results:  {summary.output}")
    click.echo(f"manifest: {summary.manifest_path}")
    if summary.report_path:
        click.echo(f"report:   {summary.report_path}")
    ctx.exit(1 if summary.flagged else 0)


def _batch_ray(ctx: click.Context, input_path: Path, output: Path, **kw: Any) -> Any:
    """``batch --engine ray``: Ray is imported only here (``--help`` stays fast)."""
    from customs_check.ray_engine import preflight_ray, require_ray, run_batch_ray

    require_ray()  # before anything else: without Ray, say how to install it
    sources = preflight_ray(input_path, output, chunk_rows=kw["chunk_rows"], max_error_rate=kw["max_error_rate"],
                            overwrite=kw["overwrite"], encoding=kw["encoding"])
    checker = _checker(ctx)
    o = ctx.obj
    progress = Progress("checking", quiet=o["quiet"])
    notify: Callable[[str], None] = (lambda _m: None) if o["quiet"] else (lambda m: click.echo(m, err=True))
    summary = run_batch_ray(input_path, output, model=o["model"], home=o["home"], watchlist=o["watchlist"],
                            exemplars=o["exemplars"], checker=checker, progress=progress.rows, notify=notify,
                            sources=sources, **kw)
    progress.done()
    return summary


# -- hs -------------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES)
@click.argument("code", required=False)
@click.option("--search", "query", help="Search the nomenclature by meaning.")
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(1, 100))
@output_options
@click.pass_context
def hs(ctx: click.Context, code: str | None, query: str | None, top_k: int, fmt: str) -> None:
    """Look up an HS CODE (any spelling) or --search the nomenclature."""
    if (code is None) == (query is None):
        raise click.UsageError("give either CODE or --search TEXT")
    if code is not None:
        from customs_check.hs_codes.catalogue import load_catalogue

        catalogue = load_catalogue()
        parsed = catalogue.resolve(code)
        deepest = parsed.hs6 or parsed.hs4 or parsed.hs2
        rows = [{"code": e.dotted, "level": e.level, "description": e.description}
                for e in catalogue.path(deepest)]
        rows += [{"code": catalogue.get(c).dotted, "level": 6, "description": "  " + catalogue.get(c).description}
                 for c in (catalogue.children(deepest) if parsed.level == 4 else [])]
        emit(rows, ["code", "level", "description"], fmt)
        return
    checker = _checker(ctx)
    cands = checker.classify(query or "", top_k=top_k)
    emit(_candidate_rows(cands, fmt), ["code", "score", "description"], fmt)


# -- cache ----------------------------------------------------------------------------------
@cli.group(epilog=EXIT_CODES)
def cache() -> None:
    """Inspect or prune the persistent caches: embeddings and search results."""


def _cache_stores(ctx: click.Context) -> tuple[Any, Any]:
    from customs_check.embeddings import SQLiteCache
    from customs_check.paths import home_dir
    from customs_check.views import VIEW_STORE_FILE, ViewStore

    home = Path(ctx.obj["home"] or home_dir())
    return SQLiteCache(home / "embeddings.sqlite"), ViewStore(home / VIEW_STORE_FILE)


@cache.command("stats", epilog=EXIT_CODES)
@output_options
@click.pass_context
def cache_stats(ctx: click.Context, fmt: str) -> None:
    """Size of the caches; vectors and search results per model."""
    vectors, views = _cache_stores(ctx.find_root())
    stats, results = vectors.stats(), views.by_model()
    rows = [{"model": m, "vectors": stats.by_model.get(m, 0), "search_results": results.get(m, 0)}
            for m in sorted(set(stats.by_model) | set(results))]
    if fmt == "table":
        click.echo(f"{stats.path}: {stats.file_bytes / 1e6:.1f} MB, {stats.vectors:,} vectors")
        click.echo(f"{views.path}: {views.file_bytes() / 1e6:.1f} MB, {sum(results.values()):,} search results")
    emit(rows, ["model", "vectors", "search_results"], fmt)


@cache.command("prune", epilog=EXIT_CODES)
@click.option("--model", "model_id", help="Delete what this model id made.")
@click.option("--keep-model", help="Delete what every model but this one made.")
@click.option("--older-than-days", type=click.FloatRange(0), help="Delete entries stored longer ago than this.")
@click.option("--unused-for-days", type=click.FloatRange(0),
              help="Delete search results made under settings or a version no check has used for this long "
                   "(vectors are kept).")
@click.pass_context
def cache_prune(ctx: click.Context, model_id: str | None, keep_model: str | None,
                older_than_days: float | None, unused_for_days: float | None) -> None:
    """Delete cached vectors and search results by model, age or disuse.

    Search results made under other settings, watchlists or versions are never read
    again; --unused-for-days clears them out and keeps the ones in use. Options given
    together must all hold."""
    vector_options = {"model_id": model_id, "keep_model": keep_model, "older_than_days": older_than_days}
    if all(v is None for v in vector_options.values()) and unused_for_days is None:
        raise click.UsageError("give --model, --keep-model, --older-than-days or --unused-for-days")
    vectors, views = _cache_stores(ctx.find_root())
    # Vectors have no settings context to fall out of use: with --unused-for-days they are kept.
    deleted = vectors.prune(**vector_options) if unused_for_days is None else 0
    results = views.prune(**vector_options, unused_for_days=unused_for_days)
    click.echo(f"deleted {deleted:,} vectors and {results:,} search results")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="customs-check")
    except KeyboardInterrupt:
        click.echo("interrupted; a batch run resumes when the same command is run again", err=True)
        sys.exit(130)


__all__ = ["cli", "format_verdict", "main"]

if __name__ == "__main__":  # pragma: no cover
    main()
