"""GrailQA S-expressions as nested lists of strings: `(AND c (JOIN (R r) m.0x))` <-> ['AND', 'c', ['JOIN',
['R', 'r'], 'm.0x']]. Operators: JOIN, AND, R, COUNT, ARGMAX, ARGMIN, lt, le, gt, ge (GrailQA's set, TC aside)."""

from __future__ import annotations

from typing import Union

Expr = Union[str, list]
ARITY = {"JOIN": 2, "AND": 2, "R": 1, "COUNT": 1, "ARGMAX": 2, "ARGMIN": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2}
COMPARISONS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}


class SexprError(ValueError):
    """Not a well-formed S-expression (one line saying why)."""


def parse(text: str) -> Expr:
    """The nested list of an S-expression; SexprError for unbalanced parentheses, an unknown operator or a wrong
    number of arguments. Atoms are whitespace-free tokens, or `[ several words ]` (an entity name in a draft)."""
    tokens = _tokens(text)
    if not tokens:
        raise SexprError("empty S-expression")
    expr, end = _read(tokens, 0)
    if end != len(tokens):
        raise SexprError(f"text after the end of the S-expression: {' '.join(tokens[end:])[:60]!r}")
    return expr


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(ch)
            i += 1
        elif ch == "[":
            end = text.find("]", i)
            if end < 0:
                raise SexprError("'[' without ']'")
            out.append("[" + " ".join(text[i + 1:end].split()) + "]")
            i = end + 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in "()[]":
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _read(tokens: list[str], i: int) -> tuple[Expr, int]:
    if i >= len(tokens):
        raise SexprError("unbalanced parentheses: the expression ends too early")
    if tokens[i] == ")":
        raise SexprError("unbalanced parentheses: ')' without '('")
    if tokens[i] != "(":
        return tokens[i], i + 1
    if i + 1 >= len(tokens) or tokens[i + 1] not in ARITY:
        found = tokens[i + 1] if i + 1 < len(tokens) else "nothing"
        raise SexprError(f"unknown operator {found!r} (known: {', '.join(ARITY)})")
    operator, items, i = tokens[i + 1], [], i + 2
    while i < len(tokens) and tokens[i] != ")":
        item, i = _read(tokens, i)
        items.append(item)
    if i >= len(tokens):
        raise SexprError("unbalanced parentheses: missing ')'")
    if len(items) != ARITY[operator]:
        raise SexprError(f"{operator} takes {ARITY[operator]} argument(s), got {len(items)}")
    return [operator, *items], i + 1


def render(expr: Expr) -> str:
    """The text of a nested list (inverse of `parse`)."""
    if isinstance(expr, str):
        return expr
    return "(" + " ".join(render(item) for item in expr) + ")"
