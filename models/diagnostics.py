"""Alignment, uniformity and the Fitting Difficulty Increment (FDI, called RFD in the final version) in training.

References: Wang & Isola 2020, "Understanding Contrastive Representation Learning through Alignment and
Uniformity on the Hypersphere" (arXiv 2005.10242) for A and U; Li et al. 2024, "Narrowing the Gap between
Supervised and Unsupervised Sentence Representation Learning with Large Language Model" (AAAI 2024,
arXiv 2309.06453) for FDI: measured every N steps on held-out training pairs and on evaluation pairs (STS-B
pairs with score ≥ 4), FDI_a = mean_t(A_train − A_eval) and FDI_u = mean_t(U_train − U_eval).

As in the authors' code (github BDBC-KG-NLP/NGCSE): every set is encoded with the model in train mode, dropout on
(`tools.load_model` calls `model.train()`); the means start after the untrained point (`plot.collect_rfd` keeps
`step >= 125`, its first evaluation); the evaluation uniformity is taken over its own sentence set (`load_stsb`
mode 'all': both sentences of the STS-B validation pairs scoring ≥ 4 or ≤ 1, the first 1,000).
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


def fdi_means(history: list[dict[str, float]], first_step: int = 1) -> dict[str, float]:
    """The means over the run's points from step `first_step` on (1: all but the untrained step-0 point, as the
    authors start after their first evaluation): {"fdi_align": mean_t(A_train − A_eval), "fdi_uniform":
    mean_t(U_train − U_eval)}. A run without such a point falls back to all its points."""
    points = [point for point in history if point["step"] >= first_step] or history
    return {key: sum(point[key] for point in points) / len(points) for key in ("fdi_align", "fdi_uniform")}


class AlignUniformMonitor(L.Callback):
    """Measures A and U on `train_pairs` (held out from training) and `eval_pairs` every `every` steps.

    The first measurement is before the first step (kept in `history` and the plots, left out of `fdi_means`),
    the last at the last step. Training uniformity is taken over the held-out pairs' first sentences, evaluation
    uniformity over `eval_sentences` (None: the evaluation pairs' first sentences). `train_mode`: encode every set
    with dropout on, as the authors do (False: every set without dropout). Each point goes to the trainer's
    logger as `diag/<metric>` at its step and into `history` (kept in checkpoints, so a resumed run keeps its
    earlier points).
    """

    def __init__(self, train_pairs: Pairs, eval_pairs: Pairs, every: int, batch_size: int = 64,
                 train_mode: bool = True, eval_sentences: Sequence[str] | None = None) -> None:
        if len(train_pairs) < 2 or len(eval_pairs) < 2:
            raise ValueError("the monitor needs at least two held-out training pairs and two evaluation pairs")
        if eval_sentences is not None and len(eval_sentences) < 2:
            raise ValueError("the monitor needs at least two evaluation sentences for uniformity")
        self.train_pairs, self.eval_pairs = list(train_pairs), list(eval_pairs)
        self.eval_sentences = list(eval_sentences) if eval_sentences is not None else None
        self.every, self.batch_size, self.train_mode = every, batch_size, train_mode
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
        pl_module.train(self.train_mode)
        train_x, train_y = self._embed(pl_module, self.train_pairs)
        eval_x, eval_y = self._embed(pl_module, self.eval_pairs)
        eval_u = self._embed(pl_module, [(s,) for s in self.eval_sentences])[0] if self.eval_sentences else eval_x
        pl_module.train(was_training)
        point = {"align_train": alignment(train_x, train_y), "uniform_train": uniformity(train_x),
                 "align_eval": alignment(eval_x, eval_y), "uniform_eval": uniformity(eval_u)}
        point["fdi_align"] = point["align_train"] - point["align_eval"]
        point["fdi_uniform"] = point["uniform_train"] - point["uniform_eval"]
        if trainer.logger and trainer.is_global_zero:
            trainer.logger.log_metrics({f"diag/{k}": v for k, v in point.items()}, step=trainer.global_step)
        self.history.append({"step": trainer.global_step, **point})
        return point

    @torch.no_grad()
    def _embed(self, pl_module: L.LightningModule, pairs: list[tuple[str, ...]]) -> list[Tensor]:
        """Unit embeddings of each column of `pairs` (tuples of one or two sentences), each (P, D)."""
        columns = []
        for column in zip(*pairs):
            parts = []
            for start in range(0, len(column), self.batch_size):
                features = pl_module.encoder.preprocess(list(column[start:start + self.batch_size]))
                features = {k: v.to(pl_module.device) if isinstance(v, Tensor) else v for k, v in features.items()}
                parts.append(pl_module(features).float())
            columns.append(F.normalize(torch.cat(parts), dim=-1))
        return columns

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])
