"""GrailQA-format files (a JSON list of examples), the KB-Coder demo formatter and a surface-name map.

The formatter turns a gold S-expression into the program tree whose demo lines (program.lines_of) KB-Coder shows
(§2 of the method notes): entities by their friendly name lower-cased, literals by value without the `^^xsd`
suffix, relations without direction (`(R r)` becomes `r`; where r's domain equals its range the direction could
not be restored, so r's reverse property is written instead), an explicit `AND('class', ...)` for the class
constraints, and ARG chains as one comma-separated relation text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from embedlab.errors import DataError
from embedlab.models.kbqa.ontology import Ontology, read_json
from embedlab.models.kbqa.program import Mention, Tree
from embedlab.models.kbqa.sexpr import Expr, SexprError, parse

REQUIRED = ("qid", "question", "s_expression")


class Inexpressible(ValueError):
    """A gold S-expression the seven calls cannot state (said why)."""


@dataclass
class Example:
    """One GrailQA question. `names`: mid -> friendly name; `types`: mid -> its classes (graph_query);
    `answers`: answer_argument values."""

    qid: str
    question: str
    s_expression: str
    level: str = ""
    function: str = "none"
    answers: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    types: dict[str, set[str]] = field(default_factory=dict)


def read_examples(path: Path) -> list[Example]:
    """A GrailQA file's examples; one DataError line naming the file, the item and the field otherwise."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(path, f"expected a JSON list of GrailQA examples, got {type(data).__name__}")
    examples = []
    for i, item in enumerate(data):
        where = f"item {i}"
        if not isinstance(item, dict):
            raise DataError(path, f"{where}: expected an object, got {type(item).__name__}")
        for key in REQUIRED:
            if key not in item:
                raise DataError(path, f"{where}: field {key!r} is missing")
        if not isinstance(item["question"], str) or not item["question"].strip():
            raise DataError(path, f"{where}: field 'question' must be a non-empty text")
        try:
            parse(item["s_expression"])
        except (SexprError, TypeError) as exc:
            raise DataError(path, f"{where}: field 's_expression': {exc}") from None
        answers = item.get("answer") or []
        if not isinstance(answers, list) or any(not isinstance(a, dict) or "answer_argument" not in a
                                                for a in answers):
            raise DataError(path, f"{where}: field 'answer' must be a list of objects with 'answer_argument'")
        example = Example(str(item["qid"]), item["question"], item["s_expression"], item.get("level", ""),
                          item.get("function", "none"), [str(a["answer_argument"]) for a in answers])
        nodes = (item.get("graph_query") or {}).get("nodes", [])
        for node in nodes:
            if not isinstance(node, dict) or "id" not in node:
                raise DataError(path, f"{where}: field 'graph_query.nodes' must hold objects with 'id'")
            if node.get("node_type") == "entity":
                example.names[node["id"]] = node.get("friendly_name", node["id"])
                example.types.setdefault(node["id"], set()).add(node.get("class", ""))
        for answer in answers:
            if answer.get("answer_type") == "Entity" and answer.get("entity_name"):
                example.names.setdefault(str(answer["answer_argument"]), answer["entity_name"])
        examples.append(example)
    return examples


def gold_tree(expr: Expr, names: dict[str, str], ontology: Ontology) -> Tree:
    """The program tree of a gold S-expression (see the module docstring); Inexpressible if it has none."""
    if isinstance(expr, str):
        if "^^" in expr:
            return Mention("literal", expr.split("^^")[0])
        if ontology.is_type(expr) and expr not in names:
            return Mention("class", expr)
        return Mention("entity", names.get(expr, expr).lower())
    op = expr[0]
    if op in ("JOIN", "lt", "le", "gt", "ge"):
        return (op, _relation(expr[1], ontology), gold_tree(expr[2], names, ontology))
    if op == "AND":
        return ("AND", gold_tree(expr[1], names, ontology), gold_tree(expr[2], names, ontology))
    if op == "COUNT":
        return ("COUNT", gold_tree(expr[1], names, ontology))
    if op in ("ARGMAX", "ARGMIN"):
        hops = _chain(expr[2])
        attribute = hops[0] if len(hops) == 1 else ("CHAIN", *hops)
        return (op, gold_tree(expr[1], names, ontology), attribute)
    raise Inexpressible(f"operator {op!r} has no meta-function")


def _relation(edge: Expr, ontology: Ontology) -> Mention:
    if isinstance(edge, str):
        return Mention("relation", edge)
    relation = edge[1]
    if ontology.is_relation(relation) and ontology.domain(relation) == ontology.range(relation):
        if relation not in ontology.reverse:
            raise Inexpressible(f"(R {relation}): domain = range and no reverse property")
        return Mention("relation", ontology.reverse[relation])
    return Mention("relation", relation)


def _chain(expr: Expr) -> list[Mention]:
    if isinstance(expr, str):
        return [Mention("relation", expr)]
    if expr[0] == "R" and isinstance(expr[1], str):
        return [Mention("relation", expr[1])]
    if expr[0] == "JOIN":
        return _chain(expr[1]) + _chain(expr[2])
    raise Inexpressible(f"ARG attribute {expr!r} is not a relation chain")


def surface_map(examples: list[Example]) -> list[tuple[str, str, str]]:
    """(lower-cased name, mid, classes joined by ',') of every named entity of `examples` (graph_query entities
    and answer entities): a surface-name map built from the examples themselves, hence oracle-like."""
    rows: dict[tuple[str, str], set[str]] = {}
    for example in examples:
        for mid, name in example.names.items():
            rows.setdefault((name.lower(), mid), set()).update(t for t in example.types.get(mid, ()) if t)
    return [(name, mid, ",".join(sorted(types))) for (name, mid), types in sorted(rows.items())]
