"""The watchlist: exact evidence, CAS check digits, look-alikes that must pass, priority."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest
from customs_check.embeddings import HashingEmbedder, MemoryCache

from customs_check.errors import InputFileError
from customs_check.models import WatchlistHit
from customs_check.scoring import ScoringConfig
from customs_check.watchlist import Watchlist, valid_cas

WATCHLIST = Watchlist.load()
EMBEDDER = HashingEmbedder(cache=MemoryCache())
CONFIG = ScoringConfig()
TOML = tomllib.loads((resources.files("customs_check.hs_codes") / "watchlist.toml").read_text(encoding="utf-8"))


def match(
    *texts: str,
    min_similarity: float = CONFIG.watchlist_min_similarity,
    min_margin: float = CONFIG.watchlist_min_margin,
) -> list[list[WatchlistHit]]:
    return WATCHLIST.match(
        list(texts), EMBEDDER.embed(list(texts)), EMBEDDER, min_similarity=min_similarity, min_margin=min_margin
    )


def exact(text: str) -> dict[str, list[str]]:
    """Exact evidence per category (no embeddings involved)."""
    out = {cid: cat.exact_evidence(text) for cid, cat in WATCHLIST.categories.items()}
    return {cid: ev for cid, ev in out.items() if ev}


def test_builtin_watchlist_loads() -> None:
    assert WATCHLIST.source == "builtin"
    assert set(WATCHLIST.categories) == {
        "tablet_press",
        "encapsulator",
        "press_tooling",
        "press_parts",
        "drug_precursor",
    }
    assert WATCHLIST.categories["tablet_press"].hs6 == ("847989",)
    assert WATCHLIST.categories["encapsulator"].hs6 == ("842230",)
    assert set(WATCHLIST.categories["press_tooling"].hs6) == {"847990", "820730"}
    assert WATCHLIST.family("tablet_press") == WATCHLIST.family("press_tooling") == "press"
    assert WATCHLIST.family("drug_precursor") == "precursor"
    assert len(WATCHLIST.lookalikes) == len(TOML["lookalikes"]["exemplars"]) > 10
    assert all(cat.exemplars for cat in WATCHLIST.categories.values())


def test_watchlist_codes_exist_in_the_catalogue() -> None:
    from customs_check.hs_codes.catalogue import load_catalogue

    catalogue = load_catalogue()
    for cat in WATCHLIST.categories.values():
        for code in cat.hs6:
            assert code in catalogue, (cat.id, code)


# -- exact evidence -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "category", "evidence"),
    [
        ("TDP-5 pill press 5000 pills per hour", "tablet_press", 'pattern "TDP-5"'),
        ("TDP-5 pill press 5000 pills per hour", "tablet_press", 'phrase "pill press"'),
        ("TDP-5 pill press 5000 pills per hour", "tablet_press", 'phrase "pills per hour"'),
        ("TDP 1.5 manual machine", "tablet_press", 'pattern "TDP 1.5"'),
        ("TDP0 desktop", "tablet_press", 'pattern "TDP0"'),
        ("ZP17 rotary", "tablet_press", 'pattern "ZP17"'),
        ("ZP-35D rotary", "tablet_press", 'pattern "ZP-35D"'),
        ("Pill-Press heavy duty", "tablet_press", 'phrase "Pill-Press"'),
        ("tablet  pressing machine", "tablet_press", 'phrase "tablet  pressing machine"'),
        ("eccentric press for tablets", "tablet_press", "pattern"),
        ("NJP-200 automatic", "encapsulator", 'pattern "NJP-2"'),
        ("NJP 400", "encapsulator", 'pattern "NJP 4"'),
        ("manual capsule filler size 0", "encapsulator", 'phrase "capsule filler"'),
        ("Encapsulator for powders", "encapsulator", 'phrase "Encapsulator"'),
        ("pill press die mold with logo", "press_tooling", 'phrase "pill press die"'),
        ("M30 dies", "press_tooling", 'pattern "M30 dies"'),
        ("custom logo punch", "press_tooling", 'phrase "custom logo punch"'),
        ("hopper for TDP-5", "press_parts", 'pattern "hopper for TDP"'),
        ("tablet press spare parts", "press_parts", 'phrase "tablet press spare parts"'),
        ("CAS 39742-60-4 white powder", "drug_precursor", "CAS 39742-60-4"),
        ("4-piperidone HCl H2O, CAS: 40064-34-4", "drug_precursor", "CAS 40064-34-4"),
        ("sodium salt 5449-12-7", "drug_precursor", "CAS 5449-12-7"),
        ("CAS 125541-22-2", "drug_precursor", "CAS 125541-22-2"),
        ("N-phenethyl-4-piperidone", "drug_precursor", 'phrase "N-phenethyl-4-piperidone"'),
        ("1-boc-4-piperidone", "drug_precursor", 'phrase "1-boc-4-piperidone"'),
        ("BMK powder", "drug_precursor", 'pattern "BMK powder"'),
        ("high purity ANPP", "drug_precursor", 'pattern "purity ANPP"'),
        ("pseudoephedrine hydrochloride", "drug_precursor", 'phrase "pseudoephedrine"'),
    ],
)
def test_exact_evidence(text: str, category: str, evidence: str) -> None:
    found = exact(text)
    assert category in found, found
    assert any(evidence in e for e in found[category]), found[category]
    hits = match(text)[0]
    hit = next(h for h in hits if h.category == category)
    assert hit.score == 1.0
    assert hit.label == WATCHLIST.categories[category].label


def test_every_builtin_phrase_and_cas_is_evidence_alone() -> None:
    for cid, spec in TOML["categories"].items():
        cat = WATCHLIST.categories[cid]
        for phrase in spec.get("phrases", []):
            assert cat.exact_evidence(f"new {phrase} for sale"), (cid, phrase)
        for number in spec.get("cas", []):
            assert f"CAS {number}" in cat.exact_evidence(f"item CAS {number} 99%"), (cid, number)


def test_evidence_is_not_repeated() -> None:
    ev = exact("pill press, pill press, PILL PRESS")["tablet_press"]
    assert len(ev) == len(set(ev))


@pytest.mark.parametrize(
    "text",
    [
        "CAS 40064-34-5",  # check digit wrong
        "CAS 39742-60-5",
        "140064-34-4",  # part of a longer number
        "40064-34-45",
        "40064-34-4-1",
        "CAS 50-00-0",  # formaldehyde: valid, but not listed
        "4-piperidonex",  # not the whole word
        "xtablet press",
        "topiperidone",
    ],
)
def test_near_misses_are_not_exact_evidence(text: str) -> None:
    assert exact(text) == {}


# -- CAS check digits ---------------------------------------------------------------------
TOML_CAS = [n for spec in TOML["categories"].values() for n in spec.get("cas", [])]


def test_toml_lists_cas_numbers() -> None:
    assert len(TOML_CAS) >= 19
    assert "40064-34-4" in TOML_CAS


@pytest.mark.parametrize("number", TOML_CAS)
def test_valid_cas_accepts_listed_numbers_and_rejects_altered_ones(number: str) -> None:
    assert valid_cas(number)
    assert valid_cas(f"  {number} ")
    body, check = number[:-1], int(number[-1])
    for other in range(10):
        if other != check:
            assert not valid_cas(f"{body}{other}"), f"{body}{other}"
    # The last body digit has weight 1: changing it always breaks the check digit.
    head, last_body = number[: number.rfind("-") - 1], int(number[number.rfind("-") - 1])
    altered = f"{head}{(last_body + 1) % 10}{number[number.rfind('-') :]}"
    assert not valid_cas(altered), altered


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("7732-18-5", True),
        ("64-17-5", True),
        ("50-00-0", True),
        ("7732-18-4", False),
        ("", False),
        ("abc", False),
        ("1-23-4", False),
        ("7732185", False),
        ("12345678-12-3", False),
        ("7732-18-55", False),
        ("7732_18_5", False),
    ],
)
def test_valid_cas(number: str, ok: bool) -> None:
    assert valid_cas(number) is ok


# -- look-alikes --------------------------------------------------------------------------
LOOKALIKES = [
    "20 ton hydraulic shop press with pressure gauge",
    "H-frame hydraulic press for the workshop",
    "linear guide rail HGR20 with carriage block",
    "linear guide rail",
    "cotton candy machine",
    "hard candy making machine",
    "calcium chloride flakes for de-icing, 25 kg",
    "plastic injection mould for bottle caps",
    "android tablet 10 inch 4GB RAM wifi",
    "Intel Core i5 CPU TDP 65 W",
    "AMD Ryzen 7 processor, TDP 65W, 8 cores",
    "P2P wifi camera 1080p night vision",
    "fentanyl test strips 10 pack",
    "Fentanyl testing kit for harm reduction",
    "coffee capsule machine for nespresso",
    "Nespresso compatible capsule filling kit for coffee",
    "silicone chocolate mold pill shape",
    "MAPA nitrile gloves",
    "pseudoephedrine nasal spray",
    "vitamin C tablets 1000mg",
]


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_do_not_hit(text: str) -> None:
    assert exact(text) == {}
    assert match(text)[0] == []


def test_builtin_lookalike_exemplars_do_not_hit() -> None:
    texts = list(WATCHLIST.lookalikes)
    assert all(hits == [] for hits in match(*texts)), [(t, h) for t, h in zip(texts, match(*texts), strict=True) if h]


def test_exclude_vetoes_only_its_own_category() -> None:
    # "TDP" on a CPU is excluded for tablet presses, but a CAS number next to it still counts.
    found = exact("CPU TDP 65 W, thermal paste CAS 39742-60-4")
    assert set(found) == {"drug_precursor"}
    assert exact("fentanyl powder") == {"drug_precursor": ['phrase "fentanyl"']}


# -- semantic evidence --------------------------------------------------------------------
def test_semantic_evidence_near_an_exemplar() -> None:
    text = "electric maker machine for vitamin tablets"  # no listed phrase or pattern
    assert exact(text) == {}
    hits = match(text)[0]
    assert [h.category for h in hits] == ["tablet_press"]
    assert hits[0].evidence[0].startswith('near exemplar "electric pill maker machine for vitamin tablets"')
    assert CONFIG.watchlist_min_similarity <= hits[0].score < 1.0
    # Raise the bar above its similarity and the hit disappears.
    assert match(text, min_similarity=hits[0].score + 0.01)[0] == []
    assert match(text, min_margin=1.5)[0] == []


def test_semantic_evidence_names_the_right_exemplar_per_category() -> None:
    text = "semi automatic filler 00 size capsules"
    hits = match(text)[0]
    assert [h.category for h in hits] == ["encapsulator"]
    assert 'near exemplar "semi automatic capsule filler 00 size"' in hits[0].evidence[0]


def test_exemplars_are_embedded_once_per_model() -> None:
    wl = Watchlist.load()
    emb = HashingEmbedder(cache=MemoryCache())
    wl.match(["x"], emb.embed(["x"]), emb, min_similarity=0.7, min_margin=0.0)
    embedded = emb.texts_embedded
    wl.match(["y"], emb.embed(["y"]), emb, min_similarity=0.7, min_margin=0.0)
    assert emb.texts_embedded == embedded + 1  # only "y"


# -- ordering -----------------------------------------------------------------------------
def test_priority_tooling_before_press() -> None:
    hits = match("pill press die mold")[0]
    assert [h.category for h in hits][:2] == ["press_tooling", "tablet_press"]
    assert all(h.score == 1.0 for h in hits[:2])


def test_priority_parts_before_press() -> None:
    hits = match("hopper for TDP-5")[0]
    assert [h.category for h in hits] == ["press_parts", "tablet_press"]


def test_multiple_texts_keep_their_order() -> None:
    results = match("cotton t-shirt", "NJP-200 capsule filler", "CAS 103-79-7")
    assert results[0] == []
    assert [h.category for h in results[1]] == ["encapsulator"]
    assert [h.category for h in results[2]] == ["drug_precursor"]


# -- a user's watchlist file --------------------------------------------------------------
def test_custom_watchlist_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        """
[categories.pressure_vessel]
label = "pressure vessel"
hs_codes = ["7311.00"]
phrases = ["gas cylinder"]
patterns = ['\\bCO2\\s+tank\\b']
cas = ["7732-18-5"]
exclude = ['\\btoy\\b']
exemplars = ["steel gas cylinder for welding"]
""",
        encoding="utf-8",
    )
    wl = Watchlist.load(path)
    assert wl.source == str(path)
    cat = wl.categories["pressure_vessel"]
    assert cat.family == "pressure_vessel"  # defaults to the id
    assert cat.hs6 == ("731100",)
    assert cat.exact_evidence("Gas Cylinder 40L") == ['phrase "Gas Cylinder"']
    assert cat.exact_evidence("co2 tank 5 lb") == ['pattern "co2 tank"']
    assert cat.exact_evidence("water CAS 7732-18-5") == ["CAS 7732-18-5"]
    assert cat.exact_evidence("toy gas cylinder") == []
    emb = HashingEmbedder(cache=MemoryCache())
    texts = ["gas cylinder", "cotton t-shirt"]
    hits = wl.match(texts, emb.embed(texts), emb, min_similarity=0.72, min_margin=0.06)
    assert [h.category for h in hits[0]] == ["pressure_vessel"]
    assert hits[1] == []


def test_prefilter_changes_no_evidence(tmp_path: Path) -> None:
    """The one-search prefilter must find evidence exactly where the per-pattern search
    does: every phrase, exemplar and CAS number of every category, in and out of context."""
    import dataclasses

    texts = ["stainless steel water bottle", "USB car charger 20W", "CAS 79-11-8 and 110-86-1 bulk", ""]
    for cat in WATCHLIST.categories.values():
        for t in (*cat.phrases, *cat.exemplars, *sorted(cat.cas)):
            texts += [t, f"New 2024 {t.upper()} for sale, fast shipping", f"x{t}x"]
    checked = 0
    for cat in WATCHLIST.categories.values():
        plain = dataclasses.replace(cat)
        plain._prefilter = False
        assert cat._prefilter, cat.id  # the builtin patterns can all be joined
        for text in texts:
            assert cat.exact_evidence(text) == plain.exact_evidence(text), (cat.id, text)
            checked += bool(plain.exact_evidence(text))
    assert checked > 50  # the corpus does hit evidence, not only misses


def test_joined_prefilter_changes_no_hit() -> None:
    """match() skips every category's evidence search for a text the joined prefilter
    does not match, and the exclusions for a text without a would-be hit: the hits must
    be those of the plain search, exclusions and exemplar matches included."""
    texts = ["stainless steel water bottle", "Intel CPU TDP 65W", "fentanyl test strips 10 pack", "", "x"]
    for cat in WATCHLIST.categories.values():
        for t in (*cat.phrases, *cat.exemplars, *sorted(cat.cas)):
            texts += [t, f"New 2024 {t.upper()} for sale, fast shipping", f"x{t}x"]
    texts += list(WATCHLIST.lookalikes)
    emb = HashingEmbedder(cache=MemoryCache())
    vectors = emb.embed(texts)
    plain = Watchlist.load()
    plain._any_evidence = None
    assert WATCHLIST._any_evidence is not None  # the builtin categories can be joined
    fast = WATCHLIST.match(texts, vectors, emb, min_similarity=0.5, min_margin=0.0)
    assert fast == plain.match(texts, vectors, emb, min_similarity=0.5, min_margin=0.0)
    assert sum(bool(h) for h in fast) > 100 and sum(not h for h in fast) > 5


def test_patterns_with_groups_are_searched_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('[categories.x]\nlabel = "x"\nphrases = ["foo"]\npatterns = [\'(a)\\1b\', "zz\\\\d+"]\n')
    cat = Watchlist.load(path).categories["x"]
    assert not cat._prefilter
    assert Watchlist.load(path)._any_evidence is None  # nor joined with the other categories
    assert cat.exact_evidence("an aab here") == ['pattern "aab"']
    assert cat.exact_evidence("foo zz12") == ['phrase "foo"', 'pattern "zz12"']


@pytest.mark.parametrize(("content", "fragment"), [
    (b"not toml [[[", "not a usable watchlist: Expected '='"),
    (b"\xff\xfe[categories.x]\n", "not a usable watchlist: 'utf-8' codec can't decode"),
    (b'[categories.x]\npatterns = ["("]\n', "not a usable watchlist: missing ), unterminated subpattern"),
    (b'[categories.x]\nhs_codes = ["84x9"]\n', "not a usable watchlist: HS code '84x9' is malformed"),
    (b"[categories]\nx = 1\n", "not a usable watchlist: 'int' object has no attribute 'get'"),
    (b"foo = 1\n", "the watchlist has no category (no [categories.NAME] table)"),
])
def test_an_unusable_watchlist_file_is_an_input_error(tmp_path: Path, content: bytes, fragment: str) -> None:
    # A watchlist that silently matched nothing would let concealed presses through.
    path = tmp_path / "watchlist.toml"
    path.write_bytes(content)
    with pytest.raises(InputFileError) as info:
        Watchlist.load(path)
    assert info.value.message.startswith(f"{path}: ") and fragment in info.value.message
    assert info.value.exit_code == 3 and "[categories.NAME]" in (info.value.hint or "")


def test_a_missing_watchlist_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot read the watchlist: No such file or directory"):
        Watchlist.load(tmp_path / "none.toml")
