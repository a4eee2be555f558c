"""Resuming a batch run: after a crash inside a chunk, after a crash between the final
write and the report, after a real ``kill -9`` of the console script at random points,
and the refusal to mix in a checkpoint folder left by another input."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import write_jsonl
from polars.testing import assert_frame_equal

import customs_check.batch as batch_module
import customs_check.report as report_module
from customs_check.batch import BatchOptions, run_batch
from customs_check.checker import Checker
from customs_check.cli import cli

WORDS = ("wireless bluetooth earbuds stainless steel water bottle cotton t-shirt silver hoop earrings "
         "hydraulic press linear guide rail tablet pill capsule filling machine charger usb kids toy blocks "
         "wooden cutting board bamboo led lamp phone case leather wallet running shoes mesh wig lace").split()
DECLARED = [("Wireless earphones", "8518.30"), ("Cotton t-shirts", "6109.10"), ("PARTS", None),
            ("Electronic integrated circuits", "8542.31"), (None, "9503.00"), ("Hydraulic press", "8479.89"),
            ("Bamboo board", "4419.AB"), ("Silver jewellery", "7113.11")]


def make_rows(n: int, seed: int) -> list[dict]:
    """Shipments with repeated goods, empty titles, bad codes and duplicate ids."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        desc, code = DECLARED[rng.randrange(len(DECLARED))]
        title = " ".join(rng.sample(WORDS, rng.randint(2, 6))) if rng.random() > 0.03 else ""
        sid = f"S{i:05d}" if rng.random() > 0.02 else f"S{rng.randrange(max(i, 1)):05d}"
        rows.append({"shipment_id": sid, "listing_title": title, "listing_category": None,
                     "listing_attributes": None, "declared_description": desc, "declared_hs_code": code})
    return rows


