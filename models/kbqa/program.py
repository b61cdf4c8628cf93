"""The seven meta-functions of KB-Coder (paper 10, §1 of the method notes) and their safe interpreter.

A completion is read line by line with Python's `ast` and **interpreted**, never executed (the authors' code runs
it with `exec`; the semantics here are the same). Every line up to the first `STOP(...)` must be one assignment
`name = CALL(arg, ...)` of one of the seven calls with positional arguments that are string literals or variables
bound on an earlier line. Anything else — imports, attribute access, other calls, nested calls, lambdas, keyword
arguments, wrong arity, unknown variables, non-string literals, a missing STOP — is a `FormatError` naming the line
and the reason (KB-Coder's "bad case"). Before parsing: a ```python fence is removed, the text is cut at the first
blank line, a leading `'''...'''` comment block and a leading `question = '...'` line are skipped.

| call | builds |
|---|---|
| START(s) | a literal (`'11.0'`, `'1990#gyear'`), a class (a lower-case dotted token) or an entity mention |
| JOIN(relation, x) | (JOIN relation x) |
| AND(x, y) / AND('class', y) | (AND x y) |
| ARG('argmax'/'argmin', x, relation) | (ARGMAX x relation); relation may be a chain 'r1, r2, ...' (see below) |
| CMP('<'/'<='/'>'/'>=', relation, x) | (lt relation x) ...; '=' / '==' make a JOIN |
| COUNT(x) | (COUNT x) |
| STOP(x) | the result |

ARG over a relation chain (rule chosen here; the paper leaves it open): ARG's relation text may list several
relations separated by commas, read from the argument's items to the attribute; each hop's direction comes from
the ontology (`Ontology.step`), giving GrailQA's `(JOIN (R r1) (JOIN r2 r3))` chain form.

The result is a tree of `Mention`s (nothing linked yet): tuples `(operator, *arguments)` with GrailQA's operator
names, a relation chain as `("CHAIN", Mention, ...)`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Literal, Union

from embedlab.models.kbqa.sexpr import COMPARISONS
from embedlab.registry import Registry

MAX_LINES = 64
LITERAL = re.compile(r"^\s*(?P<value>[+-]?\d+(?:\.\d+)?(?:-\d{2}(?:-\d{2})?)?)\s*(?:#(?P<xsd>[A-Za-z]+))?\s*$")
CLASS = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")
MID = re.compile(r"^[mg]\.[0-9a-z_]+$")


class FormatError(ValueError):
    """A completion that is not a program of the seven calls (one line: where and why)."""


@dataclass(frozen=True)
class Mention:
    """A leaf before linking: an `entity` (name or mid), `class`, `literal` (value, `xsd` when marked) or
    `relation` text, as the LLM wrote it."""

    kind: Literal["entity", "class", "literal", "relation"]
    text: str
    xsd: str = ""


Tree = Union[Mention, tuple]


def start_leaf(text: str) -> Mention:
    """START's argument typed as in KB-Coder's parser: a literal (number or date, optional `#type` marker), a class
    (lower-case dotted token, not a mid), else an entity mention."""
    literal = LITERAL.match(text)
    if literal:
        return Mention("literal", literal["value"], (literal["xsd"] or "").lower())
    stripped = text.strip()
    if CLASS.match(stripped) and not MID.match(stripped):
        return Mention("class", stripped)
    return Mention("entity", " ".join(stripped.split()))


def _relation(text: str, where: str) -> Mention:
    if not text.strip():
        raise FormatError(f"{where}: the relation is empty")
    return Mention("relation", " ".join(text.split()))


def _tree(value: object, where: str) -> Tree:
    if isinstance(value, str):
        raise FormatError(f"{where}: expected a variable holding an expression, got the text {value!r}")
    return value  # type: ignore[return-value]


def call_start(where: str, entity: object) -> Tree:
    if not isinstance(entity, str):
        raise FormatError(f"{where}: START takes a text, not a variable")
    return start_leaf(entity)


def call_join(where: str, relation: object, expression: object) -> Tree:
    if not isinstance(relation, str):
        raise FormatError(f"{where}: JOIN's first argument must be a relation text")
    return ("JOIN", _relation(relation, where), _tree(expression, where))


def call_and(where: str, expression: object, sub_expression: object) -> Tree:
    if isinstance(expression, str):
        if not CLASS.match(expression.strip()):
            raise FormatError(f"{where}: AND's first text argument must be a class, got {expression!r}")
        expression = Mention("class", expression.strip())
    return ("AND", expression, _tree(sub_expression, where))


def call_arg(where: str, operator: object, expression: object, relation: object) -> Tree:
    if not isinstance(operator, str) or operator.strip().upper() not in ("ARGMAX", "ARGMIN"):
        raise FormatError(f"{where}: ARG's operator must be 'argmax' or 'argmin', got {operator!r}")
    if not isinstance(relation, str):
        raise FormatError(f"{where}: ARG's third argument must be a relation text")
    hops = [part for part in relation.split(",")]
    attribute: Tree = (_relation(hops[0], where) if len(hops) == 1 else
                       ("CHAIN", *(_relation(hop, where) for hop in hops)))
    return (operator.strip().upper(), _tree(expression, where), attribute)


def call_cmp(where: str, operator: object, relation: object, expression: object) -> Tree:
    op = operator.strip() if isinstance(operator, str) else operator
    if op not in (*COMPARISONS, "=", "=="):
        raise FormatError(f"{where}: CMP's operator must be one of <, <=, >, >=, =, got {operator!r}")
    if not isinstance(relation, str):
        raise FormatError(f"{where}: CMP's second argument must be a relation text")
    value = start_leaf(expression) if isinstance(expression, str) else expression
    if op in ("=", "=="):
        return ("JOIN", _relation(relation, where), value)
    return (COMPARISONS[op], _relation(relation, where), value)


def call_count(where: str, expression: object) -> Tree:
    return ("COUNT", _tree(expression, where))


def call_stop(where: str, expression: object) -> Tree:
    return _tree(expression, where)


CALLS: Registry = Registry("KB-Coder meta-function", {
    "START": call_start, "JOIN": call_join, "AND": call_and, "ARG": call_arg, "CMP": call_cmp,
    "COUNT": call_count, "STOP": call_stop,
})
ARITY = {"START": 1, "JOIN": 2, "AND": 2, "ARG": 3, "CMP": 3, "COUNT": 1, "STOP": 1}


def program_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of a completion to interpret: fence removed, cut at the first blank line, a leading
    comment block and a leading question line skipped."""
    fence = re.search(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", text, re.DOTALL)
    body = fence[1] if fence else text
    lines = body.split("\n")
    numbered = [(i + 1, line.rstrip()) for i, line in enumerate(lines)]
    while numbered and not numbered[0][1].strip():
        numbered.pop(0)
    if numbered and numbered[0][1].strip().startswith("'''"):
        rest = numbered[0][1].strip()[3:]
        numbered.pop(0)
        if "'''" not in rest:
            while numbered and "'''" not in numbered[0][1]:
                numbered.pop(0)
            numbered = numbered[1:]
        while numbered and not numbered[0][1].strip():
            numbered.pop(0)
    if numbered and re.match(r"^\s*question\s*=\s*(['\"]).*\1\s*$", numbered[0][1]):
        numbered.pop(0)
    out = []
    for number, line in numbered:
        if not line.strip():
            break
        out.append((number, line))
    return out


def _argument(node: ast.expr, where: str, position: int, call: str, bound: dict[str, Tree]) -> object:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return node.value
        raise FormatError(f"{where}: argument {position} of {call} must be a text or a variable, "
                          f"got the {type(node.value).__name__} {node.value!r}")
    if isinstance(node, ast.Name):
        if node.id not in bound:
            raise FormatError(f"{where}: unknown variable {node.id!r} (not assigned on an earlier line)")
        return bound[node.id]
    kind = {ast.Attribute: "attribute access", ast.Call: "a call inside a call", ast.Lambda: "a lambda",
            ast.Subscript: "indexing", ast.JoinedStr: "an f-string"}.get(type(node), type(node).__name__)
    raise FormatError(f"{where}: argument {position} of {call} must be a text or a variable, got {kind}")


def _statement(line: str, where: str) -> ast.Assign:
    try:
        module = ast.parse(line.strip(), mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise FormatError(f"{where}: not a Python statement ({type(exc).__name__})") from None
    if len(module.body) != 1:
        raise FormatError(f"{where}: one call per line")
    statement = module.body[0]
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        raise FormatError(f"{where}: imports are not allowed")
    if not isinstance(statement, ast.Assign):
        raise FormatError(f"{where}: expected `expression = CALL(...)`, got {type(statement).__name__}")
    if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
        raise FormatError(f"{where}: assign to one variable name")
    return statement


def interpret(text: str) -> Tree:
    """The program tree of a completion (see the module docstring); FormatError otherwise. Nothing is executed."""
    bound: dict[str, Tree] = {}
    lines = program_lines(text)
    if not lines:
        raise FormatError("no program lines")
    for number, line in lines[:MAX_LINES]:
        where = f"line {number}"
        statement = _statement(line, where)
        call = statement.value
        if not isinstance(call, ast.Call):
            raise FormatError(f"{where}: the right side must be one of the calls {', '.join(ARITY)}")
        if not isinstance(call.func, ast.Name):
            kind = "attribute access" if isinstance(call.func, ast.Attribute) else type(call.func).__name__
            raise FormatError(f"{where}: the called function must be one of {', '.join(ARITY)}, got {kind}")
        name = call.func.id
        if name not in CALLS:
            raise FormatError(f"{where}: call of {name!r}, which is not one of {', '.join(ARITY)}")
        if call.keywords or any(isinstance(arg, ast.Starred) for arg in call.args):
            raise FormatError(f"{where}: {name} takes positional arguments only")
        if len(call.args) != ARITY[name]:
            raise FormatError(f"{where}: {name} takes {ARITY[name]} argument(s), got {len(call.args)}")
        values = [_argument(arg, where, i + 1, name, bound) for i, arg in enumerate(call.args)]
        result = CALLS.get(name)(where, *values)
        if name == "STOP":
            return result
        bound[statement.targets[0].id] = result
    raise FormatError(f"no STOP(...) line in the first {min(len(lines), MAX_LINES)} line(s)")


def lines_of(tree: Tree, var: str = "expression", counter: list[int] | None = None) -> list[str]:
    """The KB-Coder demo lines that build `tree` into `var` (without the final STOP): the inverse of `interpret`.
    Side branches go to `expression1`, `expression2`, ...; relations, classes, entity names and literals as the
    tree holds them (the demo formatter in grailqa.py decides those texts)."""
    counter = counter if counter is not None else [0]
    if isinstance(tree, Mention):
        return [f"{var} = START({_quote(_leaf_text(tree))})"]
    op = tree[0]
    if op == "JOIN":
        return lines_of(tree[2], var, counter) + [f"{var} = JOIN({_quote(tree[1].text)}, {var})"]
    if op == "AND":
        if isinstance(tree[1], Mention) and tree[1].kind == "class":
            return lines_of(tree[2], var, counter) + [f"{var} = AND({_quote(tree[1].text)}, {var})"]
        counter[0] += 1
        side = f"expression{counter[0]}"
        return (lines_of(tree[1], var, counter) + lines_of(tree[2], side, counter)
                + [f"{var} = AND({var}, {side})"])
    if op in ("ARGMAX", "ARGMIN"):
        attribute = tree[2]
        text = ", ".join(m.text for m in attribute[1:]) if isinstance(attribute, tuple) else attribute.text
        return lines_of(tree[1], var, counter) + [f"{var} = ARG({_quote(op.lower())}, {var}, {_quote(text)})"]
    if op in ("lt", "le", "gt", "ge"):
        symbol = {v: k for k, v in COMPARISONS.items()}[op]
        counter[0] += 1
        side = f"expression{counter[0]}"
        return lines_of(tree[2], side, counter) + [f"{var} = CMP({_quote(symbol)}, {_quote(tree[1].text)}, {side})"]
    if op == "COUNT":
        return lines_of(tree[1], var, counter) + [f"{var} = COUNT({var})"]
    raise ValueError(f"no demo line for operator {op!r}")


def _leaf_text(leaf: Mention) -> str:
    return f"{leaf.text}#{leaf.xsd}" if leaf.kind == "literal" and leaf.xsd else leaf.text


def _quote(text: str) -> str:
    return repr(text)
