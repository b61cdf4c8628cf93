"""Spider-format files: `tables.json` (schemas), a question file (`dev.json`: db_id, question, query, sql) and a
database folder holding `<db_id>/<db_id>.sqlite`. A schema can also be read from a SQLite file itself (a user's
own database, no tables.json). Bad input ends in one line naming the file, the entry and the field."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedlab.errors import DataError, UserError


@dataclass(frozen=True)
class Column:
    """One column: `table` and `name` as in the database, `type` "text" | "number" | "time" | "boolean" | "others"."""

    table: str
    name: str
    type: str


@dataclass
class Schema:
    """One database's schema. `columns[0]` is Spider's "*"; `foreign_keys` are (child column, parent column) pairs
    of indices into `columns`; `primary_keys` indices into `columns`."""

    db_id: str
    tables: list[str]
    columns: list[Column]
    foreign_keys: list[tuple[int, int]] = field(default_factory=list)
    primary_keys: list[int] = field(default_factory=list)

    def table_columns(self, table: str) -> list[Column]:
        return [column for column in self.columns[1:] if column.table.lower() == table.lower()]

    def find_table(self, name: str) -> str | None:
        """The table's name as stored, matched case-insensitively (None if there is none)."""
        return next((table for table in self.tables if table.lower() == name.lower()), None)

    def find_column(self, table: str, name: str) -> Column | None:
        return next((c for c in self.table_columns(table) if c.name.lower() == name.lower()), None)

    def describe(self) -> str:
        """The schema as prompt text: one line per table, `table(column type, ...)`, then the foreign keys."""
        lines = [f"{table}({', '.join(f'{c.name} {c.type}' for c in self.table_columns(table))})"
                 for table in self.tables]
        for child, parent in self.foreign_keys:
            a, b = self.columns[child], self.columns[parent]
            lines.append(f"foreign key: {a.table}.{a.name} = {b.table}.{b.name}")
        return "\n".join(lines)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON: {exc.msg}", exc.lineno) from None


def read_tables(path: Path) -> dict[str, Schema]:
    """db_id -> Schema from a Spider `tables.json` (original table/column names)."""
    schemas = {}
    for number, entry in enumerate(_read_json(path)):
        try:
            tables = list(entry["table_names_original"])
            columns = [Column("" if t < 0 else tables[t], name, kind)
                       for (t, name), kind in zip(entry["column_names_original"], entry["column_types"], strict=True)]
            keys = [(int(a), int(b)) for a, b in entry["foreign_keys"]]
            primary = [int(p) for p in entry["primary_keys"] if not isinstance(p, list)]
            schemas[entry["db_id"]] = Schema(entry["db_id"], tables, columns, keys, primary)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(path, f"entry {number}: expected a Spider schema with db_id, table_names_original, "
                                  f"column_names_original, column_types, foreign_keys, primary_keys ({exc!r})") from None
    return schemas


def _column_type(declared: str) -> str:
    """Spider's coarse type of a declared SQLite type."""
    kind = (declared or "").lower()
    if any(word in kind for word in ("int", "real", "num", "dec", "float", "double")):
        return "number"
    if any(word in kind for word in ("date", "time", "year")):
        return "time"
    if "bool" in kind or "bit" in kind:
        return "boolean"
    return "text"


def schema_from_sqlite(path: Path, connection: sqlite3.Connection | None = None) -> Schema:
    """The schema of a SQLite file read from its own catalog (tables, declared types, foreign keys).

    Uses a plain read-only connection (this reads the catalog, never user SQL)."""
    from embedlab.models.sql.safe_exec import open_readonly

    own = connection is None
    connection = connection or sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    if own:
        open_readonly(path).close()  # the same one-line errors for a missing or non-SQLite file
    try:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        columns = [Column("", "*", "text")]
        position, primary = {}, []
        for table in tables:
            for _, name, declared, _, _, pk in connection.execute(f'PRAGMA table_info("{table}")'):
                position[(table.lower(), name.lower())] = len(columns)
                if pk:
                    primary.append(len(columns))
                columns.append(Column(table, name, _column_type(declared)))
        keys = []
        for table in tables:
            for row in connection.execute(f'PRAGMA foreign_key_list("{table}")'):
                parent, child_col, parent_col = row[2], row[3], row[4]
                a, b = position.get((table.lower(), child_col.lower())), position.get((parent.lower(), (parent_col or "").lower()))
                if a is not None and b is not None:
                    keys.append((a, b))
    except sqlite3.DatabaseError as exc:
        raise UserError(f"database {path} cannot be read: {exc}") from None
    finally:
        if own:
            connection.close()
    return Schema(Path(path).stem, tables, columns, keys, primary)


@dataclass(frozen=True)
class Example:
    """One question: its database, the question, the gold SQL and Spider's parse of it (None where absent)."""

    db_id: str
    question: str
    query: str
    sql: dict | None = None


def read_examples(path: Path) -> list[Example]:
    """The examples of a Spider-format question file (a JSON list of {db_id, question, query[, sql]})."""
    data = _read_json(path)
    if not isinstance(data, list):
        raise DataError(path, "expected a JSON list of examples")
    examples = []
    for number, entry in enumerate(data):
        missing = [key for key in ("db_id", "question", "query") if not isinstance(entry, dict) or
                   not isinstance(entry.get(key), str)]
        if missing:
            raise DataError(path, f"example {number}: missing or non-text field(s) {', '.join(missing)} "
                                  "(expected db_id, question, query)")
        examples.append(Example(entry["db_id"], entry["question"], entry["query"], entry.get("sql")))
    return examples


def database_path(database_dir: Path, db_id: str) -> Path:
    """`<database_dir>/<db_id>/<db_id>.sqlite`, or UserError naming the db_id and where it was looked for."""
    path = Path(database_dir) / db_id / f"{db_id}.sqlite"
    if not path.is_file():
        raise UserError(f"no database for db_id {db_id!r}: {path} does not exist")
    return path
