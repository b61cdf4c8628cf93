"""The one module that talks to MLflow: every run of embedlab is recorded here."""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Param
from mlflow.tracking.context.registry import resolve_tags
from prefect import runtime, task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import process_alive

_METRIC_NAME = re.compile(r"[^0-9A-Za-z_\-. /]")


def metric_name(*parts: str) -> str:
    """A metric name in the one scheme of every pipeline, `<split or task>/<metric>` (`SciFact/ndcg_at_10`,
    `train/loss`), MLflow-legal: `@` and other characters MLflow refuses become `_`."""
    return _METRIC_NAME.sub("_", "/".join(parts).replace("@", "_at_"))


def server_problem(tracking_uri: str, timeout_s: float) -> str | None:
    """Why an http(s) tracking server cannot record runs now (no answer to MLflow's `/health` within
    `timeout_s`), or None when it answers or the store is not a server (SQLite, files)."""
    import urllib.error
    import urllib.request

    if not tracking_uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=timeout_s) as reply:
            reply.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))
    return None


def git_sha(project_dir: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_dir, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def run_tags(project_dir: Path) -> dict[str, str]:
    """git sha, DVC stage (DVC sets DVC_STAGE for stage commands) and Prefect flow-run id, where known."""
    tags = {"git_sha": git_sha(project_dir), "dvc_stage": os.environ.get("DVC_STAGE"),
            "prefect_flow_run_id": runtime.flow_run.id, "prefect_flow_name": runtime.flow_run.flow_name}
    return {key: str(value) for key, value in tags.items() if value}


def use_experiment(tracking_uri: str, experiment: str, artifact_root: Path | None) -> str:
    """Point MLflow at `tracking_uri` and return the experiment id, creating it if needed.

    With the local SQLite default, artifacts go to `artifact_root` in the project (not the cwd).
    """
    mlflow.set_tracking_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    location = artifact_root.resolve().as_uri() if artifact_root and tracking_uri.startswith("sqlite:") else None
    return mlflow.create_experiment(experiment, artifact_location=location)


@contextmanager
def tracked_run(tracking_uri: str, experiment: str, run_name: str, project_dir: Path,
                nested: bool = False) -> Iterator[Any]:
    """Open an MLflow run with the standard tags; yields the active run."""
    experiment_id = use_experiment(tracking_uri, experiment, project_dir / "mlartifacts")
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested,
                          tags=run_tags(project_dir)) as run:
        yield run


@task(cache_policy=NO_CACHE)
def log_evaluation(tracking_uri: str, experiment: str, project_dir: Path, model: str, fingerprint: str,
                   scores: list[Any], outputs: dict[str, Path]) -> str:
    """Record one evaluation: params (model, tasks, data hashes), metrics per task, the output files, and the tag
    `embedlab.cached_tasks`: the tasks whose scores came from the score cache (comma-separated; empty: none).
    Returns the run id."""
    names = [s.name for s in scores]
    shown_tasks = ", ".join(names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else "")
    with tracked_run(tracking_uri, experiment, f"evaluate {Path(model).name} · {shown_tasks}", project_dir) as run:
        params = {"model": model, "model_fingerprint": fingerprint, "tasks": ",".join(s.name for s in scores)}
        for s in scores:
            params.update({f"data.{s.name}.{role}": digest for role, digest in s.file_hashes.items()})
        mlflow.log_params(params)
        mlflow.set_tag("embedlab.cached_tasks", ",".join(s.name for s in scores if s.cached))
        metrics = {}
        for s in scores:
            metrics[metric_name(s.name, "main_score")] = s.main_score
            metrics[metric_name(s.name, "seconds")] = s.seconds
            metrics.update({metric_name(s.name, k): v for k, v in s.scores.items()
                            if k != "main_score" and not math.isnan(v)})
        mlflow.log_metrics(metrics)
        for path in outputs.values():
            mlflow.log_artifact(str(path))
        return run.info.run_id


# Lightning's DDP launcher re-runs the command in one child process per extra device; the children log
# into the run their parent opened (they inherit this variable) rather than opening runs of their own.
TRAIN_RUN_ENV = "EMBEDLAB_TRAIN_RUN_ID"
# Tags of a training run: its output folder, and the host and pid of the process that trains it.
OUTPUT_TAG, PROCESS_TAG = "embedlab.output", "embedlab.process"


def _inherited_run() -> str | None:
    """The run id a DDP child process logs into (its parent's), else None."""
    return os.environ.get(TRAIN_RUN_ENV) if int(os.environ.get("LOCAL_RANK", "0")) > 0 else None


def _end_abandoned_runs(client: mlflow.MlflowClient, experiment_id: str, output: str) -> None:
    """Mark KILLED the runs of `output` still RUNNING whose process is gone (killed with kill -9: no handler ran)."""
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        host, _, pid = run.data.tags.get(PROCESS_TAG, "").rpartition(":")
        alive = host == socket.gethostname() and pid.isdigit() and process_alive(int(pid))
        if run.data.tags.get(OUTPUT_TAG) == output and not alive:
            client.set_terminated(run.info.run_id, "KILLED")


