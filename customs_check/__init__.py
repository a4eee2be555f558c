"""customs-check: flag shipments whose declaration diverges from what was sold.

The public API is listed in ``__all__``; names load lazily so that ``import customs_check``
(and ``customs-check --help``) never pays for polars, faiss or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "Checker",
    "CustomsCheckError",
    "Declaration",
    "ErrorRateExceededError",
    "HSCandidate",
    "HSCode",
    "IndexIntegrityError",
    "InputFileError",
    "InvalidHSCodeError",
    "InvalidInputError",
    "Listing",
    "ModelLoadError",
    "OutputError",
    "ScoringConfig",
    "Severity",
    "Shipment",
    "UnknownHSCodeError",
    "WatchlistHit",
    "__version__",
    "check_shipments",
    "load_catalogue",
    "parse_hs_code",
]

_WHERE = {
    "CheckResult": "customs_check.models",
    "Declaration": "customs_check.models",
    "HSCandidate": "customs_check.models",
    "Listing": "customs_check.models",
    "Severity": "customs_check.models",
    "Shipment": "customs_check.models",
    "WatchlistHit": "customs_check.models",
    "Checker": "customs_check.checker",
    "ScoringConfig": "customs_check.scoring",
    "check_shipments": "customs_check.batch",
    "HSCode": "customs_check.hs_codes.catalogue",
    "load_catalogue": "customs_check.hs_codes.catalogue",
    "parse_hs_code": "customs_check.hs_codes.catalogue",
    "CustomsCheckError": "customs_check.errors",
    "ErrorRateExceededError": "customs_check.errors",
    "IndexIntegrityError": "customs_check.errors",
    "InputFileError": "customs_check.errors",
    "InvalidHSCodeError": "customs_check.errors",
    "InvalidInputError": "customs_check.errors",
    "ModelLoadError": "customs_check.errors",
    "OutputError": "customs_check.errors",
    "UnknownHSCodeError": "customs_check.errors",
}

if TYPE_CHECKING:
    from customs_check.batch import check_shipments
    from customs_check.checker import Checker
    from customs_check.errors import (
        CustomsCheckError,
        ErrorRateExceededError,
        IndexIntegrityError,
        InputFileError,
        InvalidHSCodeError,
        InvalidInputError,
        ModelLoadError,
        OutputError,
        UnknownHSCodeError,
    )
    from customs_check.hs_codes.catalogue import HSCode, load_catalogue, parse_hs_code
    from customs_check.models import (
        CheckResult,
        Declaration,
        HSCandidate,
        Listing,
        Severity,
        Shipment,
        WatchlistHit,
    )
    from customs_check.scoring import ScoringConfig


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'customs_check' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
