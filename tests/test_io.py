"""Broken input files, written by the tests: each one gets its exit code (3 for a file
that cannot be used, 4 for an output that cannot be written) and one ``Error:`` line
(plus an optional ``Hint:``), never a traceback; problems confined to one row become
that row's error. Then a property test: ``check_frame`` returns one row per input row,
in order, whatever the values."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result
from conftest import INPUT_COLUMNS, write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customs_check.batch import RESULT_SCHEMA, check_frame
from customs_check.checker import Checker
from customs_check.cli import cli
from customs_check.io import open_input

pytestmark = pytest.mark.usefixtures("open_each_checker_once")


def batch(src: Path, out: Path, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["--model", "fake", "batch", str(src), "-o", str(out), *extra],
                              catch_exceptions=False)


def assert_input_fault(result: Result, fragment: str, *, code: int = 3, hint: str | None = None) -> str:
    """The exit code, one Error line naming the problem, an optional Hint, no traceback,
    nothing on stdout."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    # progress notes ("customs-check: building the HS index ...") are not errors
    lines = [line for line in result.stderr.splitlines() if not line.startswith("customs-check: ")]
    assert 1 <= len(lines) <= 2, lines
    assert lines[0].startswith("Error: ") and fragment in lines[0], lines
    if hint is not None:
        assert lines[1].startswith("Hint: ") and hint in lines[1], lines
    return lines[0]


