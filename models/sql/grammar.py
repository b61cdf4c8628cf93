"""The function-call grammar of ToolSQL (paper 3): the LLM writes a query as Python-style calls, one per clause.

The text is parsed with `ast` and interpreted here; it is never executed. Each statement must be a call to a
name of `CALLS` whose arguments are literals (str, int, float, None, True/False, tuples/lists of them) or the two
value forms `col("table.column")` (a column compared with a column) and `QA("sub-question", <calls>...)` (a
nested query: the sub-question and the calls that answer it). Known from the paper's sources: `add_answer`,
`add_from`, `add_where`, `QA`; the rest of the table is [open] there and completes Spider's grammar here.

Column expressions are text: `table.column`, `*`, an aggregate `count(*)`, `max(t.c)`, `count(distinct t.c)`,
or two of those joined by one of `+ - * /` (optionally inside an aggregate: `sum(t.a * t.b)`).
A format error (`GrammarError`) names the line and the call; the agent feeds it back to the LLM.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Union

from embedlab.registry import Registry

AGGREGATES = ("max", "min", "count", "sum", "avg")
OPERATORS = ("=", "!=", ">", "<", ">=", "<=", "between", "in", "not in", "like", "not like")
DIRECTIONS = ("asc", "desc")
ARITHMETIC = ("+", "-", "*", "/")


class GrammarError(ValueError):
    """The calls do not follow the grammar (one line: where and what was expected)."""


@dataclass(frozen=True)
class Unit:
    """A column reference `table.column` (table "" when unqualified; column "*" for all), possibly aggregated."""

    table: str
    column: str
    agg: str = ""
    distinct: bool = False


@dataclass(frozen=True)
class Expr:
    """`left` alone, or `left op right`; `agg` wraps the whole (e.g. sum(a * b))."""

    left: Unit
    op: str = ""
    right: Unit | None = None
    agg: str = ""


_NAME = r"(?:\*|[A-Za-z_][\w]*(?:\.(?:[A-Za-z_][\w]*|\*))?|\"[^\"]+\"(?:\.\"[^\"]+\")?)"
_UNIT = re.compile(rf"^\s*(?:(?P<agg>{'|'.join(AGGREGATES)})\s*\(\s*(?P<distinct>distinct\s+)?(?P<inner>{_NAME})\s*\)"
                   rf"|(?P<bdistinct>distinct\s+)?(?P<bare>{_NAME}))\s*$", re.IGNORECASE)


def _unit(text: str) -> Unit:
    match = _UNIT.match(text)
    if not match:
        raise GrammarError(f"{text!r} is not a column expression (table.column, *, count(*), max(t.c), "
                           "count(distinct t.c))")
    name = (match["inner"] or match["bare"]).replace('"', "")
    table, _, column = name.rpartition(".")
    return Unit(table, column, (match["agg"] or "").lower(), bool(match["distinct"] or match["bdistinct"]))


def parse_expr(text: str) -> Expr:
    """An `Expr` of a column-expression text (GrammarError otherwise)."""
    if not isinstance(text, str):
        raise GrammarError(f"{text!r} is not a column expression: write it as text, e.g. 'singer.name'")
    outer = re.match(rf"^\s*({'|'.join(AGGREGATES)})\s*\((.*[-+*/].*)\)\s*$", text, re.IGNORECASE)
    body, agg = (outer[2], outer[1].lower()) if outer and not _UNIT.match(text) else (text, "")
    pieces = re.split(r"\s+([-+*/])\s+|(?<=\w)\s*([-+/])\s*(?=\w)", body)
    pieces = [piece for piece in pieces if piece is not None]
    if len(pieces) == 1:
        return Expr(_unit(pieces[0]), agg=agg)
    if len(pieces) == 3:
        return Expr(_unit(pieces[0]), pieces[1], _unit(pieces[2]), agg)
    raise GrammarError(f"{text!r}: at most two columns joined by one of + - * /")


@dataclass(frozen=True)
class Col:
    """`col("table.column")`: a value that is a column, not a literal."""

    expr: Expr


@dataclass(frozen=True)
class Condition:
    """`expr op value [value2]`, joined to the previous condition by `conj` (and | or)."""

    expr: Expr
    op: str
    value: Any
    value2: Any = None
    conj: str = "and"


@dataclass
class Query:
    """A whole query: what each call added. `sub_question` is set for a QA(...) sub-query."""

    answer: list[Expr] = field(default_factory=list)
    distinct: bool = False
    source: Union[str, Query, None] = None
    joins: list[tuple[str, Expr | None, Expr | None]] = field(default_factory=list)
    where: list[Condition] = field(default_factory=list)
    group_by: list[Expr] = field(default_factory=list)
    having: list[Condition] = field(default_factory=list)
    order_by: list[tuple[Expr, str]] = field(default_factory=list)
    limit: int | None = None
    set_op: tuple[str, Query] | None = None
    sub_question: str | None = None
    calls: list[str] = field(default_factory=list)


# --- the call table: each entry adds its clause to a Query; its signature is the call's signature ---

def _condition(column: str, op: str, value: Any, value2: Any, conj: str) -> Condition:
    op = op.lower().strip() if isinstance(op, str) else op
    if op not in OPERATORS:
        raise GrammarError(f"operator {op!r} is not one of {', '.join(OPERATORS)}")
    if (conj or "").lower() not in ("and", "or"):
        raise GrammarError(f"conj must be 'and' or 'or', got {conj!r}")
    if op == "between" and value2 is None:
        raise GrammarError("'between' needs value and value2")
    for item in (value, value2):
        if isinstance(item, (list, tuple, dict, bool)):
            raise GrammarError(f"value {item!r}: give a number, a text, col('t.c') or QA(...)")
    return Condition(parse_expr(column), op, value, value2, conj.lower())


def add_answer(query: Query, *columns: str, distinct: bool = False) -> None:
    """add_answer("t.c", "count(*)", ..., distinct=False): the SELECT list."""
    if not columns:
        raise GrammarError("add_answer needs at least one column expression")
    query.answer.extend(parse_expr(column) for column in columns)
    query.distinct = query.distinct or bool(distinct)


def add_from(query: Query, table: str | Query) -> None:
    """add_from("table") or add_from(QA(...)): the first table (or a sub-query) of FROM."""
    if query.source is not None:
        raise GrammarError("add_from may appear once; add more tables with add_join")
    if not isinstance(table, (str, Query)):
        raise GrammarError(f"add_from takes a table name or QA(...), got {table!r}")
    query.source = table


def add_join(query: Query, table: str, left: str | None = None, right: str | None = None) -> None:
    """add_join("table", "a.key", "table.key"): JOIN table ON a.key = table.key (no keys: a cross join)."""
    if not isinstance(table, str):
        raise GrammarError(f"add_join takes a table name, got {table!r}")
    if (left is None) != (right is None):
        raise GrammarError("add_join needs both join columns, or neither")
    query.joins.append((table, None if left is None else parse_expr(left), None if right is None else parse_expr(right)))


def add_where(query: Query, column: str, op: str, value: Any, value2: Any = None, conj: str = "and") -> None:
    """add_where("t.c", "=", "value", conj="and"): one WHERE condition (between: value and value2)."""
    query.where.append(_condition(column, op, value, value2, conj))


def add_group_by(query: Query, *columns: str) -> None:
    """add_group_by("t.c", ...): GROUP BY columns."""
    if not columns:
        raise GrammarError("add_group_by needs at least one column")
    query.group_by.extend(parse_expr(column) for column in columns)


def add_having(query: Query, column: str, op: str, value: Any, value2: Any = None, conj: str = "and") -> None:
    """add_having("count(*)", ">", 2): one HAVING condition."""
    query.having.append(_condition(column, op, value, value2, conj))


def add_order_by(query: Query, column: str, direction: str = "asc") -> None:
    """add_order_by("t.c", "desc"): one ORDER BY key."""
    if not isinstance(direction, str) or direction.lower() not in DIRECTIONS:
        raise GrammarError(f"direction must be 'asc' or 'desc', got {direction!r}")
    query.order_by.append((parse_expr(column), direction.lower()))


def add_limit(query: Query, n: int) -> None:
    """add_limit(n): LIMIT n."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise GrammarError(f"add_limit takes a non-negative whole number, got {n!r}")
    query.limit = n


