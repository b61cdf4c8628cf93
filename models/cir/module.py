"""LightningModule training the composed-query model in one of SPN4CIR's two stages (paper 6, arXiv 2404.11317);
trained by `embedlab.models.trainer.fit`, which gives checkpoints, resume and the atomic save of the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.cir.losses import bank_loss, in_batch_loss
from embedlab.models.cir.model import ComposedQueryModel
from embedlab.models.crossmodal.module import image_backbone_features, tower_optimizer, unlock_when_due


class CirModule(L.LightningModule):
    """A `ComposedQueryModel` and the loss of `stage`.

    Args:
        image_tower, text_tower, embedding_dim, max_seq_length, combiner, combiner_inputs: see
            `ComposedQueryModel.build`; with `init` (a saved model folder, e.g. stage 1's) the model, its combiner
            and the combiner's inputs included, is loaded from there instead.
        stage: 1 — the image tower encodes the batch's references and targets, `in_batch_loss`; 2 — the image
            tower frozen (eval mode, no gradient), references are rows of the raw static bank and candidates rows
            of its normalised copy (`set_bank`), `bank_loss`; only the query side (text tower, combiner) trains.
            The combiner always receives raw projections (see `ComposedQueryModel.compose`); targets are
            normalised, as the authors' `CIRPlus.forward` / `bank_large_step` (BUAADreamer/SPN4CIR,
            clip4cir/models.py).
        temperature: τ of the stage's loss. exclude_reference: leave each query's reference out of its negatives.
        lr, image_lr, text_lr, warmup_ratio, weight_decay: see `tower_optimizer`. freeze_text: lock the text
            backbone; batches may then carry its features (`text_features`) instead of tokens.
        freeze_image, unlock_image_after: lock the image backbone (LiT-style), optionally until stage-1 step
            `unlock_image_after` (see `CrossModalModule`). With it locked for good, stage 1 reads the backbone's
            features of every image from `set_image_features` (rows as the batches' `reference`/`target`) and
            trains the image projection on them instead of encoding pixels.

    Logs `stage<k>/loss`.
    """

    def __init__(self, image_tower: str | dict[str, Any], text_tower: str, embedding_dim: int, max_seq_length: int,
                 combiner: str, stage: int, temperature: float, lr: float = 3e-4, image_lr: float | None = None,
                 text_lr: float = 3e-5, warmup_ratio: float = 0.1, weight_decay: float = 0.01,
                 freeze_text: bool = True, exclude_reference: bool = False, init: str | None = None,
                 combiner_inputs: str = "raw", freeze_image: bool = False,
                 unlock_image_after: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = (ComposedQueryModel.load(Path(init)) if init else
                      ComposedQueryModel.build(image_tower, text_tower, embedding_dim, max_seq_length, combiner,
                                               combiner_inputs))
        self.model.train()
        if freeze_text:
            self.model.towers.text.encoder.requires_grad_(False).eval()
        if freeze_image:
            self.model.towers.image.backbone.requires_grad_(False).eval()
        if stage == 2:
            self.model.towers.image.requires_grad_(False).eval()
        self.register_buffer("image_features", torch.empty(0), persistent=False)
        self.register_buffer("bank", torch.empty(0, self.model.towers.dim), persistent=False)
        self.register_buffer("raw_bank", torch.empty(0, self.model.towers.dim), persistent=False)
        self.task_steps = {f"stage{stage}": 0}

    def set_bank(self, raw: Tensor) -> None:
        """Stage 2's static bank from (N, D) raw features of the training images by the frozen image tower, row n
        for image n of the batches' `reference`/`target` rows: references read the raw rows (the authors'
        `refer_bank`), candidates the L2-normalised ones (their `target_bank`)."""
        self.raw_bank = raw.to(self.raw_bank.device)
        self.bank = F.normalize(self.raw_bank, dim=-1)

    def set_image_features(self, features: Tensor) -> None:
        """(N, Wi) locked backbone features of the training images, row n for image n (stage 1 without pixels)."""
        self.image_features = features.to(self.image_features.device)

    def encode_texts(self, batch: dict[str, Any]) -> Tensor:
        """(B, D) raw modification-text projections, from precomputed locked features or tokens."""
        features = batch["text_features"]  # (B, Wt) for a locked text tower, else None
        if features is None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.hparams.freeze_text):
                features = self.model.towers.text.features(batch["tokens"])
        return self.model.towers.text.projection(features)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        hp = self.hparams
        texts = self.encode_texts(batch)
        references = batch["reference"] if hp.exclude_reference else None
        if hp.stage == 1:
            towers, rows = self.model.towers, torch.cat([batch["reference"], batch["target"]])  # (2B,)
            pixels = (torch.cat([batch["reference_pixels"], batch["target_pixels"]])  # (2B, 3, H, W)
                      if batch["reference_pixels"] is not None else None)
            features = image_backbone_features(towers, pixels, self.image_features[rows] if pixels is None else None)
            reference_images, targets = towers.image.projection(features).chunk(2)  # (B, D) raw each
            queries = self.model.compose(reference_images, texts)
            loss = in_batch_loss(queries, F.normalize(targets, dim=-1), hp.temperature, batch["target"], references)
        else:
            if not len(self.bank):
                raise RuntimeError("stage 2 needs the static bank: call set_bank before training")
            queries = self.model.compose(self.raw_bank[batch["reference"]], texts)
            loss = bank_loss(queries, self.bank, batch["target"], hp.temperature, references)
        self.task_steps[f"stage{hp.stage}"] += 1
        self.log(f"stage{hp.stage}/loss", loss, prog_bar=True, batch_size=texts.size(0))
        return loss

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.hparams.stage == 1:
            unlock_when_due(self, self.model.towers)

    def configure_optimizers(self) -> dict[str, Any]:
        return tower_optimizer(self, self.model.towers)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["task_steps"] = dict(self.task_steps)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.task_steps.update(checkpoint.get("task_steps", {}))

    def save_model(self, target: Path) -> None:
        """Write the model folder (replaced whole or not at all), noting the stage trained last and its τ."""
        self.model.save(target, {"stage": self.hparams.stage, "temperature": self.hparams.temperature})
