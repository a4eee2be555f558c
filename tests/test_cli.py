"""The ``customs-check`` command through click's CliRunner, in process, on the fake
embedder: exact output where it is deterministic, exit codes everywhere, and one short
``Error:`` line (plus an optional ``Hint:``) instead of a traceback for every user error."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner, Result
from conftest import write_jsonl
from customs_check.embeddings import SQLiteCache

from customs_check.cli import EXIT_CODES, cli
from customs_check.models import CheckResult, Severity
from customs_check.views import ViewStore

FAKE = ("--model", "fake")
CONCEALED = (
    "--listing-title", "TDP-5 pill press 5000 pills per hour",
    "--listing-category", "Industrial > Machinery",
    "--declared-description", "LINEAR GUIDE RAIL",
    "--declared-hs-code", "848210",
)
HONEST = [
    ("TWS Bluetooth earbuds wireless earphones", "Electronics > Earphones", "Wireless earphones", "8518.30"),
    ("Women's 925 Sterling Silver Hoop Earrings", "Jewelry > Earrings", "Silver jewellery earrings", "7113.11"),
    ("Men's Cotton Crew Neck T-Shirt", "Men's Clothing > T-Shirts", "COTTON T-SHIRTS, KNITTED", "610910"),
]


pytestmark = pytest.mark.usefixtures("open_each_checker_once")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in process. Exceptions other than SystemExit propagate, so a crash
    fails the test with its traceback instead of hiding in ``result.exception``."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def assert_one_line_error(result: Result, code: int, starts: str) -> list[str]:
    """Exit ``code``, nothing on stdout, stderr is ``Error: ...`` and at most a ``Hint:``."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("customs-check: ")]
    assert lines[0].startswith(starts), lines
    assert len(lines) <= 2, lines
    if len(lines) == 2:
        assert lines[1].startswith("Hint: "), lines
    return lines


# -- hs ---------------------------------------------------------------------------------------
HS_8479_89_TABLE = """\
code     level  description
-------  -----  ----------------------------------------------------------------------
84       2      Machinery and mechanical appliances, boilers, nuclear reactors; parts…
8479     4      Machinery and mechanical appliances; having individual functions, n.e…
8479.89  6      Machines and mechanical appliances; having individual functions, n.e.…
"""


def test_hs_table_exact() -> None:
    result = invoke("hs", "8479.89")
    assert result.exit_code == 0
    assert result.stdout == HS_8479_89_TABLE
    assert result.stderr == ""


@pytest.mark.parametrize("spelling", ["847989", "8479 89", "8479.89.9499", "84798900"])
def test_hs_any_spelling_gives_the_same_path(spelling: str) -> None:
    result = invoke("hs", spelling)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == HS_8479_89_TABLE


