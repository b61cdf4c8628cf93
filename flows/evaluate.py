"""The evaluation flow: read tasks, load the model, score each task with mteb, write outputs, record in MLflow."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import Field

from embedlab.config.request import SettingsRequest
from embedlab.tasks.evaluation import TaskScore, load_model, read_eval_tasks, score_task
from embedlab.tasks.report import evaluation_table, results_json, results_object
from embedlab.tasks.results_table import write_table
from embedlab.tasks.tracking import log_evaluation


class EvaluateRequest(SettingsRequest):
    """Flow parameters; anything left empty comes from params.yaml's `evaluate` section."""

    model: str | None = None
    tasks: list[str] = Field(default_factory=list)
    task_files: list[str] = Field(default_factory=list)
    output: str | None = None
    track: bool = True


@flow(name="evaluate")
def evaluate(request: EvaluateRequest = EvaluateRequest()) -> dict[str, dict[str, float]]:
    """Evaluate an embedding model on evaluation tasks. Returns {task: {"main_score": ..., metrics...}}."""
    settings = request.resolve_settings()
    params = settings.params.evaluate
    model_spec = request.model if request.model is not None else params.model
    names = request.tasks or ([] if request.task_files else params.tasks)
    task_files = [Path(p) for p in request.task_files] or [settings.path(p) for p in params.task_files]

    loaded_tasks = read_eval_tasks(names, task_files, settings.data_root, params.source)
    model = load_model(model_spec, params.device, params.batch_size, params.precision)
    scores: list[TaskScore] = [score_task(model, item, settings.cache_dir) for item in loaded_tasks]
    out_dir = settings.path(request.output) if request.output else settings.run_folder(params.output, "evaluate")
    outputs = write_table(evaluation_table(model_spec, model.fingerprint, scores), out_dir,
                          {"results.json": results_json(scores)})
    if request.track:
        tracking = settings.params.tracking
        log_evaluation(settings.tracking_uri, tracking.experiment, settings.project_dir, model_spec,
                       model.fingerprint, scores, outputs)
    return results_object(scores)
