"""``batch --engine ray``: the same rows, verdicts and errors as the local engine, row by row;
nothing lost or duplicated when an actor dies mid-task; the persistent embedding cache
paying off across runs; and the CLI without Ray installed.

Every Ray run happens in one subprocess (``python tests/test_ray_engine.py WORKDIR``) on
one local Ray (``num_cpus=2``), under a hard timeout that kills its whole process group:
an actor pool that cannot be scheduled hangs without an error, and CI must not hang with
it. Starting Ray costs ~10 s; the whole file takes about a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pytest

DEMO = Path(str(resources.files("customs_check") / "demo" / "shipments.jsonl"))
RAY_TIMEOUT_S = 240
BROKEN_LINES = (50, 133)


# -- the input ------------------------------------------------------------------------------
def _rows() -> list[dict[str, Any]]:
    """200 shipments from the demo file: repeated goods, repeated ids (within a chunk and
    across chunks and files), missing ids, invalid titles and codes."""
    demo = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = []
    for i in range(200):
        r = dict(demo[i % len(demo)])
        r["shipment_id"] = f"R{i:04d}" if i % 17 else f"R{i // 2:04d}"
        rows.append(r)
    rows[101]["shipment_id"] = rows[100]["shipment_id"]
    rows[180]["shipment_id"] = rows[3]["shipment_id"]
    rows[60]["shipment_id"] = rows[61]["shipment_id"] = None
    rows[30]["listing_title"] = ""
    rows[90]["declared_hs_code"] = "12.AB"
    for r in rows[70:140]:
        r["listing_attributes"] = None  # the Parquet part holding these rows has no such column
    return rows


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    cols = list(rows[0])
    return pl.DataFrame({c: [r.get(c) for r in rows] for c in cols}, schema=dict.fromkeys(cols, pl.String))


def _write_inputs(work: Path) -> None:
    rows = _rows()
    lines = [json.dumps(r) for r in rows]
    for i in BROKEN_LINES:
        lines[i] = '{"shipment_id": "broken", "listing_title": '  # unparsable: an error row, not a lost row
    (work / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole = _frame(rows)
    whole.write_parquet(work / "single.parquet")
    parts = work / "parts"
    parts.mkdir()
    # Small row groups, so chunks start and end inside them; one part lacks a column.
    whole.slice(0, 70).write_parquet(parts / "part-a.parquet", row_group_size=16)
    whole.slice(70, 70).drop("listing_attributes").write_parquet(parts / "part-b.parquet")
    whole.slice(140).write_parquet(parts / "part-c.parquet", row_group_size=32)


# -- the Ray side (runs in the subprocess) --------------------------------------------------
def _ray_main(work: Path) -> None:
    import ray

    from customs_check.checker import Checker
    from customs_check.cli import main as cli_main
    from customs_check.errors import CustomsCheckError, ErrorRateExceededError
    from customs_check.ray_engine import INJECT_FAILURE_ENV, run_batch_ray

    home = work / "home"
    timings: dict[str, float] = {}
    t = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    timings["ray_init"] = time.perf_counter() - t

    # 1. Through the CLI, JSON Lines in, 2 actors, cold cache.
    t = time.perf_counter()
    try:
        cli_main(["--model", "fake", "--home", str(home), "batch", str(work / "in.jsonl"), "-o",
                  str(work / "ray_jsonl"), "--engine", "ray", "--num-actors", "2", "--chunk-rows", "40"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    timings["jsonl_cli"] = time.perf_counter() - t

    # 2. A folder of Parquet parts, 1 actor: the same texts again, so a warm cache.
    t = time.perf_counter()
    run_batch_ray(work / "parts", work / "ray_folder", model="fake", home=home, num_actors=1, chunk_rows=50,
                  notify=lambda _m: None)
    timings["folder_warm"] = time.perf_counter() - t

    # 3. A glob, 2 actors, and the first actor to finish a chunk dies right after writing it.
    os.environ[INJECT_FAILURE_ENV] = str(work / "crashed.flag")
    t = time.perf_counter()
    run_batch_ray(str(work / "parts" / "part-*.parquet"), work / "ray_crash", model="fake", home=home,
                  num_actors=2, chunk_rows=25, cache=False, report=False, notify=lambda _m: None)
    timings["crash"] = time.perf_counter() - t
    del os.environ[INJECT_FAILURE_ENV]

    # 4. Stopped early (the error-rate limit after the first chunk), then resumed.
    t = time.perf_counter()
    common = {"model": "fake", "home": home, "num_actors": 1, "chunk_rows": 50, "notify": lambda _m: None}
    try:
        run_batch_ray(work / "single.parquet", work / "ray_resume", max_error_rate=0.0, min_rows_for_error_rate=1,
                      **common)
        stopped = ""
    except ErrorRateExceededError as exc:
        stopped = exc.message
    run_batch_ray(work / "single.parquet", work / "ray_resume", **common)
    timings["stop_and_resume"] = time.perf_counter() - t

    # 5. An actor that cannot load what the driver loaded (another model on its node): the
    #    driver gets the actor's ModelLoadError itself, with its hint and exit code.
    t = time.perf_counter()
    driver = Checker.open("fake", home=home, notify=lambda _m: None)
    driver.embedder.model_id = "the-driver's-model"
    try:
        run_batch_ray(work / "single.parquet", work / "ray_mismatch", model="fake", home=home, checker=driver,
                      num_actors=1, notify=lambda _m: None)
        mismatch: dict[str, Any] = {}
    except CustomsCheckError as exc:
        mismatch = {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint, "exit": exc.exit_code}
    timings["mismatch"] = time.perf_counter() - t
    ray.shutdown()
    (work / "ray_result.json").write_text(json.dumps({"cli_exit": code, "stopped": stopped, "mismatch": mismatch,
                                                      "timings": timings}))


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, session_home: Path, fake_checker: Any) -> Path:
    """The inputs and the local engine's outputs (the reference)."""
    from customs_check.batch import BatchOptions, run_batch

    work = tmp_path_factory.mktemp("ray")
    _write_inputs(work)
    quiet = {"notify": lambda _m: None}
    run_batch(fake_checker, work / "in.jsonl", work / "local_jsonl.parquet", BatchOptions(chunk_rows=64), **quiet)
    run_batch(fake_checker, work / "single.parquet", work / "local_parquet.parquet", BatchOptions(chunk_rows=64),
              **quiet)
    # A fresh home (empty embedding cache) that shares the session's HS index for the fake model.
    home = work / "home"
    home.mkdir()
    (home / "index").symlink_to(session_home / "index", target_is_directory=True)
    return work


