"""The cheap half of a command's pre-flight: its input files exist. Their contents are parsed once, by the flow's
reading task (a malformed file still ends the command in one `error:` line naming the file and line)."""

from __future__ import annotations

from pathlib import Path

from embedlab.errors import DataError


def require_file(path: Path, what: str, key: str) -> None:
    """DataError naming `path` unless it exists (`what` it is; `key`: the params.yaml key or option naming it)."""
    if not path.exists():
        raise DataError(path, f"{what} not found ({key})")
