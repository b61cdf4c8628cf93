"""The evaluation flow: read tasks, score each task with mteb (scores of unchanged inputs come from the score cache,
without loading the model), write outputs, record in MLflow."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import Field

from embedlab.config.request import SettingsRequest
from embedlab.tasks.evaluate import ScoringModel, read_eval_tasks, score_eval_tasks
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

    eval_tasks = read_eval_tasks(names, task_files, settings.data_root, params.source)
    model = ScoringModel(model_spec, params.device, params.batch_size, params.precision)
    scores = score_eval_tasks(model, eval_tasks, settings.cache_dir)
    fingerprint = scores[0].model_fingerprint  # one model scored them all, in this run or a cached one
    out_dir = settings.path(request.output) if request.output else settings.run_folder(params.output, "evaluate")
    outputs = write_table(evaluation_table(model_spec, fingerprint, scores), out_dir,
                          {"results.json": results_json(scores)})
    if request.track:
        tracking = settings.params.tracking
        log_evaluation(settings.tracking_uri, tracking.experiment, settings.project_dir, model_spec,
                       fingerprint, scores, outputs)
    return results_object(scores)