@pytest.fixture(scope="module")
def ray_runs(work: Path) -> dict[str, Any]:
    pytest.importorskip("ray")
    env = {**os.environ, "CUSTOMS_CHECK_HOME": str(work / "home"), "RAY_DEDUP_LOGS": "0"}
    proc = subprocess.Popen([sys.executable, __file__, str(work)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=RAY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the Ray runs took more than {RAY_TIMEOUT_S} s (a hung actor pool?):\n{out[-4000:]}")
    assert proc.returncode == 0, out[-6000:]
    result = json.loads((work / "ray_result.json").read_text())
    result["log"] = out
    return result


def _manifest(output: Path) -> dict[str, Any]:
    return json.loads(output.with_name(output.name + ".manifest.json").read_text())


def _assert_same_rows(ray_dir: Path, local_file: Path) -> None:
    from polars.testing import assert_frame_equal

    from customs_check.ray_engine import ROW_INDEX

    parts = sorted(ray_dir.glob("*.parquet"))
    assert parts and [p.name for p in ray_dir.iterdir()] and all(p.suffix == ".parquet" for p in ray_dir.iterdir())
    ray = pl.concat([pl.read_parquet(p) for p in parts])
    local = pl.read_parquet(local_file)
    # Every row exactly once, and the parts in name order are already in input order.
    assert ray[ROW_INDEX].to_list() == list(range(local.height))
    ray = ray.drop(ROW_INDEX)
    assert ray.columns == local.columns
    assert ray.schema == local.schema
    exact = [c for c in local.columns if c not in ("mismatch_score", "listing_hs6_scores")]
    assert_frame_equal(ray.select(exact), local.select(exact))
    assert (ray["mismatch_score"] - local["mismatch_score"]).abs().max() <= 1e-6
    assert_frame_equal(ray.select("listing_hs6_scores"), local.select("listing_hs6_scores"), check_exact=False,
                       rel_tol=0, abs_tol=1e-6)
    lm, rm = _manifest(local_file), _manifest(ray_dir)
    for key in ("rows", "errors", "errors_by_kind", "flagged", "by_severity", "by_watchlist", "model",
                "catalogue_version", "index"):
        assert rm[key] == lm[key], key


# -- the Ray runs ---------------------------------------------------------------------------
@pytest.mark.ray
def test_jsonl_through_the_cli_matches_the_local_engine(work: Path, ray_runs: dict[str, Any]) -> None:
    assert ray_runs["cli_exit"] == 1, ray_runs["log"][-3000:]  # the demo rows include mismatches
    _assert_same_rows(work / "ray_jsonl", work / "local_jsonl.parquet")
    local = pl.read_parquet(work / "local_jsonl.parquet")
    kinds = local["error_kind"].value_counts().rows()
    assert ("unparsable_row", len(BROKEN_LINES)) in kinds
    assert dict(kinds)["duplicate_shipment_id"] >= 3
    m = _manifest(work / "ray_jsonl")
    assert m["engine"]["actors"] == 2 and m["engine"]["retried_chunks"] == []
    assert m["chunks"]["written_now"] == 5
    assert "results:  " in ray_runs["log"] and (work / "ray_jsonl.report.html").stat().st_size > 1000
    assert not (work / "ray_jsonl.parts").exists()


@pytest.mark.ray
def test_parquet_folder_matches_the_local_engine(work: Path, ray_runs: dict[str, Any]) -> None:
    _assert_same_rows(work / "ray_folder", work / "local_parquet.parquet")
    m = _manifest(work / "ray_folder")
    assert m["input"]["files"] == 3
    assert m["engine"]["actors"] == 1 and m["engine"]["threads_per_actor"] >= 1


@pytest.mark.ray
def test_the_embedding_cache_pays_off_across_runs(work: Path, ray_runs: dict[str, Any]) -> None:
    """Run 1 starts from an empty cache; run 2 (other files, same texts, other actors) finds
    every text in the cache that the cache service serves from the driver's SQLite file."""
    cold = _manifest(work / "ray_jsonl")["cache"]
    warm = _manifest(work / "ray_folder")["cache"]
    print(f"cache hit rate: cold run {cold['hit_rate']:.1%} ({cold['texts_embedded']} texts embedded), "
          f"warm run {warm['hit_rate']:.1%} ({warm['texts_embedded']} embedded); timings {ray_runs['timings']}")
    assert cold["texts_embedded"] > 0 and cold["hit_rate"] < 1
    assert cold["service"]["stored"] == cold["texts_embedded"]
    assert warm["texts_embedded"] == 0 and warm["hit_rate"] == 1.0
    assert warm["service"]["hits"] > 0
    # One actor checks all four chunks of the demo rows repeated: later chunks re-use verdicts.
    assert warm["verdicts_reused"] > 0
    # Search results go through the same service: the second run searches no text again.
    assert warm["search_results_reused"] > 0
    assert warm["service"]["search_results_reused"] == warm["search_results_reused"]
    assert warm["service"]["search_results_stored"] == 0


@pytest.mark.ray
def test_an_actor_dying_mid_task_loses_and_duplicates_nothing(work: Path, ray_runs: dict[str, Any]) -> None:
    flag = (work / "crashed.flag").read_text().split()
    crashed_chunk = int(flag[0])
    m = _manifest(work / "ray_crash")
    # The chunk whose actor died after writing its part (before reporting it) ran again on
    # a restarted actor and rewrote the same part.
    assert m["engine"]["retried_chunks"] == [crashed_chunk]
    assert m["engine"]["actor_processes"] >= 2
    assert m["rows"] == 200 and m["chunks"]["written_now"] == 9
    _assert_same_rows(work / "ray_crash", work / "local_parquet.parquet")
    assert not (work / "ray_crash.report.html").exists()


@pytest.mark.ray
def test_a_stopped_run_resumes_from_its_parts(work: Path, ray_runs: dict[str, Any]) -> None:
    assert "more than --max-error-rate" in ray_runs["stopped"]
    m = _manifest(work / "ray_resume")
    assert m["chunks"]["resumed"] >= 1
    assert m["chunks"]["resumed"] + m["chunks"]["written_now"] == 4
    _assert_same_rows(work / "ray_resume", work / "local_parquet.parquet")


@pytest.mark.ray
def test_an_actor_error_reaches_the_driver_as_itself(work: Path, ray_runs: dict[str, Any]) -> None:
    m = ray_runs["mismatch"]
    assert m["type"] == "ModelLoadError" and m["exit"] == 5
    assert "the driver the-driver's-model" in m["message"] and m["hint"] == "install the same model files on every node"
    assert not (work / "ray_mismatch").exists()


# -- without Ray, and what needs no cluster -------------------------------------------------
def test_without_ray_the_cli_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from customs_check.cli import cli

    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = CliRunner().invoke(cli, ["--model", "fake", "batch", str(DEMO), "-o", str(tmp_path / "out"),
                                      "--engine", "ray"])
    assert result.exit_code == 2
    assert "pip install 'customs-check[ray]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_ray_options_need_engine_ray(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from customs_check.cli import cli

    result = CliRunner().invoke(cli, ["--model", "fake", "batch", str(DEMO), "-o", str(tmp_path / "o.csv"),
                                      "--num-actors", "2"])
    assert result.exit_code == 2
    assert "need --engine ray" in result.stderr


def test_help_does_not_import_ray() -> None:
    code = ("import sys; from customs_check.cli import main; import customs_check.ray_engine; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_inputs_resolve_in_name_order(tmp_path: Path) -> None:
    from customs_check.errors import InputFileError
    from customs_check.ray_engine import resolve_inputs

    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.parquet", "d/a.parquet", "d/sub/c.parquet", "d/_tmp.parquet", "d/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in resolve_inputs(tmp_path / "d")] == [
        "d/a.parquet", "d/b.parquet", "d/sub/c.parquet"]
    assert [p.name for p in resolve_inputs(str(tmp_path / "d" / "*.parquet"))] == [
        "_tmp.parquet", "a.parquet", "b.parquet"]
    with pytest.raises(InputFileError, match="no file matches"):
        resolve_inputs(str(tmp_path / "none-*.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match=r"no \.parquet files"):
        resolve_inputs(tmp_path / "empty")


def test_the_kubernetes_manifest_runs_a_valid_command() -> None:
    import shlex

    yaml = pytest.importorskip("yaml")
    from customs_check.cli import cli

    job = yaml.safe_load((Path(__file__).parents[1] / "deploy" / "k8s" / "rayjob.yaml").read_text())
    assert job["kind"] == "RayJob"
    args = shlex.split(job["spec"]["entrypoint"])
    assert args[0] == "customs-check"
    i = args.index("batch")
    ctx = cli.make_context("customs-check", args[1 : i + 1])  # parses, runs nothing
    batch = cli.get_command(ctx, "batch")
    assert batch is not None
    params = batch.make_context("batch", args[i + 1 :], parent=ctx).params
    assert params["engine"] == "ray" and params["address"] == "auto"
    assert job["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


@pytest.mark.parametrize("sliced", [False, True])
def test_duplicate_ids_are_found_before_any_actor_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       sliced: bool) -> None:
    """Each chunk is told which of its ids an earlier chunk had; check_frame does the rest."""
    from customs_check import ray_engine
    from customs_check.io import open_input

    if sliced:
        monkeypatch.setattr(ray_engine, "_SLICE_ROWS", 0)
    ids = [["A", "B", "A", None], ["C", "B", None, "D"], ["D", "E", "C", "A"]]
    for n, part in enumerate(ids):
        pl.DataFrame({"shipment_id": part, "listing_title": ["x"] * 4}).write_parquet(tmp_path / f"p{n}.parquet")
    # a float id column, read as the local engine reads it: 7.0 -> "7"
    pl.DataFrame({"shipment_id": [7.0, 7.0], "listing_title": ["x", "y"]}).write_parquet(tmp_path / "p3.parquet")
    sources = [open_input(tmp_path / f"p{n}.parquet") for n in range(4)]
    chunks, _ = ray_engine._plan_chunks(sources, tmp_path / "parts", 3, {}, lambda _m: None)
    assert [(c.row_offset, c.rows) for c in chunks] == [(0, 3), (3, 1), (4, 3), (7, 1), (8, 3), (11, 1),
                                                         (12, 2)]
    assert [sorted(c.prior_ids) for c in chunks] == [[], [], ["B"], [], ["C", "D"], ["A"], []]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"total_cpus": 2}, (1, 1.5, 2)),                                 # a 2-core laptop: one actor, 1.5 CPUs
    ({"total_cpus": 2, "num_actors": 2}, (2, 0.75, 1)),               # two actors share what is left
    ({"total_cpus": 64}, (15, 4.0, 4)),                               # a cluster: 4-CPU actors, 0.5 CPU spare
    ({"total_cpus": 64, "actor_cpus": 2}, (31, 2.0, 2)),
    ({"total_cpus": 32, "total_gpus": 4, "actor_gpus": 1}, (4, 1.0, 1)),
    ({"total_cpus": 32, "total_gpus": 4, "actor_gpus": 0.5}, (8, 1.0, 1)),
])
def test_actor_plan(kwargs: dict[str, Any], expected: tuple[int, float, int]) -> None:
    from customs_check.ray_engine import plan_actors

    plan = plan_actors(**kwargs)
    assert (plan.actors, plan.cpus, plan.threads) == expected
    assert plan.actors * plan.cpus < kwargs["total_cpus"]  # never every CPU: Ray's own tasks need some


if __name__ == "__main__":
    _ray_main(Path(sys.argv[1]))
