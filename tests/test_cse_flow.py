"""`embedlab cse` with a tiny model: the flow, the FDI diagnostics, MLflow records, data formats and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import mlflow
import pytest
import torch
from typer.testing import CliRunner

from conftest import REPO, write
from embedlab.cli import app
from embedlab.config import load_settings
from embedlab.errors import DataError, UserError
from embedlab.flows.cse import CseRequest, cse
from embedlab.models.data_module import TaskMixDataModule
from embedlab.models.diagnostics import AlignUniformMonitor, alignment, fdi_means, uniformity
from embedlab.models.embedding_module import EmbeddingModule
from embedlab.models.trainer import fit
from embedlab.tasks.cse.train import generated_file, hold_out, read_cse_data, read_eval_pairs, run_name, train_cse
from embedlab.train_tasks.task import TrainExample

HIERARCHICAL = [
    {"sentence": "A man is playing a guitar on stage.",
     "levels": ["A man plays the guitar on a stage.", "A musician performs with an instrument.",
                "A man is tuning a piano at home."]},
    {"sentence": "The children are swimming in the lake.",
     "levels": ["Kids swim in the lake.", "Children are playing in the water.", "The children are reading by a lake."]},
    {"sentence": "The stock market fell sharply on Monday.",
     "levels": ["Stocks dropped steeply on Monday.", "Markets were down at the start of the week.",
                "The stock market opened on Monday."]},
    {"sentence": "She cooked pasta for dinner.",
     "levels": ["She made pasta for her evening meal.", "She prepared an Italian dinner.",
                "She ordered pizza for lunch."]},
    {"sentence": "The train was delayed by snow.",
     "levels": ["Snow held up the train.", "Bad weather slowed the railway.", "The train arrived early despite snow."]},
    {"sentence": "A dog is chasing a ball in the park.",
     "levels": ["A dog runs after a ball in a park.", "A pet plays fetch outdoors.", "A dog sleeps in the park."]},
]


def tiny_overrides(tiny_model: Path, tmp_path: Path, *extra: str) -> list[str]:
    """The real params.yaml's cse section, shrunk: tiny model, 4 steps of batch 4, 8 diagnostic pairs."""
    return [f"cse.base={tiny_model}", f"cse.output={tmp_path / 'out'}", f"cache_dir={tmp_path / 'cache'}",
            "cse.batch_size=4", "cse.max_steps=4", "cse.checkpoint_every=2", "cse.accelerator=cpu",
            "cse.diagnostics.every=2", "cse.diagnostics.max_pairs=8", "cse.diagnostics.batch_size=8",
            "evaluate.device=cpu", *extra]


@pytest.fixture
def generated(tmp_path) -> Path:
    return write(tmp_path / "generated" / "sentences.jsonl", "".join(json.dumps(row) + "\n" for row in HIERARCHICAL))


def test_flow_trains_measures_fdi_scores_sts_and_records_one_run(tiny_model, project, tmp_path):
    overrides = tiny_overrides(tiny_model, tmp_path, "cse.paradigm.margin=0.3", "cse.paradigm.weight_temperature=0.05",
                               "cse.paradigm.ratio=1.5")
    summary = cse(CseRequest(objective="vicreg", data="wiki", params_file=str(REPO / "params.yaml"),
                             overrides=overrides))
    out = tmp_path / "out" / "wiki-vicreg-m0.3-t0.05-r1.5"
    assert summary["steps"] == 4 and [p["step"] for p in summary["diagnostics"]] == [0, 2, 4]
    assert summary["held_out_pairs"] == 8 and summary["eval_pairs"] == 8
    assert summary["fdi"]["fdi_align"] == pytest.approx(  # the untrained step-0 point is left out of the mean
        sum(p["align_train"] - p["align_eval"] for p in summary["diagnostics"][1:]) / 2)
    assert -1 <= summary["scores"]["STSBenchmark"] <= 1
    assert json.loads((out / "cse.json").read_text())["loss_options"] == {
        "margin": 0.3, "weight_temperature": 0.05, "ratio": 1.5}
    assert (out / "diagnostics.png").read_bytes()[:4] == b"\x89PNG"
    assert set(json.loads((out / "metrics.json").read_text())) == {"STSBenchmark", "fdi_align", "fdi_uniform", "steps"}
    runs = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")
    assert len(runs) == 1 and runs[0].info.run_name == "cse wiki-vicreg-m0.3-t0.05-r1.5"
    metrics = runs[0].data.metrics
    assert {"diag/align_train", "diag/uniform_eval", "diag/fdi_align", "cse/fdi_align", "cse/fdi_uniform",
            "STSBenchmark/main_score", "train/steps"} <= set(metrics)
    history = mlflow.tracking.MlflowClient().get_metric_history(runs[0].info.run_id, "diag/fdi_uniform")
    assert sorted(m.step for m in history) == [0, 2, 4]
    artifacts = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(runs[0].info.run_id)}
    assert {"cse.json", "metrics.json", "diagnostics.png", "summary.json"} <= artifacts