def _set_op(kind: str):
    def add(query: Query, sub: Query) -> None:
        if not isinstance(sub, Query):
            raise GrammarError(f"add_{kind} takes QA(\"sub-question\", <calls>...), got {sub!r}")
        if query.set_op is not None:
            raise GrammarError("one set operation per query; nest further ones inside the QA(...)")
        query.set_op = (kind, sub)
    add.__name__ = f"add_{kind}"
    add.__doc__ = f"add_{kind}(QA(\"sub-question\", <calls>...)): {kind.upper()} with the sub-query."
    return add


CALLS: Registry = Registry("SQL call", {
    "add_answer": add_answer, "add_from": add_from, "add_join": add_join, "add_where": add_where,
    "add_group_by": add_group_by, "add_having": add_having, "add_order_by": add_order_by, "add_limit": add_limit,
    "add_union": _set_op("union"), "add_intersect": _set_op("intersect"), "add_except": _set_op("except"),
})


def grammar_help() -> str:
    """The call table as prompt text: one line per call (its docstring), plus the two value forms."""
    lines = [CALLS.doc(name) for name in CALLS]
    lines.append('col("t.c"): a column used as a value (compare a column with a column)')
    lines.append('QA("sub-question", <calls>...): a nested query used as a value, a FROM source or a set operand')
    return "\n".join(lines)


