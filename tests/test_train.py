"""Training with a tiny model: every task, joint sampling, determinism, saved folder, DDP (resume: test_train_resume)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import mlflow
import pytest
import torch
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

from conftest import REPO
from embedlab.cache_store import save_json
from embedlab.config import load_settings
from embedlab.errors import DataError, UserError
from embedlab.flows.train import TrainRequest, train
from embedlab.models.task_mix import TaskMixBatchSampler, task_probabilities
from embedlab.tasks.train import mine_negatives, read_train_tasks, train_model, warn_if_unmergeable

TASKS = list(load_settings(REPO / "params.yaml").params.train.tasks)


def shrunk(tmp_path: Path, tiny_model: Path, small_tasks: Path, *extra: str) -> list[str]:
    """The real params.yaml, shrunk: tiny model, 3 steps of batch 4, 32 examples a task, tiny retrieval files."""
    small = small_tasks.parent
    per_task = [f"train.tasks.{name}.{key}={value}" for name in TASKS
                for key, value in (("max_examples", 32), ("batch_size", 4), ("max_steps", 3))]
    return [f"train.base={tiny_model}", f"train.output={tmp_path / 'out'}", f"cache_dir={tmp_path / 'cache'}",
            "train.batch_size=4", "train.max_steps=3", "train.checkpoint_every=2", "train.accelerator=cpu",
            f"train.tasks.retrieval.files.corpus.path={small / 'corpus.jsonl'}",
            f"train.tasks.retrieval.files.queries.path={small / 'queries.jsonl'}",
            f"train.tasks.retrieval.files.qrels.path={small / 'qrels.tsv'}",
            "train.tasks.retrieval.mining_skip=0", *per_task, *extra]


def run(overrides: list[str], names: list[str], out: str) -> dict:
    settings = load_settings(REPO / "params.yaml", overrides)
    params = settings.params.train
    tasks = read_train_tasks.fn(names, params, settings.data_root)
    tasks = [mine_negatives.fn(t, params.base, settings.data_root, settings.cache_dir) for t in tasks]
    return train_model.fn(tasks, params, settings.path(params.output) / out)


@pytest.fixture
def small(tmp_path, tiny_model, small_tasks):
    return lambda *extra: shrunk(tmp_path, tiny_model, small_tasks, *extra)


# --- sampling ---------------------------------------------------------------------------------------------

def realised_mix(sampler: TaskMixBatchSampler, sizes: list[int]) -> Counter:
    bounds = [sum(sizes[:i + 1]) for i in range(len(sizes))]
    mix = Counter()
    for batch in sampler:
        tasks = {next(t for t, b in enumerate(bounds) if i < b) for i in batch}
        assert len(tasks) == 1, "a batch mixes tasks"
        mix[tasks.pop()] += 1
    return mix


@pytest.mark.parametrize("sampling, expected", [("proportional", 0.9), ("temperature", 0.75), ("uniform", 0.5)])
def test_sampling_strategies_draw_tasks_in_proportion(sampling, expected):
    sizes = [900, 100]
    sampler = TaskMixBatchSampler(sizes, batch_size=2, sampling=sampling, alpha=0.5, seed=1, steps_per_epoch=4000)
    assert task_probabilities(sizes, sampling, 0.5)[0] == pytest.approx(expected)
    mix = realised_mix(sampler, sizes)
    assert mix[0] / sum(mix.values()) == pytest.approx(expected, abs=0.02)
    if sampling == "uniform":
        assert sampler.task_order()[:4] == [0, 1, 0, 1]  # round robin


def test_ranks_share_task_draws_and_split_each_global_batch():
    ranks = [list(TaskMixBatchSampler([10, 30], 4, seed=3, rank=r, world_size=2)) for r in range(2)]
    for first, second in zip(*ranks):
        assert (first[0] < 10) == (second[0] < 10) and not set(first) & set(second)


def test_epochs_reshuffle_and_repeat_with_the_seed():
    sampler = TaskMixBatchSampler([20, 20], 4, seed=0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first


# --- training -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TASKS)
def test_each_task_trains_a_few_steps(small, tmp_path, name):
    summary = run(small(), [name], name)
    assert summary["steps"] == 3 and summary["task_mix"] == {name: 1.0}
    assert json.loads((tmp_path / "out" / name / "summary.json").read_text())["steps"] == 3
    assert (tmp_path / "out" / name / "checkpoints" / "last.ckpt").is_file()


def test_retrieval_mines_hard_negatives_once_per_base_model(small, tmp_path):
    overrides = small()
    settings = load_settings(REPO / "params.yaml", overrides)
    params = settings.params.train
    task = read_train_tasks.fn(["retrieval"], params, settings.data_root)[0]
    mined = mine_negatives.fn(task, params.base, settings.data_root, settings.cache_dir)
    assert all(len(example.texts) == 3 and example.texts[2] != example.texts[1] for example in mined.examples)
    cache = list((tmp_path / "cache" / "hard_negatives").glob("retrieval-*.entry"))
    assert len(cache) == 1
    save_json(cache[0], {"q1": ["d1"], "q2": ["d1"]})  # a cached mining is reused as is
    again = mine_negatives.fn(task, params.base, settings.data_root, settings.cache_dir)
    assert {example.texts[2] for example in again.examples} == {"dogs are loyal pets"}


def test_joint_training_keeps_batches_within_a_task_and_logs_the_mix(small):
    summary = run(small("train.sampling=uniform", "train.max_steps=4"), ["sts", "nli"], "joint")
    assert summary["steps"] == 4 and summary["task_mix"] == {"sts": 0.5, "nli": 0.5}


def test_same_seed_same_weights(small, tmp_path):
    first = run(small(), ["sts"], "a")
    second = run(small(), ["sts"], "b")
    weights = [load_file(str(Path(s["model"]) / "model.safetensors")) for s in (first, second)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_tasks_own_learning_rate_applies_when_it_trains_alone(small):
    assert run(small("train.tasks.sts.lr=0.001"), ["sts"], "alone")["lr"] == 0.001
    assert run(small("train.tasks.sts.lr=0.001", "train.lr=0.0003"), ["sts", "nli"], "joint")["lr"] == 0.0003


def test_saved_folder_loads_and_keeps_pooling_and_normalize(small, tiny_model):
    summary = run(small(), ["nli"], "nli")
    model = SentenceTransformer(summary["model"], device="cpu")
    assert [type(m) for m in model][1:] == [Pooling, Normalize]
    assert model[1].get_config_dict()["pooling_mode"] == "mean"
    embeddings = model.encode(["a test sentence"], convert_to_tensor=True)
    assert torch.linalg.norm(embeddings, dim=-1).item() == pytest.approx(1.0, abs=1e-5)
    assert not torch.allclose(embeddings, SentenceTransformer(str(tiny_model), device="cpu").encode(
        ["a test sentence"], convert_to_tensor=True))


def test_pooling_and_normalisation_can_be_changed(small):
    summary = run(small("train.pooling=cls", "train.normalize=false", "train.max_steps=1"), ["sts"], "cls")
    model = SentenceTransformer(summary["model"], device="cpu")
    assert [type(m) for m in model][1:] == [Pooling]
    assert model[1].get_config_dict()["pooling_mode"] == "cls"


def test_flow_records_one_mlflow_run_with_lightning_metrics(small, project):
    summary = train(TrainRequest(task="sts", params_file=str(REPO / "params.yaml"),
                                 overrides=small("train.max_steps=5", "train.tasks.sts.max_steps=5")))
    runs = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")
    assert len(runs) == 1 and runs[0].info.run_name == "train sts"
    metrics = runs[0].data.metrics
    assert "train/loss" in metrics and metrics["train/steps"] == summary["steps"] == 5
    assert metrics["train/mix/sts"] == 1.0 and runs[0].data.params["tasks"] == "sts"
    assert runs[0].data.params["lr"] == "2e-05"  # the task's own rate (params.yaml), as Lightning's hparams log it


# --- bad input ----------------------------------------------------------------------------------------------

def test_unknown_task_and_loss_names_suggest_the_nearest(small):
    with pytest.raises(UserError, match="unknown training task 'retreival'; did you mean 'retrieval'"):
        run(small(), ["retreival"], "x")
    with pytest.raises(UserError, match="unknown loss 'cosnet'; did you mean 'cosent'"):
        run(small("train.tasks.sts.loss=cosnet"), ["sts"], "x")


def test_empty_training_file_is_a_one_line_data_error(small, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv: file is empty") as caught:
        run(small(f"train.tasks.classification.files.train.path={empty}"), ["classification"], "x")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out" / "x").exists()


def test_a_base_that_merging_could_not_use_is_warned_about(tiny_model, tmp_path):
    assert warn_if_unmergeable.fn(str(tiny_model)) == []
    pickled = Path(shutil.copytree(tiny_model, tmp_path / "pickled"))  # weights as an old pytorch_model.bin
    torch.save(load_file(pickled / "model.safetensors"), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    [warning] = warn_if_unmergeable.fn(str(pickled))
    assert warning.startswith(f"base model {pickled}: the merge step could not use it later: ")
    assert "pytorch_model.bin only" in warning and "\n" not in warning


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=many", "train.batch_size: Input should be a valid integer"),
    ("train.sampling=random", "train.sampling: Input should be 'proportional', 'uniform' or 'temperature'"),
    ("train.profile=huge", "profile 'huge' is not in train.profiles"),
    ("train.tasks.sts.format=triples", "train.tasks.sts.format"),
])
def test_bad_params_name_the_key(override, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        load_settings(REPO / "params.yaml", [override])


def test_full_profile_replaces_the_cpu_defaults():
    params = load_settings(REPO / "params.yaml", ["train.profile=full"]).params.train
    assert params.batch_size == 128 and params.max_steps > 1000


# --- processes: kill -9 and resume, DDP -------------------------------------------------------------------

SCRIPT = """
import sys
from pathlib import Path
from embedlab.config import load_settings
from embedlab.tasks.train import read_train_tasks, train_model
settings = load_settings(Path(sys.argv[1]), sys.argv[3:])
params = settings.params.train
tasks = read_train_tasks.fn([sys.argv[2]], params, settings.data_root)
train_model.fn(tasks, params, settings.path(params.output) / sys.argv[2])
"""


def start(tmp_path: Path, overrides: list[str]) -> subprocess.Popen:
    script = tmp_path / "train_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, str(script), str(REPO / "params.yaml"), "sts", *overrides],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(small, tmp_path):
    overrides = small("train.strategy=ddp", "train.devices=2", "train.tasks.sts.max_steps=3")
    process = start(tmp_path, overrides)
    assert process.wait(timeout=240) == 0, process.stderr.read()[-3000:]
    summary = json.loads((tmp_path / "out" / "sts" / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["samples_per_second"] > 0
    assert "distributed_backend=gloo" in process.stderr.read()


def test_set_overrides_win_over_the_profile():
    params = load_settings(REPO / "params.yaml", ["train.profile=full", "train.max_steps=7"]).params.train
    assert params.max_steps == 7 and params.batch_size == 128
