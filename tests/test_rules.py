"""The tariff rules: what they read from a query, and how they move hand-made candidates.

The candidate scores here are made up; a rule's effect is checked against the real
catalogue texts, which is where the rules take every code attribute from."""

from __future__ import annotations

import numpy as np
import pytest
from customs_check.embeddings import HashingEmbedder, MemoryCache
from customs_check.hs_codes.catalogue import load_catalogue

from customs_check.checker import Checker
from customs_check.rules import ALL_RULES, TariffRules, head_phrase, query_facts


@pytest.fixture(scope="module")
def rules() -> TariffRules:
    return TariffRules(load_catalogue())


def _scorer(known: dict[str, float], default: float = 0.5):
    """A score_code stand-in: codes in ``known`` score that, any other code ``default``."""

    def score(code: str) -> tuple[float, float]:
        s = known.get(code, default)
        return s, s

    return score


def _ranked(scores: dict[str, tuple[float, float]]) -> list[str]:
    return [c for c, _ in sorted(scores.items(), key=lambda kv: -kv[1][0])]


def _cands(**codes: float) -> dict[str, tuple[float, float]]:
    return {c.lstrip("c"): (s, s) for c, s in codes.items()}


# -- reading the query ----------------------------------------------------------------------
@pytest.mark.parametrize(("text", "construction"), [
    ("women's knitted cardigan", "knit"),
    ("a crocheted shawl", "knit"),
    ("polar fleece jacket", "knit"),
    ("men's denim jeans", "woven"),
    ("cotton poplin shirt", "woven"),
    ("knit top with woven trim", None),
    ("men's jacket", None),
])
def test_construction(text: str, construction: str | None) -> None:
    assert query_facts(text).construction == construction


@pytest.mark.parametrize(("text", "gender", "baby"), [
    ("Men's Clothing > Jeans", "M", False),
    ("a girl's knit ensemble", "F", False),
    ("Ladies blouse", "F", False),
    ("unisex hoodie for men and women", None, False),
    ("men's and women's socks", None, False),
    ("romper for infants and toddlers", None, True),
    ("toddler coat", None, False),
])
def test_gender_and_babies(text: str, gender: str | None, baby: bool) -> None:
    facts = query_facts(text)
    assert (facts.gender, facts.baby) == (gender, baby)


def test_fibre_by_weight_percentages_win_over_order() -> None:
    facts = query_facts("a vest of 10% polyester and 90% cotton")
    assert dict(facts.fibres) == {"synthetic": 10.0, "cotton": 90.0}
    assert facts.material == "cotton"


def test_fibre_without_percentages_first_named_weighs_most() -> None:
    facts = query_facts("jacket made from polyester, rayon and cotton")
    assert facts.material == "synthetic"
    assert facts.fibres["synthetic"] > facts.fibres["artificial"] > facts.fibres["cotton"]


def test_faux_leather_is_not_leather() -> None:
    assert "leather" not in query_facts("faux leather pants").fibres
    assert query_facts("genuine leather jacket").material == "leather"


@pytest.mark.parametrize(("text", "head"), [
    ("solenoid valve parts used in an auto braking system", "solenoid valve parts"),
    ("a heater designed for outdoor enclosures", "a heater"),
    ("steel tubes for use in the construction of mufflers", "steel tubes"),
    ("pipe spools, used in steam generators", "pipe spools"),
    ("a garden hose nozzle", None),
])
def test_head_phrase(text: str, head: str | None) -> None:
    assert head_phrase(text) == head


# -- apparel ----------------------------------------------------------------------------------
def test_code_fibres_come_from_the_catalogue(rules: TariffRules) -> None:
    assert rules._code("610342").fibres == {"cotton"}
    assert rules._code("610130").fibres == {"synthetic", "artificial"}  # man-made fibres
    # "other than wool or fine animal hair, cotton or synthetic fibres": artificial falls here
    assert rules._code("610349").fibres == {"artificial", "silk", "vegetable", "other"}
    # "n.e.c. in item no. 6203.1" next to wool and synthetic suits: cotton suits fall here
    assert "cotton" in rules._code("620319").fibres
    assert rules._code("610310").fibres is None  # suits of 6103 are not split by fibre
    assert (rules._code("620463").construction, rules._code("620463").gender) == ("woven", "F")
    assert rules._code("621210").construction is None  # "whether or not knitted"


