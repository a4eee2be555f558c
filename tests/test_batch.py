"""``customs-check batch`` and ``run_batch``: every row once and in order, input columns
kept, invalid rows as error rows, manifest and self-contained report, exit codes, the
refusal to overwrite, the error-rate stop, and chunking that does not change results."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner, Result
from conftest import INPUT_COLUMNS, write_jsonl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from customs_check.batch import (
    RESULT_SCHEMA,
    BatchOptions,
    SeenIds,
    VerdictCache,
    _rows_frame,
    check_frame,
    run_batch,
)
from customs_check.checker import Checker
from customs_check.cli import cli
from customs_check.errors import ErrorRateExceededError, InputFileError, OutputError

DEMO = Path(str(resources.files("customs_check") / "demo" / "shipments.jsonl"))
RESULT_COLUMNS = list(RESULT_SCHEMA)
VERDICT_COLUMNS = [c for c in RESULT_COLUMNS if c not in ("error", "error_kind")]

pytestmark = pytest.mark.usefixtures("open_each_checker_once")


def batch(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--model", "fake", "batch", *args], catch_exceptions=False)


def demo_rows() -> list[dict]:
    return [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_output(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".jsonl":
        return pl.read_ndjson(path)
    return pl.read_csv(path, infer_schema=False)


def manifest_of(output: Path) -> dict:
    return json.loads(output.with_name(output.name + ".manifest.json").read_text())


# -- the demo file in every output format ---------------------------------------------------
@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_batch_demo(tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"results.{ext}"
    result = batch(str(DEMO), "-o", str(out))
    rows = demo_rows()
    assert result.exit_code == 1, result.stderr  # the demo has flagged shipments
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    m = re.fullmatch(r"23 rows checked, (\d+) flagged, 2 invalid \((.*)\)", lines[0])
    assert m, lines[0]
    assert lines[-3:] == [f"results:  {out}", f"manifest: {out}.manifest.json", f"report:   {out}.report.html"]

    frame = read_output(out)
    # every input row exactly once, in order, input columns first and unchanged
    assert frame.height == len(rows)
    assert frame.columns == [*INPUT_COLUMNS, *RESULT_COLUMNS]
    for col in INPUT_COLUMNS:
        assert frame[col].to_list() == [r[col] for r in rows], col

    # invalid rows: error set, no verdict; valid rows the other way round
    errors = frame.filter(pl.col("error").is_not_null())
    assert errors["shipment_id"].to_list() == ["D-0022", "D-0023"]
    assert errors["error_kind"].to_list() == ["missing_title", "invalid_hs_code"]
    assert "listing_title" in errors["error"][0]
    assert "4419.AB" in errors["error"][1]
    for col in ("mismatch", "mismatch_score", "severity", "listing_hs6_top", "reasons"):
        assert errors[col].is_null().all(), col
    valid = frame.filter(pl.col("error").is_null())
    for col in ("mismatch", "mismatch_score", "severity", "listing_hs6_top", "reasons"):
        assert valid[col].is_not_null().all(), col
    assert set(valid["severity"].to_list()) <= {"none", "low", "medium", "high", "critical"}
    flagged = valid.filter(pl.col("mismatch").cast(pl.String).str.to_lowercase() == "true")
    assert int(m.group(1)) == flagged.height > 0
    by_id = {r["shipment_id"]: r for r in frame.iter_rows(named=True)}
    assert by_id["D-0014"]["severity"] == "critical" and by_id["D-0014"]["watchlist"] == "tablet_press"
    assert by_id["D-0017"]["watchlist"] == "drug_precursor"

    manifest = manifest_of(out)
    assert manifest["rows"] == 23 and manifest["errors"] == 2
    assert manifest["flagged"] == flagged.height
    assert manifest["errors_by_kind"] == {"invalid_hs_code": 1, "missing_title": 1}
    assert sum(manifest["by_severity"].values()) == 23
    assert manifest["by_severity"]["error"] == 2
    assert manifest["by_severity"]["critical"] == valid.filter(pl.col("severity") == "critical").height
    assert manifest["model"] == "fake-hashing-v1-d256"
    assert manifest["input"]["sha256"] == hashlib.sha256(DEMO.read_bytes()).hexdigest()
    assert manifest["input"]["format"] == "jsonl"
    assert manifest["output"] == {"path": str(out), "format": ext}
    assert manifest["timings"]["seconds"] >= 0
    assert set(manifest["cache"]) == {"texts_embedded", "cache_hits", "verdicts_reused", "search_results_reused"}
    assert all(isinstance(v, int) and v >= 0 for v in manifest["cache"].values())
    assert manifest["chunks"] == {"rows_per_chunk": 20_000, "written_now": 1, "resumed": 0}
    assert not (tmp_path / f"results.{ext}.parts").exists()

    report = out.with_name(out.name + ".report.html").read_text(encoding="utf-8")
    assert "<svg" in report
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", report, re.I)
    assert "<script" not in report.lower() and "<link" not in report.lower()
    assert "D-0014" in report  # a critical shipment is listed
    assert "D-0022" in report  # and so is an invalid row
    assert "<h2>Invalid rows</h2>\n<p>2 of 2 shown; the full list is in the results file" in report


def test_formats_agree(tmp_path: Path) -> None:
    frames = {}
    for ext in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"r.{ext}"
        assert batch(str(DEMO), "-o", str(out), "--no-report").exit_code == 1
        frames[ext] = read_output(out)
    pq, js, cs = frames["parquet"], frames["jsonl"], frames["csv"]
    assert_frame_equal(pq, js, check_dtypes=False)
    # CSV has no lists and no types: lists are joined, the rest is text
    assert cs["severity"].to_list() == pq["severity"].to_list()
    assert cs["error"].to_list() == pq["error"].to_list()
    assert cs["mismatch"].to_list() == [None if v is None else str(v).lower() for v in pq["mismatch"]]
    assert [None if v is None else float(v) for v in cs["mismatch_score"]] == pq["mismatch_score"].to_list()
    assert cs["listing_hs6_top"].to_list() == [None if v is None else " ".join(v) for v in pq["listing_hs6_top"]]
    assert cs["reasons"].to_list() == [None if v is None else " | ".join(v) for v in pq["reasons"]]


def test_no_report_and_nothing_flagged_exits_0(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [r for r in demo_rows() if r["shipment_id"] == "D-0001"])
    out = tmp_path / "out.parquet"
    result = batch(str(src), "-o", str(out), "--no-report")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("1 rows checked, 0 flagged, 0 invalid")
    assert "report:" not in result.stdout
    assert not (tmp_path / "out.parquet.report.html").exists()
    assert (tmp_path / "out.parquet.manifest.json").exists()
    assert read_output(out)["mismatch"].to_list() == [False]


# -- never overwrite by accident --------------------------------------------------------------
def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    result = batch(str(DEMO), "-o", str(out))
    assert result.exit_code == 4
    assert result.stderr.splitlines() == [f"Error: {out} already exists", "Hint: pass --overwrite to replace it"]
    assert out.read_text() == "precious\n"
    assert not (tmp_path / "out.csv.parts").exists()
    result = batch(str(DEMO), "-o", str(out), "--overwrite")
    assert result.exit_code == 1
    assert read_output(out).height == 23


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_output_equal_to_input_is_refused(tmp_path: Path, overwrite: list[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(DEMO.read_bytes())
    for out in (src, tmp_path / "." / "in.jsonl"):
        result = batch(str(src), "-o", str(out), *overwrite)
        assert result.exit_code == 4
        assert "output would overwrite the input" in result.stderr
        assert src.read_bytes() == DEMO.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_output_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    result = batch(str(DEMO), "-o", str(tmp_path / "afile" / "out.csv"))
    assert result.exit_code == 4, result.stderr
    assert result.stderr.startswith("Error: cannot write ")
    assert "Traceback" not in result.stderr


def test_unknown_output_type_fails_before_any_work(tmp_path: Path) -> None:
    result = batch(str(DEMO), "-o", str(tmp_path / "out.xlsx"))
    assert result.exit_code not in (0, 1)
    assert "unknown file type '.xlsx'" in result.stderr
    assert list(tmp_path.iterdir()) == []


# -- row-level rules ------------------------------------------------------------------------
def _row(sid: str | None, title: str, desc: str | None = "Wireless earphones", code: str | None = "8518.30") -> dict:
    return {"shipment_id": sid, "listing_title": title, "listing_category": "Electronics > Earphones",
            "listing_attributes": None, "declared_description": desc, "declared_hs_code": code}


@pytest.mark.parametrize("chunk_rows", ["1", "2", "100"])
def test_duplicate_shipment_ids(tmp_path: Path, chunk_rows: str) -> None:
    rows = [_row("A", "TWS Bluetooth earbuds"), _row("B", "Silver hoop earrings", "Silver jewellery", "7113.11"),
            _row("A", "Stainless steel water bottle"), _row(None, "Cotton t-shirt", "T-shirt", "6109.10"),
            _row(None, "Cotton t-shirt", "T-shirt", "6109.10"), _row("A", "TWS Bluetooth earbuds")]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.parquet"
    batch(str(src), "-o", str(out), "--chunk-rows", chunk_rows)
    frame = read_output(out)
    assert frame["shipment_id"].to_list() == ["A", "B", "A", None, None, "A"]
    assert frame["error_kind"].to_list() == [None, None, "duplicate_shipment_id", None, None,
                                             "duplicate_shipment_id"]
    assert "'A' appears more than once" in frame["error"][2]
    assert frame["mismatch"][2] is None and frame["mismatch"][0] is not None
    # rows without an id are never duplicates of each other
    assert frame["error"][3] is None and frame["error"][4] is None
    assert manifest_of(out)["errors_by_kind"] == {"duplicate_shipment_id": 2}


def test_same_goods_different_ids_share_the_verdict(tmp_path: Path) -> None:
    rows = [_row("X1", "Stainless steel water bottle", "Electronic integrated circuits", "8542.31"),
            _row("Y", "TWS Bluetooth earbuds"),
            _row("X2", "Stainless steel water bottle", "Electronic integrated circuits", "8542.31"),
            _row("X3", "Stainless steel water bottle", "Electronic integrated circuits", "8542.31")]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    for chunk_rows in ("1", "3"):
        out = tmp_path / f"out{chunk_rows}.parquet"
        assert batch(str(src), "-o", str(out), "--chunk-rows", chunk_rows).exit_code == 1
        frame = read_output(out)
        verdicts = frame.select(RESULT_COLUMNS).to_dicts()
        assert verdicts[0] == verdicts[2] == verdicts[3]
        assert verdicts[0] != verdicts[1]
        assert verdicts[0]["mismatch"] is True


def _count_check_batches(checker: Checker, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make ``checker.check_rows`` (the batch's way in) record how many rows each call
    checks; returns the record."""
    sizes: list[int] = []
    real = checker.check_rows

    def counting(items):
        items = list(items)
        sizes.append(len(items))
        return real(items)

    monkeypatch.setattr(checker, "check_rows", counting)
    return sizes