@task(cache_policy=NO_CACHE)
def open_training_run(tracking_uri: str, experiment: str, project_dir: Path, run_name: str,
                      params: dict[str, Any], output: Path | None = None) -> str:
    """Create the MLflow run of one training (tags and params) and return its id; Lightning logs into it.

    The run stays RUNNING until the flow ends it (`ending_run`, or `log_training` once finished). With `output`
    (the training's output folder) it is tagged with that folder and this process, and earlier runs of the same
    folder left RUNNING by a process that no longer runs are marked KILLED first.
    """
    if inherited := _inherited_run():
        return inherited
    experiment_id = use_experiment(tracking_uri, experiment, project_dir / "mlartifacts")
    client = mlflow.MlflowClient(tracking_uri)
    tags = run_tags(project_dir)
    if output is not None:
        tags |= {OUTPUT_TAG: str(output.resolve()), PROCESS_TAG: f"{socket.gethostname()}:{os.getpid()}"}
        _end_abandoned_runs(client, experiment_id, tags[OUTPUT_TAG])
    run = client.create_run(experiment_id, run_name=run_name, tags=resolve_tags(tags))
    client.log_batch(run.info.run_id, params=[Param(key, str(value)[:6000]) for key, value in params.items()])
    os.environ[TRAIN_RUN_ENV] = run.info.run_id
    return run.info.run_id


@contextmanager
def ending_run(tracking_uri: str, run_id: str | None) -> Iterator[None]:
    """End the run `run_id` as the block ends: FINISHED, FAILED (an exception) or KILLED (Ctrl+C, SIGTERM — which
    Prefect and Lightning raise as exceptions that are not `Exception`s — or an exit). Nothing without a run, or in a
    DDP child process (the run is its parent's)."""
    if run_id is None or _inherited_run():
        yield
        return
    client = mlflow.MlflowClient(tracking_uri)
    try:
        yield
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    except BaseException:
        client.set_terminated(run_id, "KILLED")
        raise
    client.set_terminated(run_id, "FINISHED")


@contextmanager
def tracked_training(tracking_uri: str, experiment: str, project_dir: Path, run_name: str, params: dict[str, Any],
                     output: Path, track: bool) -> Iterator[tuple[str | None, Any]]:
    """The MLflow run of one training from start to end: opened with `params` and tagged with the training's
    `output` folder (`open_training_run`), a Lightning logger into it, and ended FINISHED, FAILED or KILLED with the
    block (`ending_run`). Yields (run id, Lightning logger), or (None, False) without `track`."""
    if not track:
        yield None, False
        return
    run_id = open_training_run(tracking_uri, experiment, project_dir, run_name, params, output)
    with ending_run(tracking_uri, run_id):
        yield run_id, lightning_logger(tracking_uri, experiment, run_id)


def lightning_logger(tracking_uri: str, experiment: str, run_id: str, log_params: bool = True) -> Any:
    """Lightning's MLFlowLogger writing into the run `run_id` (metrics such as `train/loss` per step).

    `log_params=False`: the module's hyperparameters are not logged as the run's params — for a flow that fits
    several modules into one run and logs the params itself (MLflow refuses a param re-logged with a new value).
    The logger ends the run only on a failure inside Lightning; a finished fit leaves ending it to the flow.
    """
    from lightning.pytorch.loggers import MLFlowLogger

    class FlowEndsRunLogger(MLFlowLogger):
        def finalize(self, status: str = "success") -> None:
            """Lightning would mark the run FINISHED when fit returns, before the flow's own steps."""
            if status != "success":
                super().finalize(status)

    class MetricsOnlyLogger(FlowEndsRunLogger):
        def log_hyperparams(self, params: Any) -> None:
            """Leave the run's params to the flow."""

    kind = FlowEndsRunLogger if log_params else MetricsOnlyLogger
    return kind(experiment_name=experiment, tracking_uri=tracking_uri, run_id=run_id)


@task(cache_policy=NO_CACHE)
def log_training(tracking_uri: str, run_id: str, summary: dict[str, Any], outputs: list[Path]) -> None:
    """Add a finished training's summary (steps, samples/s, realised task mix) and output files to its run."""
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):
        metrics = {"train/steps": summary["steps"], "train/seconds": summary["seconds"]}
        if "steps_run" in summary:
            metrics["train/steps_run"] = summary["steps_run"]
        if summary.get("samples_per_second"):
            metrics["train/samples_per_second"] = summary["samples_per_second"]
        metrics.update({metric_name("train/mix", name): share for name, share in summary["task_mix"].items()})
        mlflow.log_metrics(metrics)
        for path in outputs:
            mlflow.log_artifact(str(path))


