"""The cross-modal evaluation flow: score a saved dual encoder on a `crossmodal_retrieval` task, write the
evaluation suite's outputs (results.json and the results table: report.md, metrics.json, table.csv, chart.png), record it in MLflow."""

from __future__ import annotations

from typing import Any

from prefect import flow
from pydantic import Field

from embedlab.config.request import SettingsRequest
from embedlab.eval_tasks.crossmodal import CrossModalEvalSpec
from embedlab.models.dual_encoder import folder_fingerprint
from embedlab.tasks.crossmodal import read_image_text_data, score_dual_encoder
from embedlab.tasks.crossmodal_eval import crossmodal_task_score
from embedlab.tasks.report import evaluation_table, results_json, results_object
from embedlab.tasks.results_table import write_table
from embedlab.tasks.tracking import log_evaluation


class EvaluateCrossModalRequest(SettingsRequest):
    """Flow parameters: the dual-encoder folder, the task, the output folder."""

    model: str
    task: CrossModalEvalSpec = Field(default_factory=CrossModalEvalSpec)
    output: str = "results/evaluate-crossmodal"
    track: bool = True


@flow(name="evaluate-crossmodal")
def evaluate_crossmodal(request: EvaluateCrossModalRequest) -> dict[str, dict[str, Any]]:
    """Returns {task name: {"main_score": ..., every metric}} as `embedlab evaluate` does."""
    settings = request.resolve_settings()
    spec, model_dir = request.task, settings.path(request.model)
    data = read_image_text_data(settings.path(spec.dataset), settings.data_root, spec.languages)
    scores = score_dual_encoder(model_dir, data.splits[spec.split], spec.languages,
                                settings.params.train_crossmodal.eval_batch_size)
    score = crossmodal_task_score(spec, scores, data.version)
    fingerprint = folder_fingerprint(model_dir)
    outputs = write_table(evaluation_table(request.model, fingerprint, [score]), settings.path(request.output),
                          {"results.json": results_json([score])})
    if request.track:
        tracking = settings.params.tracking
        log_evaluation(settings.tracking_uri, tracking.experiment, settings.project_dir, request.model, fingerprint,
                       [score], outputs)
    return results_object([score])