def test_check_frame_checks_each_distinct_row_once(fake_checker: Checker, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pl.DataFrame([_row(str(i), "Stainless steel water bottle") for i in range(50)]
                         + [_row("other", "TWS Bluetooth earbuds")])
    seen = _count_check_batches(fake_checker, monkeypatch)
    out = check_frame(fake_checker, frame)
    assert seen == [2]
    assert out.height == 51
    assert out["shipment_id"].to_list() == [*map(str, range(50)), "other"]


def test_check_frame_takes_a_lazy_frame(fake_checker: Checker) -> None:
    frame = pl.DataFrame([_row("a", "Stainless steel water bottle"), _row("b", "TWS Bluetooth earbuds")])
    assert check_frame(fake_checker, frame.lazy()).equals(check_frame(fake_checker, frame))
    assert fake_checker.check_frame(frame.lazy()).equals(check_frame(fake_checker, frame))


def test_verdict_cache_reuses_rows_across_chunks(fake_checker: Checker, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [pl.DataFrame([_row(f"{c}-{i}", title) for i, title in enumerate(titles)])
              for c, titles in enumerate([["water bottle", "TWS earbuds"], ["TWS earbuds", "leather wallet"],
                                          ["water bottle", "leather wallet", "TWS earbuds"]])]
    plain = [check_frame(fake_checker, chunk) for chunk in chunks]
    checked = _count_check_batches(fake_checker, monkeypatch)
    verdicts = VerdictCache(size=2)
    cached = [check_frame(fake_checker, chunk, verdicts=verdicts) for chunk in chunks]
    for a, b in zip(plain, cached, strict=True):
        assert_frame_equal(a, b)
    # Chunk 2 re-uses the earbuds; chunk 3 finds the wallet and earbuds (the two most
    # recent) but not the bottle, which the size-2 cache let go.
    assert checked == [2, 1, 1]
    assert verdicts.hits == 3
    assert len(verdicts) == 2


def test_run_batch_counts_reused_verdicts(fake_checker: Checker, tmp_path: Path) -> None:
    rows = [_row(f"S{i}", ["water bottle", "TWS earbuds"][i % 2]) for i in range(10)]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    summary = run_batch(fake_checker, inp, tmp_path / "out.parquet", BatchOptions(chunk_rows=2, report=False),
                        notify=lambda _m: None)
    # Five chunks of the same two rows: checked in the first, re-used in the other four.
    assert summary.manifest["cache"]["verdicts_reused"] == 8


@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
def test_chunking_does_not_change_the_output(tmp_path: Path, ext: str) -> None:
    one = tmp_path / f"one.{ext}"
    many = tmp_path / f"many.{ext}"
    assert batch(str(DEMO), "-o", str(one)).exit_code == 1
    assert batch(str(DEMO), "-o", str(many), "--chunk-rows", "2").exit_code == 1
    assert one.read_bytes() == many.read_bytes()
    assert manifest_of(many)["chunks"] == {"rows_per_chunk": 2, "written_now": 12, "resumed": 0}
    assert_frame_equal(read_output(one), read_output(many))


def test_parquet_output_row_groups_are_bounded(fake_checker: Checker, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    import customs_check.batch as batch_module

    # The writer holds a row group decoded: its size bounds what the final write adds to
    # a run's peak memory, whatever the chunk size.
    monkeypatch.setattr(batch_module, "_OUTPUT_ROW_GROUP", 5)
    out = tmp_path / "out.parquet"
    run_batch(fake_checker, DEMO, out, BatchOptions(chunk_rows=20), notify=lambda _m: None)
    meta = pq.ParquetFile(out).metadata
    assert meta.num_rows == 23
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [5, 5, 5, 5, 3]


# -- the error-rate stop ----------------------------------------------------------------------
def _half_invalid(n: int) -> list[dict]:
    return [_row(f"S{i}", "" if i % 2 else "TWS Bluetooth earbuds") for i in range(n)]


def test_max_error_rate_library(fake_checker: Checker, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", _half_invalid(10))
    out = tmp_path / "out.parquet"
    opts = BatchOptions(chunk_rows=2, max_error_rate=0.1, min_rows_for_error_rate=1)
    with pytest.raises(ErrorRateExceededError) as info:
        run_batch(fake_checker, src, out, opts, notify=lambda _m: None)
    assert info.value.exit_code == 6
    assert "1 of 2 rows (50.0%) are invalid" in info.value.message
    assert "out.parquet.parts" in (info.value.hint or "")
    assert not out.exists()
    # the rows checked so far are kept for inspection
    assert len(list((tmp_path / "out.parquet.parts").glob("part-*.parquet"))) == 1

    summary = run_batch(fake_checker, src, out, BatchOptions(chunk_rows=2, max_error_rate=0.5,
                                                             min_rows_for_error_rate=1, overwrite=True),
                        notify=lambda _m: None)
    assert (summary.rows, summary.errors) == (10, 5)


@pytest.mark.parametrize("n_rows", [10, 2])  # 2: the run stopped on its last chunk, nothing is left to do
def test_a_rerun_of_a_run_stopped_for_its_error_rate_stops_again(fake_checker: Checker, tmp_path: Path,
                                                                n_rows: int) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", _half_invalid(n_rows))
    out = tmp_path / "out.parquet"
    opts = BatchOptions(chunk_rows=2, max_error_rate=0.1, min_rows_for_error_rate=1)
    for _ in range(2):
        with pytest.raises(ErrorRateExceededError, match=r"1 of 2 rows \(50.0%\) are invalid"):
            run_batch(fake_checker, src, out, opts, notify=lambda _m: None)
        assert not out.exists()


def test_max_error_rate_waits_for_enough_rows(fake_checker: Checker, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", _half_invalid(10))
    summary = run_batch(fake_checker, src, tmp_path / "out.parquet",
                        BatchOptions(chunk_rows=2, max_error_rate=0.1), notify=lambda _m: None)
    assert (summary.rows, summary.errors) == (10, 5)


@pytest.mark.parametrize(("kwargs", "fragment"), [({"chunk_rows": 0}, "chunk_rows"),
                                                  ({"max_error_rate": 1.5}, "max_error_rate")])
def test_batch_options_are_checked(fake_checker: Checker, tmp_path: Path, kwargs: dict, fragment: str) -> None:
    with pytest.raises(Exception, match=fragment) as info:
        run_batch(fake_checker, DEMO, tmp_path / "out.parquet", BatchOptions(**kwargs))
    assert info.value.exit_code == 2  # type: ignore[attr-defined]


def test_max_error_rate_cli(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", _half_invalid(1200))
    out = tmp_path / "out.csv"
    result = batch(str(src), "-o", str(out), "--max-error-rate", "0.1", "--chunk-rows", "500")
    assert result.exit_code == 6, result.stdout
    lines = result.stderr.splitlines()
    assert lines[0] == "Error: 500 of 1000 rows (50.0%) are invalid, more than --max-error-rate 10.0%; stopped"
    assert lines[1].startswith("Hint: the rows checked so far are kept in ")
    assert not out.exists()
    assert batch(str(src), "-o", str(out), "--max-error-rate", "1.5").exit_code == 2
    # a lenient rate finishes the same run, resuming the two chunks already done
    result = batch(str(src), "-o", str(out), "--max-error-rate", "0.5", "--chunk-rows", "500")
    assert result.exit_code == 0, result.stderr
    assert "resuming: 2 chunk(s) already done" in result.stderr
    assert result.stdout.startswith("1,200 rows checked, 0 flagged, 600 invalid")
    assert "invalid rows by kind: missing_title 600" in result.stdout


# -- library-level input errors -------------------------------------------------------------
def test_run_batch_raises_typed_errors(fake_checker: Checker, tmp_path: Path) -> None:
    with pytest.raises(InputFileError):
        run_batch(fake_checker, tmp_path / "missing.csv", tmp_path / "out.csv")
    src = tmp_path / "in.csv"
    src.write_text("title\nx\n")
    with pytest.raises(InputFileError, match="missing required column"):
        run_batch(fake_checker, src, tmp_path / "out.csv")
    with pytest.raises(OutputError):
        run_batch(fake_checker, src, src)


def test_result_rows_become_the_frame_polars_builds(fake_checker: Checker, shipments_rows: list[dict]) -> None:
    # The flat Arrow build of list columns (offsets + items, a mask for missing lists)
    # against polars' own row-by-row construction: nulls stay nulls, empty lists empty.
    rows = fake_checker.check_rows([*shipments_rows, {"listing_title": "TDP-5 tablet press",
                                                      "declared_description": "hydraulic press",
                                                      "declared_hs_code": "8479.89"}])
    assert any(r["error"] for r in rows) and any(r["watchlist_evidence"] for r in rows)
    assert any(r["watchlist_evidence"] == [] for r in rows) and any(r["reasons"] is None for r in rows)
    assert_frame_equal(_rows_frame(rows), pl.DataFrame(rows, schema=RESULT_SCHEMA))
    assert_frame_equal(_rows_frame(rows[::-1]), pl.DataFrame(rows[::-1], schema=RESULT_SCHEMA))
    assert_frame_equal(_rows_frame([]), pl.DataFrame(schema=RESULT_SCHEMA))


def test_a_run_restores_the_collector_settings(fake_checker: Checker, shipments_rows: list[dict],
                                               tmp_path: Path) -> None:
    import gc

    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    run_batch(fake_checker, write_jsonl(tmp_path / "in.jsonl", shipments_rows), tmp_path / "out.parquet",
              BatchOptions(report=False), progress=lambda *_a: seen.append(gc.get_threshold()),
              notify=lambda _m: None)
    assert seen and all(t[0] > before[0] for t in seen)  # tuned while the run checks
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


# Ids from a small alphabet, in many small calls: repeats within a call, across calls and
# across merged runs all happen.
class _CollidingSeenIds(SeenIds):
    """First halves from a 3-valued hash: ids that share one are common, as real
    64-bit collisions never are, so the full comparison behind them is exercised."""

    @staticmethod
    def _digests(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        _, lo = SeenIds._digests(ids)
        return np.array([len(i) % 3 for i in ids], dtype=np.uint64), lo


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="ab\u00e9\x00", max_size=3), max_size=12), max_size=30),
       st.sampled_from([SeenIds, _CollidingSeenIds]))
def test_seen_ids_agrees_with_a_set(calls: list[list[str]], kind: type[SeenIds]) -> None:
    seen, model = kind(), set()
    for ids in calls:
        expected = []
        for sid in ids:
            expected.append(sid in model)
            model.add(sid)
        assert seen.mark_repeats(ids) == expected
    assert len(seen) == len(model)
    assert all(sid in seen for sid in model)
    assert "never-met" not in seen


def test_seen_ids_keeps_16_bytes_an_id_in_few_runs() -> None:
    seen = SeenIds()
    for start in range(0, 100_000, 1000):
        assert not any(seen.mark_repeats([f"S{i}" for i in range(start, start + 1000)]))
    assert seen.mark_repeats(["S0", "S99999", "new"]) == [True, True, False]
    assert len(seen) == 100_001
    assert seen.nbytes == 16 * 100_001
    assert len(seen._runs) <= 8  # merged as it grows: a lookup searches few runs
    assert "S5" in seen and "S100000" not in seen
    assert len(seen) == 100_001  # membership tests add nothing
