"""Exact resume: a training killed mid-run and run again ends with the weights of an uninterrupted run (bit for bit
on the CPU); what an interruption leaves (checkpoint temp files, MLflow runs) is removed or marked.

The runs train the tiny BERT of conftest (dropout 0.1, so the global random state matters) on 32 STS pairs in
batches of 4: an epoch is 8 steps, 12 steps cross an epoch boundary, a checkpoint every 4 steps.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import REPO
from embedlab.flows.train import TrainRequest, train
from embedlab.models.resume import ResumableDataLoader, global_random_state, set_global_random_state
from embedlab.models.task_mix import TaskMixBatchSampler
from test_train import run, shrunk, start

STEPS = ("train.tasks.sts.max_steps=12", "train.checkpoint_every=4")


@pytest.fixture
def small(tmp_path, tiny_model, small_tasks):
    return lambda *extra: shrunk(tmp_path, tiny_model, small_tasks, *STEPS, *extra)


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))


def assert_same_weights(first: Path, second: Path) -> None:
    a, b = weights(first), weights(second)
    assert a.keys() == b.keys()
    different = [key for key in a if not torch.equal(a[key], b[key])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[0]}: max |Δ| " \
                          f"{(a[different[0]] - b[different[0]]).abs().max().item():.3g}"


def checkpoint_step(out: Path) -> int:
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]


def wait_for_checkpoint(process: subprocess.Popen, out: Path, after_ns: int = 0) -> None:
    """Until `out/checkpoints/last.ckpt` is written (again, if it was written at `after_ns`)."""
    last = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() or last.stat().st_mtime_ns == after_ns:
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)


# --- the loader's position and the random state ---------------------------------------------------------------

def lightning_passes(loader: ResumableDataLoader, first_epoch: int, batches: int) -> list[list[int]]:
    """`batches` batches as Lightning's fit loop draws them: per epoch `iter(loader)`, then `set_epoch` on the
    batch sampler where it has one, then the pass's batches, never one more than `len(loader)`."""
    drawn: list[list[int]] = []
    epoch = first_epoch
    while len(drawn) < batches:
        iterator = iter(loader)
        if hasattr(loader.batch_sampler, "set_epoch"):
            loader.batch_sampler.set_epoch(epoch)
        for _ in range(min(len(loader) - loader.position, batches - len(drawn))):
            drawn.append([int(i) for i in next(iterator)])
        epoch += 1
    return drawn


def shuffled_loader() -> ResumableDataLoader:  # as the cross-modal and CIR data modules build theirs
    return ResumableDataLoader(range(23), batch_size=4, shuffle=True, drop_last=True,
                               generator=torch.Generator().manual_seed(7))


