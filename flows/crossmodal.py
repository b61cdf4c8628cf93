"""Cross-modal retrieval flows (papers 4 and 7): write the versioned image–caption dataset; train a dual encoder
with one objective, score it on the held-out images and record it in MLflow; score a saved dual encoder on a
`crossmodal_retrieval` evaluation task and write the evaluation suite's outputs (results.json and the results table:
report.md, metrics.json, table.csv, chart.png), recorded in MLflow."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from pydantic import Field

from embedlab.config.request import SettingsRequest
from embedlab.eval_tasks.crossmodal import CrossModalEvalSpec
from embedlab.models.dual_encoder import folder_fingerprint
from embedlab.models.objectives import OBJECTIVES
from embedlab.models.objectives.base import TeacherParams
from embedlab.tasks.crossmodal.data import read_image_captions, write_image_text_dataset
from embedlab.tasks.crossmodal.evaluate import crossmodal_task_score
from embedlab.tasks.crossmodal.report import write_run_metrics
from embedlab.tasks.crossmodal.train import (encode_locked_text, encode_teachers, read_image_text_data,
                                             score_dual_encoder, train_dual_encoder)
from embedlab.tasks.report import evaluation_table, results_json, results_object
from embedlab.tasks.results_table import write_table
from embedlab.tasks.tracking import log_evaluation, log_results, log_training, tracked_training


class CrossModalRequest(SettingsRequest):
    """Flow parameters: `objective` (default `train_crossmodal.objective`) or `output` (default
    `prepare_crossmodal.out`), and -S key=value overrides of params.yaml."""

    objective: str | None = None
    output: str | None = None
    track: bool = True


class EvaluateCrossModalRequest(SettingsRequest):
    """Flow parameters: the dual-encoder folder, the task, the output folder."""

    model: str
    task: CrossModalEvalSpec = Field(default_factory=CrossModalEvalSpec)
    output: str = "results/evaluate-crossmodal"
    track: bool = True


@flow(name="prepare-crossmodal")
def prepare_crossmodal(request: CrossModalRequest = CrossModalRequest()) -> dict[str, Any]:
    """Read the configured caption source, split it by image (seeded), write the dataset. Returns its manifest."""
    settings = request.resolve_settings()
    params = settings.params.prepare_crossmodal
    records, sources = read_image_captions(params, settings.data_root)
    out = settings.path(request.output or params.out)
    return write_image_text_dataset(records, sources, params, settings.data_root, out)


@flow(name="train-crossmodal")
def train_crossmodal(request: CrossModalRequest = CrossModalRequest()) -> dict[str, Any]:
    """Train `train_crossmodal` with one objective, then score it on `eval_split`.

    Writes <output>/<objective>/{model, checkpoints, summary.json, metrics.json}; returns metrics.json's content.
    """
    settings = request.resolve_settings()
    params = settings.params.train_crossmodal
    objective = request.objective or params.objective
    chosen = OBJECTIVES.params(objective, params.objectives.get(objective, {}))
    data = read_image_text_data(settings.path(params.dataset), settings.data_root, params.languages)
    teachers = (encode_teachers(chosen, data.splits["train"], params.languages, settings.cache_dir)
                if isinstance(chosen, TeacherParams) else None)
    text_features = encode_locked_text(params, data.splits["train"], settings.cache_dir)
    out_dir = settings.path(params.output) / objective
    logged = {**params.model_dump(exclude={"objective", "objectives", "profiles"}), **chosen.model_dump(),
              "objective": objective, "dataset_version": data.version}
    with tracked_training(settings.tracking_uri, settings.params.tracking.experiment, settings.project_dir,
                          f"crossmodal train {objective}", logged, out_dir, request.track) as (run_id, logger):
        summary = train_dual_encoder(data.splits["train"], params, objective, teachers, out_dir, logger, text_features,
                                     settings.cache_dir)
        for note in summary["notes"]:
            get_run_logger().warning(note)
        if not summary["is_global_zero"]:
            return summary
        scores = score_dual_encoder(out_dir / "model", data.splits[params.eval_split], params.languages,
                                    params.eval_batch_size, cache_dir=settings.cache_dir)
        result = {"objective": objective, "dataset": str(data.folder), "dataset_version": data.version,
                  "split": params.eval_split, "images": len(data.splits[params.eval_split]),
                  "languages": params.languages, "train_seconds": summary["seconds"], "steps": summary["steps"],
                  "batch_size": params.batch_size, "freeze_text": params.freeze_text,
                  "freeze_image": params.freeze_image, "unlock_image_after": params.unlock_image_after,
                  "seed": params.seed, "notes": summary["notes"],
                  "scores": scores}
        metrics_file = write_run_metrics(out_dir, result)
        if run_id:
            log_training(settings.tracking_uri, run_id, summary, [out_dir / "summary.json", metrics_file])
            log_results(settings.tracking_uri, run_id, {f"eval/{key}": value for key, value in scores.items()},
                        {"notes": " | ".join(summary["notes"])} if summary["notes"] else {})
        return result


@flow(name="evaluate-crossmodal")
def evaluate_crossmodal(request: EvaluateCrossModalRequest) -> dict[str, dict[str, Any]]:
    """Returns {task name: {"main_score": ..., every metric}} as `embedlab evaluate` does."""
    settings = request.resolve_settings()
    spec, model_dir = request.task, settings.path(request.model)
    data = read_image_text_data(settings.path(spec.dataset), settings.data_root, spec.languages)
    scores = score_dual_encoder(model_dir, data.splits[spec.split], spec.languages,
                                settings.params.train_crossmodal.eval_batch_size, cache_dir=settings.cache_dir)
    score = crossmodal_task_score(spec, scores, data.version)
    fingerprint = folder_fingerprint(model_dir)
    outputs = write_table(evaluation_table(request.model, fingerprint, [score]), settings.path(request.output),
                          {"results.json": results_json([score])})
    if request.track:
        tracking = settings.params.tracking
        log_evaluation(settings.tracking_uri, tracking.experiment, settings.project_dir, request.model, fingerprint,
                       [score], outputs)
    return results_object([score])
