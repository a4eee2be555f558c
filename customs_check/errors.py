"""The exception tree of customs-check.

Every error a user can cause or meet derives from :class:`CustomsCheckError` and carries
the process exit code the CLI uses for it, so the CLI renders one short line instead of
a traceback. Row-level problems in a batch never raise: they are written to the row's
``error`` field (see ``customs_check.batch``).
"""

from __future__ import annotations

__all__ = [
    "CustomsCheckError",
    "ErrorRateExceededError",
    "IndexIntegrityError",
    "InputFileError",
    "InvalidHSCodeError",
    "InvalidInputError",
    "ModelLoadError",
    "OutputError",
    "UnknownHSCodeError",
]


class CustomsCheckError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with when this reaches it."""

    exit_code = 2
    # What a batch's manifest counts a row error as.
    kind = "invalid_value"

    def __init__(self, message: str, *, hint: str | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInputError(CustomsCheckError, ValueError):
    """Raised when a value given by the caller is invalid (a shipment without a listing
    title, a negative ``top_k``, an unknown option value). Exit code 2."""

    exit_code = 2


class InvalidHSCodeError(InvalidInputError):
    """Raised when an HS code string is malformed: not digits after removing dots and
    spaces, an odd number of digits, or more than 10 digits."""

    kind = "invalid_hs_code"


class UnknownHSCodeError(InvalidInputError, LookupError):
    """Raised when a well-formed HS code is not in the HS 2022 nomenclature
    (for example ``9999.11`` or the retired ``8471.20``)."""

    kind = "unknown_hs_code"


class InputFileError(CustomsCheckError):
    """Raised when an input file cannot be used as a whole: missing, unknown extension,
    undecodable, corrupt, empty, or without a required column. Exit code 3."""

    exit_code = 3


class OutputError(CustomsCheckError):
    """Raised when results cannot be written: the output exists (and neither resume nor
    overwrite was asked for), equals the input, or its folder is not writable. Exit code 4."""

    exit_code = 4


class ModelLoadError(CustomsCheckError):
    """Raised when an embedding backend cannot be loaded (missing package, bad model path,
    a model that would need the network). Exit code 5."""

    exit_code = 5


class IndexIntegrityError(CustomsCheckError):
    """Raised when a stored HS index or cache file fails its manifest or checksum check.
    The index loader catches it and rebuilds; it reaches a user only if a rebuild is
    impossible. Exit code 5."""

    exit_code = 5


class ErrorRateExceededError(CustomsCheckError):
    """Raised by a batch run when the share of invalid rows passes ``max_error_rate``.
    Exit code 6."""

    exit_code = 6
