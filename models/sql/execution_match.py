"""Execution accuracy (EX) with the official test-suite-sql-eval semantics (repo taoyds/test-suite-sql-eval,
`exec_eval.py`: `eval_exec_match`, `result_eq`), written from its description:

- both queries: `> =`, `< =`, `! =` joined; the keyword DISTINCT removed from both (`keep_distinct=False`, the
  default there: also inside `count(DISTINCT x)`); `YEAR(CURDATE())` read as 2020;
- both run on every `.sqlite` file in the gold database's folder (the test suite; one file here = plain EX);
  the gold must run; a prediction that fails, is refused or runs out of time is wrong;
- denotations are bags of rows: equal when both are empty; else same row count and column count, and some
  permutation of the prediction's columns makes the bags equal; row order counts only when the gold SQL
  contains "order by";
- the predicted literals are used as written (no `--plug_value`).
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import product
from pathlib import Path

from embedlab.models.sql.safe_exec import _TOKENS, Limits, QueryError, execute

OFFICIAL_TIMEOUT_S = 60.0
_DISTINCT = re.compile(r"\bdistinct\b", re.IGNORECASE)
_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", re.IGNORECASE)


def remove_distinct(sql: str) -> str:
    """`sql` without the keyword DISTINCT (outside string literals and quoted names)."""
    return "".join(token if token[:1] in "'\"`[" else _DISTINCT.sub("", token) for token in _TOKENS.findall(sql))


def normalise(sql: str, keep_distinct: bool = False) -> str:
    """The official post-processing of either query before it runs."""
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    sql = sql if keep_distinct else remove_distinct(sql)
    return _CUR_YEAR.sub("2020", sql)


def _unordered(row: tuple) -> tuple:
    return tuple(sorted(row, key=lambda value: str(value) + str(type(value))))


def _column_permutations(result1: list[tuple], result2: list[tuple]):
    """Candidate maps (prediction column for each gold column): a prediction column stays a candidate for a gold
    column only if every value it holds occurs in that gold column (a sound pruning of all permutations)."""
    width = len(result1[0])
    gold_sets = [{row[i] for row in result1} for i in range(width)]
    candidates = [[j for j in range(width) if all(row[j] in gold_sets[i] for row in result2)] for i in range(width)]
    return (perm for perm in product(*candidates) if len(set(perm)) == width)


def result_eq(result1: list[tuple], result2: list[tuple], order_matters: bool) -> bool:
    """Whether the gold rows `result1` and the predicted rows `result2` denote the same answer."""
    if not result1 and not result2:
        return True
    if len(result1) != len(result2) or len(result1[0]) != len(result2[0]):
        return False
    unordered1, unordered2 = [_unordered(r) for r in result1], [_unordered(r) for r in result2]
    if (unordered1 != unordered2) if order_matters else (set(unordered1) != set(unordered2)):
        return False
    for perm in _column_permutations(result1, result2):
        permuted = [tuple(row[j] for j in perm) for row in result2]
        if (result1 == permuted) if order_matters else (Counter(result1) == Counter(permuted)):
            return True
    return False


def suite_databases(db: Path) -> list[Path]:
    """Every `.sqlite` file in `db`'s folder, sorted (the official test suite)."""
    return sorted(path for path in Path(db).parent.iterdir() if ".sqlite" in path.name)


class GoldError(Exception):
    """The gold query did not run: the evaluation data is broken, not the prediction."""


def exec_match(db: Path, predicted: str, gold: str, keep_distinct: bool = False,
               timeout_s: float = OFFICIAL_TIMEOUT_S) -> bool:
    """1 if `predicted` has the gold's denotation on every database of `db`'s folder (official semantics)."""
    predicted, gold = normalise(predicted, keep_distinct), normalise(gold, keep_distinct)
    order_matters = "order by" in gold.lower()
    limits = Limits(timeout_s=timeout_s, max_rows=10_000_000)
    for path in suite_databases(db):
        try:
            gold_rows = execute(path, gold, limits)
        except QueryError as exc:
            raise GoldError(f"gold query fails on {path}: {exc} ({gold})") from None
        try:
            predicted_rows = execute(path, predicted, limits)
        except QueryError:
            return False
        if not result_eq(gold_rows, predicted_rows, order_matters):
            return False
    return True