def test_knitted_garment_moves_to_chapter_61(rules: TariffRules) -> None:
    cands = _cands(c620342=0.70, c620462=0.66, c950300=0.60)
    out = rules.rerank("men's knitted trousers of cotton", cands, _scorer({"610342": 0.68}))
    assert _ranked(out)[0] == "610342"
    assert out["620342"][0] == pytest.approx(0.70 - rules.conflict_penalty)
    assert out["620342"][1] == 0.70  # the cosine is reported unchanged


def test_gender_moves_to_the_parallel_heading(rules: TariffRules) -> None:
    cands = _cands(c620333=0.70, c620343=0.65, c950300=0.6)
    out = rules.rerank("women's woven jacket of polyester", cands, _scorer({"620433": 0.69}))
    assert _ranked(out)[0] == "620433"


def test_predominant_fibre_picks_the_subheading(rules: TariffRules) -> None:
    cands = _cands(c610443=0.70, c610442=0.69, c610449=0.68)
    out = rules.rerank("a women's knit dress of 80% cotton and 20% polyester", cands, _scorer({}))
    assert _ranked(out)[0] == "610442"
    assert out["610443"][0] == pytest.approx(0.70 - rules.fibre_penalty)


def test_babies_garments(rules: TariffRules) -> None:
    cands = _cands(c610443=0.70, c610442=0.69, c950300=0.5)
    out = rules.rerank("knit cotton dress for infants", cands, _scorer({"611120": 0.68}))
    assert _ranked(out)[0] == "611120"


def test_apparel_rules_need_a_garment_among_the_best(rules: TariffRules) -> None:
    cands = _cands(c844711=0.70, c844720=0.69, c845190=0.6)
    out = rules.rerank("circular knitting machine for men's socks", cands, _scorer({}))
    assert out == cands


def test_garment_of_plastics_is_3926_20(rules: TariffRules) -> None:
    cands = _cands(c621020=0.70, c611300=0.68, c610130=0.66)
    out = rules.rerank("a men's raincoat made from PVC with a polyester lining", cands, _scorer({"392620": 0.55}))
    assert _ranked(out)[0] == "392620"
    assert out["392620"] == (pytest.approx(0.70 + rules.material_bonus), 0.55)


def test_garment_of_leather_is_4203(rules: TariffRules) -> None:
    cands = _cands(c620140=0.70, c610130=0.65, c950300=0.5)
    out = rules.rerank("men's genuine leather jacket", cands, _scorer({"420310": 0.60, "420340": 0.58}))
    assert _ranked(out)[:2] == ["420310", "420340"]
    # Faux leather stays textile.
    out = rules.rerank("men's faux leather jacket of polyester", cands, _scorer({"420310": 0.60}))
    assert _ranked(out)[0][:2] in ("61", "62")


# -- parts, jewellery ---------------------------------------------------------------------------
def test_parts_prefer_the_parts_subheading(rules: TariffRules) -> None:
    cands = _cands(c848180=0.70, c848120=0.66, c870830=0.65)
    out = rules.rerank("valve parts", cands, _scorer({"848190": 0.69}))
    assert _ranked(out)[0] == "848190"
    assert out["848180"] == cands["848180"]
    assert rules.rerank("valves", cands, _scorer({"848190": 0.69})) == cands


