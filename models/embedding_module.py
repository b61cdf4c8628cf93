"""LightningModule fine-tuning a sentence encoder (HF transformer + pooling + optional normalisation).

The network is a sentence-transformers model built from a folder, so the trained model saves back to a
sentence-transformers folder with its Pooling and Normalize modules. Loss per task from `embedlab.models.losses`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize
from transformers import get_linear_schedule_with_warmup

from embedlab.atomic import atomic_dir
from embedlab.models.encoder import load_encoder, with_pooling
from embedlab.models.losses import LOSSES


def build_encoder(base: str, pooling: str | None = None, normalize: bool | None = None,
                  max_seq_length: int | None = None) -> SentenceTransformer:
    """Load `base` on the CPU; `pooling` (see `with_pooling`) and `normalize` replace its own where given."""
    model = with_pooling(load_encoder(base, "cpu"), pooling)
    modules = list(model)
    if normalize is not None:
        modules = [m for m in modules if not isinstance(m, Normalize)] + ([Normalize()] if normalize else [])
    if modules != list(model):
        model = SentenceTransformer(modules=modules, device="cpu")
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    # BERT's pooler head is not part of a sentence embedding; frozen, every trainable weight is used (DDP needs this).
    pooler = getattr(getattr(modules[0], "auto_model", None), "pooler", None)
    if pooler is not None:
        pooler.requires_grad_(False)
    return model


class EmbeddingModule(L.LightningModule):
    """Contrastive fine-tuning of a sentence encoder on one or more training tasks.

    Args:
        base: sentence-transformers folder, Hugging Face id or 'minilm'.
        task_losses: task name -> (loss name, scale); the batch's "task" picks the loss.
        loss_options: task name -> extra keyword options of its loss (e.g. the paradigm components of
            `embedlab.models.losses.paradigm`); none by default.
        lr, warmup_ratio, weight_decay: AdamW (fused) with linear warm-up then linear decay to 0 at max_steps.
        pooling, normalize, max_seq_length: see `build_encoder`.

    Logs `train/loss`, `train/loss/<task>` and the realised task mix `train/mix/<task>` (share of steps).
    """

    def __init__(self, base: str, task_losses: dict[str, tuple[str, float]], lr: float = 2e-5,
                 warmup_ratio: float = 0.1, weight_decay: float = 0.01, pooling: str | None = None,
                 normalize: bool | None = None, max_seq_length: int | None = None,
                 loss_options: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder = build_encoder(base, pooling, normalize, max_seq_length).train()  # loaded in eval mode
        self.losses = {task: LOSSES.get(name) for task, (name, _) in task_losses.items()}
        self.loss_options = loss_options or {}
        self.task_steps = {task: 0 for task in task_losses}

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Token features of B texts -> sentence embeddings (B, D)."""
        return self.encoder(features)["sentence_embedding"]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        task = batch["task"]
        embeddings = [self(features) for features in batch["features"]]  # one (B, D) per text column
        loss = self.losses[task](embeddings, batch["labels"], scale=self.hparams.task_losses[task][1],
                                 **self.loss_options.get(task, {}))
        size = embeddings[0].size(0)
        self.task_steps[task] += 1
        total = sum(self.task_steps.values())
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log(f"train/loss/{task}", loss, batch_size=size)
        self.log_dict({f"train/mix/{name}": count / total for name, count in self.task_steps.items()},
                      batch_size=size)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
        groups = [
            {"params": [p for n, p in self.named_parameters() if not n.endswith(no_decay)],
             "weight_decay": self.hparams.weight_decay},
            {"params": [p for n, p in self.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
        ]
        # Fused AdamW (one kernel over all tensors; on the CPU ~3x faster than the default per-tensor loop), as the
        # Hugging Face trainer uses by default since torch 2.8. Same update as AdamW up to float rounding.
        optimizer = torch.optim.AdamW(groups, lr=self.hparams.lr, fused=True)
        total = max(1, self.trainer.max_steps)
        scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(self.hparams.warmup_ratio * total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["task_steps"] = dict(self.task_steps)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.task_steps.update(checkpoint.get("task_steps", {}))

    def save_sentence_transformer(self, target: Path) -> None:
        """Write the encoder as a sentence-transformers folder; `target` is replaced whole or not at all."""
        with atomic_dir(target) as tmp:
            self.encoder.save(str(tmp))
