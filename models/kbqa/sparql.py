"""GrailQA S-expressions as SPARQL over Freebase (the semantics of GrailQA's `lisp_to_sparql`, written anew).

- an entity `m.x` = {m.x}; a class C = its instances (`?x type.object.type C`); a literal = itself;
- `(JOIN r X)` = {s : (s, r, o), o in X}; `(JOIN (R r) X)` = {o : (s, r, o), s in X};
- `(AND X Y)` = X ∩ Y; `(COUNT X)` = |X|; `(lt|le|gt|ge r v)` = {s : (s, r, o), o < v ...};
- `(ARGMAX X a)` / `(ARGMIN X a)` = the items of X with the largest / smallest attribute reached by the relation
  (chain) `a`, at the top of the expression only (as in GrailQA);
- the answer never is one of the question's entities (GrailQA's `FILTER (?x != entity)`).

Names go into the query as full IRIs under `http://rdf.freebase.com/ns/`; a name outside `[A-Za-z0-9_.-]` or a
literal that is not a number or a date is refused (`SparqlError`), so nothing the LLM writes can change the query's
shape.
"""

from __future__ import annotations

import re
from itertools import count

from embedlab.models.kbqa.sexpr import Expr

NS = "http://rdf.freebase.com/ns/"
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
VALUE = re.compile(r"^[+-]?\d+(\.\d+)?(-\d{2}(-\d{2})?)?$")
XSD = "http://www.w3.org/2001/XMLSchema#"
OPERATORS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class SparqlError(ValueError):
    """An S-expression that cannot be turned into a query (said why)."""


def iri(name: str) -> str:
    if not NAME.match(name):
        raise SparqlError(f"{name!r} is not a Freebase id")
    return f"<{NS}{name}>"


def literal(symbol: str) -> str:
    value, _, kind = symbol.partition("^^")
    if not VALUE.match(value) or not kind.startswith(XSD) or not NAME.match(kind[len(XSD):]):
        raise SparqlError(f"{symbol!r} is not a number or date literal")
    return f'"{value}"^^<{kind}>'


class _Compiler:
    def __init__(self):
        self.ids = count()
        self.clauses: list[str] = []
        self.entities: set[str] = set()

    def var(self) -> str:
        return f"?x{next(self.ids)}"

    def node(self, expr: Expr, var: str) -> None:
        """Clauses that bind `var` to the items of `expr`."""
        if isinstance(expr, str):
            if "^^" in expr:
                self.clauses.append(f"FILTER ({var} = {literal(expr)})")
            elif re.match(r"^[mg]\.", expr):
                self.entities.add(expr)
                self.clauses.append(f"VALUES {var} {{ {iri(expr)} }}")
            else:
                self.clauses.append(f"{var} {iri('type.object.type')} {iri(expr)} .")
            return
        op = expr[0]
        if op == "AND":
            self.node(expr[1], var)
            self.node(expr[2], var)
        elif op == "JOIN":
            other = self.var()
            relation = expr[1]
            if isinstance(expr[2], str) and "^^" in expr[2]:
                self.clauses.append(f"{var} {iri(_plain(relation))} {other} .")
                self.clauses.append(f"FILTER ({other} = {literal(expr[2])})")
                return
            self.node(expr[2], other)
            if isinstance(relation, list):
                self.clauses.append(f"{other} {iri(relation[1])} {var} .")
            else:
                self.clauses.append(f"{var} {iri(relation)} {other} .")
        elif op in OPERATORS:
            value = self.var()
            self.clauses.append(f"{var} {iri(_plain(expr[1]))} {value} .")
            self.clauses.append(f"FILTER ({value} {OPERATORS[op]} {literal(expr[2])})")
        else:
            raise SparqlError(f"{op} is only allowed at the top of the expression")

    def path(self, attribute: Expr, start: str) -> str:
        """Clauses from `start` along the relation chain `attribute`; returns the attribute value's variable."""
        steps: list[Expr] = []
        while isinstance(attribute, list) and attribute[0] == "JOIN":
            steps.append(attribute[1])
            attribute = attribute[2]
        steps.append(attribute)
        current = start
        for step in steps:
            following = self.var()
            if isinstance(step, list):
                self.clauses.append(f"{following} {iri(step[1])} {current} .")
            else:
                self.clauses.append(f"{current} {iri(step)} {following} .")
            current = following
        return current


def _plain(relation: Expr) -> str:
    if not isinstance(relation, str):
        raise SparqlError(f"a comparison takes a forward relation, got {relation!r}")
    return relation


def to_sparql(expr: Expr) -> str:
    """One SELECT query whose `?value` bindings are the answers of `expr` (a count for COUNT)."""
    compiler = _Compiler()
    answer = "?x"
    core, tail = expr, ""
    counting = isinstance(core, list) and core[0] == "COUNT"
    if counting:
        core = core[1]
    if isinstance(core, list) and core[0] in ("ARGMAX", "ARGMIN"):
        compiler.node(core[1], answer)
        attribute = compiler.path(core[2], answer)
        tail = f"ORDER BY {'DESC' if core[0] == 'ARGMAX' else 'ASC'}({attribute}) LIMIT 1"
    else:
        compiler.node(core, answer)
    filters = [f"FILTER ({answer} != {iri(e)})" for e in sorted(compiler.entities)]
    body = "\n  ".join(compiler.clauses + filters)
    inner = f"SELECT DISTINCT {answer} WHERE {{\n  {body}\n}}" + (f"\n{tail}" if tail else "")
    if counting:
        return f"SELECT (COUNT(DISTINCT {answer}) AS ?value) WHERE {{\n{{ {inner} }}\n}}"
    return f"SELECT ({answer} AS ?value) WHERE {{\n{{ {inner} }}\n}}"


def answer_of(term: str) -> str:
    """A bound value as GrailQA states answers: a Freebase IRI without its namespace, a literal's lexical form
    without a `-08:00` time zone."""
    return term[len(NS):] if term.startswith(NS) else term.replace("-08:00", "")
