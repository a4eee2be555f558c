"""The Checker end to end on the fake embedder, vagueness and text hygiene."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from customs_check.embeddings import HashingEmbedder, MemoryCache

from customs_check.checker import Checker, listing_texts
from customs_check.errors import InvalidHSCodeError, InvalidInputError, UnknownHSCodeError
from customs_check.models import CheckResult, Declaration, Listing, Severity, Shipment
from customs_check.scoring import ScoringConfig, is_vague
from customs_check.text import MAX_TEXT_CHARS, clean_text


def shipment(
    title: str,
    description: str | None = None,
    code: str | None = None,
    *,
    category: str | None = None,
    sid: str | None = None,
) -> Shipment:
    return Shipment(
        shipment_id=sid,
        listing=Listing(title=title, category=category),
        declaration=Declaration(description=description, hs_code=code),
    )


def _consistent(result: CheckResult) -> None:
    """Invariants of every verdict."""
    assert result.error is None
    assert result.mismatch is not None and result.severity is not None
    assert 0.0 <= result.mismatch_score <= 1.0
    assert result.reasons
    assert (result.severity is Severity.NONE) == (not result.mismatch and result.watchlist is None)


# -- watchlist verdicts -------------------------------------------------------------------
def test_tablet_press_declared_as_linear_guide_rail(fake_checker: Checker) -> None:
    r = fake_checker.check(shipment("TDP-5 pill press 5000 pills per hour", "LINEAR GUIDE RAIL", "8482.10"))
    _consistent(r)
    assert r.mismatch is True
    assert r.severity is Severity.CRITICAL
    assert r.watchlist == "tablet_press"
    assert r.mismatch_score >= 0.97
    assert r.declared_hs6 == "848210"
    assert r.watchlist_hits[0].category == "tablet_press"
    first = r.reasons[0]
    assert first.startswith("watchlist tablet_press")
    assert '"LINEAR GUIDE RAIL"' in first and "does not declare it" in first
    assert 'pattern "TDP-5"' in first
    assert r.flagged


def test_tablet_press_declared_as_same_code_decoy(fake_checker: Checker) -> None:
    # The right code (8479.89) with a decoy text is still concealment.
    r = fake_checker.check(shipment("ZP17 rotary tablet press", "hydraulic shop press", "8479.89"))
    assert r.mismatch is True
    assert r.severity is Severity.CRITICAL
    assert r.watchlist == "tablet_press"


def test_tablet_press_declared_honestly(fake_checker: Checker) -> None:
    r = fake_checker.check(shipment("TDP-5 pill press 5000 pills per hour", "tablet press machine", "8479.89"))
    _consistent(r)
    assert r.watchlist == "tablet_press"
    assert r.mismatch is False
    assert r.mismatch_score < fake_checker.config.mismatch_threshold
    assert r.severity is Severity.MEDIUM
    assert "the declaration says so" in r.reasons[0]
    assert "import permit" in r.reasons[0]
    assert not r.flagged


def test_honest_text_with_a_foreign_code_is_not_cleared(fake_checker: Checker) -> None:
    # The declaration names the goods, but the code is a bearing's: not cleared by the watchlist.
    r = fake_checker.check(shipment("TDP-5 pill press 5000 pills per hour", "tablet press machine", "8482.10"))
    assert r.watchlist == "tablet_press"
    assert r.mismatch is True
    assert r.severity.rank >= Severity.MEDIUM.rank


def test_precursor_by_cas_declared_as_dog_food(fake_checker: Checker) -> None:
    r = fake_checker.check(shipment("white crystalline powder CAS 40064-34-4 99%", "dog food", "2309.10"))
    _consistent(r)
    assert r.mismatch is True
    assert r.severity is Severity.CRITICAL
    assert r.watchlist == "drug_precursor"
    assert "CAS 40064-34-4" in r.reasons[0]
    assert '"dog food"' in r.reasons[0]


def test_precursor_without_any_declaration(fake_checker: Checker) -> None:
    r = fake_checker.check(shipment("N-phenethyl-4-piperidone NPP powder"))
    assert r.mismatch is True
    assert r.severity is Severity.CRITICAL
    assert '"(none)"' in r.reasons[0]


def test_declaration_naming_watchlist_goods(fake_checker: Checker) -> None:
    r = fake_checker.check(shipment("metal machine", "capsule filling machine"))
    assert r.watchlist == "encapsulator"
    assert r.reasons[0].startswith("watchlist encapsulator: the declaration names")
    assert r.severity.rank >= Severity.MEDIUM.rank


def test_lookalike_passes(fake_checker: Checker) -> None:
    r = fake_checker.check(
        shipment("linear guide rail with ball bearing carriage block", "linear guide rail", "8482.10")
    )
    assert r.watchlist is None
    assert r.watchlist_hits == []
    assert r.mismatch is False
    assert r.severity is Severity.NONE


# -- vague declarations -------------------------------------------------------------------
def test_vague_parts(fake_checker: Checker) -> None:
    r = fake_checker.check(shipment("Women's cotton t-shirt", "PARTS", category="Clothing > Tops"))
    _consistent(r)
    assert r.mismatch is True
    assert r.severity.rank >= Severity.MEDIUM.rank
    assert r.mismatch_score >= fake_checker.config.vague_score
    assert any(reason.startswith("vague declaration") and '"PARTS"' in reason for reason in r.reasons)
    assert any("no HS code declared" in reason for reason in r.reasons)


def test_no_declaration_at_all_is_vague(fake_checker: Checker) -> None:
    r = fake_checker.check(shipment("Women's cotton t-shirt"))
    assert r.mismatch is True
    assert r.severity.rank >= Severity.MEDIUM.rank
    assert any("no description was declared" in reason for reason in r.reasons)
    assert r.declared_text_hs6_top == []
    assert r.signals["text_sim"] is None


def test_wrong_chapter_is_a_mismatch(fake_checker: Checker) -> None:
    r = fake_checker.check(shipment("Stainless steel water bottle", "Electronic integrated circuits", "8542.31.0000"))
    _consistent(r)
    assert r.mismatch is True
    assert r.severity.rank >= Severity.HIGH.rank
    assert r.declared_hs6 == "854231"
    assert any("chapter 85" in reason for reason in r.reasons)


def test_result_carries_candidates_and_signals(fake_checker: Checker) -> None:
    r = fake_checker.check(
        shipment(
            "TWS Bluetooth earbuds wireless earphones",
            "Wireless earphones",
            "8518.30",
            category="Electronics > Earphones",
            sid="X1",
        )
    )
    assert r.shipment_id == "X1"
    assert 1 <= len(r.listing_hs6_top) <= 5
    assert all(len(c.code) == 6 and c.level == 6 and c.description for c in r.listing_hs6_top)
    scores = [c.score for c in r.listing_hs6_top]
    assert scores == sorted(scores, reverse=True)
    assert r.declared_text_hs6_top
    assert set(r.signals) == set(fake_checker.config.weights)
    assert r.signals["text_sim"] is not None and r.signals["code_gap2"] is not None


# -- batches and invalid rows -------------------------------------------------------------
def test_check_many_one_result_per_row_in_order(fake_checker: Checker, shipments_rows: list[dict]) -> None:
    results = fake_checker.check_many(shipments_rows)
    assert [r.shipment_id for r in results] == [row["shipment_id"] for row in shipments_rows]
    by_id = {r.shipment_id: r for r in results}
    for sid in ("S5", "S6"):
        bad = by_id[sid]
        assert bad.error
        assert bad.mismatch is None and bad.severity is None and bad.mismatch_score is None
        assert bad.reasons == [] and bad.listing_hs6_top == []
    assert "title" in by_id["S5"].error
    assert "4419.AB" in by_id["S6"].error
    for sid in ("S1", "S2", "S3", "S4", "S7"):
        _consistent(by_id[sid])
    assert by_id["S2"].watchlist == "tablet_press" and by_id["S2"].severity is Severity.CRITICAL
    assert any("vague" in reason for reason in by_id["S3"].reasons)
    assert by_id["S4"].mismatch is True
    # Identical rows get identical verdicts.
    assert by_id["S1"].model_dump(exclude={"shipment_id"}) == by_id["S7"].model_dump(exclude={"shipment_id"})


def test_check_many_mixes_shipments_and_dicts(fake_checker: Checker) -> None:
    items = [
        shipment("cotton t-shirt", "t-shirt", sid="a"),
        {"shipment_id": 7, "listing_title": None},
        {"shipment_id": "c", "listing_title": "cotton t-shirt", "declared_hs_code": "9999.11"},
        {"shipment_id": "d", "listing_title": "cotton t-shirt", "declared_hs_code": 610910},
    ]
    results = fake_checker.check_many(items)
    assert [r.shipment_id for r in results] == ["a", "7", "c", "d"]
    assert results[0].error is None and results[3].error is None
    assert results[3].declared_hs6 == "610910"
    assert results[1].error and "title" in results[1].error
    assert results[2].error and "9999.11" in results[2].error
    assert fake_checker.check_many([]) == []


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ({"listing_title": ""}, "title"),
        ({"listing_title": "   "}, "title"),
        ({"listing_title": "<b></b>\x00"}, "empty after removing markup"),
        ({"listing_title": "mug", "declared_hs_code": "4419.AB"}, "4419.AB"),
        ({"listing_title": "mug", "declared_hs_code": "9999.11"}, "subheading 9999.11"),
        (shipment("mug", "mug", "8471.20"), "subheading 8471.20"),
    ],
)
def test_check_raises_for_invalid_shipments(fake_checker: Checker, item, fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        fake_checker.check(item)


def test_results_identical_from_eight_threads(fake_checker: Checker, shipments_rows: list[dict]) -> None:
    items = [
        *shipments_rows,
        *(
            shipment(t, d, c, sid=f"T{i}")
            for i, (t, d, c) in enumerate(
                [
                    ("TDP-5 pill press", "linear guide rail", "8482.10"),
                    ("NJP-200 capsule filler", "capsule filling machine", "8422.30"),
                    ("leather wallet for men", "wallet", "4202.31"),
                    ("ceramic coffee mug 350 ml", "mug", None),
                    ("LED desk lamp with USB charger", "lamp", "9405.21"),
                    ("kids plastic toy car", "toys", "9503.00"),
                ]
            )
        ),
    ]
    serial = [r.model_dump() for r in fake_checker.check_many(items)]
    # A fresh embedder and cache, so the threads race on embedding, not just on cache reads.
    checker = Checker(
        HashingEmbedder(cache=MemoryCache()),
        index=fake_checker.index,
        catalogue=fake_checker.catalogue,
        home=fake_checker.home,
    )

    def run(k: int) -> list[dict]:
        rotated = items[k:] + items[:k]  # different orders, different batches
        results = checker.check_many(rotated)
        return [r.model_dump() for r in results[len(items) - k :] + results[: len(items) - k]]

    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(run, range(8)))
    for got in threaded:
        assert got == serial
    # One shipment at a time from many threads, too.
    with ThreadPoolExecutor(max_workers=8) as pool:
        singles = list(pool.map(lambda it: checker.check_many([it])[0].model_dump(), items))
    assert singles == serial


def test_view_cache_gives_the_same_results_as_none(fake_checker: Checker, shipments_rows: list[dict]) -> None:
    def fresh(size: int) -> Checker:
        return Checker(fake_checker.embedder, index=fake_checker.index, catalogue=fake_checker.catalogue,
                       home=fake_checker.home, view_cache_size=size)

    uncached = [r.model_dump() for r in fresh(0).check_many(shipments_rows)]
    checker = fresh(3)
    # Piecewise, so later calls mix cached views (built with other texts) and new ones.
    piecewise = [r.model_dump() for i in range(0, len(shipments_rows), 2)
                 for r in checker.check_many(shipments_rows[i : i + 2])]
    again = [r.model_dump() for r in checker.check_many(shipments_rows)]
    assert piecewise == uncached
    assert again == uncached
    assert len(checker._view_cache) == 3


def test_view_cache_is_dropped_when_the_config_changes(fake_checker: Checker) -> None:
    checker = Checker(fake_checker.embedder, index=fake_checker.index, catalogue=fake_checker.catalogue,
                      home=fake_checker.home)
    item = shipment("wireless earbuds", "wireless earphones", "8518.30")
    before = checker.check(item)
    checker.config = ScoringConfig(lexical_weight=0.0)
    after = checker.check(item)
    fresh = Checker(fake_checker.embedder, index=fake_checker.index, catalogue=fake_checker.catalogue,
                    home=fake_checker.home, config=ScoringConfig(lexical_weight=0.0))
    assert after == fresh.check(item)
    assert after.listing_hs6_top != before.listing_hs6_top  # the lexical bonus is gone from the scores
    assert len(checker._view_cache) == 2  # the listing and the declaration, of the new config only


def test_listings_and_declarations_are_validated_once_across_calls(
    fake_checker: Checker, shipments_rows: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    checker = Checker(fake_checker.embedder, index=fake_checker.index, catalogue=fake_checker.catalogue,
                      home=fake_checker.home)
    validated: list[object] = []
    real = Checker._listing_part
    monkeypatch.setattr(Checker, "_listing_part", lambda self, src: validated.append(src) or real(self, src))
    first = [r.model_dump() for r in checker.check_many(shipments_rows)]
    assert len(validated) == 6  # 7 rows, one listing twice
    assert [r.model_dump() for r in checker.check_many(shipments_rows)] == first
    assert len(validated) == 6  # the second call validated nothing again
    checker.catalogue = fake_checker.catalogue.__class__(list(fake_checker.catalogue._entries.values()), "another")
    checker.check_many(shipments_rows[:1])
    assert len(validated) == 7  # a swapped catalogue: validated afresh


def test_checker_refuses_an_index_of_another_model(fake_checker: Checker) -> None:
    with pytest.raises(InvalidInputError, match="index was built with"):
        Checker(HashingEmbedder(dimensions=64), index=fake_checker.index, catalogue=fake_checker.catalogue)


# -- classify -----------------------------------------------------------------------------
@pytest.mark.parametrize("top_k", [1, 3, 5, 12])
def test_classify_top_k_sorted(fake_checker: Checker, top_k: int) -> None:
    cands = fake_checker.classify("women's cotton t-shirt", top_k=top_k)
    assert len(cands) == top_k
    assert len({c.code for c in cands}) == top_k
    scores = [c.score for c in cands]
    assert scores == sorted(scores, reverse=True)
    assert all(c.level == 6 and len(c.code) == 6 and c.code in fake_checker.catalogue for c in cands)
    assert all(c.description for c in cands)


def test_classify_levels(fake_checker: Checker) -> None:
    six = fake_checker.classify("stainless steel wire", top_k=3, level=6)
    four = fake_checker.classify("stainless steel wire", top_k=3, level=4)
    two = fake_checker.classify("stainless steel wire", top_k=3, level=2)
    assert [len(c.code) for c in four] == [4, 4, 4] and [c.level for c in four] == [4, 4, 4]
    assert [len(c.code) for c in two] == [2, 2, 2]
    # The best code at every level is the prefix of the best subheading.
    assert four[0].code == six[0].code[:4] and two[0].code == six[0].code[:2]
    assert four[0].score == pytest.approx(six[0].score, abs=1e-4)
    assert all(c.description for c in two)
    assert two[0].description == fake_checker.catalogue.get(two[0].code).description


def test_classify_a_listing_and_many(fake_checker: Checker) -> None:
    listing = Listing(title="cotton t-shirt", category="Clothing > Tops", attributes="Material: Cotton")
    many = fake_checker.classify_many(["cotton t-shirt", listing, "ball bearing"], top_k=2)
    assert len(many) == 3 and all(len(c) == 2 for c in many)
    assert many[1] == fake_checker.classify(listing, top_k=2)
    assert many[0] == fake_checker.classify("cotton t-shirt", top_k=2)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"top_k": 0}, "top_k"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 101}, "top_k"),
        ({"level": 3}, "level"),
        ({"level": 8}, "level"),
    ],
)
def test_classify_rejects_bad_arguments(fake_checker: Checker, kwargs: dict, fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        fake_checker.classify("cotton t-shirt", **kwargs)


# -- is_vague -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("HGR20-1000", "part number"),
        ("SKU12345", "part number"),
        ("A123 B-456", "part number"),
        ("6204-2RS", "part number"),
        ("SPARE PARTS", "does not say"),
        ("parts", "does not say"),
        ("gift", "does not say"),
        ("Gifts for friends", None),
        ("sample - no commercial value", "does not say"),
        ("Accessories", "does not say"),
        ("auto parts", "does not say"),
        ("assorted goods, 3 pcs", "does not say"),
        ("machine parts", "does not say"),
        ("", "no description"),
        ("   ", "no description"),
        (None, "no description"),
        ("!!! ???", "no words"),
        ("cotton t-shirt", None),
        ("linear guide rail", None),
        ("wireless earphones", None),
        ("tablet press parts", None),
        ("ball bearing 6204", None),
        ("plastic toy car", None),
        ("new machine", None),
    ],
)
def test_is_vague(text: str | None, why: str | None) -> None:
    reason = is_vague(text)
    if why is None:
        assert reason is None
    else:
        assert reason is not None and why in reason


# -- clean_text ---------------------------------------------------------------------------
def test_clean_text_strips_markup() -> None:
    c = clean_text("<b>TDP-5</b> pill <i>press</i><script>alert('x')</script><style>p{}</style>")
    assert c.text == "TDP-5 pill press"
    assert c.had_markup and not c.truncated
    assert clean_text("Fish &amp; Chips &lt;3").text == "Fish & Chips <3"
    # A "<" that opens no tag is text, not markup.
    assert clean_text("a < b and c > d").text == "a < b and c > d"
    assert clean_text("resistor pack <1% tolerance >500 pcs").text == "resistor pack <1% tolerance >500 pcs"
    assert clean_text("pill <!-- x --> press <br/>die</p>").text == "pill press die"


def test_clean_text_control_chars_and_spaces() -> None:
    c = clean_text("pill\x00press\x07 \u200b\ufeffdie\u202e\n\n\tmold  ")
    assert c.text == "pill press die mold"
    assert clean_text("\x00\x01\x02").text == ""
    assert clean_text(None).text == "" and not clean_text(None).truncated


def test_clean_text_nfkc() -> None:
    assert clean_text("ＴＤＰ－５ ｐｉｌｌ ｐｒｅｓｓ").text == "TDP-5 pill press"
    assert clean_text("ﬁlter ①").text == "filter 1"
    assert clean_text("cafe\u0301").text == "café"


def test_clean_text_truncates_at_a_word_boundary() -> None:
    words = " ".join(f"word{i}" for i in range(400))
    c = clean_text(words)
    assert c.truncated
    assert len(c.text) <= MAX_TEXT_CHARS
    assert words.startswith(c.text)
    assert words[len(c.text)] == " "  # cut between words
    assert len(c.text) > MAX_TEXT_CHARS - 20
    short = clean_text("a b c", max_chars=3)
    assert short.text == "a b" and short.truncated
    # A single overlong word is cut hard rather than dropped.
    assert clean_text("x" * 1500).text == "x" * MAX_TEXT_CHARS


def test_clean_text_of_200_kb_is_fast() -> None:
    blob = ("<div>pill press " + "a" * 50 + " &amp; </div>\x00") * 3000
    assert len(blob) > 200_000
    start = time.perf_counter()
    c = clean_text(blob)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5
    assert c.truncated
    assert len(c.text) <= MAX_TEXT_CHARS
    assert "<" not in c.text and "\x00" not in c.text
    unclosed = "<" + "a" * 200_000
    start = time.perf_counter()
    clean_text(unclosed)
    assert time.perf_counter() - start < 0.5


def test_listing_texts_uses_material_and_category() -> None:
    listing = Listing(
        title="<b>Ring</b> for women",
        category="Jewelry > Rings",
        attributes="Material: Zinc alloy; Color: gold; Item Type: Rings; Brand: none",
    )
    title, category, truncated = listing_texts(listing)
    assert title == "Ring for women (Zinc alloy, Rings)"
    assert category == "Jewelry > Rings"
    assert not truncated
    assert listing_texts(Listing(title="x" * 5000))[2] is True


# -- the batch's fast path and per-part validation ------------------------------------------
_MIXED_ROWS = [
    {"shipment_id": "ok", "listing_title": "cotton t-shirt", "declared_description": "t-shirt",
     "declared_hs_code": "6109.10"},
    {"shipment_id": "no-code", "listing_title": "cotton t-shirt", "declared_description": "t-shirt"},
    {"shipment_id": "bad-code", "listing_title": "cotton t-shirt", "declared_hs_code": "4419.AB"},
    {"shipment_id": "no-title", "listing_title": "", "declared_hs_code": "4419.AB"},
    {"shipment_id": "markup", "listing_title": "<b></b>", "declared_hs_code": "4419.AB"},
    {"shipment_id": "huge", "listing_title": "mug", "declared_description": "x" * 100_001,
     "declared_hs_code": "4419.AB"},
    {"shipment_id": "huge-title", "listing_title": "m" * 100_001, "declared_hs_code": True},
    {"shipment_id": "int-code", "listing_title": "mug", "declared_hs_code": 691200},
    {"shipment_id": "float-code", "listing_title": "mug", "declared_hs_code": 691200.0},
    {"shipment_id": "bool-code", "listing_title": "mug", "declared_hs_code": True},
    {"shipment_id": "ok-again", "listing_title": "cotton t-shirt", "declared_description": "t-shirt",
     "declared_hs_code": "6109.10"},
]


def test_check_rows_equals_check_many_as_rows(fake_checker: Checker) -> None:
    from customs_check.batch import _result_row

    rows = fake_checker.check_rows(_MIXED_ROWS)
    assert rows == [_result_row(r) for r in fake_checker.check_many(_MIXED_ROWS)]
    assert [r["error_kind"] for r in rows] == [
        None, None, "invalid_hs_code", "missing_title", "missing_title", "oversize_text", "invalid_value",
        None, None, "invalid_value", None,
    ]


def test_a_row_reports_the_error_a_reader_fixes_first(fake_checker: Checker) -> None:
    by_id = {r.shipment_id: r for r in fake_checker.check_many(_MIXED_ROWS)}
    # Listing fields come before the declaration's, field errors before sizes, sizes
    # before emptiness after cleaning, and that before the code lookup.
    assert by_id["no-title"].error.startswith("listing_title:")
    assert by_id["markup"].error.startswith("listing_title: is empty after removing markup")
    assert by_id["huge"].error.startswith("declared_description: 100,001 characters")
    assert by_id["huge-title"].error.startswith("declared_hs_code:")  # a field error beats a size
    # Equal as dict keys (True == 1), different as inputs: each judged on its own.
    assert by_id["int-code"].declared_hs6 == by_id["float-code"].declared_hs6 == "691200"
    assert by_id["bool-code"].error and by_id["bool-code"].error.startswith("declared_hs_code:")


def test_check_many_names_an_item_of_the_wrong_type(fake_checker: Checker) -> None:
    results = fake_checker.check_many([["mug", "6912.00"], {"listing_title": "mug"}])
    assert results[0].error == "expected a Shipment or a dict of batch columns, got list"
    assert results[1].error is None


@pytest.mark.parametrize(("code", "error", "hint"), [
    ("84x9", InvalidHSCodeError, "write it like 8479.89 or 847989"),
    ("9999.11", UnknownHSCodeError, "check the digits, or give only the heading (4 digits)"),
])
def test_check_raises_the_code_error_itself_with_its_hint(fake_checker: Checker, code: str,
                                                          error: type[InvalidInputError], hint: str) -> None:
    with pytest.raises(error) as info:
        fake_checker.check(Shipment(listing=Listing(title="pill press"), declaration=Declaration(hs_code=code)))
    assert info.value.hint == hint
    # check_many reports the same problem as a result, as before
    [result] = fake_checker.check_many([{"listing_title": "pill press", "declared_hs_code": code}])
    assert result.error == str(info.value) and result.error_kind == info.value.kind


@pytest.mark.parametrize("text", ["", "   ", "<b></b>", "\x00\x01"])
def test_classifying_no_text_is_refused_or_gets_no_candidates(fake_checker: Checker, text: str) -> None:
    with pytest.raises(InvalidInputError, match="empty after removing markup and control characters"):
        fake_checker.classify(text)
    empty, kettle = fake_checker.classify_many([text, "electric kettle"])
    assert empty == [] and kettle == fake_checker.classify("electric kettle")


@pytest.mark.parametrize(("title", "message"), [("   ", "listing_title: is empty (or only white space)"),
                                                (None, "listing_title: is missing")])
def test_a_missing_or_blank_title_is_named_plainly(fake_checker: Checker, title: str | None, message: str) -> None:
    [result] = fake_checker.check_many([{"listing_title": title, "declared_description": "kettle"}])
    assert (result.error, result.error_kind) == (message, "missing_title")
