"""Where customs-check keeps what it builds once and reuses: the HS index, the
embedding cache and converted models."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home_dir"]


def home_dir() -> Path:
    """``$CUSTOMS_CHECK_HOME``, else ``$XDG_CACHE_HOME/customs-check``, else
    ``~/.cache/customs-check``. Created on first use."""
    env = os.environ.get("CUSTOMS_CHECK_HOME")
    if env:
        path = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "customs-check"
    path.mkdir(parents=True, exist_ok=True)
    return path