def test_hs_json() -> None:
    result = invoke("hs", "8479.89", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [(r["code"], r["level"]) for r in rows] == [("84", 2), ("8479", 4), ("8479.89", 6)]
    assert rows[0]["description"] == "Machinery and mechanical appliances, boilers, nuclear reactors; parts thereof"
    assert rows[2]["description"].startswith("Machines and mechanical appliances; having individual functions")
    # JSON is never cut to the table's width
    assert not any(r["description"].endswith("…") for r in rows)


def test_hs_csv() -> None:
    result = invoke("hs", "8479.89", "--csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["code"] for r in rows] == ["84", "8479", "8479.89"]
    assert [r["level"] for r in rows] == ["2", "4", "6"]
    assert result.stdout.splitlines()[0] == "code,level,description"


def test_hs_heading_lists_its_subheadings() -> None:
    children = ["8479.10", "8479.20", "8479.30", "8479.40", "8479.50", "8479.60", "8479.71", "8479.79",
                "8479.81", "8479.82", "8479.83", "8479.89", "8479.90"]
    rows = json.loads(invoke("hs", "84.79", "--json").stdout)
    assert [r["code"] for r in rows] == ["84", "8479", *children]
    assert all(r["level"] == 6 and r["description"].startswith("  ") for r in rows[2:])
    table = invoke("hs", "84.79")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert len(lines) == 2 + 2 + len(children)
    assert [line.split()[0] for line in lines[2:]] == ["84", "8479", *children]


def test_hs_chapter_has_no_children_listed() -> None:
    rows = json.loads(invoke("hs", "84", "--json").stdout)
    assert [r["code"] for r in rows] == ["84"]


def test_hs_malformed_code() -> None:
    result = invoke("hs", "8479.AB")
    lines = assert_one_line_error(result, 2, "Error: HS code '8479.AB' is malformed")
    assert lines[0] == "Error: HS code '8479.AB' is malformed: only digits, dots and spaces are allowed"
    assert len(lines) == 2  # with a hint


def test_hs_unknown_code() -> None:
    result = invoke("hs", "9999.11")
    lines = assert_one_line_error(result, 2, "Error: HS code 9999.11")
    assert "not in the HS 2022 nomenclature" in lines[0]


@pytest.mark.parametrize("args", [[], ["8479.89", "--search", "press"]])
def test_hs_needs_exactly_one_of_code_and_search(args: list[str]) -> None:
    result = invoke("hs", *args)
    assert result.exit_code == 2
    assert "give either CODE or --search TEXT" in result.stderr
    assert "Traceback" not in result.stderr


def test_hs_search_ranks_by_score() -> None:
    result = invoke(*FAKE, "hs", "--search", "cotton t-shirt knitted", "--json", "--top-k", "3")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert rows[0]["code"].startswith("61")


@pytest.mark.parametrize("args", [["hs", "8479.89"], [*FAKE, "classify", "--text", "steel bottle"],
                                  ["cache", "stats"]])
def test_json_and_csv_together_is_a_usage_error(args: list[str]) -> None:
    result = invoke(*args, "--json", "--csv")
    assert result.exit_code == 2
    assert "--json and --csv cannot be combined" in result.stderr
    assert result.stdout == ""


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert "0.1.0" in result.stdout


# -- check ------------------------------------------------------------------------------------
def test_check_concealment_is_a_critical_mismatch() -> None:
    result = invoke(*FAKE, "check", *CONCEALED)
    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("MISMATCH  severity=critical  score=")
    assert "watchlist=tablet_press" in lines[0]
    assert lines[1].startswith("  - watchlist tablet_press: ")
    assert "LINEAR GUIDE RAIL" in lines[1]
    assert "  listing's likely codes:" in lines
    codes = [line.split()[0] for line in lines[lines.index("  listing's likely codes:") + 1:]]
    assert len(codes) == 5 and all(len(c) == 7 and c[4] == "." for c in codes)


def test_check_json_validates_as_check_result() -> None:
    result = invoke(*FAKE, "check", *CONCEALED, "--shipment-id", "SHP-1", "--json")
    assert result.exit_code == 1
    parsed = CheckResult.model_validate_json(result.stdout)
    assert parsed.shipment_id == "SHP-1"
    assert parsed.mismatch is True
    assert parsed.severity is Severity.CRITICAL
    assert parsed.watchlist == "tablet_press"
    assert parsed.declared_hs6 == "848210"
    assert parsed.error is None
    assert len(parsed.listing_hs6_top) == 5


@pytest.mark.parametrize(("title", "category", "description", "code"), HONEST)
def test_check_exit_code_agrees_with_the_verdict(title: str, category: str, description: str, code: str) -> None:
    args = ("check", "--listing-title", title, "--listing-category", category,
            "--declared-description", description, "--declared-hs-code", code)
    as_json = invoke(*FAKE, *args, "--json")
    parsed = CheckResult.model_validate_json(as_json.stdout)
    assert as_json.exit_code == (1 if parsed.mismatch else 0)
    text = invoke(*FAKE, *args)
    assert text.exit_code == as_json.exit_code
    first = text.stdout.splitlines()[0]
    assert first.startswith("MISMATCH  " if parsed.mismatch else "consistent  ")
    assert f"severity={parsed.severity.value}" in first
    assert f"score={parsed.mismatch_score:.2f}" in first
    # every reason is printed, in order
    assert [line[4:] for line in text.stdout.splitlines()[1:1 + len(parsed.reasons)]] == parsed.reasons


def test_honest_earbuds_are_consistent() -> None:
    title, category, description, code = HONEST[0]
    result = invoke(*FAKE, "check", "--listing-title", title, "--listing-category", category,
                    "--declared-description", description, "--declared-hs-code", code)
    assert result.exit_code == 0
    assert result.stdout.startswith("consistent  severity=none")


def test_model_from_environment() -> None:
    env = {"CUSTOMS_CHECK_MODEL": "fake"}
    from_env = invoke("check", *CONCEALED, "--json", env=env)
    from_flag = invoke(*FAKE, "check", *CONCEALED, "--json")
    assert from_env.exit_code == from_flag.exit_code == 1
    assert json.loads(from_env.stdout) == json.loads(from_flag.stdout)


@pytest.mark.parametrize("title", ["", "   ", "<b></b>", "\x00\x07"])
def test_check_empty_title_names_the_field(title: str) -> None:
    result = invoke(*FAKE, "check", "--listing-title", title, "--declared-description", "toy car")
    assert_one_line_error(result, 2, "Error: listing_title: ")


def test_check_without_title_is_a_usage_error() -> None:
    result = invoke(*FAKE, "check", "--declared-description", "toy car")
    assert result.exit_code == 2
    assert "Missing option '--listing-title'" in result.stderr


@pytest.mark.parametrize(("code", "fragment"), [("12.AB", "is malformed"), ("9999.11", "not in the HS 2022"),
                                                ("10121", "has 5 digits")])
def test_check_bad_declared_code(code: str, fragment: str) -> None:
    result = invoke(*FAKE, "check", "--listing-title", "toy car", "--declared-hs-code", code)
    lines = assert_one_line_error(result, 2, "Error: HS code ")
    assert fragment in lines[0]


def test_check_has_no_csv_output() -> None:
    result = invoke(*FAKE, "check", *CONCEALED, "--json", "--csv")
    assert result.exit_code == 2
    assert result.stdout == ""


# -- classify ---------------------------------------------------------------------------------
def test_classify_text_table_json_csv_agree() -> None:
    text = "women's cotton t-shirt short sleeve"
    table = invoke(*FAKE, "classify", "--text", text)
    as_json = invoke(*FAKE, "classify", "--text", text, "--json")
    as_csv = invoke(*FAKE, "classify", "--text", text, "--csv")
    assert table.exit_code == as_json.exit_code == as_csv.exit_code == 0
    rows = json.loads(as_json.stdout)
    assert len(rows) == 5
    assert all(set(r) == {"code", "score", "description"} and len(r["code"]) == 6 for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["code", "score", "description"]
    assert set(lines[1]) <= {"-", " "}
    assert [line.split()[0] for line in lines[2:]] == [r["code"] for r in rows]
    assert [line.split()[1] for line in lines[2:]] == [f"{r['score']:.3f}" for r in rows]
    csv_rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["code"] for r in csv_rows] == [r["code"] for r in rows]
    assert [r["description"] for r in csv_rows] == [r["description"] for r in rows]


@pytest.mark.parametrize(("level", "top_k"), [("2", 3), ("4", 2), ("6", 7)])
def test_classify_text_level_and_top_k(level: str, top_k: int) -> None:
    result = invoke(*FAKE, "classify", "--text", "hydraulic shop press", "--level", level,
                    "--top-k", str(top_k), "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == top_k
    assert all(len(r["code"]) == int(level) for r in rows)
    assert len({r["code"] for r in rows}) == top_k


@pytest.mark.parametrize("args", [[], ["--text", "x", "in.csv"], ["--top-k", "0", "--text", "x"],
                                  ["--level", "8", "--text", "x"]])
def test_classify_usage_errors(args: list[str]) -> None:
    result = invoke(*FAKE, "classify", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def _classify_texts(texts: list[str]) -> list[list[str]]:
    return [[r["code"] for r in json.loads(invoke(*FAKE, "classify", "--text", t, "--json").stdout)]
            for t in texts]


def test_classify_listing_file(tmp_path: Path) -> None:
    src = tmp_path / "listings.csv"
    src.write_text(
        "sku,listing_title,listing_category,listing_attributes,price\n"
        "a1,Men's Cotton Crew Neck T-Shirt,Men's Clothing > T-Shirts,Material: Cotton,9.99\n"
        "a2,,Toys,,1.00\n"
        "a3,Stainless Steel Vacuum Water Bottle 750ml,Home > Drinkware,,12.50\n",
        encoding="utf-8",
    )
    out = tmp_path / "classified.parquet"
    result = invoke(*FAKE, "classify", str(src), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert "classified 3 rows into" in result.stderr
    frame = pl.read_parquet(out)
    assert frame.columns == ["sku", "listing_title", "listing_category", "listing_attributes", "price",
                             "hs6_top", "hs6_scores"]
    assert frame["sku"].to_list() == ["a1", "a2", "a3"]
    assert frame["price"].to_list() == ["9.99", "1.00", "12.50"]
    tops = frame["hs6_top"].to_list()
    scores = frame["hs6_scores"].to_list()
    assert tops[1] is None and scores[1] is None  # no title: no candidates, row kept
    for codes, sc in ((tops[0], scores[0]), (tops[2], scores[2])):
        assert len(codes) == 5 and all(len(c) == 6 for c in codes)
        assert sc == sorted(sc, reverse=True)
    assert tops[0][0].startswith("61")


def test_classify_description_file_matches_classify_text(tmp_path: Path) -> None:
    texts = ["hydraulic shop press", "silver hoop earrings", "wireless bluetooth earphones"]
    src = write_jsonl(tmp_path / "texts.jsonl",
                      [{"ref": i, "description": t} for i, t in enumerate(texts)] + [{"ref": 9, "description": " "}])
    out = tmp_path / "classified.jsonl"
    result = invoke(*FAKE, "-q", "classify", str(src), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # --quiet
    frame = pl.read_ndjson(out)
    assert frame.columns == ["ref", "description", "hs6_top", "hs6_scores"]
    assert frame["ref"].to_list() == ["0", "1", "2", "9"]
    tops = frame["hs6_top"].to_list()
    assert tops[3] is None
    assert tops[:3] == _classify_texts(texts)


def test_classify_file_to_csv_joins_codes(tmp_path: Path) -> None:
    src = tmp_path / "d.csv"
    src.write_text("description\nhydraulic shop press\n", encoding="utf-8")
    out = tmp_path / "d.out.csv"
    assert invoke(*FAKE, "classify", str(src), "-o", str(out), "--top-k", "3").exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows[0]["hs6_top"].split(" ") == _classify_texts(["hydraulic shop press"])[0][:3]
    assert len(rows[0]["hs6_scores"].split(" ")) == 3


def test_classify_file_errors(tmp_path: Path) -> None:
    src = tmp_path / "d.csv"
    src.write_text("name,price\nwidget,1\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    result = invoke(*FAKE, "classify", str(src), "-o", str(out))
    lines = assert_one_line_error(result, 3, "Error: no listing_title or description column")
    assert "found: name, price" in lines[0]
    assert not out.exists()

    assert invoke(*FAKE, "classify", str(src)).exit_code == 2  # no -o

    src.write_text("description\nwidget\n", encoding="utf-8")
    out.write_bytes(b"keep me")
    assert_one_line_error(invoke(*FAKE, "classify", str(src), "-o", str(out)), 4, "Error: ")
    assert out.read_bytes() == b"keep me"
    assert invoke(*FAKE, "classify", str(src), "-o", str(out), "--overwrite").exit_code == 0
    assert pl.read_parquet(out).height == 1

    assert_one_line_error(invoke(*FAKE, "classify", str(src), "-o", str(src), "--overwrite"), 4,
                          "Error: ")
    assert src.read_text(encoding="utf-8") == "description\nwidget\n"
    assert_one_line_error(invoke(*FAKE, "classify", str(tmp_path / "missing.csv"), "-o", str(out),
                                 "--overwrite"), 3, "Error: ")


# -- --exemplars ------------------------------------------------------------------------------
def test_exemplars_add_votes(tmp_path: Path) -> None:
    text = "zorblax quintessential frobnicator widget"
    ex = tmp_path / "history.csv"
    ex.write_text(f"text,hs_code\n{text},9503.00\nunrelated text,not-a-code\n,8479.89\n", encoding="utf-8")
    before = json.loads(invoke(*FAKE, "classify", "--text", text, "--json").stdout)
    assert before[0]["code"] != "950300"
    result = invoke(*FAKE, "--exemplars", str(ex), "classify", "--text", text, "--json")
    assert result.exit_code == 0, result.stderr
    after = json.loads(result.stdout)
    assert after[0]["code"] == "950300"
    assert after[0]["score"] > before[0]["score"]
    # the index on disk is not changed by a run with exemplars
    again = json.loads(invoke(*FAKE, "classify", "--text", text, "--json").stdout)
    assert again == before


def test_exemplars_need_text_and_code_columns(tmp_path: Path) -> None:
    ex = tmp_path / "history.csv"
    ex.write_text("description,code\nwidget,9503.00\n", encoding="utf-8")
    result = invoke(*FAKE, "--exemplars", str(ex), "classify", "--text", "widget")
    lines = assert_one_line_error(result, 3, "Error: ")
    assert "text and hs_code" in lines[0]


def test_exemplars_file_must_exist(tmp_path: Path) -> None:
    result = invoke(*FAKE, "--exemplars", str(tmp_path / "nope.csv"), "classify", "--text", "widget")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# -- help -------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["check"], ["classify"], ["batch"], ["hs"], ["cache"],
                                     ["cache", "stats"], ["cache", "prune"]])
def test_help_shows_exit_codes(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Exit codes:" in result.stdout
    for line in EXIT_CODES.splitlines()[2:]:
        assert line.strip() in result.stdout
    assert invoke(*command, "-h").stdout == result.stdout


# -- cache ------------------------------------------------------------------------------------
@pytest.fixture
def cache_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    store = SQLiteCache(home / "embeddings.sqlite")
    vec = np.ones(4, dtype=np.float32)
    store.put_many({b"a%d" % i: vec for i in range(3)}, "model-a")
    store.put_many({b"b%d" % i: vec for i in range(2)}, "model-b")
    store.close()
    views = ViewStore(home / "views.sqlite")
    views.put_many(b"context", "model-a", [(("D", "text"), [[], [], []])])
    views.put_many(b"context", "model-c", [(("D", f"text {i}"), [[], [], []]) for i in range(4)])
    views.close()
    return home


def test_cache_stats(cache_home: Path) -> None:
    table = invoke("--home", str(cache_home), "cache", "stats")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"{cache_home / 'embeddings.sqlite'}: ")
    assert lines[0].endswith(" MB, 5 vectors")
    assert lines[1].startswith(f"{cache_home / 'views.sqlite'}: ")
    assert lines[1].endswith(" MB, 5 search results")
    assert [line.split() for line in lines[4:]] == [["model-a", "3", "1"], ["model-b", "2", "0"], ["model-c", "0", "4"]]
    expected = [{"model": "model-a", "vectors": 3, "search_results": 1},
                {"model": "model-b", "vectors": 2, "search_results": 0},
                {"model": "model-c", "vectors": 0, "search_results": 4}]
    as_json = invoke("--home", str(cache_home), "cache", "stats", "--json")
    assert json.loads(as_json.stdout) == expected
    as_csv = invoke("--home", str(cache_home), "cache", "stats", "--csv")
    assert as_csv.stdout == "model,vectors,search_results\nmodel-a,3,1\nmodel-b,2,0\nmodel-c,0,4\n"


def test_cache_stats_uses_the_environment_home(cache_home: Path) -> None:
    result = invoke("cache", "stats", "--json", env={"CUSTOMS_CHECK_HOME": str(cache_home)})
    assert [r["model"] for r in json.loads(result.stdout)] == ["model-a", "model-b", "model-c"]


def test_cache_prune_needs_an_option(cache_home: Path) -> None:
    result = invoke("--home", str(cache_home), "cache", "prune")
    assert result.exit_code == 2
    assert "give --model, --keep-model, --older-than-days or --unused-for-days" in result.stderr
    assert json.loads(invoke("--home", str(cache_home), "cache", "stats", "--json").stdout)[0]["vectors"] == 3


def test_cache_prune(cache_home: Path) -> None:
    home = ("--home", str(cache_home))

    def stats() -> dict[str, tuple[int, int]]:
        return {r["model"]: (r["vectors"], r["search_results"])
                for r in json.loads(invoke(*home, "cache", "stats", "--json").stdout)}

    result = invoke(*home, "cache", "prune", "--model", "model-a")
    assert result.exit_code == 0
    assert result.stdout == "deleted 3 vectors and 1 search results\n"
    assert stats() == {"model-b": (2, 0), "model-c": (0, 4)}
    prune = ("cache", "prune")
    assert invoke(*home, *prune, "--keep-model", "model-b").stdout == "deleted 0 vectors and 4 search results\n"
    assert invoke(*home, *prune, "--older-than-days", "30").stdout == "deleted 0 vectors and 0 search results\n"
    assert invoke(*home, *prune, "--older-than-days", "0").stdout == "deleted 2 vectors and 0 search results\n"
    assert stats() == {}
    assert invoke(*home, "cache", "prune", "--older-than-days", "-1").exit_code == 2


def test_cache_prune_unused_search_results(cache_home: Path) -> None:
    home = ("--home", str(cache_home))
    views = ViewStore(cache_home / "views.sqlite")
    views.put_many(b"old settings", "model-a", [(("D", "old"), [[], [], []])])
    views.close()
    with sqlite3.connect(cache_home / "views.sqlite") as conn:  # not used for 40 days
        conn.execute("UPDATE contexts SET last_used = last_used - 40 * 86400 WHERE context = ?", (b"old settings",))
    prune = ("cache", "prune", "--unused-for-days")
    # Vectors never go stale with settings: only search results go.
    assert invoke(*home, *prune, "30").stdout == "deleted 0 vectors and 1 search results\n"
    assert invoke(*home, *prune, "30").stdout == "deleted 0 vectors and 0 search results\n"
    assert invoke(*home, "cache", "prune", "--model", "model-c", "--unused-for-days", "0").stdout == (
        "deleted 0 vectors and 4 search results\n")
    assert [(r["model"], r["vectors"], r["search_results"])
            for r in json.loads(invoke(*home, "cache", "stats", "--json").stdout)] == [
        ("model-a", 3, 1), ("model-b", 2, 0)]


@pytest.mark.parametrize("args", [("cache", "stats"), ("check", "--listing-title", "kettle")])
def test_a_home_that_cannot_be_created_is_an_output_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    home = blocker / "home"
    lines = assert_one_line_error(invoke("--model", "fake", "--home", str(home), *args), 4,
                                  f"Error: cannot create the cache folder {home}: ")
    assert lines[-1] == "Hint: give a writable folder with --home or CUSTOMS_CHECK_HOME"


def test_an_unusable_watchlist_file_is_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_text("foo = 1\n")
    lines = assert_one_line_error(invoke("--model", "fake", "--watchlist", str(path), "check", "--listing-title",
                                         "TDP-5 pill press"), 3,
                                  f"Error: {path}: the watchlist has no category (no [categories.NAME] table)")
    assert lines[-1].startswith("Hint: give a UTF-8 TOML file with [categories.NAME] tables")


@pytest.mark.parametrize("args", [("classify", "--text", "  "), ("hs", "--search", "<b></b>")])
def test_searching_for_no_text_is_a_usage_error(args: tuple[str, ...]) -> None:
    lines = assert_one_line_error(invoke("--model", "fake", *args), 2,
                                  "Error: the text to classify is empty after removing markup and control characters")
    assert lines[1] == "Hint: give a description of the goods"


def test_classify_reads_a_legacy_encoding_when_told(tmp_path: Path) -> None:
    src = tmp_path / "latin.csv"
    src.write_bytes("description\ncafeti\xe8re en verre\n".encode("latin-1"))
    out = tmp_path / "out.csv"
    # The hint names an option classify has: following it works.
    lines = assert_one_line_error(invoke(*FAKE, "classify", str(src), "-o", str(out)), 3, "Error: ")
    assert "--encoding latin-1" in lines[-1]
    assert invoke(*FAKE, "classify", str(src), "-o", str(out), "--encoding", "latin-1").exit_code == 0
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert row["description"] == "cafetière en verre"


@pytest.mark.parametrize("args", [("classify", "--text", "hydraulic shop press"), ("hs", "--search", "pill press")])
def test_candidate_tables_show_each_codes_own_words(args: tuple[str, ...]) -> None:
    table = invoke(*FAKE, *args).stdout.splitlines()[2:]
    rows = json.loads(invoke(*FAKE, *args, "--json").stdout)
    assert len(table) == len(rows)
    for line, row in zip(table, rows, strict=True):
        own = row["description"].split(" > ")[-1]  # JSON keeps the whole heading > subheading path
        shown = line.split(None, 2)[2]
        assert shown == own or (shown.endswith("…") and own.startswith(shown[:-1])), (shown, row["description"])
