"""The Error Detector of ToolSQL (paper 3): static checks of the calls against the schema, without running them,
plus stricter-constraint rules read from YAML (`rules.yaml` here, and any files a user adds).

Schema checks (rule names in brackets):
- tables exist [unknown-table]; columns exist [unknown-column] and belong to a FROM/JOIN table
  [column-table-not-joined]; an unqualified name is unique among them [ambiguous-column];
- a join compares a foreign key with the key it references [join-not-foreign-key], a joined table has a join
  condition [join-without-condition];
- types fit: no <, >, between on text columns [numeric-comparison-on-text], no sum/avg of text
  [aggregate-on-text], no text literal compared with a number column [text-literal-on-number];
- GROUP BY: selected columns neither aggregated nor grouped [ungrouped-column], HAVING without GROUP BY
  [having-without-group-by].
Each feedback names the call, the rule and the allowed alternatives (wording [open] in the paper).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from embedlab.errors import DataError, UserError
from embedlab.models.sql.grammar import Condition, Expr, Query, Unit
from embedlab.models.sql.render import expr_sql
from embedlab.models.sql.spider import Column, Schema
from embedlab.models.sql.tools import Database, Feedback, all_queries, condition_call, from_tables, resolve

BUILTIN_RULES = Path(__file__).with_name("rules.yaml")
FEATURES = ("where", "join", "group_by", "having", "order_by", "limit", "distinct", "set_op",
            "max", "min", "count", "sum", "avg")
COMPARISONS = (">", "<", ">=", "<=", "between")


class When(BaseModel):
    model_config = ConfigDict(extra="forbid")

    has: list[str] = Field(default_factory=list)
    lacks: list[str] = Field(default_factory=list)
    question_matches: str | None = None
    condition_op: str | None = None
    literal_lacks: str | None = None
    literal_has: str | None = None


class Rule(BaseModel):
    """One stricter-constraint rule: fires when every test of `when` holds."""

    model_config = ConfigDict(extra="forbid")

    name: str
    when: When
    call: str
    message: str
    alternatives: list[str] = Field(default_factory=list)


def read_rules(path: Path) -> list[Rule]:
    """The rules of a YAML rules file (`rules: [...]`); one-line DataError naming the rule and field."""
    if not Path(path).is_file():
        raise UserError(f"rules file {path} does not exist")
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise DataError(path, f"not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
        raise DataError(path, "expected a mapping with a list `rules:`")
    rules = []
    for number, entry in enumerate(raw["rules"]):
        try:
            rule = Rule.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            raise DataError(path, f"rule {number}: {key}: {first['msg']}") from None
        unknown = [f for f in rule.when.has + rule.when.lacks if f not in FEATURES]
        if unknown:
            raise DataError(path, f"rule {number} ({rule.name}): unknown feature {unknown[0]!r} (known: {', '.join(FEATURES)})")
        try:
            re.compile(rule.when.question_matches or "")
        except re.error as exc:
            raise DataError(path, f"rule {number} ({rule.name}): question_matches is not a regular expression: {exc}") from None
        rules.append(rule)
    return rules


def _features(query: Query) -> set[str]:
    present = {name for name, on in (("where", query.where), ("join", query.joins), ("group_by", query.group_by),
               ("having", query.having), ("order_by", query.order_by), ("limit", query.limit is not None),
               ("distinct", query.distinct), ("set_op", query.set_op)) if on}
    exprs = query.answer + [e for e, _ in query.order_by] + [c.expr for c in query.where + query.having]
    for expr in exprs:
        present.update(agg for agg in (expr.agg, expr.left.agg, expr.right.agg if expr.right else "") if agg)
    return present


def _rule_fires(rule: Rule, question: str, query: Query) -> bool:
    when, present = rule.when, _features(query)
    if not all(f in present for f in when.has) or any(f in present for f in when.lacks):
        return False
    if when.question_matches and not re.search(when.question_matches, question, re.IGNORECASE):
        return False
    if when.condition_op:
        def matches(condition: Condition) -> bool:
            text = condition.value if isinstance(condition.value, str) else None
            return (condition.op == when.condition_op and
                    (when.literal_lacks is None or (text is not None and when.literal_lacks not in text)) and
                    (when.literal_has is None or (text is not None and when.literal_has in text)))
        return any(matches(c) for c in query.where + query.having)
    return True


class ErrorDetector:
    """Tool: schema checks and stricter-constraint rules."""

    name = "detector"

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    def inspect(self, database: Database, question: str, query: Query) -> list[Feedback]:
        feedback = []
        for sub in all_queries(query):
            feedback += self._schema(database.schema, sub)
        feedback += [Feedback(self.name, rule.call, rule.name, rule.message, tuple(rule.alternatives))
                     for rule in self.rules if _rule_fires(rule, question, query)]
        return feedback

    def _schema(self, schema: Schema, query: Query) -> list[Feedback]:
        found: list[Feedback] = []

        def complain(call: str, rule: str, message: str, alternatives: list[str]) -> None:
            found.append(Feedback(self.name, call, rule, message, tuple(alternatives[:8])))

        tables = from_tables(query)
        known = [t for t in tables if schema.find_table(t)]
        for table in tables:
            if not schema.find_table(table):
                complain(f"add_from/add_join({table!r})", "unknown-table", f"there is no table {table!r}",
                         schema.tables)
        if len(known) < len(tables):
            return found
        self._joins(schema, query, complain)

        def column(unit: Unit, call: str) -> Column | None:
            if unit.column == "*":
                return None
            hit = resolve(schema, tables, unit)
            if hit is not None:
                return hit
            elsewhere = [t for t in schema.tables if schema.find_column(t, unit.column)]
            names = [f"{c.table}.{c.name}" for t in tables for c in schema.table_columns(schema.find_table(t))]
            if unit.table and not schema.find_table(unit.table):
                complain(call, "unknown-table", f"there is no table {unit.table!r}", tables)
            elif unit.table and unit.table.lower() not in [t.lower() for t in tables]:
                complain(call, "column-table-not-joined", f"table {unit.table!r} is not in FROM/JOIN",
                         [f"add_join({unit.table!r}, ...)"] + names)
            elif not unit.table and len([t for t in tables if schema.find_column(schema.find_table(t), unit.column)]) > 1:
                complain(call, "ambiguous-column", f"{unit.column!r} is in several FROM tables; qualify it",
                         [f"{t}.{unit.column}" for t in tables if schema.find_column(schema.find_table(t), unit.column)])
            elif elsewhere and not unit.table:
                complain(call, "column-table-not-joined", f"{unit.column!r} belongs to {', '.join(elsewhere)}, "
                         "which is not in FROM/JOIN", [f"add_join({t!r}, ...)" for t in elsewhere])
            else:
                complain(call, "unknown-column", f"no column {unit.column!r} in "
                         f"{unit.table or ', '.join(tables)}", names)
            return None

        def units(expr: Expr) -> list[Unit]:
            return [expr.left] + ([expr.right] if expr.right else [])

        for expr in query.answer:
            call = f"add_answer({expr_sql(expr)!r})"
            for unit in units(expr):
                hit = column(unit, call)
                if hit and hit.type == "text" and {"sum", "avg"} & {expr.agg, unit.agg}:
                    complain(call, "aggregate-on-text", f"{hit.table}.{hit.name} is text", ["count(...)", "a number column"])
        for expr in query.group_by:
            for unit in units(expr):
                column(unit, f"add_group_by({expr_sql(expr)!r})")
        for expr, direction in query.order_by:
            for unit in units(expr):
                column(unit, f"add_order_by({expr_sql(expr)!r}, {direction!r})")
        for kind, conditions in (("add_where", query.where), ("add_having", query.having)):
            for condition in conditions:
                self._condition(kind, condition, [column(u, condition_call(kind, condition))
                                                  for u in units(condition.expr)], complain)
        if query.having and not query.group_by:
            complain("add_having(...)", "having-without-group-by", "HAVING needs GROUP BY",
                     ["add_group_by('<column>')", "add_where(...) for a row condition"])
        aggregated = any(e.agg or e.left.agg for e in query.answer)
        grouped = {expr_sql(e).lower() for e in query.group_by}
        if query.group_by or aggregated:
            for expr in query.answer:
                plain = not expr.agg and not expr.left.agg and expr.left.column != "*"
                if plain and expr_sql(expr).lower() not in grouped and not self._grouped_by_key(schema, tables, expr, query):
                    complain(f"add_answer({expr_sql(expr)!r})", "ungrouped-column",
                             f"{expr_sql(expr)} is neither aggregated nor in GROUP BY",
                             [f"add_group_by({expr_sql(expr)!r})", f"an aggregate such as max({expr_sql(expr)})"])
        return found

    @staticmethod
    def _grouped_by_key(schema: Schema, tables: list[str], expr: Expr, query: Query) -> bool:
        """A column of the same table as a grouped column, where that table is grouped by its key (allowed)."""
        column = resolve(schema, tables, expr.left)
        for grouped in query.group_by:
            key = resolve(schema, tables, grouped.left)
            if column and key and key.table == column.table and schema.columns.index(key) in schema.primary_keys:
                return True
        return False

    @staticmethod
    def _condition(kind: str, condition: Condition, columns: list[Column | None], complain: Any) -> None:
        hit = columns[0]
        if hit is None or condition.expr.right is not None or condition.expr.left.agg:
            return
        call = condition_call(kind, condition)
        if hit.type == "text" and condition.op in COMPARISONS and not isinstance(condition.value, (Query,)):
            if isinstance(condition.value, (int, float)):
                complain(call, "numeric-comparison-on-text", f"{hit.table}.{hit.name} is text; '{condition.op}' "
                         "compares it as text", ["'=' or 'like' on text", "a number column"])
        if hit.type == "number" and isinstance(condition.value, str) and condition.op not in ("like", "not like"):
            try:
                float(condition.value)
            except ValueError:
                complain(call, "text-literal-on-number", f"{hit.table}.{hit.name} is a number column, "
                         f"{condition.value!r} is text", ["a number literal", "another column"])

    @staticmethod
    def _joins(schema: Schema, query: Query, complain: Any) -> None:
        seen = [query.source] if isinstance(query.source, str) else []
        keys = {(schema.columns[a].table.lower(), schema.columns[a].name.lower(),
                 schema.columns[b].table.lower(), schema.columns[b].name.lower()) for a, b in schema.foreign_keys}

        def linking(table: str) -> list[str]:
            out = []
            for a, b in schema.foreign_keys:
                x, y = schema.columns[a], schema.columns[b]
                for p, q in ((x, y), (y, x)):
                    if p.table.lower() == table.lower() and q.table.lower() in [s.lower() for s in seen]:
                        out.append(f"add_join({table!r}, {q.table + '.' + q.name!r}, {p.table + '.' + p.name!r})")
            return out

        for table, left, right in query.joins:
            call = f"add_join({table!r}" + (f", {expr_sql(left)!r}, {expr_sql(right)!r})" if left else ")")
            options = linking(table)
            tables = seen + [table]
            if left is None:
                if options:
                    complain(call, "join-without-condition", f"{table} is joined without a condition (a cross "
                             "join)", options)
            else:
                a, b = resolve(schema, tables, left.left), resolve(schema, tables, right.left)
                if a and b:
                    pair = (a.table.lower(), a.name.lower(), b.table.lower(), b.name.lower())
                    if pair not in keys and (pair[2], pair[3], pair[0], pair[1]) not in keys and options:
                        complain(call, "join-not-foreign-key", f"{a.table}.{a.name} = {b.table}.{b.name} is not a "
                                 "foreign key", options)
            seen.append(table)
