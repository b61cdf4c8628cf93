"""Running untrusted SQL on a SQLite database without any way to change it, hang, or flood memory.

Layers, each enough on its own for writes:
- the statement is scanned first (outside string literals and comments): more than one statement is refused;
- the connection is read-only twice over: the URI `file:...?mode=ro` and `PRAGMA query_only = ON`;
- an authorizer allows only reading (SELECT, column reads, functions but `load_extension`, recursive CTEs) and
  denies everything else at prepare time, before a row is touched: INSERT/UPDATE/DELETE/DROP/CREATE, ATTACH,
  PRAGMA, transactions;
- a progress handler aborts the statement after `timeout_s` (a cartesian product stops on time);
- at most `max_rows` rows are fetched: more is an error, never a silent cut.

Every refusal is a one-line `QueryError`.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from embedlab.errors import UserError

PROGRESS_STEPS = 1000  # SQLite virtual-machine instructions between two looks at the clock
ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
_ACTIONS = ("CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER CREATE_TEMP_VIEW "
            "CREATE_TRIGGER CREATE_VIEW DELETE DROP_INDEX DROP_TABLE DROP_TEMP_INDEX DROP_TEMP_TABLE DROP_TEMP_TRIGGER "
            "DROP_TEMP_VIEW DROP_TRIGGER DROP_VIEW INSERT PRAGMA READ SELECT TRANSACTION UPDATE ATTACH DETACH "
            "ALTER_TABLE REINDEX ANALYZE CREATE_VTABLE DROP_VTABLE FUNCTION SAVEPOINT RECURSIVE").split()
ACTION_NAMES = {getattr(sqlite3, f"SQLITE_{name}"): name for name in _ACTIONS if hasattr(sqlite3, f"SQLITE_{name}")}
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?(?:\*/|$)|;|[^'\"`\[;/-]+|.",
                     re.DOTALL)


class QueryError(Exception):
    """The query was refused or failed (syntax, unknown column, time limit, too many rows): one line."""


def _code_tokens(sql: str) -> list[str]:
    """The tokens of `sql` with comments turned into spaces and string literals blanked to ''."""
    tokens = []
    for token in _TOKENS.findall(sql):
        if token.startswith("--") or token.startswith("/*"):
            tokens.append(" ")
        else:
            tokens.append("''" if token.startswith("'") else token)
    return tokens


def statement_code(sql: str) -> str:
    """`sql` without its comments, string literals blanked to '' (for looking at keywords), stripped."""
    return "".join(_code_tokens(sql)).strip()


def check_single_statement(sql: str) -> None:
    """QueryError unless `sql` is exactly one non-empty statement (a trailing `;` is allowed)."""
    statements, current = [], []
    for token in [*_code_tokens(sql), ";"]:
        if token == ";":
            if "".join(current).strip():
                statements.append("".join(current))
            current = []
        else:
            current.append(token)
    if not statements:
        raise QueryError("empty query")
    if len(statements) > 1:
        raise QueryError(f"only one statement may run; found {len(statements)}")


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to the SQLite file `path` (UserError if it is missing or not SQLite).

    Text that is not UTF-8 is decoded with errors ignored, as the official evaluator reads it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"database {path} does not exist")
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise UserError(f"database {path} is not a SQLite file")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    connection.text_factory = lambda raw: raw.decode(errors="ignore")
    connection.execute("PRAGMA query_only = ON")
    connection.set_authorizer(_Authorizer(connection))
    return connection


class _Authorizer:
    """Allows reading only; remembers the last action it denied (on the connection) to name it in the error."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __call__(self, action: int, arg1: str | None, arg2: str | None, database: str | None,
                 trigger: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
            _DENIED[id(self.connection)] = f"the function {arg2}()"
            return sqlite3.SQLITE_DENY
        if action in ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        _DENIED[id(self.connection)] = ACTION_NAMES.get(action, f"action {action}")
        return sqlite3.SQLITE_DENY


_DENIED: dict[int, str] = {}


@dataclass(frozen=True)
class Limits:
    """`timeout_s`: wall seconds a statement may run; `max_rows`: rows it may return (more is an error)."""

    timeout_s: float = 10.0
    max_rows: int = 100_000


def run_query(connection: sqlite3.Connection, sql: str, limits: Limits = Limits(), params: tuple = ()) -> list[tuple]:
    """The rows of the one read-only statement `sql` (`?` bound to `params`), or QueryError (refused, failed,
    over time, over rows)."""
    check_single_statement(sql)
    deadline = time.monotonic() + limits.timeout_s
    connection.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
    try:
        cursor = connection.execute(sql, params)
        rows = cursor.fetchmany(limits.max_rows + 1)
    except sqlite3.DatabaseError as exc:
        message = " ".join(str(exc).split())
        if message == "interrupted" and time.monotonic() > deadline:
            raise QueryError(f"stopped at the time limit of {limits.timeout_s:g} s") from None
        if "not authorized" in message:
            words = statement_code(sql).split()
            what = _DENIED.pop(id(connection), "an action")
            raise QueryError(f"refused: only reading is allowed ({words[0].upper()} statement: {what} denied)") from None
        raise QueryError(message) from None
    except (sqlite3.Warning, ValueError, OverflowError) as exc:
        raise QueryError(" ".join(str(exc).split())) from None
    finally:
        connection.set_progress_handler(None, 0)
    if len(rows) > limits.max_rows:
        raise QueryError(f"more than {limits.max_rows} rows (the row cap)")
    return rows


def execute(path: Path, sql: str, limits: Limits = Limits()) -> list[tuple]:
    """`run_query` on a fresh read-only connection to `path`."""
    connection = open_readonly(path)
    try:
        return run_query(connection, sql, limits)
    finally:
        connection.close()
