"""The function-call grammar (models/sql/grammar.py, render.py, from_spider.py): calls parsed with `ast`, never
executed; format errors in one line; rendering to SQL; gold SQL -> calls -> SQL keeps the denotation."""

from __future__ import annotations

import pytest

from conftest import DATA_ROOT
from embedlab.models.sql.execution_match import exec_match
from embedlab.models.sql.from_spider import Uncovered, calls_of
from embedlab.models.sql.grammar import CALLS, GrammarError, grammar_help, parse_calls
from embedlab.models.sql.render import render
from embedlab.models.sql.spider import database_path, read_examples, read_tables

SPIDER = DATA_ROOT / "spider"


def test_calls_render_to_the_hand_written_sql():
    calls = """
add_answer("singer.name", "count(*)")
add_from("singer")
add_join("singer_in_concert", "singer.singer_id", "singer_in_concert.singer_id")
add_where("singer.country", "=", "O'Brien land")
add_where("singer.age", "between", 20, 30.0, conj="or")
add_group_by("singer.name")
add_having("count(*)", ">=", 2)
add_order_by("count(*)", "desc")
add_limit(3)
"""
    assert render(parse_calls(calls)) == (
        "SELECT singer.name, count(*) FROM singer JOIN singer_in_concert ON singer.singer_id = "
        "singer_in_concert.singer_id WHERE singer.country = 'O''Brien land' OR singer.age BETWEEN 20 AND 30 "
        "GROUP BY singer.name HAVING count(*) >= 2 ORDER BY count(*) DESC LIMIT 3")


def test_nested_queries_columns_as_values_and_set_operations():
    calls = """```python
add_answer("count(distinct t.a)", "avg(t.b - t.c)", distinct=True)
add_from("t")
add_where("t.b", "not in", QA("b of u", add_answer("u.b"), add_from("u")))
add_where("t.c", ">", col("t.b"))
add_except(QA("the rest", add_answer("count(distinct t.a)", "avg(t.b - t.c)"), add_from("t")))
```"""
    assert render(parse_calls(calls)) == (
        "SELECT DISTINCT count(DISTINCT t.a), avg(t.b - t.c) FROM t WHERE t.b NOT IN (SELECT u.b FROM u) "
        "AND t.c > t.b EXCEPT SELECT count(DISTINCT t.a), avg(t.b - t.c) FROM t")


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('touch owned')", "expected a call such as add_answer"),
    ("add_answer(__import__('os').system('touch owned'))", "is not a literal"),
    ("import os", "only calls are allowed"),
    ("x = add_from('t')", "only calls are allowed"),
    ("add_answer('t.a')\nadd_from(open('/etc/passwd').read())", "line 2"),
    ("add_answer('t.a')\nadd_frm('t')", "unknown call 'add_frm'"),
    ("add_answer('t.a')\nadd_from('t')\nadd_where('t.a', '=')", "missing a required argument: 'value'"),
    ("add_answer('t.a')\nadd_from('t')\nadd_where('t.a', '~', 1)", "operator '~' is not one of"),
    ("add_answer('t.a'\nadd_from('t')", "not valid call syntax"),
    ("add_answer('t.a; DROP TABLE t')\nadd_from('t')", "is not a column expression"),
    ("add_answer('t.a')\nadd_from('t')\nadd_where('t.a', 'in', QA('sub'))", "needs the sub-query's calls"),
    ("add_answer('t.a')\nadd_from('t')\nadd_limit(-1)", "non-negative whole number"),
    ("add_answer('t.a')", "needs add_answer(...) and add_from(...)"),
    ("add_answer('t.a')\nadd_from('t')\nadd_from('u')", "add_from may appear once"),
])
def test_format_errors_are_one_line_and_nothing_runs(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GrammarError) as info:
        parse_calls(text)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "owned").exists()


def test_literals_cannot_break_out_of_the_statement():
    sql = render(parse_calls("add_answer('t.a')\nadd_from('t')\nadd_where('t.a', '=', \"x'; DROP TABLE t; --\")"))
    assert sql == "SELECT t.a FROM t WHERE t.a = 'x''; DROP TABLE t; --'"


def test_the_call_table_documents_every_call():
    assert set(CALLS) >= {"add_answer", "add_from", "add_where", "add_join", "add_group_by", "add_having",
                          "add_order_by", "add_limit", "add_union", "add_intersect", "add_except"}
    assert all(name in grammar_help() for name in CALLS) and "QA(" in grammar_help()


def _round_trip(examples, schemas):
    same, uncovered = 0, []
    for example in examples:
        try:
            sql = render(parse_calls("\n".join(calls_of(schemas[example.db_id], example.sql))))
        except Uncovered as exc:
            uncovered.append(str(exc))
            continue
        same += exec_match(database_path(SPIDER / "database", example.db_id), sql, example.query)
    return same, uncovered


def test_round_trip_on_one_database():
    schemas = read_tables(SPIDER / "tables.json")
    examples = [e for e in read_examples(SPIDER / "dev.json") if e.db_id == "concert_singer"]
    same, uncovered = _round_trip(examples, schemas)
    assert (same, uncovered) == (len(examples), [])


@pytest.mark.slow
def test_round_trip_keeps_the_denotation_on_95_percent_of_dev():
    schemas = read_tables(SPIDER / "tables.json")
    examples = read_examples(SPIDER / "dev.json")
    same, uncovered = _round_trip(examples, schemas)
    assert same / len(examples) >= 0.95
    assert set(uncovered) <= {"a table joined with itself (no aliases in the grammar)", "more ON conditions than joins"}
