"""The training flow: read the training tasks, mine hard negatives, fine-tune with Lightning, record in MLflow."""

from __future__ import annotations

from typing import Any

from prefect import flow

from embedlab.atomic import check_output_dir
from embedlab.config.request import SettingsRequest
from embedlab.tasks.tracking import log_training, tracked_training
from embedlab.tasks.train import mine_negatives, read_train_tasks, train_model, warn_if_unmergeable


class TrainRequest(SettingsRequest):
    """Flow parameters: one task by name, or `joint` for all of `train.joint_tasks` (default: every task)."""

    task: str | None = None
    joint: bool = False
    track: bool = True


def run_name(request: TrainRequest, sampling: str) -> str:
    """The output folder name and MLflow run name: the task, or `joint-<sampling>`."""
    return f"joint-{sampling}" if request.joint else str(request.task)


@flow(name="train")
def train(request: TrainRequest) -> dict[str, Any]:
    """Fine-tune `train.base` on one training task or jointly on several. Returns the training summary.

    A rerun after an interruption resumes from the last checkpoint; its MLflow run is a new one, and the
    interrupted run ends as KILLED (interrupt, SIGTERM; after kill -9 when the rerun starts) or FAILED (an error).
    """
    settings = request.resolve_settings()
    params = settings.params.train
    names = (params.joint_tasks or list(params.tasks)) if request.joint else [request.task]
    warn_if_unmergeable(params.base)
    tasks = read_train_tasks(names, params, settings.data_root)
    tasks = [mine_negatives(t, params.base, settings.data_root, settings.cache_dir, params.max_seq_length)
             for t in tasks]
    name = run_name(request, params.sampling)
    out_dir = settings.path(params.output) / name
    check_output_dir(out_dir / "model")  # a folder that is not ours is refused now, not after the training
    tracking = settings.params.tracking
    alone = {} if request.joint else params.tasks[request.task].model_dump(include={"batch_size", "max_steps", "lr"},
                                                                           exclude_none=True)
    logged = {"tasks": ",".join(names), **params.model_dump(exclude={"tasks", "profiles"}), **alone}  # as trained
    with tracked_training(settings.tracking_uri, tracking.experiment, settings.project_dir, f"train {name}", logged,
                          out_dir, request.track) as (run_id, logger):
        summary = train_model(tasks, params, out_dir, logger)
        if run_id and summary["is_global_zero"]:
            log_training(settings.tracking_uri, run_id, summary, [out_dir / "summary.json"])
    return summary
