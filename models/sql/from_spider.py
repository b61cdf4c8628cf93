"""Spider's parse of a gold query (the `sql` field of dev.json, over `tables.json` ids) -> the grammar's calls.

Used for the grammar's round trip (gold SQL -> calls -> SQL, same denotation) and as few-shot demonstrations.
`Uncovered` names the construct a query uses that the grammar cannot write: a table joined with itself (the
grammar has no aliases), an ON condition that does not compare two columns of the joined tables, IS / EXISTS.
"""

from __future__ import annotations

from typing import Any

from embedlab.models.sql.spider import Schema

AGG_OPS = ("", "max", "min", "count", "sum", "avg")
UNIT_OPS = ("", "-", "+", "*", "/")
WHERE_OPS = ("not", "between", "=", ">", "<", ">=", "<=", "!=", "in", "like", "is", "exists")


class Uncovered(ValueError):
    """The query uses a construct the grammar does not cover (the message names it)."""


def _column(schema: Schema, col_unit: list, qualified: bool = True) -> str:
    agg, index, distinct = col_unit
    column = schema.columns[index]
    name = column.name if index == 0 or not qualified else f"{column.table}.{column.name}"
    inner = f"distinct {name}" if distinct else name
    return f"{AGG_OPS[agg]}({inner})" if agg else inner


def _val_unit(schema: Schema, val_unit: list, agg: int = 0) -> str:
    op, first, second = val_unit
    text = _column(schema, first) if not op else f"{_column(schema, first)} {UNIT_OPS[op]} {_column(schema, second)}"
    return f"{AGG_OPS[agg]}({text})" if agg else text


def _value(schema: Schema, value: Any) -> str:
    if isinstance(value, dict):
        return qa(schema, value)
    if isinstance(value, list):
        return f"col({_column(schema, value)!r})"
    if isinstance(value, str):
        return repr(value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value)
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value)


def _conditions(schema: Schema, call: str, units: list) -> list[str]:
    calls, conj = [], "and"
    for item in units:
        if isinstance(item, str):
            conj = item
            continue
        negated, op, val_unit, value, value2 = item
        name = WHERE_OPS[op]
        if name in ("is", "exists"):
            raise Uncovered(f"{name.upper()} condition")
        name = f"not {name}" if negated else name
        args = [repr(_val_unit(schema, val_unit)), repr(name), _value(schema, value)]
        if value2 is not None:
            args.append(_value(schema, value2))
        calls.append(f"{call}({', '.join(args)}" + (f", conj={conj!r})" if conj != "and" else ")"))
    return calls


def _from_calls(schema: Schema, from_: dict) -> list[str]:
    units, conditions = from_["table_units"], [c for c in from_["conds"] if not isinstance(c, str)]
    if "or" in from_["conds"]:
        raise Uncovered("OR in an ON clause")
    tables = [schema.tables[unit[1]] if unit[0] == "table_unit" else None for unit in units]
    named = [table for table in tables if table]
    if len(set(named)) < len(named):
        raise Uncovered("a table joined with itself (no aliases in the grammar)")
    if units[0][0] == "sql":
        if len(units) > 1:
            raise Uncovered("a sub-query in FROM joined with tables")
        return [f"add_from({qa(schema, units[0][1])})"]
    pairs = []
    for negated, op, val_unit, value, _ in conditions:
        if negated or WHERE_OPS[op] != "=" or val_unit[0] or not isinstance(value, list):
            raise Uncovered("an ON condition that is not column = column")
        pairs.append((schema.columns[val_unit[1][1]], schema.columns[value[1]]))
    calls, seen = [f"add_from({tables[0]!r})"], {tables[0]}
    for table in tables[1:]:
        seen.add(table)
        usable = [pair for pair in pairs if {pair[0].table, pair[1].table} <= seen and table in
                  (pair[0].table, pair[1].table)]
        if usable:
            left, right = usable[0]
            pairs.remove(usable[0])
            calls.append(f"add_join({table!r}, {left.table + '.' + left.name!r}, {right.table + '.' + right.name!r})")
        else:
            calls.append(f"add_join({table!r})")
    if pairs:
        raise Uncovered("more ON conditions than joins")
    return calls


def calls_of(schema: Schema, sql: dict) -> list[str]:
    """The call lines that build Spider's parsed query `sql` (Uncovered if the grammar cannot write it)."""
    distinct, selected = sql["select"]
    answer = ", ".join(repr(_val_unit(schema, val_unit, agg)) for agg, val_unit in selected)
    calls = [f"add_answer({answer}" + (", distinct=True)" if distinct else ")")]
    calls += _from_calls(schema, sql["from"])
    calls += _conditions(schema, "add_where", sql["where"])
    if sql["groupBy"]:
        calls.append(f"add_group_by({', '.join(repr(_column(schema, unit)) for unit in sql['groupBy'])})")
    calls += _conditions(schema, "add_having", sql["having"])
    if sql["orderBy"]:
        direction, keys = sql["orderBy"]
        calls += [f"add_order_by({_val_unit(schema, key)!r}, {direction!r})" for key in keys]
    if sql["limit"] is not None:
        calls.append(f"add_limit({int(sql['limit'])})")
    for kind in ("union", "intersect", "except"):
        if sql[kind] is not None:
            calls.append(f"add_{kind}({qa(schema, sql[kind])})")
    return calls


def qa(schema: Schema, sql: dict, question: str = "sub-query") -> str:
    """A nested query as `QA("question", <calls>...)` on one line."""
    return f"QA({question!r}, {', '.join(calls_of(schema, sql))})"
