"""HS 2022 nomenclature, plain-language enrichment and the watchlist (installed as
``customs_check.hs_codes``)."""

from customs_check.hs_codes.catalogue import (
    HSCatalogue,
    HSCode,
    HSEntry,
    format_hs_code,
    load_catalogue,
    parse_hs_code,
)

__all__ = ["HSCatalogue", "HSCode", "HSEntry", "format_hs_code", "load_catalogue", "parse_hs_code"]
