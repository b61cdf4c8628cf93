"""A Spider-Mismatch-style set, built deterministically from Spider-format questions. NOT the paper's
Spider-Mismatch (unreleased): the paper rewrote questions by hand; here the condition value a question mentions
is rewritten by fixed rules, so that copying it into the SQL no longer matches the stored value, and the gold SQL
keeps the stored value.

A candidate is a gold condition `column = 'literal'` (Spider's parse; not negated, a plain column) whose literal
occurs verbatim in its column and case-insensitively in the question. Rewrites, in this order of preference
(the first that changes the value is used): a common abbreviation, dropping the last word (values of 2+ words),
a case change (lower, else title case). Every perturbation is also what the Retriever's acceptance check feeds
it (`perturbations`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from embedlab.models.sql.from_spider import WHERE_OPS
from embedlab.models.sql.spider import Example, Schema

ABBREVIATIONS = {"United States": "USA", "United Kingdom": "UK", "Street": "St", "Avenue": "Ave",
                 "Road": "Rd", "Company": "Co", "Corporation": "Corp", "International": "Intl",
                 "University": "Univ", "Department": "Dept", "Mount": "Mt", "Saint": "St",
                 "North": "N", "South": "S", "East": "E", "West": "W", "Incorporated": "Inc"}


def perturbations(value: str) -> list[tuple[str, str]]:
    """(kind, rewritten value) for each rule that changes `value`: abbreviation, drop-word, lower, title."""
    found = []
    for long, short in ABBREVIATIONS.items():
        pattern = re.compile(rf"\b{re.escape(long)}\b", re.IGNORECASE)
        if pattern.search(value):
            found.append(("abbreviation", pattern.sub(short, value)))
            break
    words = value.split()
    if len(words) >= 2:
        found.append(("drop-word", " ".join(words[:-1])))
    if value.lower() != value:
        found.append(("lower", value.lower()))
    elif value.title() != value:
        found.append(("title", value.title()))
    return found


@dataclass(frozen=True)
class Literal:
    """A gold condition `table.column = 'value'`."""

    table: str
    column: str
    value: str


def equality_literals(schema: Schema, sql: dict) -> Iterator[Literal]:
    """The `column = 'text'` conditions of Spider's parse (WHERE and HAVING, nested queries too)."""
    for item in sql["where"][::2] + sql["having"][::2]:
        negated, op, val_unit, value, _ = item
        if isinstance(value, dict):
            yield from equality_literals(schema, value)
        if negated or WHERE_OPS[op] != "=" or val_unit[0] or val_unit[1][0] or not isinstance(value, str):
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            column = schema.columns[val_unit[1][1]]
            yield Literal(column.table, column.name, value[1:-1])
    for key in ("intersect", "union", "except"):
        if sql[key] is not None:
            yield from equality_literals(schema, sql[key])


@dataclass(frozen=True)
class MismatchExample:
    """A rewritten question: the gold SQL and db unchanged, what was rewritten and how."""

    db_id: str
    question: str
    query: str
    original_question: str
    literal: str
    rewritten: str
    kind: str


def rewrite(example: Example, schema: Schema, stored: set[tuple[str, str, str]]) -> MismatchExample | None:
    """The mismatch version of `example`, or None where no condition value can be rewritten.

    `stored` holds (table, column, value) triples known to occur verbatim in the database."""
    for literal in equality_literals(schema, example.sql):
        if (literal.table.lower(), literal.column.lower(), literal.value) not in stored:
            continue
        mention = re.compile(rf"(?<!\w){re.escape(literal.value)}(?!\w)", re.IGNORECASE)
        if not mention.search(example.question):
            continue
        for kind, changed in perturbations(literal.value):
            question = mention.sub(lambda _: changed, example.question, count=1)
            if question != example.question:
                return MismatchExample(example.db_id, question, example.query, example.question,
                                       literal.value, changed, kind)
    return None