def assert_nothing_written(folder: Path, *inputs: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(inputs)


ROW = {"shipment_id": "R1", "listing_title": "TWS Bluetooth earbuds", "listing_category": "Electronics",
       "listing_attributes": None, "declared_description": "Wireless earphones", "declared_hs_code": "8518.30"}


# -- whole-file faults: exit 3 ----------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    src = tmp_path / "nope.csv"
    line = assert_input_fault(batch(src, tmp_path / "out.csv"), "no such file")
    assert line == f"Error: {src}: no such file"
    assert_nothing_written(tmp_path)


def test_folder_as_input(tmp_path: Path) -> None:
    (tmp_path / "in.csv").mkdir()
    assert_input_fault(batch(tmp_path / "in.csv", tmp_path / "out.csv"), "is a folder")


def test_unknown_extension(tmp_path: Path) -> None:
    src = tmp_path / "shipments.xlsx"
    src.write_bytes(b"PK\x03\x04" + os.urandom(64))
    line = assert_input_fault(batch(src, tmp_path / "out.csv"), "unknown file type '.xlsx'",
                              hint="use .csv, .jsonl or .parquet")
    assert line.startswith(f"Error: {src}")
    assert_nothing_written(tmp_path, "shipments.xlsx")


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_empty_file(tmp_path: Path, ext: str) -> None:
    src = tmp_path / f"in.{ext}"
    src.write_bytes(b"")
    assert_input_fault(batch(src, tmp_path / "out.csv"), "file is empty")
    assert_nothing_written(tmp_path, src.name)


@pytest.mark.parametrize("content", ["shipment_id,listing_title\n", "shipment_id,listing_title",
                                     "shipment_id,listing_title\n\n\n"])
def test_csv_header_only(tmp_path: Path, content: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text(content, encoding="utf-8")
    out = tmp_path / "out.csv"
    assert_input_fault(batch(src, out), "has a header but no rows")
    assert_nothing_written(tmp_path, "in.csv")  # no checkpoint folder blocks the rerun
    src.write_text("shipment_id,listing_title\nR1,TWS Bluetooth earbuds\n", encoding="utf-8")
    assert batch(src, out).exit_code in (0, 1)
    assert pl.read_csv(out)["shipment_id"].to_list() == ["R1"]


def test_parquet_without_rows(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    pl.DataFrame(schema=dict.fromkeys(INPUT_COLUMNS, pl.String)).write_parquet(src)
    assert_input_fault(batch(src, tmp_path / "out.csv"), "has a header but no rows")
    assert_nothing_written(tmp_path, "in.parquet")


def test_jsonl_without_objects(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('\n[1, 2]\n"text"\nnot json\n', encoding="utf-8")
    assert_input_fault(batch(src, tmp_path / "out.csv"), "no JSON object found on any line",
                       hint="one JSON object per line")


def test_csv_without_listing_title(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,title,hs_code\n1,earbuds,8518.30\n", encoding="utf-8")
    line = assert_input_fault(batch(src, tmp_path / "out.csv"), "missing required column(s) listing_title",
                              hint="batch --help")
    assert line.endswith("found: id, title, hs_code")
    assert_nothing_written(tmp_path, "in.csv")


def test_csv_repeated_column(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("listing_title,listing_title\na,b\n", encoding="utf-8")
    assert_input_fault(batch(src, tmp_path / "out.csv"), "repeated column names ['listing_title']")


LATIN1 = "shipment_id,listing_title,declared_description\nR1,Café crème mug,Tasse à café\n".encode("latin-1")


def test_latin1_csv_needs_encoding(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(LATIN1)
    out = tmp_path / "out.parquet"
    line = assert_input_fault(batch(src, out), "are not valid utf-8", hint="--encoding latin-1")
    position = LATIN1.index(b"\xe9")
    assert f"bytes at position {position} " in line
    assert_nothing_written(tmp_path, "in.csv")
    result = batch(src, out, "--encoding", "latin-1")
    assert result.exit_code in (0, 1), result.stderr
    frame = pl.read_parquet(out)
    assert frame["listing_title"].to_list() == ["Café crème mug"]
    assert frame["declared_description"].to_list() == ["Tasse à café"]
    assert frame["error"].to_list() == [None]


def test_bad_byte_deep_in_a_big_csv(tmp_path: Path) -> None:
    """Found before any row is checked, at its real offset (past the first read block)."""
    head = "shipment_id,listing_title\n" + "".join(f"R{i},TWS Bluetooth earbuds {i}\n" for i in range(200_000))
    data = head.encode() + b"R-bad,Caf\xe9\n"
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    line = assert_input_fault(batch(src, tmp_path / "out.csv"), "are not valid utf-8")
    position = data.index(b"\xe9")
    assert position > 1 << 22
    assert f"bytes at position {position} " in line
    assert_nothing_written(tmp_path, "in.csv")


def test_latin1_jsonl_needs_encoding(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(json.dumps({"shipment_id": "R1", "listing_title": "Café"}, ensure_ascii=False)
                    .encode("latin-1") + b"\n")
    assert_input_fault(batch(src, tmp_path / "out.csv"), "not valid utf-8", hint="--encoding")
    result = batch(src, tmp_path / "out.csv", "--encoding", "latin-1")
    assert result.exit_code in (0, 1)
    assert pl.read_csv(tmp_path / "out.csv")["listing_title"].to_list() == ["Café"]


def test_unknown_encoding(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("listing_title\nx\n")
    assert_input_fault(batch(src, tmp_path / "out.csv", "--encoding", "klingon"), "unknown encoding 'klingon'")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"\xef\xbb\xbfshipment_id,listing_title\nR1,TWS Bluetooth earbuds\n")
    assert batch(src, tmp_path / "out.parquet").exit_code in (0, 1)
    assert pl.read_parquet(tmp_path / "out.parquet")["shipment_id"].to_list() == ["R1"]


@pytest.mark.parametrize("cut", [0.5, 0.1, 0.95])
def test_truncated_parquet(tmp_path: Path, cut: float) -> None:
    whole = tmp_path / "whole.parquet"
    pl.DataFrame([{**ROW, "shipment_id": f"R{i}"} for i in range(500)]).write_parquet(whole)
    src = tmp_path / "in.parquet"
    data = whole.read_bytes()
    src.write_bytes(data[: int(len(data) * cut)])
    assert_input_fault(batch(src, tmp_path / "out.csv"), "not a readable Parquet file (truncated or corrupt)")
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.csv.parts").exists()


def test_parquet_that_is_a_text_file(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    src.write_text("shipment_id,listing_title\nR1,x\n")
    assert_input_fault(batch(src, tmp_path / "out.csv"), "not a readable Parquet file")


@pytest.mark.parametrize(("body", "line"), [
    ('R1,"TWS Bluetooth earbuds\nR2,Silver hoop earrings\nR3,Cotton t-shirt\n', 2),
    ('R1,ok\nR2,"Silver hoop earrings\nR3,Cotton t-shirt\nR4,"Steel bottle"\n', 3),
])
def test_csv_with_an_unclosed_quote(tmp_path: Path, body: str, line: int) -> None:
    """pyarrow would read the rest of the file into one field; the file is refused instead."""
    src = tmp_path / "in.csv"
    src.write_text("shipment_id,listing_title\n" + body, encoding="utf-8")
    message = assert_input_fault(batch(src, tmp_path / "out.csv"), "malformed CSV", hint="quote")
    assert f"the row starting at line {line} " in message
    assert_nothing_written(tmp_path, "in.csv")


def test_csv_with_stray_quotes_inside_one_line(tmp_path: Path) -> None:
    """Quotes that cost no row (inch marks, a quoted word) are read, every row kept."""
    src = tmp_path / "in.csv"
    src.write_text('shipment_id,listing_title\nR1,12" x 18" poster\nR2,"Deluxe" brand pen\nR3,"5"" tablet"\n',
                   encoding="utf-8")
    out = tmp_path / "out.parquet"
    result = batch(src, out)
    assert result.exit_code in (0, 1), result.stderr
    frame = pl.read_parquet(out)
    assert frame["shipment_id"].to_list() == ["R1", "R2", "R3"]
    assert frame["listing_title"][0] == '12" x 18" poster'
    assert frame["listing_title"][2] == '5" tablet'
    assert frame["error"].to_list() == [None, None, None]


def test_csv_with_a_ragged_row(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("shipment_id,listing_title\nR1,earbuds\nR2,earrings, silver\nR3,bottle\n", encoding="utf-8")
    message = assert_input_fault(batch(src, tmp_path / "out.csv"), "the row at line 3 has 3 fields, the header 2")
    assert message.startswith(f"Error: {src}")
    assert_nothing_written(tmp_path, "in.csv")


def test_csv_multiline_quoted_field_is_one_row(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text('shipment_id,listing_title\nR1,"TWS Bluetooth earbuds\nwith charging case"\nR2,bottle\n',
                   encoding="utf-8")
    out = tmp_path / "out.parquet"
    assert batch(src, out).exit_code in (0, 1)
    frame = pl.read_parquet(out)
    assert frame["shipment_id"].to_list() == ["R1", "R2"]
    assert frame["listing_title"][0] == "TWS Bluetooth earbuds\nwith charging case"


# -- row-level faults: error rows, the rest checked -------------------------------------------
def test_jsonl_with_broken_lines(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = [
        json.dumps({**ROW, "shipment_id": "J1"}),
        '{"shipment_id": "J2", "listing_title": "Silver hoop earr',
        json.dumps({**ROW, "shipment_id": "J3", "listing_title": "Stainless steel water bottle"}),
        "[1, 2, 3]",
        json.dumps({**ROW, "shipment_id": "J5", "listing_title": {"en": "earbuds"}}),
        json.dumps({**ROW, "shipment_id": "J6", "declared_hs_code": 851830, "extra": [1, 2]}),
    ]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    result = batch(src, out)
    assert result.exit_code in (0, 1), result.stderr
    assert result.stdout.startswith("6 rows checked, ")
    assert ", 3 invalid (" in result.stdout.splitlines()[0]
    frame = pl.read_parquet(out)
    assert frame.height == 6
    assert frame["shipment_id"].to_list() == ["J1", None, "J3", None, None, "J6"]
    assert frame["error_kind"].to_list() == [None, "unparsable_row", None, "unparsable_row", "unparsable_row", None]
    errors = frame["error"].to_list()
    assert errors[1].startswith("line 2: invalid row (")
    assert errors[3].startswith("line 4: ") and "not a JSON object" in errors[3]
    assert errors[4].startswith("line 5: ") and "listing_title holds a JSON dict" in errors[4]
    for i in (0, 2, 5):
        assert frame["mismatch"][i] is not None and frame["listing_hs6_top"][i] is not None
    assert frame["declared_hs6"][5] == "851830"
    assert frame["extra"][5] == "[1, 2]"  # a column the checker does not read is kept as text


def test_huge_html_blob_in_a_title(tmp_path: Path) -> None:
    """Below the size limit a pasted page is stripped and cut, with a note; past it
    (200 KB) the row is an error of its own kind; the other rows are unaffected."""
    paragraph = "<p>Stainless steel vacuum insulated water bottle, <b>750 ml</b>, keeps drinks cold</p>\n"
    page_50k = "<html><body>" + paragraph * (50_000 // len(paragraph)) + "</body></html>"
    page_200k = "<html><body>" + paragraph * (200_000 // len(paragraph)) + "</body></html>"
    rows = [{**ROW, "shipment_id": "H1", "listing_title": page_50k, "declared_description": "Water bottle",
             "declared_hs_code": "9617.00"},
            {**ROW, "shipment_id": "H2", "listing_title": page_200k},
            {**ROW, "shipment_id": "H3"}]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.parquet"
    assert batch(src, out).exit_code in (0, 1)
    frame = pl.read_parquet(out)
    assert frame["listing_title"].to_list() == [page_50k, page_200k, ROW["listing_title"]]  # kept as given
    h1, h2, h3 = frame.to_dicts()
    assert h1["error"] is None
    assert "listing title was longer than the model reads and was truncated" in h1["reasons"]
    assert h2["error_kind"] == "oversize_text" and "listing_title" in h2["error"]
    assert h3["error"] is None and h3["mismatch"] is False


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_numeric_hs_codes(tmp_path: Path, fmt: str) -> None:
    rows = [{"shipment_id": 1, "listing_title": "TWS Bluetooth earbuds", "declared_description": "Earphones",
             "declared_hs_code": 851830},
            {"shipment_id": 2, "listing_title": "20 Ton Hydraulic Shop Press", "declared_description": "Press",
             "declared_hs_code": 847989}]
    src = tmp_path / f"in.{fmt}"
    if fmt == "parquet":
        pl.DataFrame(rows).write_parquet(src)
    else:
        write_jsonl(src, rows)
    out = tmp_path / "out.parquet"
    assert batch(src, out).exit_code in (0, 1)
    frame = pl.read_parquet(out)
    assert frame["error"].to_list() == [None, None]
    assert frame["declared_hs6"].to_list() == ["851830", "847989"]
    assert frame["shipment_id"].to_list() == ["1", "2"]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_float_hs_codes(tmp_path: Path, fmt: str) -> None:
    """pandas turns an integer column with a gap into floats: 847989.0 is still 8479.89."""
    frame = pl.DataFrame({"shipment_id": [1.0, 2.0, None], "listing_title": ["Hydraulic press", "Earbuds", "Toy"],
                          "declared_hs_code": [847989.0, None, 950300.0]})
    src = tmp_path / f"in.{fmt}"
    if fmt == "parquet":
        frame.write_parquet(src)
    else:
        frame.write_ndjson(src)
    out = tmp_path / "out.parquet"
    assert batch(src, out).exit_code in (0, 1)
    result = pl.read_parquet(out)
    assert result["error"].to_list() == [None, None, None]
    assert result["declared_hs_code"].to_list() == ["847989", None, "950300"]
    assert result["declared_hs6"].to_list() == ["847989", None, "950300"]
    assert result["shipment_id"].to_list() == ["1", "2", None]


# -- output faults: exit 4 ------------------------------------------------------------------
def test_read_only_output_folder(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [ROW])
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user that can write to a read-only folder (root)")
        assert_input_fault(batch(src, folder / "out.csv"), "cannot write", code=4)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_output_inside_a_file(tmp_path: Path) -> None:
    """Writable or not, a folder that is a file cannot take the output (works as root)."""
    src = write_jsonl(tmp_path / "in.jsonl", [ROW])
    (tmp_path / "plain").write_text("x")
    assert_input_fault(batch(src, tmp_path / "plain" / "out.csv"), "cannot write", code=4)


def test_results_file_is_not_private(tmp_path: Path) -> None:
    """The results get the mode any new file gets, like the manifest beside them."""
    src = write_jsonl(tmp_path / "in.jsonl", [ROW])
    out = tmp_path / "out.csv"
    assert batch(src, out).exit_code in (0, 1)
    manifest = tmp_path / "out.csv.manifest.json"
    assert out.stat().st_mode & 0o777 == manifest.stat().st_mode & 0o777


# -- the property: one output row per input row, in order, never an exception -----------------
_CONTROL = "".join(map(chr, [*range(0, 32), 127, 0x85, 0x200B, 0x2028, 0xFEFF]))
_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(_CONTROL + " <>&;/\"'é中"), max_size=20),
    st.sampled_from(["", " ", "8479.89", "847989", "8479.AB", "9999.11", "10121", "TWS earbuds", "<b></b>",
                     "PARTS", "Material: cotton; Item Type: ring", "pill press TDP-5", "CAS 39742-60-4"]),
    st.builds(lambda piece, n: piece * n, st.sampled_from(["a", "<p>bottle</p>", "é", "\x00", "word "]),
              st.integers(1, 120_000)),
)
@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    """Up to 8 rows, each column a random type; rows repeat so that shared checks are exercised."""
    n_distinct = draw(st.integers(1, 5))
    columns = draw(st.lists(st.sampled_from(INPUT_COLUMNS), unique=True, max_size=6))
    dtypes = {c: draw(st.sampled_from([pl.String, pl.String, pl.Int64])) for c in columns}
    distinct = []
    for _ in range(n_distinct):
        row = {}
        for c in columns:
            if dtypes[c] == pl.Int64:
                row[c] = draw(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)))
            else:
                row[c] = draw(st.one_of(st.none(), _TEXT))
        distinct.append(row)
    order = draw(st.lists(st.integers(0, n_distinct - 1), min_size=1, max_size=8))
    data = {c: [distinct[i][c] for i in order] for c in columns}
    data["_row"] = list(range(len(order)))
    return pl.DataFrame(data, schema={**dtypes, "_row": pl.Int64})


class ExamplesRun(UserWarning):
    """Reports how many examples the property test ran (shown in pytest's warnings summary)."""


def test_check_frame_keeps_every_row(fake_checker: Checker, record_property: pytest.RecordProperty) -> None:
    runs = 0

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(frame=frames(), track_ids=st.booleans())
    def prop(frame: pl.DataFrame, track_ids: bool) -> None:
        nonlocal runs
        runs += 1
        out = check_frame(fake_checker, frame, seen_ids=set() if track_ids else None)
        assert out.height == frame.height
        assert out["_row"].to_list() == frame["_row"].to_list()
        for c in frame.columns:  # input columns come back unchanged
            assert out[c].to_list() == frame[c].to_list(), c
        for c in set(INPUT_COLUMNS) - set(frame.columns):
            assert out[c].null_count() == out.height
        assert set(RESULT_SCHEMA) <= set(out.columns)
        # each row has a verdict or an error, never both, never neither
        has_error = out["error"].is_not_null().to_list()
        has_verdict = out["mismatch"].is_not_null().to_list()
        assert [e != v for e, v in zip(has_error, has_verdict, strict=True)] == [True] * out.height
        assert (out["error_kind"].is_not_null() == out["error"].is_not_null()).all()
        # rows equal on everything a verdict depends on get the same verdict
        key_cols = INPUT_COLUMNS[1:]
        verdicts: dict[tuple, tuple] = {}
        for row in out.filter(pl.col("error").is_null()).iter_rows(named=True):
            key = tuple(row[c] for c in key_cols)
            value = tuple(row[c] for c in RESULT_SCHEMA)
            assert verdicts.setdefault(key, value) == value

    prop()
    record_property("hypothesis_examples", runs)
    warnings.warn(ExamplesRun(f"check_frame property: {runs} examples run"), stacklevel=1)
    assert runs >= 200


def test_open_input_on_every_format_gives_text_columns(tmp_path: Path) -> None:
    rows = [{"shipment_id": 7, "listing_title": "Earbuds", "declared_hs_code": 851830, "qty": 3}]
    pl.DataFrame(rows).write_parquet(tmp_path / "a.parquet")
    write_jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "a.csv").write_text("shipment_id,listing_title,declared_hs_code,qty\n7,Earbuds,851830,3\n")
    for name in ("a.parquet", "a.jsonl", "a.csv"):
        chunks = list(open_input(tmp_path / name).iter_chunks(10))
        assert len(chunks) == 1
        row = chunks[0].row(0, named=True)
        assert (row["shipment_id"], row["listing_title"], row["declared_hs_code"]) == ("7", "Earbuds", "851830"), name
