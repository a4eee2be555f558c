"""Typed inputs and results (pydantic v2). These are the library's contract with
logistics systems; the batch path produces the same fields as columns."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CheckResult",
    "Declaration",
    "HSCandidate",
    "Listing",
    "Severity",
    "Shipment",
    "WatchlistHit",
]


class Severity(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


class Listing(BaseModel):
    """What the marketplace sold."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    title: str = Field(min_length=1, description="the listing title")
    category: str | None = Field(None, description='category path, e.g. "Jewelry > Rings"')
    attributes: str | None = Field(None, description='seller attributes, "key: value; ..."')

    _blank = field_validator("category", "attributes", mode="before")(_blank_to_none)


class Declaration(BaseModel):
    """What the shipment declared. Either part may be missing; a declaration with
    neither is checked as maximally vague."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    description: str | None = None
    hs_code: str | None = Field(None, description="any spelling: 847989, 8479.89, 8479.89.9499")

    _blank = field_validator("description", "hs_code", mode="before")(_blank_to_none)

    @field_validator("hs_code", mode="before")
    @classmethod
    def _code_as_text(cls, value: Any) -> Any:
        # Spreadsheets hand codes over as numbers; a float like 847989.0 is still a code.
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return value


class Shipment(BaseModel):
    model_config = ConfigDict(frozen=True)

    shipment_id: str | None = None
    listing: Listing
    declaration: Declaration = Declaration()

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Shipment:
        """Build from the flat batch columns (``listing_title``, ``declared_hs_code``, ...)."""
        sid = row.get("shipment_id")
        return cls(
            shipment_id=None if sid is None else str(sid),
            listing=Listing(
                title=row.get("listing_title"),  # type: ignore[arg-type]
                category=row.get("listing_category"),
                attributes=row.get("listing_attributes"),
            ),
            declaration=Declaration(
                description=row.get("declared_description"),
                hs_code=row.get("declared_hs_code"),
            ),
        )


class HSCandidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(description="2, 4 or 6 digits")
    level: int
    description: str
    score: float = Field(description="cosine similarity to the best text of this code")


class WatchlistHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: str
    label: str
    evidence: list[str] = Field(description="what matched: phrases, CAS numbers, model names, exemplars")
    score: float = Field(description="1.0 for exact evidence, else the exemplar similarity")


class CheckResult(BaseModel):
    """The verdict on one shipment. On an invalid input row ``error`` is set and the
    verdict fields are None."""

    shipment_id: str | None = None
    mismatch: bool | None = None
    mismatch_score: float | None = Field(None, ge=0.0, le=1.0)
    severity: Severity | None = None
    reasons: list[str] = Field(default_factory=list)
    listing_hs6_top: list[HSCandidate] = Field(default_factory=list)
    declared_hs6: str | None = None
    declared_text_hs6_top: list[HSCandidate] = Field(default_factory=list)
    watchlist: str | None = None
    watchlist_hits: list[WatchlistHit] = Field(default_factory=list)
    signals: dict[str, float | None] = Field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = Field(
        None, description="invalid_hs_code, unknown_hs_code, missing_title, oversize_text, invalid_value, "
        "duplicate_shipment_id or unparsable_row"
    )

    @property
    def flagged(self) -> bool:
        return bool(self.mismatch) or (self.severity is not None and self.severity.rank >= Severity.HIGH.rank)
