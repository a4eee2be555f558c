"""The shipped exemplar texts (hs_codes/exemplars/chNN.tsv) are reviewed data: every line
must name a real HS 2022 subheading and carry a text, and the index must pick them up."""

from __future__ import annotations

from importlib import resources

import pytest
from customs_check.hs_codes.catalogue import load_catalogue
from customs_check.hs_codes.texts import index_texts, load_exemplars

FOLDER = resources.files("customs_check.hs_codes") / "exemplars"
FILES = sorted((p for p in FOLDER.iterdir() if p.name.endswith(".tsv")), key=lambda p: p.name) \
    if FOLDER.is_dir() else []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_exemplar_line_is_a_real_subheading_with_text(path) -> None:
    catalogue = load_catalogue()
    chapter = path.name[2:4]
    seen = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        code, sep, text = line.partition("\t")
        assert sep and text.strip(), f"{path.name}:{number}: needs CODE<TAB>text"
        digits = code.replace(".", "")
        assert len(digits) == 6 and digits in catalogue, f"{path.name}:{number}: {code} is not a subheading"
        assert digits.startswith(chapter), f"{path.name}:{number}: {code} is not in chapter {chapter}"
        assert (digits, text) not in seen, f"{path.name}:{number}: duplicate line"
        seen.add((digits, text))


def test_exemplars_become_index_rows() -> None:
    pairs = load_exemplars()
    rows = [t for t in index_texts(load_catalogue()) if t.kind == "exemplar"]
    assert len(rows) == len([p for p in pairs if not p[0].startswith("99")])
    if pairs:
        code, text = pairs[0]
        assert any(r.code == code and r.text == text for r in rows)
