"""Self Positioning from the registry and `embedlab merge`, end to end on tiny models: the probe set, the search,
the merged folder, the λ trajectory in MLflow, bad input."""

from __future__ import annotations

import json

import mlflow
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from embedlab.cli import app
from embedlab.models.merging import METHODS
from embedlab.models.merging.probe import ProbeSet, ProbeTask, probe_steps, sample_examples
from merging_helpers import write_tiny_project

runner = CliRunner()


@pytest.fixture
def tiny_project(project, tiny_model, small_tasks):
    return write_tiny_project(project, tiny_model, small_tasks.parent)


def test_self_positioning_is_registered_with_validated_parameters():
    assert "self_positioning" in METHODS and METHODS.get("self_positioning").search is not None
    params = METHODS.params("self_positioning", {"granularity": "layer", "l2": 0.1})
    assert params.granularity == "task_layer" and params.l2 == 0.1
    for bad, message in [({"granularity": "per_row"}, "granularity"), ({"lr": 0}, "lr"),
                         ({"batch_size": 8, "probe_size": 4}, "exceeds probe_size"), ({"steps": 0}, "steps"),
                         ({"momentum": 0.9}, "momentum")]:
        with pytest.raises(Exception, match=message):
            METHODS.params("self_positioning", bad)


def test_probe_steps_hold_one_batch_of_every_task(tiny_model):
    from sentence_transformers import SentenceTransformer

    tokenize = SentenceTransformer(str(tiny_model), device="cpu").preprocess
    big = [type("E", (), {"texts": (f"a{i}", f"b{i}"), "label": None})() for i in range(7)]
    small = [type("E", (), {"texts": (f"c{i}", f"d{i}"), "label": float(i)})() for i in range(3)]
    assert sample_examples(big, 5, seed=1) == sample_examples(big, 5, seed=1) != sample_examples(big, 5, seed=2)
    probe = ProbeSet([ProbeTask("big", "mnrl", 20.0, big), ProbeTask("small", "cosent", 20.0, small)])
    steps = probe_steps(probe, tokenize, batch_size=2)
    # big: batches of 2, 2, 2 (the single last example is dropped); small: 2 (its last 1 dropped), wrapping round
    assert len(steps) == 3 and [[b["task"] for b in step] for step in steps] == [["big", "small"]] * 3
    assert [b["features"][0]["input_ids"].size(0) for step in steps for b in step] == [2, 2] * 3
    assert steps[0][1]["labels"].tolist() == [0.0, 1.0]


def test_merge_self_positioning_end_to_end(tiny_project, tiny_model):
    models = [tiny_project / "results" / "train" / task / "model" for task in ("sts", "pairs")]
    result = runner.invoke(app, ["merge", "--trained", "--method", "self_positioning", "--out", "merged"])
    assert result.exit_code == 0, result.output
    out = tiny_project / "merged"

    summary = json.loads((out / "summary.json").read_text())
    record = json.loads((out / "positioning.json").read_text())
    assert record["granularity"] == "task" and record["groups"] == ["all"] and len(record["history"]) == 3
    # 3 steps, each one batch of 2 examples of each of the two tasks
    assert summary["search"] == {"samples": 12, "seconds": record["seconds"], "steps": 3} and record["samples"] == 12
    assert (out / "lambdas.png").stat().st_size > 1000
    assert json.loads((out / "merge.json").read_text())["models"] == [str(m) for m in models]

    lambdas = record["lambdas"]  # (2 models, 1 group); the merged weights are θ0 + Σ λ_i τ_i
    assert lambdas != [[0.5], [0.5]]  # the search moved them from 1/N
    base_w, merged_w = load_file(tiny_model / "model.safetensors"), load_file(out / "model.safetensors")
    tuned = [load_file(m / "model.safetensors") for m in models]
    key = "encoder.layer.0.attention.self.query.weight"
    expected = base_w[key] + sum(l[0] * (t[key] - base_w[key]) for l, t in zip(lambdas, tuned))
    torch.testing.assert_close(merged_w[key], expected, rtol=1e-5, atol=1e-6)

    run = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")[0]
    client = mlflow.MlflowClient()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "search/loss")] == [1, 2, 3]
    trajectory = client.get_metric_history(run.info.run_id, "search/lambda/sts/all")
    assert [m.value for m in trajectory][-1] == pytest.approx(lambdas[0][0])
    assert run.data.metrics["search/samples"] == 12
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"merge.json", "positioning.json", "lambdas.png"} <= artifacts


def test_per_layer_granularity_learns_a_lambda_per_layer_group(tiny_project):
    result = runner.invoke(app, ["merge", "--trained", "--method", "self_positioning", "--out", "merged", "--no-track",
                                 "-S", "granularity=task_layer", "-S", "steps=2", "-S", "tasks=[sts]"])
    assert result.exit_code == 0, result.output
    record = json.loads((tiny_project / "merged" / "positioning.json").read_text())
    assert record["groups"] == ["embeddings", "layer.0", "layer.1", "other"]
    assert len(record["lambdas"]) == 2 and all(len(row) == 4 for row in record["lambdas"])
    assert record["samples"] == 2 * 2  # only the sts task probed


@pytest.mark.parametrize("args, message", [
    (["-S", "batch_size=9"], "merge method 'self_positioning': parameters: Value error, batch_size (9) exceeds"),
    (["-S", "tasks=[stss]"], "unknown training task 'stss'; did you mean 'sts'?"),
    (["-S", "granularity=row"], "merge method 'self_positioning': granularity: Input should be 'task' or 'task_layer'"),
    (["-m", "x"], "give --model (repeatable) or --trained, not both"),
])
def test_bad_input_fails_in_one_line_before_anything_runs(tiny_project, args, message):
    result = runner.invoke(app, ["merge", "--trained", "--method", "self_positioning", "--out", "merged", *args])
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {message}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tiny_project / "merged").exists()


def test_missing_trained_models_and_missing_base_are_named(project):
    result = runner.invoke(app, ["merge", "--method", "average", "--out", "merged", "-m", "minilm"])
    assert result.exit_code == 2 and "give --base and --model (repeatable), or --trained" in result.stderr
    (project / "params.yaml").write_text("train: {tasks: {sts: {format: scored_pairs, loss: cosent, files: "
                                         "{train: {path: x.tsv}}}}}\n")
    result = runner.invoke(app, ["merge", "--trained", "--method", "average", "--out", "merged"])
    assert result.exit_code == 2 and "results/train/sts/model' does not exist" in result.stderr
