"""The one reader of JSON-lines files: one JSON object per line, blank lines skipped, a bad line named by file and
line (JSON Lines, https://jsonlines.org: UTF-8, lines separated by `\\n`; a `\\r\\n` ending is read as well)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embedlab.errors import DataError


def read_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number from 1, object) for each non-blank line of `path`, read as it goes (a large file is
    never held whole).

    Raises DataError `<path>:<line>: ...` for a line that is not UTF-8 (naming the byte's offset in the file, from
    0), not valid JSON, or not a JSON object. The caller checks that the file exists first, since its message names
    the option or params key that gave the path, and checks the fields of each object.
    """
    offset = 0
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(path, f"not UTF-8 text (byte {offset + exc.start})", number) from None
            offset += len(raw)
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, f"not valid JSON ({exc.msg})", number) from None
            if not isinstance(value, dict):
                raise DataError(path, "expected a JSON object per line", number)
            yield number, value
