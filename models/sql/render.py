"""Rendering a parsed call sequence (`grammar.Query`) as one SQLite SELECT statement.

Clauses come out in SQL's order whatever the order of the calls: SELECT, FROM/JOIN, WHERE, GROUP BY, HAVING,
ORDER BY, LIMIT, then the set operation. Literals are quoted here (text in single quotes, '' inside), so a value
can never end the statement; identifiers that are not plain words are double-quoted.
"""

from __future__ import annotations

import re
from typing import Any

from embedlab.models.sql.grammar import Col, Condition, Expr, Query, Unit

_PLAIN = re.compile(r"^[A-Za-z_]\w*$")


def identifier(name: str) -> str:
    return name if _PLAIN.match(name) or name == "*" else '"' + name.replace('"', '""') + '"'


def _unit(unit: Unit) -> str:
    name = identifier(unit.column) if not unit.table else f"{identifier(unit.table)}.{identifier(unit.column)}"
    inner = f"DISTINCT {name}" if unit.distinct else name
    return f"{unit.agg}({inner})" if unit.agg else inner


def expr_sql(expr: Expr) -> str:
    body = _unit(expr.left) if expr.right is None else f"{_unit(expr.left)} {expr.op} {_unit(expr.right)}"
    return f"{expr.agg}({body})" if expr.agg else body


def literal(value: Any) -> str:
    """A value as SQL: text quoted, whole floats as integers (2014.0 -> 2014), a column, or a sub-query."""
    if isinstance(value, Query):
        return f"({render(value)})"
    if isinstance(value, Col):
        return expr_sql(value.expr)
    if value is None:
        return "NULL"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def condition_sql(condition: Condition) -> str:
    left = expr_sql(condition.expr)
    if condition.op == "between":
        return f"{left} BETWEEN {literal(condition.value)} AND {literal(condition.value2)}"
    return f"{left} {condition.op.upper()} {literal(condition.value)}"


def _conditions(conditions: list[Condition]) -> str:
    parts = []
    for index, condition in enumerate(conditions):
        if index:
            parts.append(condition.conj.upper())
        parts.append(condition_sql(condition))
    return " ".join(parts)


def render(query: Query) -> str:
    """The SQL text of `query`."""
    head = "SELECT DISTINCT " if query.distinct else "SELECT "
    sql = [head + ", ".join(expr_sql(expr) for expr in query.answer)]
    source = query.source
    sql.append("FROM " + (f"({render(source)})" if isinstance(source, Query) else identifier(source)))
    for table, left, right in query.joins:
        sql.append(f"JOIN {identifier(table)}" + (f" ON {expr_sql(left)} = {expr_sql(right)}" if left else ""))
    if query.where:
        sql.append("WHERE " + _conditions(query.where))
    if query.group_by:
        sql.append("GROUP BY " + ", ".join(expr_sql(expr) for expr in query.group_by))
    if query.having:
        sql.append("HAVING " + _conditions(query.having))
    if query.order_by:
        sql.append("ORDER BY " + ", ".join(f"{expr_sql(expr)} {direction.upper()}" for expr, direction in query.order_by))
    if query.limit is not None:
        sql.append(f"LIMIT {query.limit}")
    if query.set_op:
        kind, sub = query.set_op
        sql.append(f"{kind.upper()} {render(sub)}")
    return " ".join(sql)
