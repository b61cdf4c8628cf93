"""Composed image retrieval (paper 6, SPN4CIR): train the composed-query model in stage 1, stage 2 or both on the
triplets, score it on the held-out references' triplets and record it in one MLflow run."""

from __future__ import annotations

import time
from typing import Any, Literal

from prefect import flow

from embedlab.config.request import SettingsRequest
from embedlab.image_text.triplets import gallery_images, split_by_reference
from embedlab.tasks.cir.data import read_cir_triplets
from embedlab.tasks.cir.train import (encode_modifications, score_cir_model, stage_folder, train_cir_stage,
                                      variant_metrics, variant_summary, write_cir_outputs)
from embedlab.tasks.tracking import lightning_logger, log_results, log_training, tracked_training


class CirRequest(SettingsRequest):
    """Flow parameters: `stage` ('1', '2' or 'both'; default `train_cir.stage`) and -S key=value overrides."""

    stage: Literal["1", "2", "both"] | None = None
    track: bool = True


@flow(name="train-cir")
def train_cir(request: CirRequest = CirRequest()) -> dict[str, Any]:
    """Train variant `stage` for `train_cir.max_steps` steps in all (`both`: stage 1, then stage 2 from its model).

    Writes <output>/<stage>/{model, checkpoints, summary.json, metrics.json} (`both` keeps stage 1's checkpoints
    and model under checkpoints/stage1/); returns metrics.json's content.
    """
    started = time.perf_counter()
    settings = request.resolve_settings()
    params = settings.params.train_cir
    variant = request.stage or params.stage
    triplets = read_cir_triplets(params.triplets, settings.path(params.triplets.path), settings.data_root)
    train, test = split_by_reference(triplets, params.test_fraction, params.seed)
    text_features = encode_modifications(params, train, settings.cache_dir)
    out_dir = settings.path(params.output) / variant
    steps = params.stage_steps(variant)
    logged = {**params.model_dump(exclude={"stage", "profiles"}), "variant": variant,
              **{f"stage{stage}_steps": n for stage, n in steps.items()}}
    with tracked_training(settings.tracking_uri, settings.params.tracking.experiment, settings.project_dir,
                          f"cir train {variant}", logged, out_dir, request.track) as (run_id, _):
        stages, init = [], None
        for stage, n in steps.items():
            stage_dir = stage_folder(out_dir, variant, stage)
            logger = (lightning_logger(settings.tracking_uri, settings.params.tracking.experiment, run_id,
                                       log_params=False) if run_id else False)
            stages.append(train_cir_stage(train, params, stage, n, stage_dir, init, text_features, settings.cache_dir,
                                          logger))
            init = stage_dir / "model"
        summary = variant_summary(variant, stages, len(train), params.batch_size)
        if not summary["is_global_zero"]:
            return summary
        gallery = gallery_images(triplets)
        scores = score_cir_model(out_dir / "model", test, gallery, params.eval_batch_size, cache_dir=settings.cache_dir)
        data = {"triplets": params.triplets.path, "format": params.triplets.format,
                "test_triplets": len(test), "gallery": len(gallery), "combiner": params.combiner,
                "combiner_inputs": params.combiner_inputs, "seed": params.seed}
        metrics = variant_metrics(summary, scores, data, time.perf_counter() - started)
        outputs = write_cir_outputs(out_dir, summary, metrics)
        if run_id:
            log_training(settings.tracking_uri, run_id, summary, outputs)
            numbers = {**{f"eval/{key}": value for key, value in metrics["scores"].items()},
                       "eval/seconds": metrics["eval_seconds"], "train/bank_seconds": metrics["bank_seconds"],
                       "wall_seconds": metrics["wall_seconds"]}
            log_results(settings.tracking_uri, run_id, numbers, {"variant": summary["label"]})
        return metrics
