"""ICL hierarchical sentences (paper 9): the prompt file, reply checking, the flow with a loopback
chat-completions server and with a tiny in-process model, resuming after a kill, and bad input."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mlflow
import pytest
from prefect import get_client
from typer.testing import CliRunner

from conftest import REPO, write
from embedlab.cli import app
from embedlab.errors import DataError
from embedlab.flows.generate import GenerateRequest, generate_sentences
from embedlab.models.generation.backend import Completion
from embedlab.tasks.generate.sentences import parse_levels, read_prompt_file, read_source_sentences, sentence_prompt
from generation_helpers import ChatServer, build_tiny_causal_lm, chat_reply, user_text
from test_dvc_pipeline import pipeline, set_params  # noqa: F401  (the fixture is used by name)

PROMPT = REPO / "prompts" / "hierarchical_sentences.txt"
runner = CliRunner()

SOURCE = ["The old mill by the river was turned into a museum.", "Heavy rain delayed the opening match by an hour.",
          "She taught herself to play the piano at sixty.", "The committee rejected the proposal after a long debate.",
          "Bees visit thousands of flowers every single day.", "The train to the coast leaves every morning at eight."]


def good(sentence: str) -> str:
    words = sentence.rstrip(".").split()
    return f"Sure, here they are:\n1: {' '.join(reversed(words))}.\n2: {words[0]} something else entirely.\n" \
           f"3: A different remark about {words[-1]}."


REPLIES = {SOURCE[2]: "I'm sorry, but I can't help with that.", SOURCE[3]: "1: one\n2: two",
           SOURCE[4]: "1: Same thing.\n2: same thing\n3: Other.", SOURCE[5]: "1: Fine.\n2:\n3: Other."}


def respond(request, attempt):
    sentence = user_text(request).removeprefix("Sentence: ")
    return chat_reply(REPLIES.get(sentence) or good(sentence))


def settings_for(server_url: str, source: Path) -> list[str]:
    return ["generate.llm.model=test-model", f"generate.llm.base_url={server_url}", "generate.llm.max_retries=1",
            f"generate.sentences.source={source}", f"generate.sentences.prompt={PROMPT}", "generate.sentences.n=100"]


def reply(text: str, refusal: bool = False) -> Completion:
    return Completion(text=text, refusal=refusal)


@pytest.mark.parametrize("text, reason", [
    ("1: A.\n2: B.\n3: C.", None),
    ("Here you go!\n\n1. A.\n2) B.\nLevel 3: \"C.\"", None),
    ("I'm sorry, I cannot do that.", "refusal"),
    ("As an AI, I won't.", "refusal"),
    ("1: A.\n2: B.", "wrong_levels"),
    ("1: A.\n2: B.\n3: C.\n4: D.", "wrong_levels"),
    ("nothing numbered here", "wrong_levels"),
    ("1: A.\n3: B.\n2: C.", "malformed"),
    ("1: A.\nand more\n2: B.\n3: C.", "malformed"),
    ("1: A.\n2:   \n3: C.", "empty"),
    ("1: A.\n2: a\n3: C.", "duplicate"),
    ("1: The source sentence\n2: B.\n3: C.", "duplicate"),
])
def test_parse_levels_keeps_only_valid_replies(text, reason):
    samples, why = parse_levels(reply(text), "The source sentence.", 3)
    assert why == reason
    assert (samples == ["A.", "B.", "C."]) if reason is None else samples is None


def test_refusal_flag_from_the_server_rejects_the_reply():
    assert parse_levels(reply("1: A.\n2: B.\n3: C.", refusal=True), "x", 3) == (None, "refusal")


def test_prompt_file_has_demonstrations_and_fills_the_sentence():
    template = read_prompt_file(PROMPT)
    assert [role for role, _ in template] == ["system", "user", "assistant", "user", "assistant", "user"]
    prompt = sentence_prompt(template, "Cats sleep a lot.", 4)
    assert prompt.messages[-1] == ("user", "Sentence: Cats sleep a lot.")
    assert "write 4 new sentences" in prompt.messages[0][1] and "$" not in prompt.messages[0][1]
    for role, text in template[1:-1]:  # every demonstration reply is itself a valid reply
        if role == "assistant":
            assert parse_levels(reply(text), "x", 3)[1] is None


@pytest.mark.parametrize("text, message", [("### user\nno placeholder\n", "last message must be '### user'"),
                                           ("### robot\nhi $sentence\n", "unknown role 'robot'"),
                                           ("stray text\n### user\n$sentence\n", "text before the first")])
def test_bad_prompt_file_is_a_data_error(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_prompt_file(write(tmp_path / "p.txt", text))


def test_source_sentences_are_distinct_long_enough_and_first_n(tmp_path):
    path = write(tmp_path / "s.txt", "Short title\n\na b c d e\n  a  b c d e \nf g h i j\nk l m n o\n")
    assert read_source_sentences.fn(path, 2, 5) == ["a b c d e", "f g h i j"]
    with pytest.raises(DataError, match="no line of at least 9 words"):
        read_source_sentences.fn(path, 2, 9)


def test_flow_keeps_valid_replies_counts_rejections_and_reruns_from_the_cache(project):
    source = write(project / "source.txt", "\n".join(SOURCE) + "\n")
    with ChatServer(respond) as server:
        summary = generate_sentences(GenerateRequest(overrides=settings_for(server.url, source)))
        output = project / "data" / "generated" / "sentences.jsonl"
        first = output.read_bytes()
        rows = [json.loads(line) for line in first.decode().splitlines()]
        assert [row["sentence"] for row in rows] == SOURCE[:2]
        assert rows[0]["levels"][0] == "museum a into turned was river the by mill old The."  # no preamble
        assert summary["rejected"] == {"refusal": 1, "malformed": 0, "wrong_levels": 1, "empty": 1, "duplicate": 1}
        assert (summary["items"], summary["accepted"], summary["rows"], summary["calls"]) == (6, 2, 2, 6)
        assert (summary["prompt_tokens"], summary["completion_tokens"]) == (66, 42)
        assert json.loads((output.parent / "sentences.summary.json").read_text()) == summary

        again = generate_sentences(GenerateRequest(overrides=settings_for(server.url, source), track=False))
        assert (again["calls"], again["cache_hits"], again["prompt_tokens"]) == (0, 6, 0)
        assert output.read_bytes() == first and len(server.requests) == 6

    [run] = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")
    assert run.info.run_name == "generate sentences" and run.data.tags["prefect_flow_name"] == "generate-sentences"
    metrics = run.data.metrics
    assert metrics["generate/calls"] == 6 and metrics["generate/prompt_tokens"] == 66
    assert metrics["generate/rejected/refusal"] == 1 and metrics["generate/accepted"] == 2
    assert run.data.params["llm.model"] == "test-model" and run.data.params["levels"] == "3"


def test_flow_with_a_tiny_transformers_model_rejects_its_noise(project, tmp_path):
    model = build_tiny_causal_lm(tmp_path / "lm")
    source = write(project / "source.txt", "\n".join(SOURCE) + "\n")
    overrides = ["generate.llm.kind=transformers", f"generate.llm.model={model}", "generate.llm.max_tokens=12",
                 "generate.llm.device=cpu", f"generate.sentences.source={source}", f"generate.sentences.prompt={PROMPT}"]
    summary = generate_sentences(GenerateRequest(overrides=overrides, track=False))
    assert summary["items"] == 6 and summary["accepted"] + sum(summary["rejected"].values()) == 6
    assert summary["rejected"]["wrong_levels"] == 6 and summary["rows"] == 0  # random weights write no "1: ..."
    assert summary["calls"] == 6 and summary["completion_tokens"] > 0


def test_killed_run_resumes_without_calling_finished_items_again(project):
    """A real `embedlab generate sentences` process, killed mid-run, then run again to the end.

    The server answers 10 requests, then holds the next ones: the process is killed with 10 replies
    cached and up to 2 requests in flight.
    """
    sources = [f"Sentence number {i} is about topic {i} in detail." for i in range(40)]
    source = write(project / "source.txt", "\n".join(sources) + "\n")
    output, cache = project / "data" / "generated" / "sentences.jsonl", project / ".cache" / "generate"
    resume, answers = threading.Event(), itertools.count(1)  # next() on a count is atomic in CPython

    def held_after_ten(request, attempt):
        if next(answers) > 10:
            resume.wait(timeout=60)
        return respond(request, attempt)

    with ChatServer(held_after_ten) as server:
        overrides = settings_for(server.url, source) + ["generate.llm.concurrency=2"]
        command = [str(Path(sys.executable).parent / "embedlab"), "generate", "sentences", "--no-track"]
        command += [arg for item in overrides for arg in ("-S", item)]
        with get_client(sync_client=True) as client:  # the child uses this session's Prefect server, not its own
            env = {**os.environ, "PREFECT_API_URL": str(client.api_url)}
        process = subprocess.Popen(command, cwd=project, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while len(list(cache.rglob("*.entry"))) < 10 and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the CLI and any child it started
            _, stderr = process.communicate()
        asked = len(server.requests)  # 10 answered, and up to 2 held when the process died
        assert len(list(cache.rglob("*.entry"))) == 10 and 10 <= asked <= 12, stderr[-2000:]
        assert not output.exists()  # nothing half-written

        resume.set()
        summary = generate_sentences(GenerateRequest(overrides=overrides, track=False))
    assert (summary["cache_hits"], summary["calls"]) == (10, 30)
    assert len(server.requests) == asked + 30  # no finished item was asked for again
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["sentence"] for row in rows] == sources  # all, once each, in source order


def test_cli_reports_bad_input_in_one_line(project):
    base = ["generate", "sentences", "-S", f"generate.sentences.prompt={PROMPT}", "-S", "generate.llm.model=m"]
    cases = [(["--source", "missing.txt"], "source file"),
             (["--source", str(write(project / "s.txt", "a b c d e\n")), "-S", "generate.llm.model=null"],
              "generate.llm.model is not set"),
             (["-S", "generate.sentences.prompt=nope.txt"], "prompt file"),
             (["--n", "0"], "generate.sentences.n")]
    for args, message in cases:
        result = runner.invoke(app, [*base, *args])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cli_server_down_fails_in_one_line_and_writes_nothing(project):
    with ChatServer(respond) as server:
        url = server.url
    source = write(project / "s.txt", "\n".join(SOURCE) + "\n")
    args = [arg for item in settings_for(url, source) + ["generate.llm.max_retries=0"] for arg in ("-S", item)]
    result = runner.invoke(app, ["generate", "sentences", "--no-track", *args])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: openai back-end {url}: no answer after 0 retries (Connection error.)"
    assert not (project / "data").exists()


@pytest.mark.integration
def test_dvc_stage_of_the_llm_pipeline_generates_then_skips(pipeline, tmp_path):  # noqa: F811
    """`dvc repro pipelines/llm/dvc.yaml` against a loopback chat-completions server, then a no-op rerun."""
    project, dvc = pipeline
    source = write(tmp_path / "source.txt", "\n".join(SOURCE) + "\n")
    with ChatServer(respond) as server:
        set_params(project, data_root=str(source.parent), **{"generate.sentences.source": source.name,
                   "generate.llm.model": "test-model", "generate.llm.base_url": server.url})
        log, _ = dvc("repro", "pipelines/llm/dvc.yaml")
        assert "Running stage 'pipelines/llm/dvc.yaml:generate_sentences'" in log
        rows = (project / "data" / "generated" / "sentences.jsonl").read_text().splitlines()
        assert [json.loads(row)["sentence"] for row in rows] == SOURCE[:2] and len(server.requests) == 6
        log, _ = dvc("repro", "pipelines/llm/dvc.yaml")
    assert "didn't change, skipping" in log and len(server.requests) == 6
