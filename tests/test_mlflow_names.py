"""One naming scheme in MLflow for every pipeline, read back from a real SQLite store: metrics
`<split or task>/<metric>`, run names that say what ran, full sha256 data hashes, one metric per quantity."""

from __future__ import annotations

import re

import mlflow

from embedlab.flows.evaluate import EvaluateRequest, evaluate
from embedlab.flows.merge import MergeRequest, merge
from embedlab.flows.train import TrainRequest, train
from merging_helpers import write_tiny_project

SCHEME = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)+$")


def test_evaluation_training_and_merge_runs_follow_one_scheme(project, tiny_model, small_tasks):
    write_tiny_project(project, tiny_model, small_tasks.parent)
    evaluate(EvaluateRequest(model=str(tiny_model), task_files=[str(small_tasks)], output="out"))
    train(TrainRequest(task="sts", overrides=["train.output=trained"]))
    merge(MergeRequest(base=str(tiny_model), models=[str(project / "results/train/sts/model"),
                                                     str(project / "results/train/pairs/model")],
                       method="average", out=str(project / "merged")))
    runs = {run.info.run_name: run for run in mlflow.search_runs(experiment_names=["embedlab"], output_format="list")}
    assert set(runs) == {f"evaluate st · TinySTS, TinyRetrieval, TinyClassification, TinyClustering +1",
                         "train sts", "merge average"}, set(runs)
    for name, run in runs.items():
        bad = [metric for metric in run.data.metrics if not SCHEME.match(metric)]
        assert not bad, f"run {name!r}: metric names outside <split or task>/<metric>: {bad}"
    evaluation = runs["evaluate st · TinySTS, TinyRetrieval, TinyClassification, TinyClustering +1"]
    hashes = {key: value for key, value in evaluation.data.params.items() if key.startswith("data.")}
    assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", value) for value in hashes.values())  # full sha256
    assert "TinySTS/cosine_spearman" in evaluation.data.metrics
    training = runs["train sts"].data.metrics
    mixes = [metric for metric in training if "mix" in metric]
    assert mixes == ["train/mix/sts"]  # the realised task mix, once