def read(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".jsonl":
        return pl.read_ndjson(path)
    return pl.read_csv(path, infer_schema=False)


QUIET = {"notify": lambda _m: None}


# -- (a) a crash inside a chunk, library level ----------------------------------------------
@pytest.mark.parametrize(("ext", "crash_at"), [("parquet", 0), ("parquet", 4), ("csv", 3), ("jsonl", 8)])
def test_resume_after_a_crash_in_a_chunk(fake_checker: Checker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         ext: str, crash_at: int) -> None:
    rows = make_rows(60, seed=1)
    rows[41]["shipment_id"] = rows[2]["shipment_id"]  # a duplicate whose first copy is in a resumed chunk
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    opts = BatchOptions(chunk_rows=7)
    baseline = tmp_path / f"baseline.{ext}"
    run_batch(fake_checker, src, baseline, opts, **QUIET)

    out = tmp_path / f"out.{ext}"
    calls = 0
    real = batch_module.check_frame

    def crashing(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == crash_at + 1:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_module, "check_frame", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_batch(fake_checker, src, out, opts, **QUIET)
    monkeypatch.setattr(batch_module, "check_frame", real)
    parts = tmp_path / f"out.{ext}.parts"
    assert not out.exists()
    assert len(list(parts.glob("part-*.parquet"))) == crash_at
    assert (parts / "state.json").exists()

    messages: list[str] = []
    summary = run_batch(fake_checker, src, out, opts, notify=messages.append)
    assert summary.resumed_chunks == crash_at
    assert summary.manifest["chunks"] == {"rows_per_chunk": 7, "written_now": 9 - crash_at, "resumed": crash_at}
    if crash_at:
        assert messages == [f"customs-check: resuming: {crash_at} chunk(s) already done in {parts}"]
    assert_frame_equal(read(out), read(baseline))
    assert read(out)["error_kind"][41] == "duplicate_shipment_id"
    assert not parts.exists()
    base_manifest = json.loads((tmp_path / f"baseline.{ext}.manifest.json").read_text())
    for key in ("rows", "errors", "errors_by_kind", "flagged", "by_severity", "by_watchlist", "input"):
        assert summary.manifest[key] == base_manifest[key], key


def test_a_damaged_part_is_redone(fake_checker: Checker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(40, seed=2))
    opts = BatchOptions(chunk_rows=10)
    run_batch(fake_checker, src, tmp_path / "baseline.parquet", opts, **QUIET)

    real = batch_module.check_frame
    calls = 0

    def crashing(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_module, "check_frame", crashing)
    out = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        run_batch(fake_checker, src, out, opts, **QUIET)
    monkeypatch.setattr(batch_module, "check_frame", real)
    parts = tmp_path / "out.parquet.parts"
    # a kill in the middle of writing: half a part, a part without its meta, a stray temp file
    part1 = parts / "part-000001.parquet"
    part1.write_bytes(part1.read_bytes()[: part1.stat().st_size // 2])
    (parts / "part-000002.json").unlink()
    (parts / ".part-000003.parquet.123.deadbeef.tmp").write_bytes(b"PAR1 half")

    summary = run_batch(fake_checker, src, out, opts, **QUIET)
    assert summary.resumed_chunks == 1  # only part 0 was intact
    assert_frame_equal(read(out), read(tmp_path / "baseline.parquet"))


def test_resume_after_a_crash_between_output_and_report(fake_checker: Checker, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after the results file was written but before its manifest, report and the
    removal of the checkpoints: the same command finishes the run instead of refusing
    because the output exists."""
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(30, seed=3))
    opts = BatchOptions(chunk_rows=8)
    run_batch(fake_checker, src, tmp_path / "baseline.csv", opts, **QUIET)
    out = tmp_path / "out.csv"

    def crash(*_a, **_k) -> None:
        raise KeyboardInterrupt

    real = report_module.write_report
    monkeypatch.setattr(report_module, "write_report", crash)
    with pytest.raises(KeyboardInterrupt):
        run_batch(fake_checker, src, out, opts, **QUIET)
    monkeypatch.setattr(report_module, "write_report", real)
    assert out.exists() and (tmp_path / "out.csv.parts").exists()
    assert not (tmp_path / "out.csv.report.html").exists()

    summary = run_batch(fake_checker, src, out, opts, **QUIET)
    assert summary.resumed_chunks == 4
    assert out.read_bytes() == (tmp_path / "baseline.csv").read_bytes()
    assert (tmp_path / "out.csv.report.html").exists()
    assert not (tmp_path / "out.csv.parts").exists()
    # finished now: a third run refuses to overwrite
    with pytest.raises(Exception, match="already exists"):
        run_batch(fake_checker, src, out, opts, **QUIET)


# -- (b) kill -9 of the real console script ------------------------------------------------
@pytest.fixture(scope="module")
def frozen_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the installed package (code and HS data) for the subprocesses: the
    HS texts may be edited while the tests run, and an index that changes between the
    baseline and the resumed runs would make their results differ (or, by design, stop
    the resume with exit 4)."""
    import customs_check.embeddings
    import customs_check.hs_codes

    import customs_check

    root = tmp_path_factory.mktemp("frozen")
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(Path(customs_check.__file__).parent, root / "customs_check", ignore=skip)
    for sub in (customs_check.embeddings, customs_check.hs_codes):
        shutil.copytree(Path(sub.__file__).parent, root / "customs_check" / sub.__name__.split(".")[-1],
                        ignore=skip, dirs_exist_ok=True)
    return root


def _cli_command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "customs_check.cli", "--model", "fake", "-q", "batch", str(src), "-o", str(out),
            "--chunk-rows", "50"]


def _parts_written(parts: Path) -> int:
    return len(list(parts.glob("part-*.json"))) if parts.exists() else 0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_kill_9_at_random_points_then_resume(tmp_path: Path, frozen_package: Path) -> None:
    rows = make_rows(2000, seed=4)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    env = {**os.environ, "PYTHONPATH": str(frozen_package)}
    where = subprocess.run([sys.executable, "-c", "import customs_check.hs_codes as m; print(m.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(frozen_package))

    baseline = tmp_path / "baseline.parquet"
    done = subprocess.run(_cli_command(src, baseline), env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stderr  # some shipments are flagged

    out = tmp_path / "out.parquet"
    parts = tmp_path / "out.parquet.parts"
    rng = random.Random(5)
    # Kill points: after a random number of new chunks (each run must add at least one),
    # plus a short random delay; the fifth waits for all 40 chunks, so that it lands in the
    # final phase (results file, manifest, report, removing the checkpoints) or just after.
    kill_points: list[int] = []
    finished_alone = False
    for k in range(5):
        before = _parts_written(parts)
        target = 40 if k == 4 else min(before + rng.randint(1, 8), 39)
        proc = subprocess.Popen(_cli_command(src, out), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while _parts_written(parts) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.05 if k == 4 else 0.15))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kill_points.append(_parts_written(parts))
        finally:
            proc.wait(timeout=60)
        if proc.returncode != -signal.SIGKILL:
            assert proc.returncode == 1, proc.returncode
            finished_alone = True  # it finished before the kill
            break
        # killed: the checkpoints are still there, whatever was written
        assert parts.exists()
    print(f"killed {len(kill_points)} times, after chunks {kill_points} of 40")
    assert len(kill_points) >= 4, "the run finished too early to be killed"

    final = subprocess.run(_cli_command(src, out), env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    if finished_alone:
        assert final.returncode == 4  # done already: a rerun refuses to overwrite
    else:
        assert final.returncode == 1, final.stderr
    assert not parts.exists()
    result, expected = pl.read_parquet(out), pl.read_parquet(baseline)
    assert_frame_equal(result, expected)
    assert result["shipment_id"].to_list() == [r["shipment_id"] for r in rows]
    assert result["listing_title"].to_list() == [r["listing_title"] for r in rows]
    manifest = json.loads((tmp_path / "out.parquet.manifest.json").read_text())
    assert manifest["rows"] == 2000
    assert manifest["chunks"]["resumed"] + manifest["chunks"]["written_now"] == 40
    assert manifest["chunks"]["resumed"] >= len(kill_points)  # every killed run had finished a chunk
    assert (tmp_path / "out.parquet.report.html").exists()


# -- (c) a checkpoint folder of another run --------------------------------------------------
def _crashed_run(checker: Checker, src: Path, out: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int) -> None:
    real = batch_module.check_frame
    calls = 0

    def crashing(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_module, "check_frame", crashing)
    with pytest.raises(RuntimeError):
        run_batch(checker, src, out, BatchOptions(chunk_rows=chunk_rows), **QUIET)
    monkeypatch.setattr(batch_module, "check_frame", real)


def test_stale_parts_of_another_input(fake_checker: Checker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", make_rows(20, seed=6))
    second = write_jsonl(tmp_path / "second.jsonl", make_rows(12, seed=7))
    out = tmp_path / "out.parquet"
    _crashed_run(fake_checker, first, out, monkeypatch, chunk_rows=5)
    parts = tmp_path / "out.parquet.parts"
    assert (parts / "part-000000.parquet").exists()

    runner = CliRunner()
    result = runner.invoke(cli, ["--model", "fake", "batch", str(second), "-o", str(out), "--chunk-rows", "5"],
                           catch_exceptions=False)
    assert result.exit_code == 4
    assert result.stderr.splitlines()[-2:] == [
        f"Error: {parts} holds an unfinished run with other input or settings",
        "Hint: rerun that exact command to finish it, or pass --overwrite to discard it",
    ]
    assert (parts / "part-000000.parquet").exists()  # left alone

    # the same input with other settings is refused too
    result = runner.invoke(cli, ["--model", "fake", "batch", str(first), "-o", str(out), "--chunk-rows", "4"],
                           catch_exceptions=False)
    assert result.exit_code == 4

    result = runner.invoke(cli, ["--model", "fake", "batch", str(second), "-o", str(out), "--chunk-rows", "5",
                                 "--overwrite"], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.stderr
    assert "resuming" not in result.stderr
    frame = pl.read_parquet(out)
    assert frame["shipment_id"].to_list() == [r["shipment_id"] for r in make_rows(12, seed=7)]
    manifest = json.loads((tmp_path / "out.parquet.manifest.json").read_text())
    assert manifest["chunks"]["resumed"] == 0
    assert not parts.exists()


def test_unreadable_state_is_stale(fake_checker: Checker, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(5, seed=8))
    out = tmp_path / "out.parquet"
    parts = tmp_path / "out.parquet.parts"
    parts.mkdir()
    (parts / "state.json").write_text("{not json")
    with pytest.raises(Exception, match="unfinished run") as info:
        run_batch(fake_checker, src, out, **QUIET)
    assert info.value.exit_code == 4  # type: ignore[attr-defined]
    summary = run_batch(fake_checker, src, out, BatchOptions(overwrite=True), **QUIET)
    assert summary.rows == 5 and summary.resumed_chunks == 0


def test_input_changed_since_the_crash(fake_checker: Checker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = make_rows(20, seed=9)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.parquet"
    _crashed_run(fake_checker, src, out, monkeypatch, chunk_rows=5)
    rows[0]["listing_title"] = "edited after the crash"
    write_jsonl(src, rows)
    with pytest.raises(Exception, match="unfinished run with other input") as info:
        run_batch(fake_checker, src, out, BatchOptions(chunk_rows=5), **QUIET)
    assert info.value.exit_code == 4  # type: ignore[attr-defined]
