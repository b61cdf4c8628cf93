"""User-facing errors: one line, no traceback, non-zero exit (see `embedlab.cli`)."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from pathlib import Path


class UserError(Exception):
    """A mistake in the user's input; the CLI prints `error: <message>` and exits with status 2."""


class DataError(UserError):
    """A malformed data file; the message names the file and, where there is one, the line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UserError:
    """Error for an unknown registry name, with the nearest known names ("did you mean")."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if not close:  # substring matches catch abbreviations such as "scifact" or "banking"
        close = [k for k in known if name.lower() in k.lower()][:3]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UserError(f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})")


class _DropUserErrorRecords(logging.Filter):
    """Drops Prefect's log records about a run that failed on a UserError (its traceback, its Failed state):
    the CLI reports that error itself, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, UserError):
            return False
        message = record.getMessage()
        return not any(f"{cls.__name__}(" in message or f"{cls.__name__}:" in message
                       for cls in (UserError, *UserError.__subclasses__()))


def quiet_user_errors_in_run_logs() -> None:
    """Keep tracebacks of user errors raised inside flows out of the console (other failures still show)."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_DropUserErrorRecords())
