"""From a program tree of mentions (program.py) to GrailQA S-expressions: link every mention and restore every
relation's direction, bottom-up, from the types of what the relation is joined to (ontology.py).

Candidate programs (paper §3 of the method notes): one per combination of entity candidates (each mention's top
`entity_topk`, at most `max_programs` combinations, most likely first). Within a combination each relation mention
takes the first of its similarity-ranked candidates whose domain or range fits the sub-expression it joins (the
ontology stands in for the paper's KB check); classes take their best candidate; a literal gets the XSD type of the
relation's range (`type.float` -> float, `type.int` -> integer, `type.datetime` -> date / gYear / gYearMonth)
unless its `#type` marker says otherwise. A combination where some relation fits nothing yields no program.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Protocol

from embedlab.models.kbqa.ontology import LITERAL_TYPES, Ontology
from embedlab.models.kbqa.program import Mention, Tree
from embedlab.models.kbqa.sexpr import Expr

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_NAMES = {"float": "float", "double": "double", "integer": "integer", "int": "int", "date": "date",
             "gyear": "gYear", "gyearmonth": "gYearMonth", "datetime": "dateTime", "boolean": "boolean"}

class Candidates(Protocol):
    """What linking offers for each mention, best first (linking.py)."""

    def entities(self, mention: str) -> list[str]: ...

    def classes(self, mention: str) -> list[str]: ...

    def relations(self, mention: str) -> list[str]: ...

    def types_of(self, entity: str) -> set[str]: ...

class NoFit(Exception):
    """No candidate relation fits a sub-expression (the combination yields no program)."""

def entity_mentions(tree: Tree) -> list[str]:
    """The entity mentions of a tree, in reading order, without repeats."""
    found: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop(0)
        if isinstance(node, Mention):
            if node.kind == "entity" and node.text not in found:
                found.append(node.text)
        else:
            stack = list(node[1:]) + stack
    return found

def literal_text(value: str, xsd: str, range_type: str | None) -> str:
    """`value^^<xsd type>`: the marker's type, else the one the relation's range implies, else float/integer."""
    name = xsd
    if not name and range_type == "type.datetime":
        name = "gyear" if len(value) == 4 else "gyearmonth" if len(value) == 7 else "date"
    elif not name and range_type == "type.int":
        name = "integer"
    elif not name:
        name = "float" if "." in value or range_type == "type.float" else "integer"
    return f"{value}^^{XSD}{XSD_NAMES.get(name, name)}"

class Resolver:
    """Turns program trees into S-expressions with `candidates` and `ontology`."""

    def __init__(self, ontology: Ontology, candidates: Candidates, entity_topk: int = 15, max_programs: int = 50):
        self.ontology = ontology
        self.candidates = candidates
        self.entity_topk = entity_topk
        self.max_programs = max_programs

    def programs(self, tree: Tree) -> Iterator[Expr]:
        """Candidate S-expressions of `tree`, most likely first (see the module docstring)."""
        mentions = entity_mentions(tree)
        options = [self.candidates.entities(m)[: self.entity_topk] for m in mentions]
        if any(not o for o in options):
            return
        for chosen in itertools.islice(itertools.product(*options), self.max_programs):
            try:
                expr, _ = self._resolve(tree, dict(zip(mentions, chosen)))
            except NoFit:
                continue
            yield expr

    def _resolve(self, node: Tree, entities: dict[str, str]) -> tuple[Expr, set[str]]:
        onto = self.ontology
        if isinstance(node, Mention):
            if node.kind == "entity":
                mid = entities[node.text]
                return mid, self.candidates.types_of(mid)
            if node.kind == "class":
                classes = [node.text] if onto.is_type(node.text) else self.candidates.classes(node.text)
                if not classes:
                    raise NoFit(node.text)
                return classes[0], {classes[0]}
            if node.kind == "literal":
                kind = LITERAL_TYPES.get(node.xsd, "type.float")
                return literal_text(node.text, node.xsd, None), {kind}
            raise NoFit(node.text)
        op = node[0]
        if op in ("JOIN", "lt", "le", "gt", "ge"):
            if isinstance(node[2], Mention) and node[2].kind == "literal":
                return self._literal_join(op, node[1], node[2])
            inner, types = self._resolve(node[2], entities)
            for relation in self._relations(node[1]):
                forward = onto.direction(relation, types)
                if forward is not None and (op == "JOIN" or forward):
                    edge = relation if forward else ["R", relation]
                    return [op, edge, inner], {onto.domain(relation) if forward else onto.range(relation)}
            raise NoFit(node[1].text)
        if op == "AND":
            left, left_types = self._resolve(node[1], entities)
            right, right_types = self._resolve(node[2], entities)
            return ["AND", left, right], left_types if isinstance(node[1], Mention) else left_types | right_types
        if op == "COUNT":
            inner, _ = self._resolve(node[1], entities)
            return ["COUNT", inner], {"type.int"}
        if op in ("ARGMAX", "ARGMIN"):
            inner, types = self._resolve(node[1], entities)
            return [op, inner, self._attribute(node[2], types)], types
        raise NoFit(op)

    def _relations(self, mention: Mention) -> Iterator[str]:
        """The mention itself when it is an ontology relation, then its linked candidates (searched only when
        the first does not fit)."""
        if self.ontology.is_relation(mention.text):
            yield mention.text
        yield from (r for r in self.candidates.relations(mention.text) if r != mention.text)

    def _literal_join(self, op: str, mention: Mention, literal: Mention) -> tuple[Expr, set[str]]:
        wanted = LITERAL_TYPES.get(literal.xsd)
        for relation in self._relations(mention):
            range_type = self.ontology.range(relation)
            if range_type in LITERAL_TYPES.values() and (wanted is None or wanted == range_type):
                return ([op, relation, literal_text(literal.text, literal.xsd, range_type)],
                        {self.ontology.domain(relation)})
        raise NoFit(mention.text)

    def _attribute(self, attribute: Tree, types: set[str]) -> Expr:
        hops = list(attribute[1:]) if isinstance(attribute, tuple) else [attribute]
        steps: list[Expr] = []
        for hop in hops:
            for relation in self._relations(hop):
                step = self.ontology.step(relation, types)
                if step is not None:
                    reverse, reached = step
                    steps.append(["R", relation] if reverse else relation)
                    types = {reached}
                    break
            else:
                raise NoFit(hop.text)
        chain = steps[-1]
        for step in reversed(steps[:-1]):
            chain = ["JOIN", step, chain]
        return chain
