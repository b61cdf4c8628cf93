"""Prefect tasks of composed image retrieval (paper 6, SPN4CIR): encode the locked towers once, train one
stage (stage 2 with its static bank, cached by the image tower's weights), score the model (Recall@K of the
target, the reference excluded) and write the variant's outputs. Reading the triplets: data.py."""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_write_text
from embedlab.config import TrainCirParams
from embedlab.image_text.triplets import Triplet, gallery_images
from embedlab.models.cir.bank import tower_fingerprint
from embedlab.models.cir.data import IndexedTriplet, TripletDataModule
from embedlab.models.cir.model import ComposedQueryModel
from embedlab.models.cir.module import CirModule
from embedlab.models.cir.retrieval import K_VALUES, target_ranks
from embedlab.models.device import resolve_device
from embedlab.models.retrieval.metrics import recall_at_k
from embedlab.models.trainer import fit
from embedlab.tasks.crossmodal.train import (image_inputs_locked, load_or_compute, locked_image_features,
                                             locked_text_features, projected_images)

VARIANT_LABELS = {"1": "stage 1 only", "2": "stage 2 only", "both": "both stages"}


@task(cache_policy=NO_CACHE)
def encode_modifications(params: TrainCirParams, triplets: list[Triplet],
                         cache_dir: Path) -> dict[str, torch.Tensor] | None:
    """With `freeze_text`, the locked text backbone's feature of every modification text of every triplet (all
    of a pair's templates; cached, see `locked_text_features`); None when the text tower trains."""
    if not params.freeze_text:
        return None
    texts = sorted({text for triplet in triplets for text in triplet.modifications})
    return locked_text_features(params.text_tower, params.max_seq_length, texts, cache_dir)


def static_bank(model: ComposedQueryModel, images: list[Path], cache_dir: Path, batch_size: int,
                device: str = "auto") -> tuple[torch.Tensor, dict[str, Any]]:
    """Stage 2's bank: (N, D) raw (unnormalised) features of `images` by the model's frozen image tower, i.e. its
    projection of the backbone's features (`locked_image_features`, cached by the backbone's weights, so a stage 2
    after a stage 1 that kept the backbone locked encodes no image again); `CirModule.set_bank` derives the
    normalised candidates. Cached under cache_dir/cir_bank/ keyed by the tower's weights (`tower_fingerprint`) and
    the image paths, so it is rebuilt only when the image tower changes (or the stored bank is damaged: see
    `load_or_compute`). Returns the bank and {key, images, seconds, cached}."""
    start = time.perf_counter()
    key = hashlib.sha256(json.dumps(["raw", tower_fingerprint(model.towers.image),
                                     [str(p) for p in images]]).encode())
    path = cache_dir / "cir_bank" / f"{key.hexdigest()[:16]}.entry"
    computed = False

    def compute() -> torch.Tensor:
        nonlocal computed
        computed = True
        return projected_images(model.towers.image, images, cache_dir, batch_size, device, normalize=False)

    bank = load_or_compute(path, compute)
    return bank, {"key": path.stem, "images": len(images), "seconds": round(time.perf_counter() - start, 3),
                  "cached": not computed}


def stage_folder(out_dir: Path, variant: str, stage: int) -> Path:
    """Where a stage trains (model/, checkpoints/): the variant's folder, except stage 1 of `both`, which trains
    in checkpoints/stage1/ of it (its model is where stage 2 starts)."""
    return out_dir / "checkpoints" / "stage1" if variant == "both" and stage == 1 else out_dir


@task(cache_policy=NO_CACHE)
def train_cir_stage(triplets: list[Triplet], params: TrainCirParams, stage: int, steps: int, out_dir: Path,
                    init: Path | None, text_features: dict[str, torch.Tensor] | None, cache_dir: Path,
                    logger: Any = False) -> dict[str, Any]:
    """Train one stage for `steps` steps on `triplets`, from `init` (a model folder) or from scratch; resumes from
    out_dir/checkpoints/last.ckpt if present. Stage 2 first builds (or reads) the static bank of the training
    images with the model's frozen image tower. Writes out_dir/model; returns the stage's summary."""
    L.seed_everything(params.seed, workers=True, verbose=False)
    temperature = params.stage1_temperature if stage == 1 else params.stage2_temperature
    module = CirModule(params.image_tower, params.text_tower, params.embedding_dim, params.max_seq_length,
                       params.combiner, stage, temperature, **params.optimizer_options().as_kwargs(),
                       image_lr=params.image_lr, text_lr=params.text_lr, freeze_text=params.freeze_text,
                       exclude_reference=params.exclude_reference, init=str(init) if init else None,
                       combiner_inputs=params.combiner_inputs, freeze_image=params.freeze_image,
                       unlock_image_after=params.unlock_image_after)
    images = gallery_images(triplets)
    rows = {path: row for row, path in enumerate(images)}
    indexed = [IndexedTriplet(rows[t.reference], t.modifications, rows[t.target]) for t in triplets]
    bank = None
    device = "cpu" if params.accelerator == "cpu" else "auto"
    pixels = stage == 1 and not image_inputs_locked(params)
    if stage == 1 and not pixels:
        module.set_image_features(locked_image_features(module.model.towers.image, images, cache_dir,
                                                        params.eval_batch_size, device))
    if stage == 2:
        vectors, bank = static_bank(module.model, images, cache_dir, params.eval_batch_size, device)
        module.set_bank(vectors)
    towers = module.model.towers
    data = TripletDataModule(indexed, images, towers.image.preprocess if pixels else None, towers.text.tokenize,
                             params.batch_size, params.seed, text_features)
    result = fit(module, data, out_dir, **params.trainer_options(steps).as_kwargs(), logger=logger)
    return {"stage": stage, "steps": result.steps, "steps_run": result.steps_run, "seconds": round(result.seconds, 3),
            "temperature": temperature, "bank": bank,
            "model": str(out_dir / "model"), "is_global_zero": result.is_global_zero}


