"""LightningModule training an image–text dual encoder with one registered objective (trained by
`embedlab.models.trainer.fit`, which gives checkpoints, resume and the atomic save of the model folder)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from transformers import get_linear_schedule_with_warmup

from embedlab.models.dual_encoder import DualEncoder
from embedlab.models.objectives import build_objective
from embedlab.models.objectives.base import Encoded


class CrossModalModule(L.LightningModule):
    """A `DualEncoder` and the objective that trains it.

    Args:
        image_tower, text_tower, embedding_dim, max_seq_length: see `DualEncoder.build`.
        objective, objective_params: a name of `embedlab.models.objectives` and its parameters.
        lr: weights trained from scratch (projections, objective parameters); image_lr (None: lr) and
            text_lr: the towers' backbones. freeze_text: lock the text backbone (as LiT locks a tower: Zhai et al.
            2022, arXiv 2111.07991); only its projection trains, and batches may carry its features precomputed
            (`text_features`) instead of tokens. AdamW, linear warm-up over `warmup_ratio` of the steps then linear
            decay to 0; no weight decay on 1-d parameters (biases, norms, temperatures).
        freeze_image: lock the image backbone (LiT's locked image tower: a pretrained one, e.g. `effnet-lite0`, in
            eval mode, only its projection trains); batches may then carry its features precomputed
            (`image_features`, (B, Wi)) instead of pixels. unlock_image_after: with `freeze_image`, the step from
            which the image backbone trains too (at `image_lr`, in train mode; LiT's "unlocked" setting after a
            locked start); None keeps it locked.

    Logs `train/loss` and each part the objective returns (`train/temperature`, `train/csa`, ...).
    """

    def __init__(self, image_tower: str | dict[str, Any], text_tower: str, embedding_dim: int, max_seq_length: int,
                 objective: str, objective_params: dict[str, Any], lr: float = 3e-4, image_lr: float | None = None,
                 text_lr: float = 3e-5, warmup_ratio: float = 0.1, weight_decay: float = 0.01,
                 freeze_text: bool = False, freeze_image: bool = False, unlock_image_after: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = DualEncoder.build(image_tower, text_tower, embedding_dim, max_seq_length)
        self.model.train()  # Hugging Face models load in eval mode
        if freeze_text:
            self.model.text.encoder.requires_grad_(False).eval()
        if freeze_image:
            self.model.image.backbone.requires_grad_(False).eval()
        self.objective = build_objective(objective, objective_params, self.model.image.width, self.model.text.width)
        self.task_steps = {objective: 0}

    def encode(self, batch: dict[str, Any]) -> Encoded:
        pixels, precomputed = batch["pixel_values"], batch.get("image_features")
        image_features = image_backbone_features(self.model, pixels, precomputed)  # (B, Wi)
        text_features = batch["text_features"]  # (B*K, Wt), precomputed for a locked text tower, else None
        if text_features is None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.hparams.freeze_text):
                text_features = self.model.text.features(batch["tokens"])
        text_features = text_features.view(image_features.size(0), -1, text_features.size(-1))  # (B, K, Wt)
        return Encoded(F.normalize(self.model.image.projection(image_features), dim=-1),
                       F.normalize(self.model.text.projection(text_features), dim=-1),
                       image_features, text_features, batch["teacher_images"], batch["teacher_texts"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        encoded = self.encode(batch)
        parts, size = self.objective(encoded), encoded.images.size(0)
        self.task_steps[self.hparams.objective] += 1
        self.log("train/loss", parts["loss"], prog_bar=True, batch_size=size)
        self.log_dict({f"train/{name}": value for name, value in parts.items() if name != "loss"}, batch_size=size)
        return parts["loss"]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        unlock_when_due(self, self.model)

    def configure_optimizers(self) -> dict[str, Any]:
        return tower_optimizer(self, self.model)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["task_steps"] = dict(self.task_steps)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.task_steps.update(checkpoint.get("task_steps", {}))

    def save_model(self, target: Path) -> None:
        """Write the dual encoder's folder (replaced whole or not at all), noting the objective and its final τ."""
        self.model.save(target, {"objective": self.hparams.objective,
                                 "temperature": round(self.objective.temperature().item(), 6)})


def tower_optimizer(module: L.LightningModule, towers: DualEncoder) -> dict[str, Any]:
    """AdamW over `module`'s trainable parameters — the text backbone at `text_lr`, the image backbone at
    `image_lr` (None: `lr`), everything else (projections, objective or combiner) at `lr`, read from the module's
    hyperparameters — with linear warm-up over `warmup_ratio` of the trainer's steps, then linear decay to 0. A
    locked image backbone due to be unlocked (`unlock_image_after`) is in the optimizer from the start: AdamW skips
    it while it has no gradient."""
    hp = module.hparams
    backbones = {id(p) for tower in (towers.image.backbone, towers.text.encoder) for p in tower.parameters()}
    groups = _decay_groups(towers.text.encoder, hp.text_lr, hp.weight_decay)
    groups += _decay_groups(towers.image.backbone, hp.image_lr or hp.lr, hp.weight_decay,
                            frozen_too=hp.get("unlock_image_after") is not None)
    heads = [p for p in module.parameters() if id(p) not in backbones]
    groups += _decay_groups(heads, hp.lr, hp.weight_decay)
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]])
    total = max(1, module.trainer.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(hp.warmup_ratio * total), total)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _decay_groups(params: nn.Module | list[nn.Parameter], lr: float, weight_decay: float,
                  frozen_too: bool = False) -> list[dict[str, Any]]:
    """Two AdamW groups at `lr`: matrices with weight decay, 1-d parameters (biases, norms, τ) without; the
    trainable parameters only, unless `frozen_too`."""
    params = [p for p in (params.parameters() if isinstance(params, nn.Module) else params)
              if p.requires_grad or frozen_too]
    return [{"params": [p for p in params if p.ndim >= 2], "lr": lr, "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "lr": lr, "weight_decay": 0.0}]


def image_backbone_features(towers: DualEncoder, pixel_values: torch.Tensor | None,
                            precomputed: torch.Tensor | None) -> torch.Tensor:
    """(B, Wi) image backbone features: `precomputed` (a locked backbone's, computed once) where given, else the
    backbone on (B, 3, H, W) `pixel_values`, with gradients only while it trains."""
    if precomputed is not None:
        return precomputed
    trains = next(towers.image.backbone.parameters()).requires_grad
    with torch.set_grad_enabled(torch.is_grad_enabled() and trains):
        return towers.image.features(pixel_values)


def unlock_when_due(module: L.LightningModule, towers: DualEncoder) -> None:
    """Unlock the locked image backbone (trainable, train mode) once the trainer reaches `unlock_image_after`
    steps; after a resume, from the first batch on. Training must then feed pixels, not precomputed features."""
    hp, backbone = module.hparams, towers.image.backbone
    due = hp.get("freeze_image") and hp.get("unlock_image_after") is not None
    if due and module.global_step >= hp.unlock_image_after and not next(backbone.parameters()).requires_grad:
        backbone.requires_grad_(True).train()
