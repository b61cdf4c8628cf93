"""The DVC pipeline for real: `dvc repro evaluate` (prepare -> evaluate) in a copy of the checkout, with the tiny
model on STSBenchmark. The comparison chain (train -> merge -> compare) runs in test_compare_pipeline.py (slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from conftest import DATA_ROOT, REPO

pytestmark = pytest.mark.integration

# Not copied: earlier outputs and the lock file of the checkout, which belong to its own runs.
SKIP = ("results/", "data/prepared/", "dvc.lock")


def copy_checkout(dest: Path) -> None:
    """Copy the files git sees (tracked, and untracked but not ignored) into a fresh git repository."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if name.startswith(SKIP) or not source.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout copy"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)


def set_params(project: Path, **changes) -> None:
    """Rewrite params.yaml with dotted keys changed, e.g. set_params(p, **{"evaluate.batch_size": 8})."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def pipeline(tmp_path, tiny_model):
    """A copy of the checkout set up for the tiny model, and a runner of dvc commands in it."""
    project = tmp_path / "project"
    copy_checkout(project)
    set_params(project, data_root=str(DATA_ROOT), **{"evaluate.model": str(tiny_model),
                                                    "evaluate.tasks": ["STSBenchmark"], "evaluate.task_files": []})
    env = {key: value for key, value in os.environ.items() if key != "EMBEDLAB_DATA_ROOT"}
    env.update(HF_HUB_OFFLINE="1", MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")

    def dvc(*args: str) -> tuple[str, float]:
        start = time.perf_counter()
        done = subprocess.run(["dvc", *args], cwd=project, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr, time.perf_counter() - start

    return project, dvc


@pytest.mark.slow
def test_repro_runs_skips_and_reruns_only_what_changed(pipeline, tmp_path):
    project, dvc = pipeline

    log, _ = dvc("repro", "evaluate")
    assert "Running stage 'prepare'" in log and "Running stage 'evaluate'" in log
    metrics = json.loads((project / "results" / "evaluate" / "metrics.json").read_text())
    assert list(metrics) == ["STSBenchmark"] and -1 <= metrics["STSBenchmark"]["cosine_spearman"] <= 1
    shown = json.loads(dvc("metrics", "show", "--json", "results/evaluate/metrics.json")[0])
    assert shown[""]["data"]["results/evaluate/metrics.json"]["data"] == metrics
    plots = json.loads(dvc("plots", "show", "--json")[0])["data"]
    assert list(plots) == ["main_score_per_task", "results/evaluate/chart.png"]
    assert plots["main_score_per_task"][0]["content"]["data"]["values"][0]["task"] == "STSBenchmark"
    manifest = json.loads((project / "data" / "prepared" / "manifest.json").read_text())
    assert manifest["tasks"]["STSBenchmark"]["files"]["test"]["rows"] == 1379
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert f"{DATA_ROOT}/stsb/sts-test.csv" in [dep["path"] for dep in lock["stages"]["prepare"]["deps"]]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("embedlab").experiment_id])[0]
    assert run.data.tags["dvc_stage"] == "evaluate"

    log, seconds = dvc("repro", "evaluate")
    assert "Data and pipelines are up to date" in log and "Running stage" not in log
    assert seconds < 30, f"an up-to-date `dvc repro` took {seconds:.1f} s"

    set_params(project, **{"evaluate.batch_size": 16})
    log, _ = dvc("repro", "evaluate")
    assert "Stage 'prepare' didn't change, skipping" in log
    assert "Running stage 'evaluate'" in log
    again = json.loads((project / "results" / "evaluate" / "metrics.json").read_text())["STSBenchmark"]
    assert again["cosine_spearman"] == pytest.approx(metrics["STSBenchmark"]["cosine_spearman"], abs=1e-4)
    assert "up to date" in dvc("status", "evaluate")[0]
