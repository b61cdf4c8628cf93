"""Training the composed-query model with tiny towers: stage 2 leaves the image tower alone and keys its bank by
it, resume, the Prefect flow with MLflow and the comparison table, and the one-line error for a missing image."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from conftest import REPO, TINY_VIT
from embedlab.cli import app
from embedlab.config import load_settings
from embedlab.flows.cir import CirRequest, train_cir
from embedlab.flows.runs_table import RunsTableRequest, compare_runs
from embedlab.image_text.triplets import gallery_images, split_by_reference
from embedlab.models.cir.model import ComposedQueryModel
from embedlab.tasks.cir.data import read_cir_triplets
from embedlab.tasks.cir.train import encode_modifications, train_cir_stage

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
           "black": (10, 10, 10), "white": (245, 245, 245), "grey": (128, 128, 128), "pink": (240, 150, 190),
           "brown": (120, 70, 20), "cyan": (30, 220, 220), "orange": (250, 140, 0), "purple": (120, 30, 160)}


@pytest.fixture
def triplets_file(tmp_path) -> Path:
    """Twelve one-colour images; each is the reference of a triplet whose target is the next colour, with two
    template texts (training draws one per sample, evaluation uses the first)."""
    folder = tmp_path / "images"
    folder.mkdir()
    names = list(COLOURS)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (24, 24), rgb).save(folder / f"{name}.png")
    rows = [{"reference": f"{a}.png", "modifications": [f"a {b} square instead of a {a} one", f"a {b} square"],
             "target": f"{b}.png"} for a, b in zip(names, names[1:] + names[:1])]
    path = tmp_path / "triplets.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def overrides(tmp_path: Path, tiny_model: Path, triplets_file: Path, *extra: str) -> list[str]:
    """The real params.yaml, shrunk: tiny towers, batches of 4 triplets, 9 training and 3 test triplets."""
    return [f"train_cir.triplets.path={triplets_file}", f"train_cir.triplets.images={triplets_file.parent / 'images'}",
            f"train_cir.image_tower={json.dumps(TINY_VIT)}", f"train_cir.text_tower={tiny_model}",
            "train_cir.embedding_dim=16", "train_cir.max_seq_length=16", "train_cir.batch_size=4", "train_cir.test_fraction=0.25",
            "train_cir.max_steps=2", "train_cir.checkpoint_every=1", "train_cir.accelerator=cpu",
            "train_cir.eval_batch_size=8", f"train_cir.output={tmp_path / 'out'}", f"cache_dir={tmp_path / 'cache'}",
            *extra]


@pytest.fixture
def settings(tmp_path, tiny_model, triplets_file):
    return load_settings(REPO / "params.yaml", overrides(tmp_path, tiny_model, triplets_file))


@pytest.fixture
def training_data(settings):
    params = settings.params.train_cir
    triplets = read_cir_triplets.fn(params.triplets, settings.path(params.triplets.path), settings.data_root)
    train, _ = split_by_reference(triplets, params.test_fraction, params.seed)
    return train, encode_modifications.fn(params, train, settings.cache_dir)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in module.state_dict().items()}


def test_stage2_trains_the_query_side_only_and_rebuilds_its_bank_only_for_a_changed_image_tower(
        settings, training_data, tmp_path):
    params, (train, features) = settings.params.train_cir, training_data
    assert len(features) == 2 * len(train)  # the locked text features of both templates of every triplet
    stage1 = train_cir_stage.fn(train, params, 1, 2, tmp_path / "s1", None, features, settings.cache_dir)
    assert stage1["bank"] is None
    before = ComposedQueryModel.load(tmp_path / "s1" / "model")
    stage2 = train_cir_stage.fn(train, params, 2, 2, tmp_path / "s2", tmp_path / "s1" / "model", features,
                                settings.cache_dir)
    after = ComposedQueryModel.load(tmp_path / "s2" / "model")
    assert stage2["steps"] == 2 and not stage2["bank"]["cached"]
    assert stage2["bank"]["images"] == len(gallery_images(train)) == 11  # the training triplets' images
    unchanged = _state(before.towers.image)
    assert all(torch.equal(unchanged[name], tensor) for name, tensor in after.towers.image.state_dict().items())
    assert not torch.equal(before.towers.text.projection.weight, after.towers.text.projection.weight)
    banks = settings.cache_dir / "cir_bank"
    again = train_cir_stage.fn(train, params, 2, 1, tmp_path / "s2b", tmp_path / "s2" / "model", features,
                               settings.cache_dir)  # same image tower: the bank is read back
    assert again["bank"]["cached"] and again["bank"]["key"] == stage2["bank"]["key"]
    fresh = train_cir_stage.fn(train, params, 2, 1, tmp_path / "s2c", None, features, settings.cache_dir)
    assert not fresh["bank"]["cached"] and len(list(banks.glob("*.entry"))) == 2  # another tower, another bank


def test_training_resumes_from_the_last_checkpoint(settings, training_data, tmp_path):
    params, (train, features) = settings.params.train_cir, training_data
    train_cir_stage.fn(train, params, 1, 2, tmp_path / "run", None, features, settings.cache_dir)
    summary = train_cir_stage.fn(train, params, 1, 3, tmp_path / "run", None, features, settings.cache_dir)
    assert (summary["steps"], summary["steps_run"]) == (3, 1)


def test_both_stages_flow_records_one_mlflow_run_and_the_comparison_table(project, tiny_model, triplets_file):
    """5 + 5 steps: Lightning logs every 5 steps, so each stage's loss reaches the run."""
    request = CirRequest(stage="both", params_file=str(REPO / "params.yaml"),
                         overrides=overrides(project, tiny_model, triplets_file, "train_cir.max_steps=10"))
    result = train_cir(request)
    out = project / "out" / "both"
    assert result["steps"] == {"stage1": 5, "stage2": 5} and result["samples"] == 40
    assert (result["train_triplets"], result["test_triplets"], result["gallery"]) == (9, 3, 12)
    assert set(result["scores"]) == {"recall_at_1", "recall_at_5", "recall_at_10", "recall_at_50", "median_rank"}
    assert result["scores"]["recall_at_50"] == 1.0  # 11 candidates once the reference is left out
    assert (out / "model" / "cir.json").is_file() and (out / "checkpoints" / "stage1" / "model" / "cir.json").is_file()
    assert json.loads((out / "metrics.json").read_text())["scores"] == result["scores"]
    assert json.loads((out / "summary.json").read_text())["task_mix"] == {"stage1": 0.5, "stage2": 0.5}
    runs = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["variant"] == "both" and run.data.params["stage2_steps"] == "5"
    assert {"stage1/loss", "stage2/loss", "eval/recall_at_1", "eval/recall_at_50", "train/bank_seconds",
            "train/mix/stage2"} <= set(run.data.metrics)
    compare_runs(RunsTableRequest(pipeline="cir", params_file=str(REPO / "params.yaml"), overrides=request.overrides))
    table = (project / "out" / "table" / "report.md").read_text()
    assert "| both stages | 5 | 5 | 40 |" in table and "gallery of 12 images" in table


def test_cli_stops_on_a_missing_image_in_one_line_before_training(project, tiny_model, triplets_file):
    (triplets_file.parent / "images" / "blue.png").unlink()  # the target of line 2, the reference of line 3
    args = ["cir", "train", "--stage", "1", "--params", str(REPO / "params.yaml")]
    for item in overrides(project, tiny_model, triplets_file):
        args += ["-S", item]
    result = CliRunner().invoke(app, args)
    expected = (f"error: {triplets_file}:2: triplet green.png + 'a blue square instead of a green one' -> blue.png: "
                f"target image {triplets_file.parent / 'images' / 'blue.png'} not found")
    assert result.exit_code == 2 and result.stderr.strip() == expected and not result.stdout
    assert not (project / "out").exists() and not (project / "mlflow.db").exists()


def test_cli_rejects_an_unknown_stage(project):
    result = CliRunner().invoke(app, ["cir", "train", "--stage", "3"])
    assert result.exit_code == 2 and result.stderr.strip() == "error: --stage must be one of 1, 2, both, got '3'"