def test_generated_hierarchical_data_trains_the_hierarchical_objective(tiny_model, tmp_path, generated):
    overrides = tiny_overrides(tiny_model, tmp_path, f"generate.sentences.output={generated}", "cse.data=generated",
                               "cse.objective=hierarchical", "cse.batch_size=2", "cse.max_steps=2",
                               "cse.diagnostics.holdout=0.2")
    settings = load_settings(REPO / "params.yaml", overrides)
    params = settings.params.cse
    data = read_cse_data.fn(params, settings.data_root, generated_file(settings))
    train_task, held_out = hold_out(data, params.diagnostics.holdout, params.diagnostics.max_pairs, params.seed)
    eval_pairs = read_eval_pairs.fn(settings.data_root, params.diagnostics, params.seed)
    summary = train_cse.fn(train_task, held_out, eval_pairs, params, tmp_path / "out" / run_name(params))
    assert summary["steps"] == 2 and summary["tasks"] == {"generated": 4} and len(held_out) == 2
    assert [p["step"] for p in summary["diagnostics"]] == [0, 2] and set(summary["fdi"]) == {"fdi_align", "fdi_uniform"}


def test_sentences_and_hierarchical_formats(generated):
    settings = load_settings(REPO / "params.yaml", [f"generate.sentences.output={generated}", "cse.data=generated"])
    task = read_cse_data.fn(settings.params.cse, settings.data_root, generated_file(settings))
    assert task.examples[0].texts == (HIERARCHICAL[0]["sentence"], *HIERARCHICAL[0]["levels"])
    wiki = read_cse_data.fn(settings.params.cse.model_copy(update={"data": "wiki"}), settings.data_root,
                            generated_file(settings))
    assert len(wiki) > 10_000 and all(e.texts[0] == e.texts[1] for e in wiki.examples[:50])
    kept, pairs = hold_out(wiki, 0.1, 256, seed=0)
    assert len(kept) == len(wiki) - round(0.1 * len(wiki)) and len(pairs) == 256
    assert hold_out(wiki, 0.1, 256, seed=0)[1] == pairs != hold_out(wiki, 0.1, 256, seed=1)[1]


def test_monitor_logs_points_and_keeps_its_history_across_a_resume(tiny_model, tmp_path):
    L.seed_everything(0, verbose=False)
    module = EmbeddingModule(str(tiny_model), {"pairs": ("infonce", 20.0)})
    texts = [(f"sentence number {i}", f"sentence number {i}") for i in range(16)]
    data = TaskMixDataModule({"pairs": [TrainExample(t) for t in texts]}, module.encoder.preprocess, batch_size=4)
    pairs = [("a cat sat", "a cat sits"), ("dogs run", "a dog runs"), ("it rains", "rain falls")]
    monitor = AlignUniformMonitor(pairs, pairs, every=3)
    fit(module, data, tmp_path / "run", max_steps=4, checkpoint_every=2, accelerator="cpu", callbacks=[monitor])
    assert [p["step"] for p in monitor.history] == [0, 3, 4]  # every 3 steps and at the last
    assert all(p["align_eval"] >= 0 and p["uniform_eval"] <= 0 for p in monitor.history)
    resumed = AlignUniformMonitor(pairs, pairs, every=3)
    fit(EmbeddingModule(str(tiny_model), {"pairs": ("infonce", 20.0)}), data, tmp_path / "run", max_steps=6,
        checkpoint_every=2, accelerator="cpu", callbacks=[resumed])
    assert [p["step"] for p in resumed.history] == [0, 3, 4, 6]


