"""Tariff rules: a small reranking layer that applies the HS legal structure to the
candidates of one query, after the dense + BM25 search and before the top-k cut.

A sentence model ranks codes by topic; the nomenclature ranks them by facts that are
often one word of the text: knitted or woven (chapter 61 or 62), men's or women's, the
fibre that predominates by weight, garments of plastics or leather (3926.20, 4203), and
goods declared as parts (the "parts" subheading of the machine's heading). The rules
here read those facts from the query and move the candidates accordingly; every code
attribute they use is read from the catalogue's own subheading texts, not hard-coded.

The rules are deterministic and stated as a customs classifier would state them
(section and chapter notes, GRI 1 and 3); none is there for a particular item.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from customs_check.embeddings.base import EmbeddingModel
    from customs_check.hs_codes.catalogue import HSCatalogue

__all__ = ["ALL_RULES", "QueryFacts", "ScoreFn", "TariffRules", "head_phrase", "query_facts"]

# (score used for ranking, cosine alone) of one HS6 code, as the index folds them.
Scored = tuple[float, float]
# Scores any HS6 code for the current query the way the search did (None: no rows).
ScoreFn = Callable[[str], Scored | None]

ALL_RULES = frozenset({"apparel", "apparel_material", "use_clause", "parts", "jewellery"})

# -- reading the query ---------------------------------------------------------------

_KNIT = re.compile(r"\b(knit|knits|knitted|knitting|crochet|crocheted|jersey|fleece|boiled wool)\b")
_WOVEN = re.compile(r"\b(woven|denim|jeans|poplin|twill|chambray|corduroy|seersucker|chiffon|taffeta|organza)\b")
_MALE = re.compile(r"\b(men|mens|men's|man|man's|boy|boys|boy's|boys'|male|gentlemen|gentleman)\b")
_FEMALE = re.compile(r"\b(women|womens|women's|woman|woman's|lady|ladies|ladies'|girl|girls|girl's|girls'|female)\b")
_UNISEX = re.compile(r"\bunisex\b")
# Babies' garments (chapter notes 61/62: young children up to 86 cm); "toddler" alone is
# not enough, since toddler sizes run past that.
_BABY = re.compile(r"\b(baby|babies|babies'|baby's|infant|infants|infants'|newborn|newborns)\b")
_PARTS = re.compile(r"\b(parts?|components?)\b")

# Fibre words to the fibre groups the subheadings of chapters 61/62 name. Plastics and
# leather count as materials too: a garment of them leaves chapters 61/62 altogether.
_FIBRES: dict[str, str] = {
    "cotton": "cotton",
    "wool": "wool", "woollen": "wool", "woolen": "wool", "merino": "wool", "lambswool": "wool",
    "alpaca": "wool", "mohair": "wool", "angora": "wool", "camel": "wool", "yak": "wool",
    "cashmere": "cashmere",
    "silk": "silk",
    "polyester": "synthetic", "nylon": "synthetic", "polyamide": "synthetic", "acrylic": "synthetic",
    "spandex": "synthetic", "elastane": "synthetic", "lycra": "synthetic", "polypropylene": "synthetic",
    "olefin": "synthetic", "aramid": "synthetic", "modacrylic": "synthetic",
    "rayon": "artificial", "viscose": "artificial", "modal": "artificial", "lyocell": "artificial",
    "tencel": "artificial", "acetate": "artificial", "triacetate": "artificial", "cupro": "artificial",
    "linen": "vegetable", "flax": "vegetable", "ramie": "vegetable", "hemp": "vegetable", "jute": "vegetable",
    "pvc": "plastics", "vinyl": "plastics", "plastic": "plastics", "plastics": "plastics",
    "polyurethane": "plastics",
    "leather": "leather",
}
_TEXTILE_GROUPS = frozenset({"cotton", "wool", "cashmere", "silk", "synthetic", "artificial", "vegetable", "other"})
_FIBRE_WORD = re.compile(r"\b(" + "|".join(sorted(_FIBRES, key=len, reverse=True)) + r")\b")
# A leather that is not leather: those garments stay textile (or plastics).
_FAUX = re.compile(r"\b(faux|fake|imitation|artificial|synthetic|vegan|pu|pvc)\s+leather\b")
_PERCENT_BEFORE = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%\s*(?:of\s+)?([a-z]+)")
_PERCENT_AFTER = re.compile(r"([a-z]+)\s*:?\s*(\d{1,3}(?:\.\d+)?)\s*%")

# "X used in Y": the goods are X (GRI 1: the heading that describes the article, not the
# machine it goes into), unless a heading for parts of Y claims them.
_USE_CLAUSE = re.compile(
    r"[,;]?\s*\b(?:used|for use|designed|intended|specially designed|suitable|specifically designed)\s+"
    r"(?:in|for|on|with|to|as|by)\b"
)


# Chapter 71 note 11: imitation jewellery (7117) incorporates no precious metal (other than
# as plating), no pearls and no precious or semi-precious stones, natural or synthetic;
# jewellery with such stones or pearls on other metal is 7116, of precious metal 7113.
_PRECIOUS_METAL = re.compile(
    r"\b(925|s925|sterling|platinum|karat|carat|(?:9|10|14|18|22|24)\s?k(?:t|arat)?|"
    r"(?:solid|real|pure) (?:gold|silver))\b"
)
_BASE_METAL = re.compile(
    r"\b(plated|plating|(?:gold|silver|rose gold)[ -](?:colou?r|tone|toned)|alloy|stainless|steel|copper|brass|zinc|"
    r"iron|titanium|aluminium|aluminum|tin)\b"
)
_PEARL = re.compile(r"\b(?<!imitation )(?<!faux )(?<!simulated )(?<!fake )(?<!artificial )pearls?\b")
_STONE = re.compile(
    r"\b(zircon|zirconia|zircons|cz|moissanite|diamonds?|jade|agate|opal|ruby|rubies|sapphires?|emeralds?|amethyst|"
    r"garnet|turquoise|topaz|tourmaline|quartz|gemstones?|birthstones?|natural stones?|semi-precious|onyx|"
    r"lapis|moonstone|aquamarine|peridot|citrine|jasper|obsidian|tiger eye)\b"
)
_NON_METAL = re.compile(r"\b(resin|acrylic|plastic|glass|wooden|wood|ceramic|leather|fabric|beaded|rhinestones?)\b")
_JEWELLERY_HEADINGS = ("7113", "7116", "7117")


@dataclass(frozen=True, slots=True)
class QueryFacts:
    """What the rules read from one query text."""

    construction: str | None = None  # "knit" | "woven"
    gender: str | None = None  # "M" | "F"
    baby: bool = False
    fibres: Mapping[str, float] = field(default_factory=dict)  # group -> weight
    parts: bool = False
    head: str | None = None  # the text before a use clause, when it has one

    @property
    def material(self) -> str | None:
        """The predominant material group, or None when no material is named."""
        if not self.fibres:
            return None
        return max(self.fibres.items(), key=lambda kv: kv[1])[0]


def head_phrase(text: str) -> str | None:
    """The goods of "X used in Y" / "X designed for Y": X, or None without such a clause
    (or when X would be too short to name goods)."""
    m = _USE_CLAUSE.search(text)
    if m is None:
        return None
    head = text[: m.start()].strip(" ,;:-")
    head = re.sub(r"\s+(?:that|which)\s+(?:is|are)$", "", head)
    return head if len(head.split()) >= 1 and len(head) >= 3 else None


def _fibre_weights(low: str) -> dict[str, float]:
    """Material group -> weight. Percentages decide where given (the fibre predominating
    by weight, chapter notes / section XI note 2); otherwise the first-named material
    weighs most, as descriptions name the main one first."""
    weights: dict[str, float] = {}
    for pct, word in _PERCENT_BEFORE.findall(low):
        if word in _FIBRES:
            weights[_FIBRES[word]] = weights.get(_FIBRES[word], 0.0) + float(pct)
    for word, pct in _PERCENT_AFTER.findall(low):
        if word in _FIBRES and not weights:
            # "Cotton 95%" style; only when the other style did not already read the text.
            weights[_FIBRES[word]] = weights.get(_FIBRES[word], 0.0) + float(pct)
    if weights:
        return weights
    faux = _FAUX.findall(low)
    for i, m in enumerate(_FIBRE_WORD.finditer(low)):
        group = _FIBRES[m.group(1)]
        if group == "leather" and faux:
            continue
        weights.setdefault(group, 1.0 / (i + 1))
    return weights


@lru_cache(maxsize=65536)
def query_facts(text: str) -> QueryFacts:
    """The facts of one query text (cached: classify and check read the same texts)."""
    low = text.lower()
    knit, woven = bool(_KNIT.search(low)), bool(_WOVEN.search(low))
    male, female = bool(_MALE.search(low)), bool(_FEMALE.search(low))
    gender = None if _UNISEX.search(low) or male == female else ("M" if male else "F")
    return QueryFacts(
        construction="knit" if knit and not woven else ("woven" if woven and not knit else None),
        gender=gender,
        baby=bool(_BABY.search(low)),
        fibres=_fibre_weights(low),
        parts=bool(_PARTS.search(low)),
        head=head_phrase(text),
    )


# -- reading the nomenclature ---------------------------------------------------------

# Knitted (chapter 61) and woven (chapter 62) headings for the same goods. T-shirts (6109)
# and jerseys/pullovers (6110) exist only knitted; their woven counterparts are shirts,
# blouses and the residual "other garments".
_KNIT_WOVEN: dict[str, tuple[str, ...]] = {
    "6101": ("6201",), "6102": ("6202",), "6103": ("6203",), "6104": ("6204",), "6105": ("6205",),
    "6106": ("6206",), "6107": ("6207",), "6108": ("6208",), "6109": ("6205", "6206", "6211"),
    "6110": ("6211", "6205", "6206"), "6111": ("6209",), "6112": ("6211",), "6113": ("6210",),
    "6114": ("6211",), "6116": ("6216",), "6117": ("6214", "6215", "6217"),
}
_WOVEN_KNIT: dict[str, tuple[str, ...]] = {}
for _k, _ws in _KNIT_WOVEN.items():
    for _w in _ws:
        _WOVEN_KNIT.setdefault(_w, ())
        _WOVEN_KNIT[_w] += (_k,)
# Men's/boys' and women's/girls' headings for the same goods.
_GENDER_PAIRS = {"6101": "6102", "6103": "6104", "6105": "6106", "6107": "6108",
                 "6201": "6202", "6203": "6204", "6205": "6206", "6207": "6208"}
_GENDER_PAIRS.update({v: k for k, v in list(_GENDER_PAIRS.items())})
_BABY_HEADING = {"61": "6111", "62": "6209"}
# Headings whose goods are garments (the ones the apparel rules may move between).
_GARMENT_HEADINGS = frozenset(_KNIT_WOVEN) | frozenset(_WOVEN_KNIT) | {"6112", "6115", "6212"}

def _garments(codes: Sequence[str]) -> list[str]:
    """The garment codes among ``codes`` (chapters 61/62, and garments of plastics or
    leather): what sets the apparel rules off."""
    return [c for c in codes if c[:4] in _GARMENT_HEADINGS or c in ("392620", "420310")]


def _has_jewellery(codes: Sequence[str]) -> bool:
    """Whether a jewellery heading is among ``codes``: what sets the chapter 71 rule off."""
    return any(c[:4] in _JEWELLERY_HEADINGS for c in codes)


_CODE_FIBRES: list[tuple[re.Pattern[str], frozenset[str]]] = [
    (re.compile(r"of wool or fine animal hair|of wool\b"), frozenset({"wool", "cashmere"})),
    # Before "cashmere": 6110.19 is fine animal hair "other than that of kashmir goats".
    (re.compile(r"of fine animal hair other than"), frozenset({"wool"})),
    (re.compile(r"kashmir|cashmere"), frozenset({"cashmere"})),
    (re.compile(r"of cotton"), frozenset({"cotton"})),
    (re.compile(r"of man-made fibres"), frozenset({"synthetic", "artificial"})),
    (re.compile(r"of synthetic fibres"), frozenset({"synthetic"})),
    (re.compile(r"of artificial fibres"), frozenset({"artificial"})),
    (re.compile(r"of silk"), frozenset({"silk"})),
]
_RESIDUAL = re.compile(r"other than|n\.e\.c\.")


def _named_fibres(desc: str) -> frozenset[str] | None:
    """The fibre groups a subheading text names (the first pattern that matches)."""
    for pattern, groups in _CODE_FIBRES:
        if pattern.search(desc):
            return groups
    return None


@dataclass(frozen=True, slots=True)
class _CodeFacts:
    construction: str | None
    gender: str | None
    baby: bool
    fibres: frozenset[str] | None  # None: the subheading does not split by fibre
    parts: bool


class TariffRules:
    """Reranks one query's candidate codes by the rules above.

    ``enabled`` picks rules by name (see :data:`ALL_RULES`); the weights are score
    offsets on the scale of a cosine (candidates of one query usually lie within 0.1).
    """

    def __init__(self, catalogue: HSCatalogue, embedder: EmbeddingModel | None = None, *,
                 enabled: frozenset[str] = ALL_RULES, conflict_penalty: float = 0.06,
                 fibre_penalty: float = 0.03, material_bonus: float = 0.02, parts_bonus: float = 0.02,
                 head_weight: float = 0.5, context: int = 3) -> None:
        unknown = enabled - ALL_RULES
        if unknown:
            raise ValueError(f"unknown rules: {', '.join(sorted(unknown))}")
        self.catalogue = catalogue
        self.embedder = embedder
        self.enabled = enabled
        self.conflict_penalty = conflict_penalty
        self.fibre_penalty = fibre_penalty
        self.material_bonus = material_bonus
        self.parts_bonus = parts_bonus
        self.head_weight = head_weight
        # The apparel rules fire only when a garment code is among the best `context`
        # candidates: "knit" in a query for knitting machines must not touch anything.
        self.context = context
        self._codes: dict[str, _CodeFacts] = {}
        self._by_heading: dict[str, list[str]] = {}
        for code in catalogue.subheadings:
            self._by_heading.setdefault(code[:4], []).append(code)
        self._goods_words: dict[str, str] = {}
        self._sibling_fibres: dict[str, list[frozenset[str]]] = {}

    def fingerprint(self) -> str:
        """Every setting of :meth:`__init__` (the keyword ones: the catalogue and the model
        are fingerprinted apart), as canonical JSON. Read from the signature, so a setting
        added later is covered without being listed here."""
        settings = {}
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.kind is inspect.Parameter.KEYWORD_ONLY:
                value = getattr(self, name)
                settings[name] = sorted(value) if isinstance(value, frozenset | set) else value
        return json.dumps(settings, sort_keys=True)

    # -- query vectors ----------------------------------------------------------------
    def query_vectors(self, texts: Sequence[str], vectors: np.ndarray) -> tuple[np.ndarray, list[bool]]:
        """Vectors to search with: a text with a use clause ("X used in Y") searches with
        its head phrase's vector mixed in, so Y stops pulling the result towards Y's own
        heading. Returns the vectors and which rows changed."""
        changed = [False] * len(texts)
        if "use_clause" not in self.enabled or self.embedder is None:
            return vectors, changed
        heads = [query_facts(t).head for t in texts]
        distinct = list(dict.fromkeys(h for h in heads if h))
        if not distinct:
            return vectors, changed
        head_vecs = dict(zip(distinct, self.embedder.embed(distinct), strict=True))
        out = np.array(vectors, dtype=np.float32, copy=True)
        w = self.head_weight
        for i, h in enumerate(heads):
            if h:
                mixed = w * head_vecs[h] + (1 - w) * out[i]
                norm = float(np.linalg.norm(mixed))
                if norm > 0:
                    out[i] = mixed / norm
                    changed[i] = True
        return out, changed

    # -- reranking --------------------------------------------------------------------
    def rerank(self, text: str, scores: dict[str, Scored], score_code: ScoreFn) -> dict[str, Scored]:
        """New scores for the candidates of ``text`` (HS6 code -> (score, cosine)); codes
        the rules add are scored with ``score_code``."""
        facts = query_facts(text)
        out = dict(scores)
        # The best few codes, recomputed only after a rule has changed the scores: most
        # queries pass every rule untouched, and this runs for every new text of a batch.
        top = self._top(out, self.context)
        if "apparel" in self.enabled or "apparel_material" in self.enabled:
            new = self._apparel(facts, out, score_code, top)
            if new is not out:
                out, top = new, self._top(new, self.context)
        if "parts" in self.enabled and facts.parts:
            out = self._parts(out, score_code, top)
            top = self._top(out, self.context)
        if "jewellery" in self.enabled:
            out = self._jewellery(text, out, score_code, top)
        return out

    def may_rerank(self, text: str, top: Sequence[str]) -> bool:
        """False when :meth:`rerank` would hand the scores back unchanged: the text declares
        no parts and no garment or jewellery code is among ``top``, the best ``context``
        codes (a search skips building the candidates' dict then)."""
        if "parts" in self.enabled and query_facts(text).parts:
            return True
        if "jewellery" in self.enabled and _has_jewellery(top):
            return True
        return ("apparel" in self.enabled or "apparel_material" in self.enabled) and bool(_garments(top))

    def _jewellery(self, text: str, scores: dict[str, Scored], score_code: ScoreFn,
                   top: list[str]) -> dict[str, Scored]:
        """Chapter 71: precious metal -> 7113; pearls or (even synthetic) stones on other
        metal -> 7116; neither -> imitation jewellery 7117. ``top``: the best codes."""
        if not _has_jewellery(top):
            return scores
        low = text.lower()
        if _PRECIOUS_METAL.search(low):
            targets = self._by_heading.get("7113", [])
        elif _STONE.search(low):
            targets = ["711620"]
        elif _PEARL.search(low):
            targets = ["711610"]
        elif _BASE_METAL.search(low) or _NON_METAL.search(low):
            targets = self._by_heading.get("7117", [])
        else:
            return scores
        best = max(s for c, (s, _) in scores.items() if c[:4] in _JEWELLERY_HEADINGS)
        out = dict(scores)
        for code in targets:
            if code not in out:
                scored = score_code(code)
                if scored is not None:
                    out[code] = scored
        for code, (s, d) in list(out.items()):
            if code[:4] in _JEWELLERY_HEADINGS and code not in targets:
                out[code] = (s - self.conflict_penalty, d)
        # The wanted heading's best subheading takes the best jewellery score found.
        own = {c: v for c, v in out.items() if c in targets}
        if not own:
            return out
        lift = max(0.0, best - max(s for s, _ in own.values()))
        for code, (s, d) in own.items():
            out[code] = (s + lift, d)
        return out

    def _top(self, scores: Mapping[str, Scored], n: int) -> list[str]:
        return [c for c, _ in sorted(scores.items(), key=lambda kv: -kv[1][0])[:n]]

    def _apparel(self, facts: QueryFacts, scores: dict[str, Scored], score_code: ScoreFn,
                 top: list[str]) -> dict[str, Scored]:
        garments = _garments(top)
        if not garments:
            return scores
        material = facts.material
        if "apparel_material" in self.enabled and material in ("plastics", "leather"):
            return self._non_textile_apparel(material, scores, score_code)
        if "apparel" not in self.enabled:
            return scores
        if facts.construction is None and facts.gender is None and not facts.baby and not facts.fibres:
            return scores
        # Add the parallel subheadings the facts point to (a woven jacket found for a
        # knitted one: the knitted jacket headings join with their own scores).
        headings: set[str] = set()
        for code in garments:
            h = code[:4]
            family = {h}
            family.update(_KNIT_WOVEN.get(h, ()) + _WOVEN_KNIT.get(h, ()))
            family.update(_GENDER_PAIRS[x] for x in list(family) if x in _GENDER_PAIRS)
            if facts.baby:
                family.update(_BABY_HEADING.values())
            headings.update(x for x in family if x in self._by_heading)
        for h in headings:
            for code in self._by_heading[h]:
                if code not in scores and self._conflicts(facts, code) == (0, False):
                    scored = score_code(code)
                    if scored is not None:
                        scores[code] = scored
        out = {}
        for code, (s, d) in scores.items():
            if code[:2] in ("61", "62"):
                hard, fibre = self._conflicts(facts, code)
                s -= hard * self.conflict_penalty + (self.fibre_penalty if fibre else 0.0)
            out[code] = (s, d)
        return out

    def _non_textile_apparel(self, material: str, scores: dict[str, Scored],
                             score_code: ScoreFn) -> dict[str, Scored]:
        """A garment of plastics is 3926.20 and one of leather 4203 (chapter 61/62 notes
        exclude both); it keeps the score of the best garment code found for it."""
        targets = ["392620"] if material == "plastics" else self._by_heading.get("4203", [])
        best = max((s for c, (s, _) in scores.items() if c[:2] in ("61", "62") or c in targets), default=None)
        if best is None:
            return scores
        out = dict(scores)
        own = {c: out.get(c) or score_code(c) for c in targets}
        found = {c: v for c, v in own.items() if v is not None}
        if not found:
            return scores
        # The best target takes the garment's score; the others keep their distance to it.
        lift = max(0.0, best - max(s for s, _ in found.values())) + self.material_bonus
        for code, (s, d) in found.items():
            out[code] = (s + lift, d)
        for code, (s, d) in scores.items():
            if code[:2] in ("61", "62"):
                out[code] = (s - self.conflict_penalty, d)
        return out

    def _parts(self, scores: dict[str, Scored], score_code: ScoreFn, top: list[str]) -> dict[str, Scored]:
        """Goods declared as parts: within the headings found for the machine, the
        subheadings for parts rank before the machines themselves."""
        out = dict(scores)
        for h in dict.fromkeys(c[:4] for c in top):
            for code in self._by_heading.get(h, []):
                if not self._code(code).parts:
                    continue
                scored = out.get(code) or score_code(code)
                if scored is not None:
                    out[code] = (scored[0] + self.parts_bonus, scored[1])
        return out

    # -- code attributes --------------------------------------------------------------
    def _conflicts(self, facts: QueryFacts, code: str) -> tuple[int, bool]:
        """(how many of construction, gender and babies' the code contradicts, whether its
        fibre is not the one that predominates)."""
        cf = self._code(code)
        hard = 0
        if facts.construction and cf.construction and facts.construction != cf.construction:
            hard += 1
        if facts.gender and cf.gender and facts.gender != cf.gender:
            hard += 1
        if facts.baby and code[:4] in _GARMENT_HEADINGS and not cf.baby:
            hard += 1
        fibre = False
        textile = {g: w for g, w in facts.fibres.items() if g in _TEXTILE_GROUPS}
        if textile and cf.fibres is not None:
            mine = sum(textile.get(g, 0.0) for g in sorted(cf.fibres))  # a fixed order: float sums
            rivals = self._group_fibre_sets(code)
            fibre = any(sum(textile.get(g, 0.0) for g in sorted(other)) > mine for other in rivals)
        return hard, fibre

    def _code(self, code: str) -> _CodeFacts:
        cf = self._codes.get(code)
        if cf is None:
            desc = self.catalogue.get(code).description.lower() if code in self.catalogue else ""
            chapter = code[:2]
            construction = None
            if chapter == "61":
                construction = "knit"
            elif chapter == "62" and "whether or not knitted" not in desc:
                construction = "woven"
            gender = "M" if "men's or boys'" in desc else ("F" if "women's or girls'" in desc else None)
            cf = _CodeFacts(construction, gender, "babies'" in desc, self._explicit_fibres(code),
                            bool(re.search(r"\bparts\b", desc)))
            self._codes[code] = cf
        return cf

    def _explicit_fibres(self, code: str) -> frozenset[str] | None:
        """The fibre groups a subheading names; a residual one ("other than ...",
        "n.e.c.") gets every group its siblings of the same goods do not name."""
        desc = self.catalogue.get(code).description.lower() if code in self.catalogue else ""
        if code[:2] not in ("61", "62"):
            return None
        own = _named_fibres(desc)
        if own is not None:
            return own
        if "textile materials" in desc or _RESIDUAL.search(desc):
            named: set[str] = set()
            for sib in self._siblings(code):
                named |= _named_fibres(self.catalogue.get(sib).description.lower()) or set()
            if named:
                return frozenset(_TEXTILE_GROUPS - named)
        return None

    def _siblings(self, code: str) -> list[str]:
        """Subheadings of the same heading for the same goods (same first word: the
        "Trousers" of 6103, not its "Jackets")."""
        key = self._goods_word(code)
        return [c for c in self._by_heading.get(code[:4], []) if c != code and self._goods_word(c) == key]

    def _goods_word(self, code: str) -> str:
        word = self._goods_words.get(code)
        if word is None:
            word = self.catalogue.get(code).description.split(";")[0].split(",")[0].split()[0].lower()
            self._goods_words[code] = word
        return word

    def _group_fibre_sets(self, code: str) -> list[frozenset[str]]:
        # Memoised: asked for every garment candidate of every query of a batch.
        out = self._sibling_fibres.get(code)
        if out is None:
            out = [f for sib in self._siblings(code) if (f := self._code(sib).fibres) is not None]
            self._sibling_fibres[code] = out
        return out
