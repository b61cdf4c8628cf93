"""GrailQA's metrics (used by KB-Coder, repo Arthurizijar/KB-Coder `linker.py`; definitions of GrailQA's
`SemanticMatcher.same_logical_form`, re-implemented here).

EM: two S-expressions are the same logical form when their query graphs are isomorphic. The graph of an
expression: an entity, literal or class is a node (id, type); a relation r is an edge from a node of r's domain to a
node of r's range, plus the reverse edge of r's reverse property where it has one; `(R r)` swaps the two nodes;
JOIN, lt/le/gt/ge and AND merge the question node of one graph with a node of the other (a class node given
explicitly in AND names the merged node; JOIN keeps the more specific class); COUNT and comparisons mark the
question node's function, ARGMAX/ARGMIN add the attribute's value as a literal node with that function. Nodes
match on id, type and function; parallel edges on their sorted relation names.

F1: the harmonic mean of precision and recall of the predicted against the gold answer set (0 when they share
nothing; 1 when both are empty).
"""

from __future__ import annotations

import networkx as nx

from embedlab.models.kbqa.ontology import Ontology
from embedlab.models.kbqa.sexpr import Expr, SexprError, parse

FUNCTIONS = {"le": "<=", "ge": ">=", "lt": "<", "gt": ">"}


class Grapher:
    """Query graphs of S-expressions over one ontology (GrailQA's `logical_form_to_graph`)."""

    def __init__(self, ontology: Ontology):
        self.ontology = ontology

    def graph(self, expr: Expr) -> nx.MultiDiGraph:
        """The query graph; the question node has the largest id (nodes are 1..N)."""
        return self._graph(expr)

    def _leaf(self, symbol: str) -> nx.MultiDiGraph:
        graph = nx.MultiDiGraph()
        onto = self.ontology
        if "^^" in symbol:
            graph.add_node(1, id=symbol, type="literal")
        elif onto.is_type(symbol):
            graph.add_node(1, id=symbol, type="class")
        elif onto.is_relation(symbol):
            domain, range_ = onto.roles[symbol]
            graph.add_node(1, id=range_, type="class")
            graph.add_node(2, id=domain, type="class")
            graph.add_edge(2, 1, relation=symbol)
            if symbol in onto.reverse:
                graph.add_edge(1, 2, relation=onto.reverse[symbol])
        else:
            graph.add_node(1, id=symbol, type="entity")
        return graph

    def _graph(self, expr: Expr) -> nx.MultiDiGraph:
        if isinstance(expr, str):
            return self._leaf(expr)
        op = expr[0]
        if op == "R":
            inner = self._graph(expr[1])
            size = len(inner)
            return nx.relabel_nodes(inner, {n: size - n + 1 for n in inner.nodes})
        if op in ("JOIN", "lt", "le", "gt", "ge"):
            left, right = self._graph(expr[1]), self._graph(expr[2])
            size = len(right)
            if left.nodes[1]["type"] == right.nodes[size]["type"] == "class":
                if right.nodes[size]["id"] in self.ontology.supertypes.get(left.nodes[1]["id"], ()):
                    right.nodes[size]["id"] = left.nodes[1]["id"]
            left = nx.relabel_nodes(left, {n: n + size - 1 for n in left.nodes})
            graph = nx.compose(left, right)
            if op != "JOIN":
                graph.nodes[1]["function"] = FUNCTIONS[op]
            return graph
        if op == "AND":
            left, right = self._graph(expr[1]), self._graph(expr[2])
            return self._merge(left, right)
        if op == "COUNT":
            graph = self._graph(expr[1])
            graph.nodes[len(graph)]["function"] = "count"
            return graph
        if op in ("ARGMAX", "ARGMIN"):
            left, right = self._graph(expr[1]), self._graph(expr[2])
            right.nodes[1].update(id="0", type="literal", function=op.lower())
            return self._merge(left, right)
        raise SexprError(f"no graph for operator {op!r}")

    @staticmethod
    def _merge(left: nx.MultiDiGraph, right: nx.MultiDiGraph) -> nx.MultiDiGraph:
        """`left`'s question node and `right`'s become one node (the class `left` names wins)."""
        size1, size2 = len(left), len(right)
        if left.nodes[size1]["type"] == right.nodes[size2]["type"] == "class":
            right.nodes[size2]["id"] = left.nodes[size1]["id"]
        left = nx.relabel_nodes(left, {n: n + size2 - 1 for n in left.nodes})
        right = nx.relabel_nodes(right, {size2: size1 + size2 - 1})
        return nx.compose(left, right)


def _node_match(a: dict, b: dict) -> bool:
    return (a["id"] == b["id"] and a["type"] == b["type"]
            and a.get("function", "none") == b.get("function", "none"))


def _edge_match(a: dict, b: dict) -> bool:
    return sorted(e["relation"] for e in a.values()) == sorted(e["relation"] for e in b.values())


def same_logical_form(grapher: Grapher, predicted: str | None, gold: str) -> bool:
    """EM of one prediction: isomorphic query graphs. A prediction that does not parse is wrong."""
    if not predicted:
        return False
    try:
        first, second = grapher.graph(parse(predicted)), grapher.graph(parse(gold))
    except (SexprError, KeyError):
        return False
    return nx.is_isomorphic(first, second, node_match=_node_match, edge_match=_edge_match)


def answer_f1(predicted: set[str], gold: set[str]) -> float:
    """Per-question F1 of answer sets."""
    if not predicted and not gold:
        return 1.0
    common = len(predicted & gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)