def test_alignment_uniformity_and_fdi_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert alignment(x, y) == pytest.approx(1.0)  # (2 + 0) / 2
    assert uniformity(x) == pytest.approx(-4.0)  # one pair at squared distance 2: log e^{-4}
    history = [{"step": 0, "fdi_align": 9.0, "fdi_uniform": 9.0}, {"step": 5, "fdi_align": 0.1, "fdi_uniform": -1.0},
               {"step": 10, "fdi_align": 0.3, "fdi_uniform": -2.0}]
    assert fdi_means(history) == pytest.approx({"fdi_align": 0.2, "fdi_uniform": -1.5})  # step 0 left out


def test_run_name_tags_the_components():
    params = load_settings(REPO / "params.yaml", ["cse.objective=mpt", "cse.paradigm.weight_power=4",
                                                  "cse.paradigm.ratio=1.75"]).params.cse
    assert run_name(params) == "wiki-mpt-p4-r1.75"


@pytest.mark.parametrize("args, message", [
    (["--objective", "infonse"], "unknown objective 'infonse'; did you mean 'infonce'"),
    (["--objective", "cosent"], "unknown objective 'cosent'"),
    (["--objective", "arccon", "-S", "cse.options.margn=0.2"],
     "cse.options: objective 'arccon': margn: Extra inputs are not permitted (got 0.2; parameters: angular_margin)"),
    (["--data", "web"], "cse.data: Input should be 'wiki', 'nli' or 'generated'"),
    (["-S", "cse.paradigm.weight_power=2", "-S", "cse.paradigm.weight_temperature=0.05"], "not both"),
    (["--run", "infonse"], "unknown cse_table run 'infonse'; did you mean 'infonce'"),
    (["--run", "infonce", "--objective", "mpt"], "give --run NAME or --objective NAME, not both"),
    (["--data", "generated", "-S", "generate.sentences.output=none/sentences.jsonl"],
     "none/sentences.jsonl: file not found (generate.sentences.output); write it with `embedlab generate sentences` "
     "or `dvc repro pipelines/llm/dvc.yaml`"),
])
def test_bad_input_fails_fast_in_one_line(args, message, project):
    result = CliRunner().invoke(app, ["cse", "run", "--params", str(REPO / "params.yaml"), *args])
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output


def test_missing_or_malformed_generated_data_names_the_file(tmp_path, generated):
    missing = load_settings(REPO / "params.yaml", [f"generate.sentences.output={tmp_path / 'none.jsonl'}",
                                                   "cse.data=generated"])
    with pytest.raises(DataError, match="none.jsonl: file not found .*`embedlab generate sentences`"):
        read_cse_data.fn(missing.params.cse, missing.data_root, generated_file(missing))
    generated.write_text(generated.read_text() + '{"sentence": "x", "levels": ["y"]}\n')
    ragged = load_settings(REPO / "params.yaml", [f"generate.sentences.output={generated}", "cse.data=generated"])
    with pytest.raises(DataError, match=r"sentences.jsonl:7: 1 levels where the first row has 3"):
        read_cse_data.fn(ragged.params.cse, ragged.data_root, generated_file(ragged))
    with pytest.raises(UserError):
        data = read_cse_data.fn(ragged.params.cse, ragged.data_root, generated_file(ragged))
        hold_out(data.with_examples([]), 0.1, 8, 0)
