"""Where customs-check keeps what it builds once and reuses: the HS index, the
embedding cache and converted models."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["file_sha256", "home_dir"]


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


def file_sha256(path: Path) -> str:
    """Checksum of a file, read in blocks (inputs can be many GB)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
