"""The ToolSQL agent and the KB-Coder interpreter loop driven by a real LLM: SmolLM2-135M (installed by `make test`)
through the in-process `llama_cpp` back-end, one question each, short replies.

These check the pipeline end to end, not the accuracy (a 135M model rarely writes a right query): whatever the
model writes is parsed (never executed as Python), checked, and either run read-only or reported as a format
error. The expected outcome of each reply is computed independently of the code under test: the SQL of a parsed
turn is run with plain `sqlite3` on a read-only connection, the SPARQL of an answered sample with pyoxigraph on the
fixture graph, and the files' sha256 must not change."""

from __future__ import annotations

import hashlib
import sqlite3

from conftest import REPO
from embedlab.models.generation.backend import BackendSpec
from embedlab.models.sql.agent import ExecutionFeedback, answer
from embedlab.models.sql.safe_exec import Limits
from embedlab.models.sql.spider import read_tables
from embedlab.tasks.sql import make_chat, open_database
from test_kbqa_agent import FIXTURE, QUESTIONS  # noqa: F401  (the staged-ontology skip does not apply here)
from test_sql_agent import shop  # noqa: F401  (fixture: a Spider-format folder with one SQLite database)

FREEBASE = "http://rdf.freebase.com/ns/"
SMOLLM2 = {"kind": "llama_cpp", "model": "smollm2", "n_ctx": 2048, "threads": 2}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_toolsql_agent_with_smollm2_parses_checks_and_runs_read_only(shop, tmp_path):  # noqa: F811
    db = shop / "database" / "shop" / "shop.sqlite"
    before = sha256(db)
    database = open_database(db, read_tables(shop / "tables.json")["shop"])
    chat = make_chat(BackendSpec(**SMOLLM2, max_tokens=40), tmp_path / "cache")
    template = (REPO / "prompts" / "sql_agent.txt").read_text(encoding="utf-8")
    result = answer(chat, template, "You translate questions into SQLite queries written as function calls.",
                    database, "How many items come from the USA?", [ExecutionFeedback(Limits())], max_turns=2)

    assert 1 <= len(result.turns) <= 2 and all(turn.reply.strip() for turn in result.turns)
    assert all(turn.feedback for turn in result.turns[:-1])  # a new turn only after feedback
    reference = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    for turn in result.turns:
        if turn.format_error:
            assert turn.sql is None and turn.feedback[0].startswith("[format]")
            continue
        assert turn.sql.startswith("SELECT ")
        try:
            reference.execute(turn.sql).fetchall()
        except sqlite3.Error:
            assert any(item.startswith("[execution]") for item in turn.feedback), turn
        else:
            assert not turn.feedback, turn
    parsed = [turn.sql for turn in result.turns if turn.sql]
    assert result.sql == (parsed[-1] if parsed else "")
    assert sha256(db) == before


def test_kb_coder_loop_with_smollm2_interprets_links_and_queries(tmp_path, monkeypatch):
    import json

    import pyoxigraph

    from embedlab.config import load_settings
    from embedlab.tasks.kbqa.evaluate import write_surface_map
    from embedlab.tasks.kbqa.run import ask, demo_pool, load_pool, make_kit, make_llm

    monkeypatch.chdir(tmp_path)
    ontology = tmp_path / "ontology"  # the fixture graph's relations and classes only (no 19k-name index to encode)
    ontology.mkdir()
    (ontology / "fb_roles.txt").write_text(
        "rail.railway rail.railway.terminuses rail.railway_terminus\n"
        "rail.railway_terminus rail.railway_terminus.railways_terminating_here rail.railway\n"
        "time.time_zone time.time_zone.dst_offset_from_utc type.float\n"
        "spaceflight.rocket spaceflight.rocket.diameter_meters type.float\n")
    (ontology / "fb_types.txt").write_text("".join(f"{t} meta.subclassOf common.topic\n" for t in (
        "rail.railway", "rail.railway_terminus", "time.time_zone", "spaceflight.rocket")))
    (ontology / "reverse_properties.txt").write_text(
        "rail.railway.terminuses\trail.railway_terminus.railways_terminating_here\n")
    (tmp_path / "questions.json").write_text(json.dumps(QUESTIONS))
    before = sha256(FIXTURE)
    settings = load_settings(None, [
        f"data_root={tmp_path}", "kbqa.questions=questions.json", f"kbqa.ontology={ontology}", f"kbqa.kb={FIXTURE}",
        f"cache_dir={tmp_path / 'cache'}", "kbqa.k=2", "kbqa.reference_relations=0", "kbqa.entity_topk=1",
        *(f"kbqa.llm.{key}={value}" for key, value in SMOLLM2.items()), "kbqa.llm.n=2", "kbqa.llm.max_tokens=40",
        "kbqa.llm.temperature=0.7"])
    examples, pool = load_pool(settings, tmp_path / "questions.json")
    write_surface_map(examples, settings.path(settings.params.kbqa.surface_map))
    kit, llm = make_kit(settings), make_llm(settings.params.kbqa.llm, settings.cache_dir)
    question = examples[0].question
    result = ask(kit, llm, "code", question, [(e, t) for e, t in demo_pool(kit, pool) if e.question != question])

    assert result.prompt.count("question = ") == 3 and result.prompt.endswith(f"question = {question!r}\n")
    assert len(result.attempts) == 2 and all(a.completion for a in result.attempts)
    store = pyoxigraph.Store()
    store.load(path=str(FIXTURE), format=pyoxigraph.RdfFormat.TURTLE)
    for attempt in result.attempts:
        if attempt.format_error:
            assert attempt.s_expression is None and attempt.answers == []
        elif attempt.sparql:  # run here too: the answers are the `?value` bindings, Freebase ids without namespace
            rows = [row["value"].value.removeprefix(FREEBASE) for row in store.query(attempt.sparql)
                    if row["value"] is not None]
            assert sorted(attempt.answers) == sorted(rows)
    answered = [a for a in result.attempts if a.s_expression]
    assert (result.voted in answered) if answered else result.voted is None
    assert sha256(FIXTURE) == before