def task_mix_loader() -> ResumableDataLoader:  # as TaskMixDataModule builds its own
    return ResumableDataLoader(range(30), batch_sampler=TaskMixBatchSampler([10, 20], 4, seed=3), collate_fn=list,
                               generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("make", [shuffled_loader, task_mix_loader])
@pytest.mark.parametrize("stop", [3, 5, 7])  # within the first pass, at its end (5 batches a pass), in the second
def test_a_resumed_loader_continues_with_the_batches_of_an_uninterrupted_one(make, stop):
    total = 13
    uninterrupted = lightning_passes(make(), 0, total)
    first = make()
    assert lightning_passes(first, 0, stop) == uninterrupted[:stop]
    state = first.state_dict()
    resumed = make()  # a new process builds a new loader, then Lightning loads the checkpointed state
    resumed.load_state_dict(state)
    assert lightning_passes(resumed, stop // len(resumed), total - stop) == uninterrupted[stop:]


def test_iterating_the_loader_leaves_the_global_random_state_alone():
    before = torch.get_rng_state()
    lightning_passes(shuffled_loader(), 0, 8)
    assert torch.equal(torch.get_rng_state(), before)


def test_the_random_state_survives_a_checkpoint_file_read_with_weights_only(tmp_path):
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    torch.save({"state": global_random_state()}, tmp_path / "state.ckpt")
    expected = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    torch.manual_seed(2)
    np.random.seed(2)
    random.seed(2)
    set_global_random_state(torch.load(tmp_path / "state.ckpt", weights_only=True)["state"])
    assert torch.equal(torch.rand(4), expected[0])
    assert np.array_equal(np.random.rand(4), expected[1])
    assert [random.random() for _ in range(4)] == expected[2]


# --- a real process killed with kill -9, then resumed ------------------------------------------------------------

def test_a_run_killed_at_a_checkpoint_resumes_to_the_weights_of_an_uninterrupted_run(small, tmp_path):
    reference = run(small("train.output=" + str(tmp_path / "reference")), ["sts"], "sts")
    assert reference["steps"] == reference["steps_run"] == 12

    out = tmp_path / "out" / "sts"
    process = start(tmp_path, small())
    wait_for_checkpoint(process, out)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = checkpoint_step(out)
    assert 0 < killed_at < 12 and not (out / "model").exists()
    # the temp file of a checkpoint write cut short by the kill (named by the dead pid), and one of a live process
    dead_temp = out / "checkpoints" / f".last.ckpt.{process.pid}.k1ll3d00.tmp"
    dead_temp.write_bytes(b"\0" * 4096)
    live_temp = out / "checkpoints" / f".last.ckpt.{os.getppid()}.w0rk1n00.tmp"
    live_temp.write_bytes(b"\0")

    summary = run(small(), ["sts"], "sts")
    assert_same_weights(Path(reference["model"]), out / "model")
    assert summary["steps"] == 12 and summary["steps_run"] == 12 - killed_at
    assert summary["seconds"] > summary["seconds_run"] > 0  # the killed run's seconds up to its checkpoint count
    assert json.loads((out / "summary.json").read_text())["steps"] == 12
    assert not dead_temp.exists() and live_temp.exists()


# --- MLflow: how a run ended -------------------------------------------------------------------------------------

def runs_of(experiment: str = "embedlab") -> list:
    """The experiment's runs, oldest first."""
    return sorted(mlflow.search_runs(experiment_names=[experiment], output_format="list"),
                  key=lambda r: r.info.start_time)


def test_training_runs_end_killed_failed_or_finished_in_mlflow(small, project, tmp_path):
    out = tmp_path / "out" / "sts"
    opened_then_killed = (
        "import os, signal, sys\nfrom pathlib import Path\n"
        "from embedlab.tasks.tracking import open_training_run\n"
        "open_training_run.fn(os.environ['MLFLOW_TRACKING_URI'], 'embedlab', Path.cwd(), 'train sts', {}, "
        "Path(sys.argv[1]))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", opened_then_killed, str(out)], cwd=project, capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    [left] = runs_of()
    assert left.info.status == "RUNNING"  # kill -9: no handler ran

    request = dict(task="sts", params_file=str(REPO / "params.yaml"))
    with pytest.raises(ValueError, match="nonsense"):  # Lightning refuses the strategy after the run was opened
        train(TrainRequest(**request, overrides=small("train.strategy=nonsense")))
    summary = train(TrainRequest(**request, overrides=small("train.tasks.sts.max_steps=5")))  # logs every 5 steps
    assert summary["steps"] == 5

    first, failed, finished = runs_of()
    assert (first.info.run_id, first.info.status) == (left.info.run_id, "KILLED")  # marked when the next run began
    assert failed.info.status == "FAILED" and finished.info.status == "FINISHED"
    assert {r.data.tags["embedlab.output"] for r in (first, failed, finished)} == {str(out.resolve())}
    assert finished.data.metrics["train/steps"] == 5 and "train/loss" in finished.data.metrics


@pytest.mark.slow
def test_embedlab_train_stopped_by_sigterm_then_kill_9_resumes_exactly_and_mlflow_tells_each_end(small, project,
                                                                                                   tmp_path):
    reference = run(small("train.output=" + str(tmp_path / "reference")), ["sts"], "sts")
    out = tmp_path / "out" / "sts"
    overrides = [arg for override in small() for arg in ("-S", override)]
    command = [str(Path(sys.executable).parent / "embedlab"), "train", "--task", "sts",
               "--params", str(REPO / "params.yaml"), *overrides]

    def embedlab_train() -> subprocess.Popen:
        return subprocess.Popen(command, cwd=project, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    stopped = embedlab_train()
    wait_for_checkpoint(stopped, out)
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=120) == 130, stopped.stderr.read()[-3000:]
    assert runs_of()[-1].info.status == "KILLED"

    killed = embedlab_train()
    wait_for_checkpoint(killed, out, after_ns=(out / "checkpoints" / "last.ckpt").stat().st_mtime_ns)
    killed.kill()
    killed.wait()
    killed_at = checkpoint_step(out)
    assert runs_of()[-1].info.status == "RUNNING"

    finished = embedlab_train()
    assert finished.wait(timeout=600) == 0, finished.stderr.read()[-3000:]
    assert_same_weights(Path(reference["model"]), out / "model")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["steps_run"] == 12 - killed_at
    assert [r.info.status for r in runs_of()] == ["KILLED", "KILLED", "FINISHED"]
