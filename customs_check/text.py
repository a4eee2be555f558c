"""Text hygiene before anything is embedded.

Seller text is hostile or broken: HTML pasted into titles, control characters, full-width
letters, 200 KB blobs. Normalising first also means texts that differ only in such noise
share one embedding (and one cache entry).
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["MAX_TEXT_CHARS", "CleanText", "clean_text"]

# MiniLM reads at most 256 word pieces; ~1,000 characters of product text is past that
# already, so longer input only costs tokenisation time.
MAX_TEXT_CHARS = 1000
# An oversize field is cut before regexes run on it, so a 200 KB blob costs nothing.
_HARD_CAP = 20_000

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[A-Za-z/!?][^>]{0,2000}>", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class CleanText:
    text: str
    truncated: bool = False
    had_markup: bool = False


def clean_text(value: str | None, max_chars: int = MAX_TEXT_CHARS) -> CleanText:
    """NFKC-normalise, strip HTML and control characters, collapse white space and cut to
    ``max_chars`` at a word boundary."""
    if value is None:
        return CleanText("")
    if len(value) <= _CACHED_CHARS:
        return _clean_cached(value, max_chars)
    return _clean(value, max_chars)


# A batch repeats the same titles and declarations many times; short texts are cleaned
# once (CleanText is immutable, so sharing it is safe). Bounded: at most 50,000 texts of
# up to 500 characters, ~50 MB in the worst case.
_CACHED_CHARS = 500


@functools.lru_cache(maxsize=50_000)
def _clean_cached(value: str, max_chars: int) -> CleanText:
    return _clean(value, max_chars)


def _clean(value: str, max_chars: int) -> CleanText:
    text = value[:_HARD_CAP]
    text = unicodedata.normalize("NFKC", text)
    had_markup = "<" in text and bool(_TAG.search(text))
    if had_markup:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    text = _CONTROL.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    truncated = len(value) > _HARD_CAP or len(text) > max_chars
    if len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars // 2 else max_chars].rstrip()
    return CleanText(text, truncated=truncated, had_markup=had_markup)