def variant_summary(variant: str, stages: list[dict[str, Any]], triplets: int, batch_size: int) -> dict[str, Any]:
    """One variant's training: its stages' summaries, steps, samples and seconds in total (the bank's build
    included), samples per second in this process, and the share of steps per stage (`task_mix`)."""
    steps = sum(s["steps"] for s in stages)
    seconds = sum(s["seconds"] + (s["bank"]["seconds"] if s["bank"] else 0.0) for s in stages)
    samples_run = sum(s["steps_run"] for s in stages) * batch_size
    return {"variant": variant, "label": VARIANT_LABELS[variant], "model": stages[-1]["model"],
            "train_triplets": triplets, "steps": steps, "samples": steps * batch_size, "batch_size": batch_size,
            "seconds": round(seconds, 3),
            "samples_per_second": round(samples_run / seconds, 3) if samples_run and seconds else None,
            "task_mix": {f"stage{s['stage']}": s["steps"] / steps for s in stages}, "stages": stages,
            "is_global_zero": all(s["is_global_zero"] for s in stages)}


def variant_metrics(summary: dict[str, Any], scores: dict[str, float], data: dict[str, Any],
                    wall_seconds: float) -> dict[str, Any]:
    """metrics.json of a variant: `data` (the triplets, the held-out count, the gallery), steps per stage,
    samples, seconds (training, building the bank, scoring, and the whole command) and the scores."""
    stages = summary["stages"]
    return {"variant": summary["variant"], "label": summary["label"], **data,
            "train_triplets": summary["train_triplets"], "steps": {f"stage{s['stage']}": s["steps"] for s in stages},
            "batch_size": summary["batch_size"], "samples": summary["samples"],
            "train_seconds": round(sum(s["seconds"] for s in stages), 3),
            "bank_seconds": round(sum(s["bank"]["seconds"] for s in stages if s["bank"]), 3),
            "eval_seconds": scores["seconds"], "wall_seconds": round(wall_seconds, 3),
            "scores": {key: value for key, value in scores.items() if key != "seconds"}}


@task(cache_policy=NO_CACHE)
def score_cir_model(model_dir: Path, triplets: list[Triplet], gallery: list[Path], batch_size: int = 64,
                    device: str = "auto", cache_dir: Path | None = None) -> dict[str, float]:
    """Recall@1/5/10/50 and the median rank of each triplet's target among `gallery`, its reference excluded,
    plus `seconds` spent. Every image and text goes through the saved model's weights: queries combine the
    references' raw image features with each triplet's first modification text, the gallery is normalised (as the
    authors' validate.py `generate_*_val_predictions` and `compute_*_val_metrics`, BUAADreamer/SPN4CIR clip4cir).
    The gallery's backbone features are cached under `cache_dir` (`projected_images`); None computes them."""
    start = time.perf_counter()
    model = ComposedQueryModel.load(model_dir).to(resolve_device(device))
    rows = {path: row for row, path in enumerate(gallery)}
    raw = projected_images(model.towers.image, gallery, cache_dir, batch_size, device, normalize=False)  # (N, D)
    references = torch.tensor([rows[t.reference] for t in triplets])
    targets = torch.tensor([rows[t.target] for t in triplets])
    queries = model.embed_queries(raw[references], [t.modification for t in triplets], batch_size)
    ranks = target_ranks(queries, F.normalize(raw, dim=-1), targets, references)
    return {**recall_at_k(ranks, K_VALUES), "median_rank": float(statistics.median(ranks.tolist())),
            "seconds": round(time.perf_counter() - start, 3)}


@task(cache_policy=NO_CACHE)
def write_cir_outputs(out_dir: Path, summary: dict[str, Any], metrics: dict[str, Any]) -> list[Path]:
    """out_dir/summary.json and out_dir/metrics.json, each written whole; returns their paths."""
    paths = [out_dir / "summary.json", out_dir / "metrics.json"]
    for path, content in zip(paths, (summary, metrics), strict=True):
        atomic_write_text(path, json.dumps(content, indent=2) + "\n")
    return paths