@pytest.mark.parametrize(("text", "best"), [
    ("925 sterling silver ring", "711311"),
    ("gold plated ring with cubic zirconia", "711620"),
    ("freshwater pearl necklace on brass chain", "711610"),
    ("zinc alloy fashion ring", "711719"),
])
def test_jewellery_by_chapter_71_notes(rules: TariffRules, text: str, best: str) -> None:
    cands = _cands(c711719=0.70, c711311=0.69, c711790=0.6)
    out = rules.rerank(text, cands, _scorer({"711311": 0.69, "711319": 0.6}, default=0.55))
    assert _ranked(out)[0] == best


def test_jewellery_without_a_material_is_left_alone(rules: TariffRules) -> None:
    cands = _cands(c711719=0.70, c711311=0.69, c711790=0.6)
    assert rules.rerank("heart necklace for women", cands, _scorer({})) == cands


def test_rules_can_be_switched_off() -> None:
    off = TariffRules(load_catalogue(), enabled=frozenset())
    cands = _cands(c620342=0.70, c620462=0.66)
    assert off.rerank("men's knitted trousers", cands, _scorer({"610342": 0.68})) == cands
    with pytest.raises(ValueError, match="unknown rules"):
        TariffRules(load_catalogue(), enabled=ALL_RULES | {"nope"})


# -- use clause: the head phrase's vector -------------------------------------------------------
class _CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(cache=MemoryCache())
        self.seen: list[str] = []

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return super().embed_batch(texts)


def test_query_vectors_mix_in_the_head_once_per_text() -> None:
    emb = _CountingEmbedder()
    r = TariffRules(load_catalogue(), emb, head_weight=0.5)
    texts = ["valve parts used in a brake system", "a garden hose", "valve parts used in a brake system"]
    vecs = emb.embed(texts)
    emb.seen.clear()
    out, changed = r.query_vectors(texts, vecs)
    assert changed == [True, False, True]
    assert emb.seen == ["valve parts"]  # one head, embedded once
    head = emb.embed(["valve parts"])[0]
    expected = 0.5 * head + 0.5 * vecs[0]
    np.testing.assert_allclose(out[0], expected / np.linalg.norm(expected), rtol=1e-5)
    np.testing.assert_array_equal(out[1], vecs[1])
    r.query_vectors(texts, vecs)
    assert emb.seen == ["valve parts"]  # the cache answers the second time


def test_checker_searches_with_rules_and_reports_plain_cosines(fake_checker: Checker) -> None:
    assert isinstance(fake_checker.rules, TariffRules)
    text = "solenoid valve parts used in an auto braking system"
    vec = fake_checker.embedder.embed([text])
    hits = fake_checker.index.search_levels(vec, top_k=3, levels=(6, 4), texts=[text],
                                            rules=fake_checker.rules)[0]
    for level in (6, 4):
        for h in hits[level]:
            # The search vector had the head mixed in; the cosine reported is the query's own.
            assert h.dense == pytest.approx(fake_checker.index.code_score(vec[0], h.code))
    assert fake_checker.classify(text, top_k=3)


def test_may_rerank_is_false_only_where_rerank_changes_nothing(rules: TariffRules) -> None:
    """Searches skip the rules where may_rerank says no: it must never say no to a text
    and candidates the rules would move."""
    import itertools

    texts = ["men's knitted cotton pullover", "PVC rain jacket", "spare parts for gear pumps", "gold ring",
             "zinc alloy earrings", "stainless steel water bottle", "bluetooth earbuds", "leather gloves"]
    codes = ["610510", "620520", "392620", "711319", "711719", "841391", "961700", "851830", "420329", "420310"]
    seen = {True: 0, False: 0}
    for text, top in itertools.product(texts, itertools.combinations(codes, 3)):
        scores = {c: (0.9 - 0.01 * i, 0.8 - 0.01 * i) for i, c in enumerate(top)}
        scores.update({"940360": (0.5, 0.5), "630790": (0.4, 0.4)})
        may = rules.may_rerank(text, list(top))
        seen[may] += 1
        if not may:
            out = rules.rerank(text, dict(scores), _scorer({}, default=0.95))
            assert list(out.items()) == list(scores.items())
    assert seen[True] and seen[False]
