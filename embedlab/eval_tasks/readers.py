"""Reading delimited and JSON-lines files into row dicts, failing with file and line on malformed input."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from embedlab.errors import DataError
from embedlab.eval_tasks.spec import DEFAULT_COLUMN_NAMES, FileSpec

csv.field_size_limit(2**31 - 1)


def _column_keys(role: str, spec: FileSpec, needed: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, str | int]:
    defaults = DEFAULT_COLUMN_NAMES.get(role, {})
    keys: dict[str, str | int] = {}
    for column in needed + optional:
        if column in spec.columns:
            keys[column] = spec.columns[column]
        elif column in needed or column in defaults:
            keys[column] = defaults.get(column, column)
    return keys


def read_rows(path: Path, role: str, spec: FileSpec, needed: tuple[str, ...],
              optional: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, {column: text}) for each data row of `path`.

    `needed` columns must be present in every row; `optional` ones are read where present.
    Raises DataError naming the file (and line) for a missing or empty file, a missing header
    column, a row with too few columns, or a line that is not a JSON object.
    """
    if not path.is_file():
        raise DataError(path, f"file not found (files.{role}.path)")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (expected at least one row)")
    keys = _column_keys(role, spec, needed, optional)
    fmt = spec.resolved_format()
    rows = _jsonl_rows(path, keys, needed) if fmt == "jsonl" else _delimited_rows(path, spec, fmt, keys, needed)
    count = 0
    for item in rows:
        count += 1
        yield item
    if count == 0:
        raise DataError(path, "file has no data rows (expected at least one)")


def _jsonl_rows(path: Path, keys: dict[str, str | int], needed: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, f"not valid JSON ({exc.msg})", line_no) from None
            if not isinstance(obj, dict):
                raise DataError(path, "expected a JSON object per line", line_no)
            row = {}
            for column, key in keys.items():
                if key in obj and obj[key] is not None:
                    row[column] = str(obj[key])
                elif column in needed:
                    raise DataError(path, f"missing field {key!r} (column {column!r})", line_no)
            yield line_no, row


def _delimited_rows(path: Path, spec: FileSpec, fmt: str, keys: dict[str, str | int],
                    needed: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    delimiter = "\t" if fmt == "tsv" else ","
    # TSV files such as STS-B carry unbalanced quotes inside sentences: read them without quoting.
    quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        indices: dict[str, int] = {}
        if spec.header:
            header = next(reader, None) or []
            header = [h.strip() for h in header]
            for column, key in keys.items():
                if isinstance(key, int):
                    indices[column] = key
                elif key in header:
                    indices[column] = header.index(key)
                elif column in needed:
                    raise DataError(path, f"header has no column {key!r} (column {column!r}); header is {header}", 1)
        else:
            for column, key in keys.items():
                if not isinstance(key, int):
                    raise DataError(path, f"files without a header need column indices: columns.{column} is {key!r}")
                indices[column] = key
        needed_width = max((indices[c] for c in needed if c in indices), default=-1) + 1
        for fields in reader:
            line_no = reader.line_num
            if not fields or fields == [""]:
                continue
            if len(fields) < needed_width:
                raise DataError(path, f"expected at least {needed_width} columns, found {len(fields)}", line_no)
            yield line_no, {c: fields[i] for c, i in indices.items() if i < len(fields)}
