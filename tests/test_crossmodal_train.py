"""Training dual encoders with tiny towers: every objective, the Prefect flow with MLflow, the saved folder,
towers from a Hugging Face folder or config, the comparison table, and one-line errors before training."""

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
from embedlab.errors import DataError
from embedlab.eval_tasks.crossmodal import CrossModalEvalSpec
from embedlab.flows.crossmodal import (CrossModalRequest, EvaluateCrossModalRequest, evaluate_crossmodal,
                                       train_crossmodal)
from embedlab.image_text.dataset import split_by_image, write_dataset
from embedlab.image_text.records import ImageCaptions
from embedlab.models.dual_encoder import DualEncoder
from embedlab.models.objectives import OBJECTIVES
from embedlab.models.objectives.base import TeacherParams
from embedlab.models.towers import ImageTower
from embedlab.tasks.crossmodal.train import (encode_locked_text, encode_teachers, read_image_text_data,
                                             score_dual_encoder, train_dual_encoder)

COLOURS = {"red": ("rot", (220, 30, 30)), "green": ("grün", (30, 200, 40)), "blue": ("blau", (30, 40, 220)),
           "yellow": ("gelb", (230, 220, 30)), "black": ("schwarz", (10, 10, 10)), "white": ("weiß", (245, 245, 245)),
           "grey": ("grau", (128, 128, 128)), "pink": ("rosa", (240, 150, 190)), "brown": ("braun", (120, 70, 20)),
           "cyan": ("türkis", (30, 220, 220))}


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Ten one-colour images, each with an English and a German caption; 2 test images."""
    folder = tmp_path / "images"
    folder.mkdir()
    records = []
    for name, (german, rgb) in COLOURS.items():
        Image.new("RGB", (24, 24), rgb).save(folder / f"{name}.png")
        records.append(ImageCaptions(name, folder / f"{name}.png",
                                     {"en": (f"a {name} square", f"{name} colour"), "de": (f"ein {german}es Quadrat",)}))
    splits = split_by_image(records, ["en", "de"], val_images=0, test_images=2, seed=0)
    write_dataset(tmp_path / "ds", splits, folder, str(folder), {}, {})
    return tmp_path / "ds"


def overrides(tmp_path: Path, tiny_model: Path, dataset: Path, *extra: str) -> list[str]:
    """The real params.yaml, shrunk: tiny towers, 2 steps of 4 images, 2 languages."""
    return [f"train_crossmodal.dataset={dataset}", "train_crossmodal.languages=[en, de]",
            f"train_crossmodal.image_tower={json.dumps(TINY_VIT)}", f"train_crossmodal.text_tower={tiny_model}",
            "train_crossmodal.embedding_dim=16", "train_crossmodal.max_seq_length=16", "train_crossmodal.batch_size=4",
            "train_crossmodal.max_steps=2", "train_crossmodal.checkpoint_every=1", "train_crossmodal.accelerator=cpu",
            f"train_crossmodal.output={tmp_path / 'out'}", f"train_crossmodal.objectives.cusa.text_teacher={tiny_model}",
            "train_crossmodal.objectives.cusa.image_teacher=null",
            f"cache_dir={tmp_path / 'cache'}", *extra]


TRAINED_TEXT = ("train_crossmodal.freeze_text=false", "train_crossmodal.max_steps=5")  # Lightning logs every 5 steps


@pytest.fixture
def settings(tmp_path, tiny_model, dataset):
    return load_settings(REPO / "params.yaml", overrides(tmp_path, tiny_model, dataset))


def test_every_objective_trains_and_is_scored_and_compared(settings, tmp_path, tiny_model, dataset):
    """With the locked text tower of params.yaml: its features are computed once and only its projection trains."""
    params = settings.params.train_crossmodal
    assert params.freeze_text
    data = read_image_text_data.fn(settings.path(params.dataset), settings.data_root, params.languages)
    text_features = encode_locked_text.fn(params, data.splits["train"], settings.cache_dir)
    for name in OBJECTIVES:
        chosen = OBJECTIVES.params(name, params.objectives.get(name, {}))
        teachers = (encode_teachers.fn(chosen, data.splits["train"], params.languages, settings.cache_dir)
                    if isinstance(chosen, TeacherParams) else None)
        out = tmp_path / "out" / name
        summary = train_dual_encoder.fn(data.splits["train"], params, name, teachers, out, False, text_features)
        assert summary["steps"] == 2 and (out / "model" / "dual_encoder.json").is_file()
        trained = DualEncoder.load(out / "model")
        caption = data.splits["train"][0].captions["de"][0]
        with torch.no_grad():  # the locked backbone is unchanged, and its cached features are its own
            features = trained.text.features(trained.text.tokenize([caption]))[0]
        assert torch.allclose(features, text_features[caption], atol=1e-5)
        scores = score_dual_encoder.fn(out / "model", data.splits["test"], params.languages, 8)
        assert 0 <= scores["mean_recall"] <= 1 and scores["mrv"] >= 0
        metrics = {"objective": name, "dataset_version": data.version, "split": "test", "images": 2,
                   "languages": params.languages, "train_seconds": summary["seconds"], "steps": 2, "scores": scores}
        (out / "metrics.json").write_text(json.dumps(metrics))
    assert len(list((settings.cache_dir / "teachers").glob("text-*.entry"))) == 1  # cusa's teacher, cached
    assert len(list((settings.cache_dir / "text_features").glob("*.entry"))) == 1
    args = [arg for item in overrides(tmp_path, tiny_model, dataset) for arg in ("-S", item)]
    compared = CliRunner().invoke(app, ["crossmodal", "compare", "--params", str(REPO / "params.yaml"), *args])
    assert compared.exit_code == 0, compared.output
    table = (tmp_path / "out" / "table" / "report.md").read_text()
    assert table.count("| clip |") == 3 and "| clip | t2i |" in table  # the summary row and one per direction
    assert all(f"| {name} | 2 |" in table for name in OBJECTIVES) and "mR de" in table


def test_train_flow_records_an_mlflow_run_with_scores_and_notes(project, tiny_model, dataset):
    """With the text tower trained end to end (the `full` profile's setting)."""
    result = train_crossmodal(CrossModalRequest(objective="cusa", params_file=str(REPO / "params.yaml"),
                                                overrides=overrides(project, tiny_model, dataset, *TRAINED_TEXT)))
    assert result["steps"] == 5 and result["images"] == 2 and "no image teacher" in result["notes"][0]
    saved = json.loads((project / "out" / "cusa" / "metrics.json").read_text())
    assert saved["scores"]["mrv"] == result["scores"]["mrv"]
    run = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")[0]
    assert run.data.params["objective"] == "cusa" and "no image teacher" in run.data.tags["notes"]
    logged = {"train/loss", "train/csa", "train/usa", "eval/mean_recall", "eval/mrv", "eval/t2i.de.recall_at_1"}
    assert logged <= set(run.data.metrics)


@pytest.mark.slow
@pytest.mark.integration
def test_evaluate_flow_writes_the_evaluation_suites_outputs(project, tiny_model, dataset):
    """The crossmodal_retrieval task type through `crossmodal evaluate`: the same scores as training reported."""
    trained = train_crossmodal(CrossModalRequest(objective="clip", params_file=str(REPO / "params.yaml"), track=False,
                                                 overrides=overrides(project, tiny_model, dataset)))
    task = CrossModalEvalSpec(dataset=str(dataset), languages=["en", "de"])
    request = EvaluateCrossModalRequest(model=str(project / "out" / "clip" / "model"), task=task,
                                        output=str(project / "eval"), params_file=str(REPO / "params.yaml"),
                                        overrides=overrides(project, tiny_model, dataset))
    scored = evaluate_crossmodal(request)
    assert scored[task.name]["main_score"] == pytest.approx(trained["scores"]["mean_recall"])
    assert {"results.json", "report.md", "metrics.json"} <= {p.name for p in (project / "eval").iterdir()}
    run = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")[0]
    assert run.data.metrics["Flickr8kMulti30kRetrieval.mrv"] == pytest.approx(trained["scores"]["mrv"])


def test_training_resumes_from_the_last_checkpoint(settings, tmp_path):
    params = settings.params.train_crossmodal
    data = read_image_text_data.fn(settings.path(params.dataset), settings.data_root, params.languages)
    features = encode_locked_text.fn(params, data.splits["train"], settings.cache_dir)
    train_dual_encoder.fn(data.splits["train"], params, "one_to_k", None, tmp_path / "run", False, features)
    longer = params.model_copy(update={"max_steps": 3})
    summary = train_dual_encoder.fn(data.splits["train"], longer, "one_to_k", None, tmp_path / "run", False, features)
    assert (summary["steps"], summary["steps_run"]) == (3, 1)


def test_saved_dual_encoder_loads_back_with_the_same_embeddings(tmp_path, tiny_model, dataset):
    model = DualEncoder.build(TINY_VIT, str(tiny_model), dim=16).eval()
    paths = sorted((tmp_path / "images").glob("*.png"))[:3]
    model.save(tmp_path / "saved", {"objective": "clip"})
    loaded = DualEncoder.load(tmp_path / "saved")
    assert torch.allclose(model.embed_images(paths), loaded.embed_images(paths), atol=1e-6)
    assert torch.allclose(model.embed_texts(["a red square"]), loaded.embed_texts(["a red square"]), atol=1e-6)
    assert json.loads((tmp_path / "saved" / "dual_encoder.json").read_text()) == {"dim": 16, "objective": "clip"}


def test_image_tower_from_a_clip_folder_or_a_resnet_config(tmp_path):
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 32, "patch_size": 16}
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision)).save_pretrained(tmp_path / "clip")
    processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor.save_pretrained(tmp_path / "clip")
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    clip = ImageTower.build(str(tmp_path / "clip"), dim=8)
    assert type(clip.backbone).__name__ == "CLIPVisionModel" and clip.width == 32
    assert clip(clip.preprocess([image])).shape == (1, 8)
    resnet = ImageTower.build({"model_type": "resnet", "image_size": 48, "embedding_size": 8, "hidden_sizes": [8, 16],
                               "depths": [1, 1]}, dim=8)
    pixels = resnet.preprocess([image])
    assert pixels.shape == (1, 3, 48, 48) and resnet.width == 16 and resnet(pixels).shape == (1, 8)


def test_a_missing_image_stops_training_before_it_starts(settings):
    params = settings.params.train_crossmodal
    (Path(json.loads((settings.path(params.dataset) / "manifest.json").read_text())["images"]) / "red.png").unlink()
    with pytest.raises(DataError, match=r"red\.png: image of 'red' not found"):
        read_image_text_data.fn(settings.path(params.dataset), settings.data_root, params.languages)


@pytest.mark.parametrize("args, message", [
    (["--objective", "one_to_kk"], "did you mean 'one_to_k'"),
    (["-S", "train_crossmodal.objectives.cusa.alpha=-1", "--objective", "cusa"], "objective 'cusa': alpha"),
    (["-S", "train_crossmodal.dataset=nowhere"], "crossmodal prepare"),
])
def test_cli_rejects_bad_input_in_one_line(project, args, message):
    (project / "params.yaml").write_text((REPO / "params.yaml").read_text())
    result = CliRunner().invoke(app, ["crossmodal", "train", *args])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1
