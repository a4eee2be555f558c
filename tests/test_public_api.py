"""The public API surface and the cost of importing it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import customs_check

# Changing this list is an API change: update it deliberately (and the changelog).
PUBLIC_API = [
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

HEAVY = ("torch", "sentence_transformers", "faiss", "polars", "transformers", "onnxruntime")


def test_all_is_pinned() -> None:
    assert sorted(customs_check.__all__) == PUBLIC_API
    assert len(set(customs_check.__all__)) == len(customs_check.__all__)


@pytest.mark.parametrize("name", PUBLIC_API)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(customs_check, name)
    assert value is not None
    if name != "__version__":
        assert getattr(value, "__name__", name) == name
        assert value.__module__.startswith("customs_check")


def test_dir_lists_the_public_api() -> None:
    assert dir(customs_check) == PUBLIC_API


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        customs_check.no_such_name  # noqa: B018


def test_exceptions_share_a_base() -> None:
    errors = [n for n in PUBLIC_API if n.endswith("Error")]
    assert len(errors) == 9
    for name in errors:
        assert issubclass(getattr(customs_check, name), customs_check.CustomsCheckError)
    assert customs_check.ErrorRateExceededError.exit_code == 6
    assert customs_check.InputFileError.exit_code == 3


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert customs_check.__version__ == version("customs-check")


def _modules_after(code: str) -> dict:
    script = f"import json, sys\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))\n"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env, timeout=60
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_is_light() -> None:
    loaded = _modules_after("import customs_check")
    assert not any(loaded.values()), loaded


def test_error_and_model_imports_are_light() -> None:
    # Catching an error or building a Shipment must not pay for the model stack either.
    loaded = _modules_after(
        "from customs_check import InvalidHSCodeError, Shipment, Listing, parse_hs_code\n"
        "Shipment(listing=Listing(title='x')); parse_hs_code('8479.89')"
    )
    assert not any(loaded.values()), loaded


def test_heavy_modules_are_detected() -> None:
    # The checks above can fail: building an index does load faiss.
    loaded = _modules_after(
        "import numpy as np\nfrom customs_check.index import HSIndex\n"
        "HSIndex(['010110'], ['legal'], np.ones((1, 4), np.float32), model_id='m')"
    )
    assert loaded["faiss"] is True


def _cli() -> list[str]:
    exe = shutil.which("customs-check", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "customs_check.cli"]


def test_cli_help_is_fast_and_light() -> None:
    start = time.perf_counter()
    out = subprocess.run([*_cli(), "--help"], capture_output=True, text=True, timeout=30)
    elapsed = time.perf_counter() - start
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout and "Exit codes:" in out.stdout
    assert elapsed < 2.0, f"customs-check --help took {elapsed:.2f} s"
    loaded = _modules_after(
        "from customs_check.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not loaded["torch"] and not loaded["sentence_transformers"] and not loaded["faiss"], loaded


def test_cli_subcommand_help_is_light() -> None:
    loaded = _modules_after(
        "from customs_check.cli import main\ntry:\n    main(['check', '--help'])\nexcept SystemExit:\n    pass"
    )
    assert not loaded["torch"] and not loaded["sentence_transformers"] and not loaded["faiss"], loaded
