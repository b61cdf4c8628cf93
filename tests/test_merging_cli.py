"""`embedlab merge` end to end on tiny models: a loadable sentence-transformers folder, MLflow run, errors."""

from __future__ import annotations

import json
import shutil

import mlflow
import pytest
import torch
from safetensors.torch import load_file, save_file
from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Normalize, Pooling
from typer.testing import CliRunner

from embedlab.cli import app
from embedlab.models.merging import METHODS

runner = CliRunner()


@pytest.fixture(scope="module")
def tuned_models(tiny_model, tmp_path_factory):
    """Two copies of the tiny base whose weights moved a little, as fine-tuning moves them."""
    root, folders = tmp_path_factory.mktemp("tuned"), []
    for seed in (1, 2):
        folder = shutil.copytree(tiny_model, root / f"tuned{seed}")
        generator = torch.Generator().manual_seed(seed)
        weights = load_file(folder / "model.safetensors")
        save_file({key: w + 0.01 * torch.randn(w.shape, generator=generator) for key, w in weights.items()},
                  folder / "model.safetensors", metadata={"format": "pt"})
        folders.append(folder)
    return folders


def test_merge_writes_a_complete_model_that_loads_and_encodes(project, tiny_model, tuned_models):
    a, b = tuned_models
    result = runner.invoke(app, ["merge", "--base", str(tiny_model), "-m", str(a), "-m", str(b),
                                 "--method", "ties", "-S", "density=0.5", "--out", "merged"])
    assert result.exit_code == 0, result.output
    out = project / "merged"
    assert not [p for p in project.iterdir() if p.name.startswith(".merged")]  # temp folder renamed away

    model = SentenceTransformer(str(out), device="cpu")
    assert [type(module) for module in model][1:] == [Pooling, Normalize]
    embeddings = model.encode(["a merged model", "still encodes"], convert_to_tensor=True)
    assert embeddings.shape == (2, 32)
    assert torch.allclose(torch.linalg.vector_norm(embeddings, dim=1), torch.ones(2), atol=1e-5)
    assert (out / "tokenizer.json").is_file() and (out / "modules.json").is_file()

    merge = METHODS.get("ties").build(METHODS.params("ties", {"density": 0.5, "lambda": 1.0}))
    base_w, a_w, b_w = (load_file(folder / "model.safetensors") for folder in (tiny_model, a, b))
    merged_w = load_file(out / "model.safetensors")
    assert merged_w.keys() == base_w.keys()
    for key in base_w:
        assert torch.equal(merged_w[key], merge(base_w[key], [a_w[key], b_w[key]], key))

    record = json.loads((out / "merge.json").read_text())
    assert record == {"method": "ties", "params": {"density": 0.5, "lambda": 1.0}, "base": str(tiny_model),
                      "models": [str(a), str(b)]}
    run = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")[0]
    assert run.data.params["method"] == "ties" and run.data.params["method.density"] == "0.5"
    assert run.data.metrics["merge/tensors"] == len(base_w)
    assert run.data.tags["prefect_flow_name"] == "merge"


def test_architectures_that_differ_are_a_one_line_error_naming_the_tensor(project, tiny_model, tuned_models):
    other = project / "other"
    shutil.copytree(tuned_models[0], other)
    weights = load_file(other / "model.safetensors")
    weights["pooler.dense.weight"] = torch.zeros(32, 16)
    save_file(weights, other / "model.safetensors")
    result = runner.invoke(app, ["merge", "--base", str(tiny_model), "-m", str(tuned_models[1]), "-m", str(other),
                                 "--method", "average", "--out", "merged"])
    assert result.exit_code == 2
    assert result.stderr == (f"error: architectures differ: tensor 'pooler.dense.weight' has shape [32, 32] in the "
                             f"base but [32, 16] in {other}\n")
    assert not (project / "merged").exists()


def test_unknown_method_and_bad_parameters_fail_before_anything_runs(project, tiny_model):
    args = ["merge", "--base", str(tiny_model), "-m", str(tiny_model), "--out", "merged", "--method"]
    result = runner.invoke(app, [*args, "task_arithmetik"])
    assert result.exit_code == 2 and "did you mean 'task_arithmetic'" in result.stderr
    result = runner.invoke(app, [*args, "dare", "-S", "drop=1.5"])
    assert result.exit_code == 2 and "merge method 'dare': drop: Input should be less than 1" in result.stderr
    assert not (project / "merged").exists()
