"""`embedlab prepare`: normalised task files that read back as the same tasks and score the same."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from conftest import write
from embedlab.cli import app
from embedlab.eval_tasks.loading import load_task
from embedlab.eval_tasks.registry import resolve_tasks
from embedlab.flows.evaluate import EvaluateRequest, evaluate
from embedlab.flows.prepare import PrepareRequest, prepare
from embedlab.hashing import file_sha256
from embedlab.tasks.prepare import folder_names

pytestmark = pytest.mark.filterwarnings("ignore:Hash collision or duplicate item")  # STS-B repeats sentences
runner = CliRunner()


def loaded(names, task_files, data_root):
    return {ref.spec.name: load_task(ref.spec, ref.base_dir) for ref in resolve_tasks(names, task_files, data_root)}


def test_every_task_type_reads_back_as_the_same_data(project, small_tasks):
    result = runner.invoke(app, ["prepare", "-S", "evaluate.tasks=[]", "-S", f"evaluate.task_files=[{small_tasks}]"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == ["TinySTS", "TinyRetrieval", "TinyClassification",
                                                   "TinyClustering", "TinyPairs"]
    assert "corpus 4, queries 2, qrels 2" in lines[1] and "data/prepared/TinyRetrieval" in lines[1]

    out = project / "data" / "prepared"
    raw = loaded([], [small_tasks], project)
    again = loaded([], [out / "tasks.yaml"], project)
    assert list(again) == list(raw)
    for name, task in raw.items():
        assert again[name].data == task.data, name
        assert again[name].spec.model_dump(exclude={"files"}) == task.spec.model_dump(exclude={"files"})

    manifest = json.loads((out / "manifest.json").read_text())
    qrels = manifest["tasks"]["TinyRetrieval"]["files"]["qrels"]
    assert qrels["rows"] == 2 and qrels["source"] == "qrels.tsv"
    assert qrels["source_sha256"] == file_sha256(small_tasks.parent / "qrels.tsv")
    assert qrels["sha256"] == file_sha256(out / qrels["path"])
    first = json.loads((out / "TinyRetrieval" / "qrels.jsonl").read_text().splitlines()[0])
    assert first == {"query-id": "q1", "corpus-id": "d0", "score": 1}
    assert not [p for p in (project / "data").iterdir() if p.name.startswith(".")]  # no temp folders left


def test_prepared_builtin_task_keeps_mteb_task_and_scores_exactly_the_same(project, tiny_model):
    index = prepare(PrepareRequest(overrides=["evaluate.tasks=[STSBenchmark]"]))
    assert index["tasks"]["STSBenchmark"]["files"]["test"]["rows"] == 1379
    task_file = project / "data" / "prepared" / "tasks.yaml"
    assert yaml.safe_load(task_file.read_text())["tasks"][0]["mteb_task"] == "STSBenchmark"

    def scores(**request):  # separate embedding caches: each side encodes its own texts
        cache = f"cache_dir=cache_{request['output']}"
        return evaluate(EvaluateRequest(model=str(tiny_model), track=False, overrides=[cache], **request))

    from_raw = scores(tasks=["STSBenchmark"], output="raw")
    from_prepared = scores(task_files=[str(task_file)], output="prepared")
    assert from_prepared == from_raw
    assert (project / "raw" / "metrics.json").read_text() == (project / "prepared" / "metrics.json").read_text()


def test_the_same_inputs_give_byte_identical_output(project, small_tasks):
    files = [f"evaluate.task_files=[{small_tasks}]", "evaluate.tasks=[]"]
    prepare(PrepareRequest(overrides=files, output="a"))
    prepare(PrepareRequest(overrides=files, output="b"))
    for path in sorted((project / "a").rglob("*.*")):
        assert path.read_bytes() == (project / "b" / path.relative_to(project / "a")).read_bytes(), path


def test_malformed_data_fails_in_one_line_and_keeps_the_previous_output(project, small_tasks):
    ok = ["-S", "evaluate.tasks=[]", "-S", f"evaluate.task_files=[{small_tasks}]"]
    assert runner.invoke(app, ["prepare", *ok]).exit_code == 0
    before = (project / "data" / "prepared" / "manifest.json").read_text()

    write(small_tasks.parent / "sts.tsv", "a\tb\t4.0\nc\td\tnot-a-number\n")
    result = runner.invoke(app, ["prepare", *ok])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == \
        f"error: {small_tasks.parent / 'sts.tsv'}:2: column 'score' must be a number, got 'not-a-number'"
    assert (project / "data" / "prepared" / "manifest.json").read_text() == before
    assert not [p for p in (project / "data").iterdir() if p.name.startswith(".")]


def test_unknown_task_and_hub_source_are_refused_before_anything_runs(project):
    result = runner.invoke(app, ["prepare", "-S", "evaluate.tasks=[SciFakt]"])
    assert result.exit_code == 2 and "did you mean 'SciFact'" in result.stderr
    result = runner.invoke(app, ["prepare", "-S", "evaluate.source=hub"])
    assert result.exit_code == 2 and "evaluate.source is 'hub'" in result.stderr
    assert not (project / "data").exists()


def test_folder_names_are_safe_and_distinct():
    assert folder_names(["STSBenchmark", "my task/v2", "my_task_v2", "My-Task_V2", "..."]) == \
        ["STSBenchmark", "my_task_v2", "my_task_v2-2", "My-Task_V2", "task"]