# --- parsing the text ---

def _value(node: ast.expr, line: int) -> Any:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "QA":
        return _qa(node, line)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "col":
        if len(node.args) != 1 or node.keywords:
            raise GrammarError(f"line {line}: col takes one column expression")
        return Col(parse_expr(_value(node.args[0], line)))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise GrammarError(f"line {line}: {ast.unparse(node)!r} is not a literal, col(...) or QA(...)") from None


def _qa(node: ast.Call, line: int) -> Query:
    if node.keywords or not node.args or not isinstance(_value(node.args[0], line), str):
        raise GrammarError(f"line {line}: QA takes the sub-question (text) and then the sub-query's calls")
    if len(node.args) == 1:
        raise GrammarError(f"line {line}: QA({ast.unparse(node.args[0])}) needs the sub-query's calls after the "
                           "sub-question, e.g. QA(\"...\", add_answer(...), add_from(...))")
    sub = Query(sub_question=_value(node.args[0], line))
    for inner in node.args[1:]:
        _apply(sub, inner, line)
    if not sub.answer or sub.source is None:
        raise GrammarError(f"line {line}: QA({sub.sub_question!r}, ...) needs add_answer(...) and add_from(...)")
    return sub


def _apply(query: Query, node: ast.expr, line: int) -> None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise GrammarError(f"line {line}: expected a call such as add_answer(...), got {ast.unparse(node)!r}")
    name = node.func.id
    if name not in CALLS:
        raise GrammarError(f"line {line}: unknown call {name!r} (known: {', '.join(CALLS)})")
    function = CALLS.get(name)
    if any(isinstance(arg, ast.Starred) for arg in node.args) or any(k.arg is None for k in node.keywords):
        raise GrammarError(f"line {line}: {name}: no * or ** arguments")
    args = [_value(arg, line) for arg in node.args]
    kwargs = {keyword.arg: _value(keyword.value, line) for keyword in node.keywords}
    try:
        inspect.signature(function).bind(query, *args, **kwargs)
        function(query, *args, **kwargs)
    except TypeError as exc:
        raise GrammarError(f"line {line}: {name}: {exc}; expected {CALLS.doc(name)}") from None
    except GrammarError as exc:
        raise GrammarError(f"line {line}: {name}: {exc}") from None
    query.calls.append(ast.unparse(node))


def parse_calls(text: str) -> Query:
    """The `Query` that the calls in `text` build (GrammarError on the first problem).

    Lines that are blank or comments are skipped; a ```python fence around the calls is allowed."""
    text = re.sub(r"^\s*```[a-z]*\s*$", "", text, flags=re.MULTILINE)
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise GrammarError(f"line {exc.lineno}: not valid call syntax ({exc.msg})") from None
    query = Query()
    for statement in tree.body:
        if not isinstance(statement, ast.Expr):
            raise GrammarError(f"line {statement.lineno}: only calls are allowed, got {ast.unparse(statement)!r}")
        _apply(query, statement.value, statement.lineno)
    if not query.answer or query.source is None:
        raise GrammarError("a query needs add_answer(...) and add_from(...)")
    return query
