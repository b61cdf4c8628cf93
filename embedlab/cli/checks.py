"""The cheap half of a command's pre-flight: its input files and models exist. Files are parsed once, by the flow's
reading task (a malformed file still ends the command in one `error:` line naming the file and line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedlab.errors import DataError


def require_file(path: Path, what: str, key: str) -> None:
    """DataError naming `path` unless it exists (`what` it is; `key`: the params.yaml key or option naming it)."""
    if not path.exists():
        raise DataError(path, f"{what} not found ({key})")


def require_towers(*specs: str | dict[str, Any]) -> None:
    """Each tower named by a string (a catalogue model, a folder or a Hub id) resolves to a model (`model_source`'s
    UserError otherwise); a config dict, a tower built from scratch, needs nothing."""
    from embedlab.models.model_source import model_source

    for spec in specs:
        if isinstance(spec, str):
            model_source(spec)