@task(cache_policy=NO_CACHE)
def log_merge(tracking_uri: str, experiment: str, project_dir: Path, summary: dict[str, Any]) -> str:
    """Record one merge: params (method, its parameters, base, models, output), tensors and seconds, merge.json.

    Returns the run id.
    """
    with tracked_run(tracking_uri, experiment, f"merge {summary['method']}", project_dir) as run:
        params = {"method": summary["method"], "base": summary["base"], "out": summary["out"],
                  "models": ",".join(summary["models"])}
        params.update({f"method.{key}": value for key, value in summary["params"].items()})
        mlflow.log_params({key: str(value)[:6000] for key, value in params.items()})
        mlflow.log_metrics({"merge/tensors": summary["tensors"], "merge/seconds": summary["seconds"]})
        mlflow.log_artifact(str(Path(summary["out"]) / "merge.json"))
        return run.info.run_id


def generation_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """A data generation's summary as metrics: `generate/calls`, `generate/prompt_tokens`,
    `generate/rejected/<reason>` …"""
    metrics = {f"generate/{key}": value for key, value in summary.items() if isinstance(value, int | float)}
    metrics.update({f"generate/rejected/{reason}": n for reason, n in summary.get("rejected", {}).items()})
    return metrics


@task(cache_policy=NO_CACHE)
def log_results(tracking_uri: str, run_id: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
    """Add metrics (names made MLflow-legal, e.g. `eval/de.t2i.recall_at_1`) and tags (e.g. a run's notes) to a run."""
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({metric_name(key): float(value) for key, value in metrics.items()})
        mlflow.set_tags({key: value[:5000] for key, value in tags.items()})



@task(cache_policy=NO_CACHE)
def log_positioning(tracking_uri: str, run_id: str, record_file: Path, plot: Path, labels: list[str]) -> None:
    """Add a learned merge's search to its run: per step `search/loss` and `search/lambda/<model>/<group>`
    (the λ trajectory), `search/samples` and `search/seconds`, and the record and plot as artifacts."""
    import json

    from mlflow.entities import Metric

    record = json.loads(record_file.read_text(encoding="utf-8"))
    stamp = int(time.time() * 1000)
    metrics = []
    for entry in record["history"]:
        metrics.append(Metric("search/loss", entry["loss"], stamp, entry["step"]))
        for label, row in zip(labels, entry["lambdas"]):
            metrics += [Metric(metric_name("search/lambda", label, group), value, stamp, entry["step"])
                        for group, value in zip(record["groups"], row)]
    client = mlflow.MlflowClient(tracking_uri)
    for start in range(0, len(metrics), 900):  # MLflow takes at most 1000 metrics per batch
        client.log_batch(run_id, metrics=metrics[start:start + 900])
    client.log_batch(run_id, metrics=[Metric("search/samples", record["samples"], stamp, 0),
                                      Metric("search/seconds", record["seconds"], stamp, 0)])
    client.log_artifact(run_id, str(record_file))
    client.log_artifact(run_id, str(plot))


@task(cache_policy=NO_CACHE)
def log_comparison(tracking_uri: str, experiment: str, project_dir: Path, rows: list[dict[str, Any]],
                   settings: dict[str, Any], outputs: dict[str, Path]) -> str:
    """Record a comparison: one parent run (settings, each variant's average, the table and chart) and one nested
    child run per variant (its model, kind, per-task main scores, average, compute), which the MLflow UI lists
    under the parent and compares side by side. Returns the parent's run id."""
    with tracked_run(tracking_uri, experiment, "compare", project_dir) as parent:
        mlflow.log_params({f"compare.{key}": str(value)[:6000] for key, value in settings.items()})
        mlflow.log_metrics({metric_name(row["name"], "average"): row["average"] for row in rows})
        for path in outputs.values():
            mlflow.log_artifact(str(path))
        for row in rows:
            with tracked_run(tracking_uri, experiment, f"compare {row['name']}", project_dir, nested=True):
                mlflow.set_tag("compare_parent", parent.info.run_id)
                mlflow.log_params({"variant": row["name"], "kind": row["kind"], "model": row["model"][:6000],
                                   **{f"detail.{k}": str(v)[:6000] for k, v in row["details"].items()}})
                metrics = {metric_name(task, "main_score"): score for task, score in row["scores"].items()}
                metrics["suite/average"] = row["average"]
                metrics["eval/seconds"] = row["eval_seconds"]
                if row["samples"] is not None:
                    metrics["compute/samples"] = row["samples"]
                if row["seconds"] is not None:
                    metrics["compute/seconds"] = row["seconds"]
                mlflow.log_metrics(metrics)
        return parent.info.run_id


@task(cache_policy=NO_CACHE)
def log_run(tracking_uri: str, experiment: str, project_dir: Path, run_name: str, params: dict[str, Any],
            metrics: dict[str, float], outputs: list[Path]) -> str:
    """Record one run of a command: params (values as text), metrics (names made MLflow-legal) and output files
    (reports, PNG plots). Returns the run id."""
    with tracked_run(tracking_uri, experiment, run_name, project_dir) as run:
        mlflow.log_params({key: str(value)[:6000] for key, value in params.items()})
        mlflow.log_metrics({metric_name(key): float(value) for key, value in metrics.items()})
        for path in outputs:
            mlflow.log_artifact(str(path))
        return run.info.run_id
