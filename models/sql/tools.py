"""The tool interface of ToolSQL (paper 3): ξ = T(D, Q, Y) — a tool inspects the parsed calls Y of question Q
against database D and answers a list of `Feedback` (empty: nothing to complain about). Also the one helper both
tools use to find which table a column expression of the calls refers to."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from embedlab.models.sql.grammar import Condition, Query, Unit
from embedlab.models.sql.render import expr_sql, literal
from embedlab.models.sql.spider import Column, Schema


@dataclass(frozen=True)
class Feedback:
    """One complaint: the `call` it is about, the `rule` broken, a sentence, and the allowed alternatives."""

    tool: str
    call: str
    rule: str
    message: str
    alternatives: tuple[str, ...] = ()

    def text(self) -> str:
        """The feedback as the LLM reads it (one line)."""
        allowed = f" Allowed: {'; '.join(self.alternatives)}." if self.alternatives else ""
        return f"[{self.tool}] {self.call}: {self.message} (rule {self.rule}).{allowed}"


@dataclass
class Database:
    """D: the SQLite file, a read-only connection to it, and its schema."""

    path: Path
    connection: sqlite3.Connection
    schema: Schema


class Tool(Protocol):
    name: str

    def inspect(self, database: Database, question: str, query: Query) -> list[Feedback]:
        """ξ = T(D, Q, Y): the complaints about `query` (empty when there are none)."""


def from_tables(query: Query) -> list[str]:
    """The tables named in the query's FROM and JOINs (a FROM sub-query contributes none)."""
    return ([query.source] if isinstance(query.source, str) else []) + [table for table, _, _ in query.joins]


def resolve(schema: Schema, tables: list[str], unit: Unit) -> Column | None:
    """The schema column `unit` names among `tables` (its own table if qualified, which must be one of them), None
    if there is none or an unqualified name is ambiguous; `*` resolves to None."""
    if unit.column == "*":
        return None
    if unit.table and unit.table.lower() not in [table.lower() for table in tables]:
        return None
    candidates = [unit.table] if unit.table else tables
    found = [column for table in candidates if schema.find_table(table)
             for column in [schema.find_column(schema.find_table(table), unit.column)] if column]
    return found[0] if len(found) == 1 else None


def condition_call(kind: str, condition: Condition) -> str:
    """The call text of a condition as the LLM would write it (to name it in feedback)."""
    value = condition.value if isinstance(condition.value, (str, int, float)) else literal(condition.value)
    return f"{kind}({expr_sql(condition.expr)!r}, {condition.op!r}, {value!r})"


def all_queries(query: Query) -> Iterator[Query]:
    """`query` and every query nested in it (conditions' sub-queries, a FROM sub-query, set operands)."""
    yield query
    nested = [c.value for c in query.where + query.having if isinstance(c.value, Query)]
    nested += [query.source] if isinstance(query.source, Query) else []
    nested += [query.set_op[1]] if query.set_op else []
    for sub in nested:
        yield from all_queries(sub)
