"""The ToolSQL agent end to end against a loopback server speaking the real OpenAI chat-completions protocol
(scripted replies), the real MiniLM for the Retriever, real SQLite files: the tools' feedback, the baselines, the
CLI (`embedlab sql ask|evaluate|build-mismatch`), resumable evaluation, and bad input in one line."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from conftest import DATA_ROOT
from embedlab.cli import app
from embedlab.models.sql.detector import BUILTIN_RULES, ErrorDetector, read_rules
from embedlab.models.sql.grammar import parse_calls
from embedlab.models.sql.mismatch import perturbations
from embedlab.tasks.sql import open_database
from generation_helpers import ChatServer, chat_reply

WRONG = 'add_answer("count(*)")\nadd_from("item")\nadd_where("item.country", "=", "USA")'
RIGHT = 'add_answer("count(*)")\nadd_from("item")\nadd_where("item.country", "=", "United States")'


@pytest.fixture()
def shop(tmp_path):
    """A Spider-format folder: database/shop/shop.sqlite, tables.json, dev.json with two questions."""
    path = tmp_path / "database" / "shop" / "shop.sqlite"
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path)
    connection.executescript("""
        CREATE TABLE maker (id INTEGER PRIMARY KEY, title TEXT);
        CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, country TEXT, price REAL, maker_id INTEGER
                           REFERENCES maker(id));
        INSERT INTO maker VALUES (1, 'Acme'), (2, 'Bolt');
        INSERT INTO item VALUES (1, 'Pen', 'United States', 2.5, 1), (2, 'Ink', 'France', 7.0, 2),
                                (3, 'Pad', 'United States', 4.0, 2), (4, 'Cap', 'Germany', 4.0, 1);
    """)
    connection.commit()
    connection.close()
    tables = [{"db_id": "shop", "table_names_original": ["maker", "item"], "table_names": ["maker", "item"],
               "column_names_original": [[-1, "*"], [0, "id"], [0, "title"], [1, "id"], [1, "name"], [1, "country"],
                                         [1, "price"], [1, "maker_id"]],
               "column_names": [[-1, "*"], [0, "id"], [0, "title"], [1, "id"], [1, "name"], [1, "country"],
                                [1, "price"], [1, "maker_id"]],
               "column_types": ["text", "number", "text", "number", "text", "text", "number", "number"],
               "foreign_keys": [[7, 1]], "primary_keys": [1, 3]}]
    (tmp_path / "tables.json").write_text(json.dumps(tables))
    questions = [{"db_id": "shop", "question": "How many items come from the USA?",
                  "query": "SELECT count(*) FROM item WHERE country = 'United States'"},
                 {"db_id": "shop", "question": "List the item names.", "query": "SELECT name FROM item"}]
    (tmp_path / "dev.json").write_text(json.dumps(questions))
    return tmp_path


def scripted(request, attempt):
    """A model that copies the question's literal, then takes the Retriever's suggestion when given one."""
    text = "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")
    if "List the item names" in text:
        return chat_reply('add_answer("item.name")\nadd_from("item")')
    return chat_reply(RIGHT if "'United States'" in text.split("Question: How many items")[-1] else WRONG)


def run(shop, server, *args):
    settings = ["-S", f"data_root={shop}", "-S", "sql.questions=dev.json", "-S", "sql.tables=tables.json",
                "-S", "sql.database_dir=database", "-S", "sql.llm.model=scripted", "-S", f"sql.llm.base_url={server}",
                "-S", "sql.llm.max_retries=0", "-S", f"cache_dir={shop / 'cache'}", "-S", "sql.sample=null"]
    return CliRunner().invoke(app, [*args, *settings], catch_exceptions=False)


def test_ask_with_tools_recovers_the_stored_value_and_the_baseline_does_not(shop):
    db = shop / "database" / "shop" / "shop.sqlite"
    with ChatServer(scripted) as server:
        full = run(shop, server.url, "sql", "ask", "--db", str(db), "--json", "How many items come from the USA?")
        plain = run(shop, server.url, "sql", "ask", "--db", str(db), "--json", "--variant", "no_tools",
                    "How many items come from the USA?")
    assert full.exit_code == 0, full.output
    result = json.loads(full.stdout)
    assert result["sql"] == "SELECT count(*) FROM item WHERE item.country = 'United States'"
    assert result["rows"] == [[2]] and len(result["turns"]) == 2
    feedback = result["turns"][0]["feedback"]
    assert any("[retriever]" in f and "'United States'" in f and "value-not-in-column" in f for f in feedback)
    baseline = json.loads(plain.stdout)
    assert baseline["rows"] == [[0]] and len(baseline["turns"]) == 1 and "USA" in baseline["sql"]


def test_a_format_error_is_fed_back_and_counted(shop):
    def respond(request, attempt):
        feedback = [m for m in request["messages"] if m["role"] == "user" and "could not be read" in m["content"]]
        return chat_reply(RIGHT if feedback else "SELECT * FROM item")

    with ChatServer(respond) as server:
        out = run(shop, server.url, "sql", "ask", "--db", str(shop / "database/shop/shop.sqlite"), "--json",
                  "--variant", "exec_feedback", "How many items come from the United States?")
    result = json.loads(out.stdout)
    assert result["format_errors"] == 1 and result["rows"] == [[2]]


def test_evaluate_scores_each_variant_and_resumes_from_its_cache(shop):
    with ChatServer(scripted) as server:
        first = run(shop, server.url, "sql", "evaluate", "--no-track", "-o", str(shop / "out"))
        calls = len(server.requests)
        again = run(shop, server.url, "sql", "evaluate", "--no-track", "-o", str(shop / "out"))
    assert first.exit_code == 0, first.output
    metrics = json.loads((shop / "out" / "metrics.json").read_text())
    assert metrics["no_tools"]["EX"] == 0.5 and metrics["exec_feedback"]["EX"] == 0.5
    assert metrics["toolsql"]["EX"] == 1.0
    assert again.exit_code == 0 and len(server.requests) == calls  # nothing asked twice
    records = [json.loads(line) for line in (shop / "out" / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all("trace" in record for record in records)


def test_detector_names_the_call_the_rule_and_the_alternatives(shop):
    database = open_database(shop / "database" / "shop" / "shop.sqlite")
    detector = ErrorDetector(read_rules(BUILTIN_RULES))

    def rules(calls, question="List them."):
        return {f.rule: f for f in detector.inspect(database, question, parse_calls(calls))}

    found = rules('add_answer("item.nme")\nadd_from("item")')
    assert "item.name" in found["unknown-column"].alternatives
    found = rules('add_answer("maker.title")\nadd_from("item")')
    assert found["column-table-not-joined"].call == "add_answer('maker.title')"
    found = rules('add_answer("item.name")\nadd_from("item")\nadd_join("maker", "item.id", "maker.id")')
    assert found["join-not-foreign-key"].alternatives == ("add_join('maker', 'item.maker_id', 'maker.id')",)
    found = rules('add_answer("item.country", "item.name", "count(*)")\nadd_from("item")\nadd_group_by("item.country")')
    assert set(found) == {"ungrouped-column"}
    found = rules('add_answer("item.name")\nadd_from("item")\nadd_where("item.price", ">", "cheap")\nadd_limit(1)')
    assert {"text-literal-on-number", "limit-needs-order"} <= set(found)
    assert rules('add_answer("item.name")\nadd_from("item")', "Which item is the most expensive?")
    assert not rules('add_answer("item.name")\nadd_from("item")\nadd_order_by("item.price", "desc")\nadd_limit(1)',
                     "Which item is the most expensive?")


def test_user_rules_extend_the_detector_and_a_bad_rules_file_is_one_line(shop, tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("rules:\n  - name: no-distinct\n    when: {has: [distinct]}\n    call: add_answer\n"
                    "    message: our analysts never deduplicate\n")
    database = open_database(shop / "database" / "shop" / "shop.sqlite")
    feedback = ErrorDetector(read_rules(good)).inspect(database, "q", parse_calls(
        'add_answer("item.name", distinct=True)\nadd_from("item")'))
    assert [f.rule for f in feedback] == ["no-distinct"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    when: {has: [joins]}\n    call: c\n    message: m\n")
    with pytest.raises(Exception, match=r"bad.yaml: rule 0 \(x\): unknown feature 'joins'"):
        read_rules(bad)


def test_bad_input_is_one_line_with_exit_2(shop, tmp_path):
    (tmp_path / "text.sqlite").write_text("hello")
    with ChatServer(scripted) as server:
        missing = run(shop, server.url, "sql", "ask", "--db", str(tmp_path / "none.sqlite"), "q")
        not_sqlite = run(shop, server.url, "sql", "ask", "--db", str(tmp_path / "text.sqlite"), "q")
    (shop / "broken.json").write_text(json.dumps([{"db_id": "nowhere", "question": "q", "query": "SELECT 1"}]))
    (shop / "fields.json").write_text(json.dumps([{"db_id": "shop", "question": "q"}]))
    with ChatServer(scripted) as server:
        no_db = run(shop, server.url, "sql", "evaluate", "--questions", str(shop / "broken.json"))
        no_field = run(shop, server.url, "sql", "evaluate", "--questions", str(shop / "fields.json"))
    down = run(shop, "http://127.0.0.1:9", "sql", "ask", "--db", str(shop / "database/shop/shop.sqlite"), "q")
    for result, text in [(missing, "does not exist"), (not_sqlite, "is not a SQLite file"),
                         (no_db, "db_id 'nowhere' is not in"), (no_field, "missing or non-text field(s) query"),
                         (down, "no answer after 0 retries")]:
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert lines[-1].startswith("error: ") and text in lines[-1]


def test_build_mismatch_is_deterministic_and_labelled(tmp_path):
    settings = ["-S", f"data_root={DATA_ROOT}"]
    first = CliRunner().invoke(app, ["sql", "build-mismatch", "-o", str(tmp_path / "a.json"), *settings])
    second = CliRunner().invoke(app, ["sql", "build-mismatch", "-o", str(tmp_path / "b.json"), *settings])
    assert first.exit_code == 0, first.output
    assert "not the paper's set" in first.output
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    rows = json.loads((tmp_path / "a.json").read_text())
    assert rows and all(row["question"] != row["original_question"] for row in rows)
    assert all("not the paper's set" in row["note"] for row in rows)
    assert all(row["rewritten"] in row["question"] and row["literal"] in row["query"] for row in rows)


def test_perturbations_by_hand():
    assert perturbations("United States") == [("abbreviation", "USA"), ("drop-word", "United"),
                                              ("lower", "united states")]
    assert perturbations("dog") == [("title", "Dog")]
