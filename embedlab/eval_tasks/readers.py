"""Reading delimited and JSON-lines files into row dicts, failing with file and line on malformed input."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from embedlab.errors import DataError
from embedlab.eval_tasks.spec import DEFAULT_COLUMN_NAMES, FileSpec
from embedlab.jsonlines import read_json_lines

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


_FIELD = re.compile(r"\{([^{}]+)\}")


def template_fields(key: str | int) -> list[str] | None:
    """The fields a column template such as `"{title}. {text}"` joins, or None for a plain column name/index."""
    if not isinstance(key, str) or "{" not in key:
        return None
    return _FIELD.findall(key)


class _Fields:
    """How one row's fields are found: by header name, JSON key, or index (for files without a header)."""

    def __init__(self, path: Path, keys: dict[str, str | int], needed: tuple[str, ...], header: list[str] | None,
                 jsonl: bool):
        self.path, self.keys, self.needed, self.header, self.jsonl = path, keys, needed, header, jsonl

    def locate(self, name: str | int, column: str, line: int | None) -> str | int | None:
        """The JSON key or field index of `name`; None when optional and absent."""
        if self.jsonl:
            return str(name)
        if isinstance(name, int) or (self.header is None and str(name).isdigit()):
            return int(name)
        if self.header is None:
            raise DataError(self.path, f"files without a header need column indices: columns.{column} is {name!r}")
        if name in self.header:
            return self.header.index(name)
        if column in self.needed or column == "filter":
            raise DataError(self.path, f"header has no column {name!r} (column {column!r}); header is {self.header}",
                            line)
        return None


def _get(fields: dict | list, where: str | int) -> str | None:
    if isinstance(fields, dict):
        value = fields.get(where)
        return None if value is None else str(value)
    return fields[where] if isinstance(where, int) and where < len(fields) else None


def _row(path: Path, fields: dict | list, line: int, plan: dict[str, tuple[str | int, list | None]],
         needed: tuple[str, ...]) -> dict[str, str]:
    """One row's role columns from its raw fields (a JSON object or a list of delimited fields)."""
    row = {}
    for column, (key, places) in plan.items():
        if places is None:
            value = _get(fields, key) if key is not None else None
        else:  # a template: every field it names must be there
            values = {name: _get(fields, where) for name, where in places}
            missing = [name for name, value in values.items() if value is None]
            if missing:
                raise DataError(path, f"missing field(s) {missing} of the template {key!r} (column {column!r})", line)
            value = _FIELD.sub(lambda match: values[match.group(1)], key)
        if value is None:
            if column in needed:
                raise DataError(path, f"missing field {key!r} (column {column!r})", line)
            continue
        row[column] = value
    return row


def _plan(fields: _Fields) -> dict[str, tuple[str | int | None, list | None]]:
    """Per role column: (where to read it, None) or, for a template, (the template, [(field, where), ...])."""
    plan = {}
    for column, key in fields.keys.items():
        names = template_fields(key)
        if names is None:
            plan[column] = (fields.locate(key, column, 1), None)
        else:
            plan[column] = (key, [(name, fields.locate(name, column, 1)) for name in names])
    return plan


def _keep(fields: dict | list, filters: dict[str | int, set[str]]) -> bool:
    return all(_get(fields, where) in values for where, values in filters.items())


def read_rows(path: Path, role: str, spec: FileSpec, needed: tuple[str, ...],
              optional: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, {column: text}) for each data row of `path` that passes `spec.filter`.

    `needed` columns must be present in every row; `optional` ones are read where present. Columns may be
    templates joining several fields (see `FileSpec`).
    Raises DataError naming the file (and line) for a missing or empty file, a missing header
    column, a row with too few columns, a line that is not a JSON object, or no row left.
    """
    if not path.is_file():
        raise DataError(path, f"file not found (files.{role}.path)")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (expected at least one row)")
    keys = _column_keys(role, spec, needed, optional)
    if spec.resolved_format() == "jsonl":
        rows = _jsonl_rows(path, spec, keys, needed)
    else:
        rows = _delimited_rows(path, spec, keys, needed)
    count = 0
    for item in rows:
        count += 1
        yield item
    if count == 0:
        kept = f" after the filter {spec.filter}" if spec.filter else ""
        raise DataError(path, f"file has no data rows{kept} (expected at least one)")


def _jsonl_rows(path: Path, spec: FileSpec, keys: dict[str, str | int],
                needed: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    fields = _Fields(path, keys, needed, None, jsonl=True)
    plan = _plan(fields)
    filters = {str(key): values for key, values in spec.filter_values().items()}
    for line_no, obj in read_json_lines(path):
        if _keep(obj, filters):
            yield line_no, _row(path, obj, line_no, plan, needed)


def _delimited_rows(path: Path, spec: FileSpec, keys: dict[str, str | int],
                    needed: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    # TSV files such as STS-B carry unbalanced quotes inside sentences: read them without quoting.
    quoting = csv.QUOTE_NONE if spec.resolved_format() == "tsv" else csv.QUOTE_MINIMAL
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=spec.resolved_delimiter(), quoting=quoting)
        header = [h.strip() for h in next(reader, None) or []] if spec.header else None
        fields = _Fields(path, keys, needed, header, jsonl=False)
        plan = _plan(fields)
        filters = {fields.locate(key, "filter", 1): values for key, values in spec.filter_values().items()}
        places = [where for column, (key, found) in plan.items() if column in needed
                  for where in ([key] if found is None else [w for _, w in found])]
        width = max(places, default=-1) + 1
        for row in reader:
            if not row or row == [""]:
                continue
            if len(row) < width:
                raise DataError(path, f"expected at least {width} columns, found {len(row)}", reader.line_num)
            if _keep(row, filters):
                yield reader.line_num, _row(path, row, reader.line_num, plan, needed)
