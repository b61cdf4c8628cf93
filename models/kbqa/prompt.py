"""KB-Coder's prompts (§2 of the method notes) and the S-expression-style baseline (KB-BINDER-like), with the same
demonstrations, so that the two differ only in how a program is written.

Code style: the instruction as a docstring, the seven function definitions, the demos (`question = '...'` then
one call per line, ending in STOP), the optional reference relations, then `question = '<test question>'`.
S-expression style: an instruction, demos as `Question: ...` / `Logical Form: (...)` with entity names written
`[ name ]` (the same program tree, rendered as an S-expression), then the test question.

Demo selection: `slice_random` (KB-Coder: the pool in k equal slices, one random question from each, seeded — the
same demos for every question) or `topk` (KB-Coder-R: the k pool questions nearest the test question by
embedding, through the shared dense retriever).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import numpy as np

from embedlab.models.kbqa.program import FormatError, Mention, Tree, lines_of, start_leaf
from embedlab.models.kbqa.sexpr import SexprError, parse
from embedlab.models.retrieval.dense import DenseRetriever

INSTRUCTION = ("Please use the functions defined below to generate the expression corresponding to the question "
               "step by step.")
DEFINITIONS = '''def START(entity: str) -> str:
    return entity

def JOIN(relation: str, expression: str) -> str:
    return f"(JOIN {relation} {expression})"

def AND(expression: str, sub_expression: str) -> str:
    return f"(AND {expression} {sub_expression})"

def ARG(operator: str, expression: str, relation: str) -> str:
    assert operator in ["ARGMAX", "ARGMIN"]
    return f"({operator} {expression} {relation})"

def CMP(operator: str, relation: str, expression: str) -> str:
    assert operator in ["<", "<=", ">", ">="]
    return f"({operator} {relation} {expression})"

def COUNT(expression: str) -> str:
    return f"(COUNT {expression})"

def STOP(expression: str) -> str:
    return expression
'''
SEXPR_INSTRUCTION = ("Please write the logical form (an S-expression over Freebase) of the question, on one line, "
                     "with entity names in square brackets.")


def code_demo(question: str, tree: Tree) -> str:
    return "\n".join([f"question = {question!r}", *lines_of(tree), "expression = STOP(expression)"])


def code_prompt(question: str, demos: list[tuple[str, Tree]], references: list[str] = (),
                instruction: bool = True) -> str:
    """The code-style user message (the instruction is a flag: the authors' chat calls leave it out)."""
    parts = [f"'''{INSTRUCTION}'''\n" + DEFINITIONS] if instruction else [DEFINITIONS]
    parts += [code_demo(q, t) for q, t in demos]
    if references:
        parts.append("'''\nSome relations for reference are as follows:\n" + "\n".join(references) + "\n'''")
    parts.append(f"question = {question!r}\n")
    return "\n\n".join(parts)


def lisp(tree: Tree) -> str:
    """A program tree as an S-expression draft: entity names as `[ name ]`, literals and relations as written."""
    if isinstance(tree, Mention):
        return f"[ {tree.text} ]" if tree.kind == "entity" else tree.text
    if tree[0] == "CHAIN":
        return lisp(tree[1]) if len(tree) == 2 else f"(JOIN {lisp(tree[1])} {lisp(('CHAIN', *tree[2:]))})"
    return "(" + " ".join([tree[0], *(lisp(item) for item in tree[1:])]) + ")"


def sexpr_prompt(question: str, demos: list[tuple[str, Tree]], references: list[str] = (),
                 instruction: bool = True) -> str:
    """The S-expression-style user message."""
    parts = [SEXPR_INSTRUCTION] if instruction else []
    parts += [f"Question: {q}\nLogical Form: {lisp(t)}" for q, t in demos]
    if references:
        parts.append("Some relations for reference are as follows:\n" + "\n".join(references))
    parts.append(f"Question: {question}\nLogical Form:")
    return "\n\n".join(parts)


def read_sexpr(text: str) -> Tree:
    """The program tree of an S-expression-style completion (its first line that starts with `(`); FormatError
    when there is none or it does not parse. `(R r)` keeps only r: direction is restored as for code style."""
    body = re.sub(r"```\w*", "", text)
    line = next((ln.strip() for ln in body.splitlines() if ln.strip().startswith("(")), None)
    if line is None:
        raise FormatError("no S-expression (a line starting with '(')")
    try:
        return _tree(parse(line))
    except SexprError as exc:
        raise FormatError(str(exc)) from None


def _tree(expr) -> Tree:
    if isinstance(expr, str):
        if expr.startswith("["):
            return Mention("entity", expr[1:-1].strip())
        return start_leaf(expr.split("^^")[0] if "^^" in expr else expr)
    op = expr[0]
    if op in ("JOIN", "lt", "le", "gt", "ge"):
        return (op, _relation(expr[1]), _tree(expr[2]))
    if op in ("ARGMAX", "ARGMIN"):
        hops = _hops(expr[2])
        return (op, _tree(expr[1]), hops[0] if len(hops) == 1 else ("CHAIN", *hops))
    if op == "R":
        raise FormatError("(R ...) must be the relation of a JOIN")
    return (op, *(_tree(item) for item in expr[1:]))


def _relation(expr) -> Mention:
    if isinstance(expr, str):
        return Mention("relation", expr)
    if expr[0] == "R" and isinstance(expr[1], str):
        return Mention("relation", expr[1])
    raise FormatError(f"a relation was expected, got ({expr[0]} ...)")


def _hops(expr) -> list[Mention]:
    if isinstance(expr, list) and expr[0] == "JOIN":
        return [_relation(expr[1]), *_hops(expr[2])]
    return [_relation(expr)]


def slice_random(pool: list, k: int, seed: int = 42) -> list:
    """KB-Coder's fixed demos: the pool in `k` equal slices (in order), one random item of each."""
    rng = random.Random(seed)
    k = min(k, len(pool))
    bounds = np.linspace(0, len(pool), k + 1).astype(int)
    return [pool[rng.randrange(bounds[i], bounds[i + 1])] for i in range(k)]


def nearest(question: str, pool: list, texts: list[str], k: int, encode: Callable[[list[str]], np.ndarray]) -> list:
    """KB-Coder-R's demos: the `k` pool items whose texts are nearest `question` by embedding, nearest first."""
    retriever = DenseRetriever.build(encode(texts), normalize=True)
    rows, _ = retriever.search(encode([question]), k)
    return [pool[i] for i in rows[0]]
