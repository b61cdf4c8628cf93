"""Spider's hardness levels (easy / medium / hard / extra) from Spider's parse of the gold SQL (the `sql` field of
dev.json), as the official evaluator (`evaluation.py`, `Evaluator.eval_hardness`) counts them:

- component 1: WHERE, GROUP BY, ORDER BY, LIMIT present (1 each), joined tables beyond the first, OR connectives
  and LIKE conditions (in ON, WHERE, HAVING);
- component 2: nested queries (sub-queries in conditions, INTERSECT / UNION / EXCEPT);
- others: more than one aggregate, more than one selected column, more than one WHERE condition, more than one
  GROUP BY column (1 each).
"""

from __future__ import annotations

from typing import Any

LIKE = 9  # Spider's WHERE_OPS index of 'like'
LEVELS = ("easy", "medium", "hard", "extra")


def nested_queries(sql: dict[str, Any]) -> list[dict]:
    conditions = sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]
    nested = [value for unit in conditions for value in (unit[3], unit[4]) if isinstance(value, dict)]
    return nested + [sql[key] for key in ("intersect", "union", "except") if sql[key] is not None]


def _component1(sql: dict[str, Any]) -> int:
    count = sum(bool(sql[key]) for key in ("where", "groupBy", "orderBy")) + (sql["limit"] is not None)
    count += max(len(sql["from"]["table_units"]) - 1, 0)
    connectives = sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]
    conditions = sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]
    return count + connectives.count("or") + sum(unit[1] == LIKE for unit in conditions)


def _aggregated(units: list) -> int:
    return sum(unit[0] != 0 for unit in units)


def _others(sql: dict[str, Any]) -> int:
    aggregates = _aggregated(sql["select"][1]) + _aggregated(sql["where"][::2]) + _aggregated(sql["groupBy"])
    if sql["orderBy"]:
        value_units = sql["orderBy"][1]
        aggregates += _aggregated([u[1] for u in value_units if u[1]] + [u[2] for u in value_units if u[2]])
    aggregates += _aggregated(sql["having"])
    return sum((aggregates > 1, len(sql["select"][1]) > 1, len(sql["where"]) > 1, len(sql["groupBy"]) > 1))


def hardness(sql: dict[str, Any]) -> str:
    """"easy" | "medium" | "hard" | "extra" of Spider's parsed SQL."""
    one, two, others = _component1(sql), len(nested_queries(sql)), _others(sql)
    if one <= 1 and others == 0 and two == 0:
        return "easy"
    if (others <= 2 and one <= 1 and two == 0) or (one <= 2 and others < 2 and two == 0):
        return "medium"
    if ((others > 2 and one <= 2 and two == 0) or (2 < one <= 3 and others <= 2 and two == 0)
            or (one <= 1 and others == 0 and two <= 1)):
        return "hard"
    return "extra"
