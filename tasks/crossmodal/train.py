"""Prefect tasks of the cross-modal training flow: read the dataset, encode the frozen encoders once (teachers, a
locked text tower, a locked image backbone; cached), fit the dual encoder, score it (Recall@K per language, MRV)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_write_text
from embedlab.cache_store import load_arrays, save_arrays
from embedlab.config import TrainCrossModalParams
from embedlab.errors import UserError
from embedlab.image_text.dataset import ImageTextDataset, read_dataset
from embedlab.image_text.records import ImageCaptions, check_images, with_languages
from embedlab.models.cir.bank import tower_fingerprint
from embedlab.models.crossmodal.data import ImageCaptionDataModule, TeacherEmbeddings
from embedlab.models.crossmodal.frozen import backbone_features, image_teacher_embeddings, sentence_embeddings
from embedlab.models.crossmodal.module import CrossModalModule
from embedlab.models.crossmodal.retrieval import crossmodal_scores
from embedlab.models.device import resolve_device
from embedlab.models.dual_encoder import DualEncoder
from embedlab.models.embedding_module import build_encoder
from embedlab.models.encoder import fingerprint, load_encoder
from embedlab.models.objectives.base import TeacherParams
from embedlab.models.towers import ImageTower
from embedlab.models.trainer import fit


@task(cache_policy=NO_CACHE)
def read_image_text_data(folder: Path, data_root: Path, languages: list[str]) -> ImageTextDataset:
    """The dataset with each split narrowed to the images captioned in every one of `languages`; DataError naming
    the first missing image, before any training."""
    dataset = read_dataset(folder, data_root)
    splits = {name: with_languages(records, languages) for name, records in dataset.splits.items()}
    for records in splits.values():
        check_images(records)
    return replace(dataset, splits=splits)


Tensors = torch.Tensor | dict[str, torch.Tensor]


def load_or_compute(path: Path, compute: Callable[[], Tensors]) -> Tensors:
    """The float tensor [N, D], or dict text -> tensor [D], cached at `path` in embedlab's checked format
    (`embedlab.cache_store`: a damaged entry is moved aside with one warning), else `compute()` stored there."""
    arrays = load_arrays(path)
    if arrays is not None:
        values = torch.from_numpy(arrays["values"])
        return dict(zip(arrays["keys"].tolist(), values, strict=True)) if "keys" in arrays else values
    value = compute()
    if isinstance(value, dict):
        save_arrays(path, {"keys": np.array(list(value)), "values": torch.stack(list(value.values())).cpu().numpy()})
    else:
        save_arrays(path, {"values": value.detach().cpu().numpy()})
    return value


@task(cache_policy=NO_CACHE)
def encode_teachers(params: TeacherParams, records: list[ImageCaptions], languages: list[str],
                    cache_dir: Path) -> TeacherEmbeddings:
    """The frozen teachers' embeddings of the training captions in `params.teacher_language` and, with an image
    teacher, of the training images. Text embeddings are cached under cache_dir/teachers/, keyed by the
    teacher's fingerprint and the captions."""
    if params.teacher_language not in languages:
        raise UserError(f"teacher_language {params.teacher_language!r} is not a training language {languages}")
    texts = sorted({text for record in records for text in record.captions[params.teacher_language]})
    model = load_encoder(params.text_teacher, "auto")
    key = hashlib.sha256(json.dumps([fingerprint(model), texts]).encode()).hexdigest()[:16]
    embedded = load_or_compute(cache_dir / "teachers" / f"text-{key}.entry",
                               lambda: sentence_embeddings(model, texts, True))
    images = (image_teacher_embeddings(params.image_teacher, [record.image for record in records])
              if params.image_teacher else None)
    return TeacherEmbeddings(params.teacher_language, embedded, images)


@task(cache_policy=NO_CACHE)
def encode_locked_text(params: TrainCrossModalParams, records: list[ImageCaptions],
                       cache_dir: Path) -> dict[str, torch.Tensor] | None:
    """With `freeze_text`, the text backbone's features (Wt,) of every training caption in the training languages,
    cached under cache_dir/text_features/ (keyed by the backbone's fingerprint, which covers max_seq_length, and the
    captions); None when the text tower trains."""
    if not params.freeze_text:
        return None
    texts = sorted({text for record in records for lang in params.languages for text in record.captions[lang]})
    return locked_text_features(params.text_tower, params.max_seq_length, texts, cache_dir)


def locked_text_features(text_tower: str, max_seq_length: int, texts: list[str],
                         cache_dir: Path) -> dict[str, torch.Tensor]:
    """Each text -> its (Wt,) feature by the text tower's backbone (unnormalised), cached under
    cache_dir/text_features/ (keyed by the backbone's fingerprint, which covers max_seq_length, and the texts)."""
    model = build_encoder(text_tower, normalize=False, max_seq_length=max_seq_length)
    key = hashlib.sha256(json.dumps([fingerprint(model), texts]).encode()).hexdigest()[:16]
    return load_or_compute(cache_dir / "text_features" / f"{key}.entry",
                           lambda: sentence_embeddings(model, texts, False))


