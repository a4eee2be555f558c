"""End-to-end checks with the real model (all-MiniLM-L6-v2, offline), through the ONNX
backend: the HS index (~40k texts) is built once for the module, ~1.5 min on 2 cores
instead of ~4 with torch. The torch path's vectors are checked against it in
tests/test_onnx.py. Marked ``model``: CI runs them; ``pytest -m "not model"`` skips them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from customs_check import Checker, Declaration, Listing, Severity, Shipment

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Checker:
    home: Path = tmp_path_factory.mktemp("real-home")
    return Checker.open("onnx", home=home, notify=lambda _m: None)


def _ship(title: str, description: str | None, code: str | None, category: str | None = None) -> Shipment:
    return Shipment(listing=Listing(title=title, category=category),
                    declaration=Declaration(description=description, hs_code=code))


def test_classifies_everyday_goods_into_the_right_heading(checker: Checker) -> None:
    cases = {
        "TWS Bluetooth 5.3 wireless earbuds with charging case": "8518",
        "Men's cotton crew neck t-shirt short sleeve": "6109",
        "Stainless steel vacuum insulated water bottle 750ml": "9617",
        "Human hair lace front wig body wave": "6704",
        "20W USB-C fast charger wall adapter": "8504",
    }
    for text, heading in cases.items():
        top3 = [c.code for c in checker.classify(text, top_k=3, level=4)]
        assert heading in top3, (text, top3)


def test_concealed_tablet_press_is_critical(checker: Checker) -> None:
    result = checker.check(_ship("TDP-5 single punch tablet press 5000 pills per hour", "LINEAR GUIDE RAIL",
                                 "8482.10"))
    assert result.mismatch is True
    assert result.severity is Severity.CRITICAL
    assert result.watchlist == "tablet_press"


def test_same_code_decoy_is_caught_by_text(checker: Checker) -> None:
    # 8479.89 is right for both a shop press and a tablet press: only the text tells.
    result = checker.check(_ship("ZP17 rotary tablet press with B/D tooling", "Hydraulic press", "8479.89"))
    assert result.severity is Severity.CRITICAL


def test_precursor_declared_as_dog_food_is_critical(checker: Checker) -> None:
    result = checker.check(_ship("N-phenethyl-4-piperidone 99% powder CAS 39742-60-4", "Dog food", "2309.10"))
    assert (result.watchlist, result.severity) == ("drug_precursor", Severity.CRITICAL)


def test_honest_declarations_and_lookalikes_pass(checker: Checker) -> None:
    honest = [
        _ship("TWS Bluetooth earbuds wireless headphones", "Wireless bluetooth earphones", "8518.30",
              "Consumer Electronics > Earphones & Headphones"),
        _ship("Linear guide rail HGR20 1000mm with 2 carriage blocks", "Linear guide rail with ball carriage",
              "8482.10"),
        _ship("20 ton hydraulic shop press H-frame with gauge", "Hydraulic shop press", "8479.89"),
        _ship("Calcium chloride flakes ice melt 25kg", "Calcium chloride", "2827.20"),
    ]
    for result in checker.check_many(honest):
        assert result.mismatch is False, result.reasons
        assert result.watchlist is None


def test_honest_tablet_press_is_a_watchlist_hit_without_mismatch(checker: Checker) -> None:
    result = checker.check(_ship("TDP-5 desktop tablet press for candy tablets", "Tablet press machine", "8479.89"))
    assert result.watchlist == "tablet_press"
    assert result.mismatch is False
    assert result.severity is Severity.MEDIUM


def test_chapter_swap_is_flagged(checker: Checker) -> None:
    result = checker.check(_ship("Luxury stainless steel automatic mechanical wrist watch for men",
                                 "Electronic integrated circuits", "8542.31", "Watches > Men's Watches"))
    assert result.mismatch is True
    assert result.severity in (Severity.HIGH, Severity.CRITICAL)
