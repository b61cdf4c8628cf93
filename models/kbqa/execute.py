"""From completions to one answer (§3 of the method notes): each completion is interpreted (program.py), its
candidate programs (resolve.py) are executed in order until one returns a non-empty answer (not a count of 0);
when none does, the trailing constraints are dropped one by one (constraint relaxation) and the candidates tried
again. Then a majority vote over the completions' answer sets picks the final answer (ties: the first seen).

Without a KB (`store` None) nothing is executed: a completion's prediction is its first candidate program and
the vote is over the S-expressions (a documented stand-in; answer F1 is then not measured).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from embedlab.models.kbqa.endpoint import Store
from embedlab.models.kbqa.program import FormatError, Tree, interpret
from embedlab.models.kbqa.resolve import Resolver
from embedlab.models.kbqa.sexpr import Expr, render
from embedlab.models.kbqa.sparql import SparqlError, to_sparql

Reader = Callable[[str], Tree]  # completion text -> program tree, FormatError when it is not one


@dataclass
class Attempt:
    """One completion: its text, the format error (None if it parsed), the S-expression and SPARQL it ended with,
    the answers, and whether constraints were relaxed."""

    completion: str
    format_error: str | None = None
    s_expression: str | None = None
    sparql: str | None = None
    answers: list[str] = field(default_factory=list)
    relaxed: int = 0


def relaxations(expr: Expr) -> list[Expr]:
    """`expr`, then with its trailing constraints dropped one at a time: ARG -> its argument, AND -> its core
    (the non-class side; the class constraint is dropped first), COUNT kept around the relaxed core."""
    out = [expr]
    while True:
        current = out[-1]
        counting = isinstance(current, list) and current[0] == "COUNT"
        core = current[1] if counting else current
        if not isinstance(core, list):
            return out
        if core[0] in ("ARGMAX", "ARGMIN"):
            relaxed = core[1]
        elif core[0] == "AND":
            relaxed = core[2] if isinstance(core[1], str) else core[1]
        else:
            return out
        out.append(["COUNT", relaxed] if counting else relaxed)


def _useful(expr: Expr, answers: list[str]) -> bool:
    counting = isinstance(expr, list) and expr[0] == "COUNT"
    return bool(answers) and not (counting and answers == ["0"])


def run_program(tree: Tree, resolver: Resolver, store: Store | None) -> Attempt:
    """The first candidate program that answers (relaxing when none does); without a store, the first one."""
    attempt = Attempt("")
    candidates = list(resolver.programs(tree))
    if not candidates:
        return attempt
    if store is None:
        attempt.s_expression = render(candidates[0])
        return attempt
    levels = [relaxations(c) for c in candidates]
    for depth in range(max(len(chain) for chain in levels)):
        for chain in levels:
            if depth >= len(chain):
                continue
            try:
                query = to_sparql(chain[depth])
            except SparqlError:
                continue
            answers = store.values(query)
            if _useful(chain[depth], answers):
                attempt.s_expression, attempt.sparql, attempt.answers = render(chain[depth]), query, answers
                attempt.relaxed = depth
                return attempt
    attempt.s_expression = render(candidates[0])
    return attempt


def answer(completions: list[str], resolver: Resolver, store: Store | None,
           reader: Reader = interpret) -> tuple[Attempt | None, list[Attempt]]:
    """(the voted attempt or None when no completion gave a program, every completion's attempt)."""
    attempts: list[Attempt] = []
    for text in completions:
        try:
            tree = reader(text)
        except FormatError as exc:
            attempts.append(Attempt(text, format_error=str(exc)))
            continue
        attempt = run_program(tree, resolver, store)
        attempt.completion = text
        attempts.append(attempt)
    return vote(attempts, store is not None), attempts


def vote(attempts: list[Attempt], by_answers: bool) -> Attempt | None:
    """Majority over the answer sets (or the S-expressions without a KB); ties go to the first seen."""
    keyed = [(frozenset(a.answers) if by_answers else a.s_expression, a) for a in attempts
             if (a.answers if by_answers else a.s_expression)]
    if not keyed:
        return None
    counts = Counter(key for key, _ in keyed)
    best = max(counts.values())
    return next(a for key, a in keyed if counts[key] == best)
