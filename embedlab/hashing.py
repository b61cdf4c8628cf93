"""The one sha256 of a file's bytes, read in fixed-size blocks (`hashlib.file_digest`): a GB model file is never
held in memory whole."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """The sha256 of the file at `path`, as 64 hex digits."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
