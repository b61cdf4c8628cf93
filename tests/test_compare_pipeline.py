"""The comparison chain for real: `dvc repro` of prepare -> train@<task> -> train_joint@<sampling> ->
merge@<method> -> compare in a copy of the checkout, shrunk to the tiny model (minutes: a dozen processes)."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import DATA_ROOT
from test_dvc_pipeline import pipeline, set_params  # noqa: F401  (the fixture is used by name)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_repro_runs_the_whole_comparison_then_skips_and_reruns_only_what_changed(pipeline, small_tasks):  # noqa: F811
    project, dvc = pipeline
    small = small_tasks.parent
    params = yaml.safe_load((project / "params.yaml").read_text())
    model, tasks = params["evaluate"]["model"], list(params["train"]["tasks"])  # the fixture's tiny model
    per_task = {f"train.tasks.{name}.max_examples": 16 for name in tasks}
    set_params(project, **{
        "train.base": model, "train.batch_size": 4, "train.max_steps": 2, "compare.joint_steps": 4,
        "train.max_seq_length": 32, "train.accelerator": "cpu", **per_task,
        "train.tasks.retrieval.files.corpus.path": str(small / "corpus.jsonl"),
        "train.tasks.retrieval.files.queries.path": str(small / "queries.jsonl"),
        "train.tasks.retrieval.files.qrels.path": str(small / "qrels.tsv"),
        "train.tasks.retrieval.mining_skip": 0, "train.tasks.retrieval.batch_size": 2,
        "merge.methods.self_positioning.steps": 2, "merge.methods.self_positioning.probe_size": 4,
        "merge.methods.self_positioning.batch_size": 2,
        "compare.tasks": ["STSBenchmark"], "compare.task_options": {}, "compare.max_seq_length": 32})

    log, _ = dvc("repro")
    for stage in ["prepare", "compare", *(f"train@{t}" for t in tasks), "train_joint@proportional",
                  "train_joint@temperature", "merge@average", "merge@self_positioning"]:
        assert f"Running stage '{stage}'" in log
    metrics = json.loads((project / "results" / "compare" / "metrics.json").read_text())
    assert list(metrics) == ["base", *tasks, "joint-proportional", "joint-temperature", "merge-average",
                             "merge-task_arithmetic", "merge-ties", "merge-dare", "merge-self_positioning"]
    per_task_samples = sum(metrics[t]["samples"] for t in tasks)
    assert metrics["merge-average"]["samples"] == per_task_samples
    assert metrics["merge-self_positioning"]["samples"] == per_task_samples + 2 * 2 * len(tasks)
    assert metrics["joint-temperature"]["samples"] == 4 * 4
    assert f"{DATA_ROOT}/stsb/sts-train.csv" in (project / "dvc.lock").read_text()

    log, seconds = dvc("repro")
    assert "Data and pipelines are up to date" in log and "Running stage" not in log
    assert seconds < 60, f"an up-to-date `dvc repro` took {seconds:.1f} s"

    set_params(project, **{"merge.methods.self_positioning.lr": 0.02})
    log, _ = dvc("repro")
    assert "Running stage 'merge@self_positioning'" in log and "Running stage 'compare'" in log
    assert "Running stage 'train@" not in log and "Running stage 'merge@ties'" not in log