def locked_image_features(tower: ImageTower, paths: list[Path], cache_dir: Path | None,
                          batch_size: int = 64, device: str = "auto") -> torch.Tensor:
    """(N, Wi) features of a locked image backbone for the image files (`backbone_features`: eval mode, before the
    projection), cached under cache_dir/image_features/ keyed by the backbone's weights and processor
    (`tower_fingerprint(..., backbone_only=True)`) and the paths; computed uncached when cache_dir is None. One
    pass over the images replaces one per training step: with a locked backbone the two are the same numbers."""
    def compute() -> torch.Tensor:
        return backbone_features(tower, paths, batch_size, resolve_device(device))

    if cache_dir is None:
        return compute()
    key = hashlib.sha256(json.dumps([tower_fingerprint(tower, backbone_only=True), [str(p) for p in paths]]).encode())
    return load_or_compute(cache_dir / "image_features" / f"{key.hexdigest()[:16]}.entry", compute)


def projected_images(tower: ImageTower, paths: list[Path], cache_dir: Path | None, batch_size: int = 64,
                     device: str = "auto", normalize: bool = True) -> torch.Tensor:
    """(N, D) the image tower's projections of the image files (L2-normalised unless `normalize=False`), on the CPU:
    its backbone's eval-mode features through `locked_image_features` (cached by the backbone's weights, so the
    features a locked training run cached serve its evaluation, and a fine-tuned backbone is simply computed),
    then the projection. The same numbers as encoding the pixels through the tower (tested)."""
    features = locked_image_features(tower, paths, cache_dir, batch_size, device)
    with torch.no_grad():
        projected = tower.projection(features.to(tower.projection.weight.device)).float().cpu()
    return F.normalize(projected, dim=-1) if normalize else projected


def image_inputs_locked(params: Any) -> bool:
    """Whether a training section's image backbone stays locked for the whole run, so that its features can be
    computed once (`freeze_image` without `unlock_image_after`)."""
    return params.freeze_image and params.unlock_image_after is None


@task(cache_policy=NO_CACHE)
def train_dual_encoder(records: list[ImageCaptions], params: TrainCrossModalParams, objective: str,
                       teachers: TeacherEmbeddings | None, out_dir: Path, logger: Any = False,
                       text_features: dict[str, torch.Tensor] | None = None,
                       cache_dir: Path | None = None) -> dict[str, Any]:
    """Train a dual encoder with `objective` on `records`; resumes from out_dir/checkpoints/last.ckpt if present.
    `text_features`: a locked text tower's features by caption (`encode_locked_text`). With the image backbone
    locked for the whole run, its features of the training images are computed once (`locked_image_features`,
    cached under `cache_dir`) and batches carry them instead of pixels.

    Writes out_dir/model and out_dir/summary.json; returns the summary (steps, seconds, the objective's notes).
    """
    L.seed_everything(params.seed, workers=True, verbose=False)
    module = CrossModalModule(params.image_tower, params.text_tower, params.embedding_dim, params.max_seq_length,
                              objective, params.objectives.get(objective, {}), **params.optimizer_options().as_kwargs(),
                              image_lr=params.image_lr, text_lr=params.text_lr, freeze_text=params.freeze_text,
                              freeze_image=params.freeze_image, unlock_image_after=params.unlock_image_after)
    image_features = None
    if image_inputs_locked(params):
        paths = list(dict.fromkeys(record.image for record in records))
        device = "cpu" if params.accelerator == "cpu" else "auto"
        vectors = locked_image_features(module.model.image, paths, cache_dir, params.eval_batch_size, device)
        image_features = dict(zip(paths, vectors, strict=True))
    data = ImageCaptionDataModule(records, params.languages, module.model.image.preprocess, module.model.text.tokenize,
                                  params.batch_size, params.seed, teachers, text_features, image_features)
    result = fit(module, data, out_dir, **params.trainer_options().as_kwargs(), logger=logger)
    summary = {
        "objective": objective, "notes": module.objective.notes, "model": str(out_dir / "model"),
        "images": len(records), "languages": params.languages, "steps": result.steps, "steps_run": result.steps_run,
        "batch_size": params.batch_size, "seconds": round(result.seconds, 3),
        "samples_per_second": round(result.samples_run / result.seconds, 3) if result.steps_run else None,
        "temperature": round(module.objective.temperature().item(), 6),
        "task_mix": {objective: 1.0}, "is_global_zero": result.is_global_zero,
    }
    if result.is_global_zero:
        atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


@task(cache_policy=NO_CACHE)
def score_dual_encoder(model_dir: Path, records: list[ImageCaptions], languages: list[str], batch_size: int = 64,
                       device: str = "auto", cache_dir: Path | None = None) -> dict[str, float]:
    """Recall@1/5/10 per language and direction, their means, and MRV, on `records` (each caption's first in each
    language; see `crossmodal_scores`), plus `seconds` spent. Image features are cached under `cache_dir`
    (`projected_images`); None computes them."""
    start = time.perf_counter()
    model = DualEncoder.load(model_dir).to(resolve_device(device))
    images = projected_images(model.image, [record.image for record in records], cache_dir, batch_size,
                              device)  # (N, D)
    texts = torch.stack([model.embed_texts([record.captions[lang][0] for record in records], batch_size)
                         for lang in languages], dim=1)  # (N, K, D)
    return {**crossmodal_scores(images, texts, languages), "seconds": round(time.perf_counter() - start, 3)}
