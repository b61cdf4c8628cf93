"""Alignment, uniformity and the Fitting Difficulty Increment (FDI, called RFD in the final version) in training.

References: Wang & Isola 2020, "Understanding Contrastive Representation Learning through Alignment and
Uniformity on the Hypersphere" (arXiv 2005.10242) for A and U; Li et al. 2024, "Narrowing the Gap between
Supervised and Unsupervised Sentence Representation Learning with Large Language Model" (AAAI 2024,
arXiv 2309.06453) for FDI: measured every N steps on held-out training pairs and on evaluation pairs (STS-B
pairs with score ≥ 4), FDI_a = mean_t(A_train − A_eval) and FDI_u = mean_t(U_train − U_eval).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

Pairs = Sequence[tuple[str, str]]


def alignment(x: Tensor, y: Tensor) -> float:
    """A = E ‖f(x) − f(x⁺)‖² over pairs of unit embeddings, x and y (P, D)."""
    return (x - y).pow(2).sum(dim=1).mean().item()


def uniformity(x: Tensor, t: float = 2.0) -> float:
    """U = log E_{i≠j} exp(−t ‖f(x_i) − f(x_j)‖²) over unit embeddings x (P, D)."""
    return torch.pdist(x).pow(2).mul(-t).exp().mean().log().item()


def fdi_means(history: list[dict[str, float]]) -> dict[str, float]:
    """The means over the run: {"fdi_align": mean_t(A_train − A_eval), "fdi_uniform": mean_t(U_train − U_eval)}."""
    return {key: sum(point[key] for point in history) / len(history) for key in ("fdi_align", "fdi_uniform")}


class AlignUniformMonitor(L.Callback):
    """Measures A and U on `train_pairs` (held out from training) and `eval_pairs` every `every` steps.

    The first measurement is before the first step, the last at the last step. Uniformity is taken over the
    pairs' first sentences. `dropout_views`: the training positives are dropout views (unsupervised SimCSE), so
    the held-out training pairs are encoded with dropout on, as in training; evaluation pairs always without.
    Each point goes to the trainer's logger as `diag/<metric>` at its step and into `history` (kept in
    checkpoints, so a resumed run keeps its earlier points).
    """

    def __init__(self, train_pairs: Pairs, eval_pairs: Pairs, every: int, batch_size: int = 64,
                 dropout_views: bool = False) -> None:
        if len(train_pairs) < 2 or len(eval_pairs) < 2:
            raise ValueError("the monitor needs at least two held-out training pairs and two evaluation pairs")
        self.train_pairs, self.eval_pairs = list(train_pairs), list(eval_pairs)
        self.every, self.batch_size, self.dropout_views = every, batch_size, dropout_views
        self.history: list[dict[str, float]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.history:
            self.measure(trainer, pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step % self.every == 0 or trainer.global_step >= trainer.max_steps:
            self.measure(trainer, pl_module)  # before the step's checkpoint (Lightning runs checkpointing last)

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        """One point: A and U of both pair sets and their differences, logged and appended to `history`."""
        was_training = pl_module.training
        pl_module.train(self.dropout_views)
        train_x, train_y = self._embed(pl_module, self.train_pairs)
        pl_module.eval()
        eval_x, eval_y = self._embed(pl_module, self.eval_pairs)
        pl_module.train(was_training)
        point = {"align_train": alignment(train_x, train_y), "uniform_train": uniformity(train_x),
                 "align_eval": alignment(eval_x, eval_y), "uniform_eval": uniformity(eval_x)}
        point["fdi_align"] = point["align_train"] - point["align_eval"]
        point["fdi_uniform"] = point["uniform_train"] - point["uniform_eval"]
        if trainer.logger and trainer.is_global_zero:
            trainer.logger.log_metrics({f"diag/{k}": v for k, v in point.items()}, step=trainer.global_step)
        self.history.append({"step": trainer.global_step, **point})
        return point

    @torch.no_grad()
    def _embed(self, pl_module: L.LightningModule, pairs: list[tuple[str, str]]) -> tuple[Tensor, Tensor]:
        """Unit embeddings of the first and of the second sentences, each (P, D)."""
        columns = []
        for column in zip(*pairs):
            parts = []
            for start in range(0, len(column), self.batch_size):
                features = pl_module.encoder.preprocess(list(column[start:start + self.batch_size]))
                features = {k: v.to(pl_module.device) if isinstance(v, Tensor) else v for k, v in features.items()}
                parts.append(pl_module(features).float())
            columns.append(F.normalize(torch.cat(parts), dim=-1))
        return columns[0], columns[1]

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])
