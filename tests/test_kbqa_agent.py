"""KB-Coder end to end: `embedlab kbqa ...` against a loopback server speaking the real OpenAI chat-completions
protocol (scripted completions, n samples by seed), the real staged ontology, real MiniLM, a real pyoxigraph store
loaded with tests/data/kbqa/fixture.ttl; the code-style and S-expression prompts; a malicious sample is a counted
format error that has no effect; the EM/FER table, MLflow run and bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedlab.cli import app
from generation_helpers import ChatServer, chat_reply, user_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kbqa"
FIXTURE = Path(__file__).parent / "data" / "kbqa" / "fixture.ttl"
FLOAT = "^^http://www.w3.org/2001/XMLSchema#float"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="the staged Freebase ontology is not beside the checkout")

QUESTIONS = [
    {"qid": "1", "question": "what number of railway terminus is terminuses of northern line?", "level": "zero-shot",
     "function": "count", "answer": [{"answer_type": "Value", "answer_argument": "2"}],
     "s_expression": "(COUNT (AND rail.railway_terminus (JOIN (R rail.railway.terminuses) m.0yp3mmb)))",
     "graph_query": {"nodes": [{"nid": 1, "node_type": "entity", "id": "m.0yp3mmb", "class": "rail.railway",
                                "friendly_name": "Northern Line"}], "edges": [
         {"start": 1, "end": 0, "relation": "rail.railway.terminuses", "friendly_name": "Terminuses"}]}},
    {"qid": "2", "question": "which time zone has a dst offset from utc larger than 11.0?", "level": "i.i.d.",
     "answer": [{"answer_type": "Entity", "answer_argument": "m.0tz_a"},
                {"answer_type": "Entity", "answer_argument": "m.0tz_b"}],
     "s_expression": f"(AND time.time_zone (gt time.time_zone.dst_offset_from_utc 11.0{FLOAT}))",
     "graph_query": {"nodes": [], "edges": [{"start": 0, "end": 1, "relation": "time.time_zone.dst_offset_from_utc",
                                             "friendly_name": "DST offset from UTC"}]}},
    {"qid": "3", "question": "which rocket has the smallest diameter?", "level": "compositional",
     "answer": [{"answer_type": "Entity", "answer_argument": "m.0rk_2"}],
     "s_expression": "(ARGMIN spaceflight.rocket spaceflight.rocket.diameter_meters)",
     "graph_query": {"nodes": [], "edges": [{"start": 0, "end": 1, "relation": "spaceflight.rocket.diameter_meters",
                                             "friendly_name": "Diameter"}]}},
]
CODE = {
    "northern line": "expression = START('northern line')\nexpression = JOIN('rail.railway.terminuses', expression)\n"
                     "expression = AND('rail.railway_terminus', expression)\nexpression = COUNT(expression)\n"
                     "expression = STOP(expression)",
    "time zone": "expression1 = START('11.0')\n"
                 "expression = CMP('>', 'time.time_zone.dst_offset_from_utc', expression1)\n"
                 "expression = AND('time.time_zone', expression)\nexpression = STOP(expression)",
    # the answer's class is written where the JOIN is wrong: relaxation is not needed, the vote is
    "rocket": "expression = START('spaceflight.rocket')\n"
              "expression = ARG('argmin', expression, 'spaceflight.rocket.diameter_meters')\nexpression = STOP(expression)",
}
SEXPR = {"northern line": "(COUNT (AND rail.railway_terminus (JOIN rail.railway.terminuses [ northern line ])))",
         "time zone": "(AND time.time_zone (gt time.time_zone.dst_offset_from_utc 11.0))",
         "rocket": "(ARGMIN spaceflight.rocket spaceflight.rocket.diameter_meters"}  # unbalanced: a format error


def scripted(canary: Path):
    def respond(request, attempt):
        text = user_text(request)
        asked = text.rsplit("question = ", 1)[-1] if "def START" in text else text.rsplit("Question: ", 1)[-1]
        key = next(k for k in CODE if k in asked)
        if "def START" not in text:
            return chat_reply(SEXPR[key])
        if request["seed"] == 1:  # the second sample tries to run code
            return chat_reply(f"expression = __import__('os').system('touch {canary}')\nexpression = STOP(expression)")
        return chat_reply(f"```python\n{CODE[key]}\n```")
    return respond


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "questions.json").write_text(json.dumps(QUESTIONS))
    return tmp_path


def run(project, server, *args):
    settings = ["-S", f"data_root={project / 'data'}", "-S", "kbqa.questions=questions.json",
                "-S", f"kbqa.ontology={DATA / 'freebase_ontology'}", "-S", f"kbqa.kb={FIXTURE}",
                "-S", "kbqa.llm.model=scripted", "-S", f"kbqa.llm.base_url={server}", "-S", "kbqa.llm.n=3",
                "-S", "kbqa.llm.max_retries=0", "-S", f"cache_dir={project / 'cache'}",
                "-S", "kbqa.reference_relations=0", "-S", "kbqa.entity_topk=1",
                "-S", f"tracking.tracking_uri=sqlite:///{project / 'mlflow.db'}"]
    return CliRunner().invoke(app, [*args, *settings], catch_exceptions=False)


def test_ask_evaluate_and_the_malicious_sample(project):
    canary = project / "canary"
    with ChatServer(scripted(canary)) as server:
        made = run(project, server.url, "kbqa", "surface-map", "--from", str(project / "data" / "questions.json"))
        assert made.exit_code == 0, made.output
        asked = run(project, server.url, "kbqa", "ask", "what number of railway terminus is terminuses of "
                                                        "northern line?", "--json")
        assert asked.exit_code == 0, asked.output
        result = json.loads(asked.stdout)
        assert result["voted"]["answers"] == ["2"] and result["format_errors"] == 1
        assert "attribute access" in result["attempts"][1]["format_error"]
        assert "question = 'what number of railway terminus" in result["prompt"] and "def ARG(" in result["prompt"]
        evaluated = run(project, server.url, "kbqa", "evaluate", "-S", "kbqa.k=2")
        assert evaluated.exit_code == 0, evaluated.output
    assert not canary.exists()
    out = project / "results" / "kbqa" / "grailqa-sample"
    metrics = json.loads((out / "metrics.json").read_text())
    # code style: every question right (EM and F1 1), one bad sample of three each, no question all bad
    assert metrics["code"]["EM"] == 1.0 and metrics["code"]["F1"] == 1.0 and metrics["code"]["FER"] == 0.0
    assert metrics["code"]["bad samples"] == pytest.approx(1 / 3)
    # S-expression style: the unbalanced form is a format error in all 3 samples of question 3
    assert metrics["sexpr"]["FER"] == pytest.approx(1 / 3) and metrics["sexpr"]["EM"] == pytest.approx(2 / 3)
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert {r["qid"] for r in records if r["style"] == "sexpr" and r["all_bad"]} == {"3"}
    import mlflow

    runs = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}").search_runs(
        [mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}").get_experiment_by_name("kbqa").experiment_id])
    assert runs[0].data.metrics["code.EM"] == 1.0


def test_bad_input_is_one_line(project, tmp_path):
    bad = project / "data" / "bad.json"
    bad.write_text(json.dumps([{"qid": "1", "question": "q", "s_expression": "(JOIN r"}]))
    with ChatServer(scripted(tmp_path / "c")) as server:
        missing = run(project, server.url, "kbqa", "run")
        assert missing.exit_code == 2 and "surface-name map not found" in missing.output
        assert run(project, server.url, "kbqa", "surface-map", "--from",
                   str(project / "data" / "questions.json")).exit_code == 0
        result = run(project, server.url, "kbqa", "evaluate", "--questions", str(bad))  # read by the flow
        assert result.exit_code == 2 and result.output.strip().count("\n") == 0
        assert "bad.json: item 0: field 's_expression': unbalanced parentheses" in result.output
