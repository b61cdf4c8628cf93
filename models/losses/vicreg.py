"""VICReg, a non-contrastive objective (variance, invariance, covariance), with the paradigm's components.

References: Bardes, Ponce, LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning" (ICLR 2022, arXiv 2105.04906); paradigm and its modified version: Li et al. 2024
(arXiv 2402.18281).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.losses.paradigm import Components, Terms, with_components


def vicreg(embeddings: list[Tensor], labels: Tensor | None = None, scale: float = 20.0,
           invariance_weight: float = 25.0, variance_weight: float = 25.0, covariance_weight: float = 1.0,
           gamma: float = 1.0, **components: Any) -> Tensor:
    """L = α mean‖z − z'‖²/D + β (v(z) + v(z'))/2 + ν (c(z) + c(z')), on unit embeddings z (B, D):
    v(z) = mean_d ReLU(γ − sqrt(Var z_d + 1e-4)), c(z) = (1/D) Σ_{d≠e} Cov(z)_de². Defaults are the paper's
    25, 25, 1 and γ = 1 (on unit vectors every feature's deviation is below γ, so the variance term always acts).

    Paradigm (the paper's reading of its gradient, as in the authors' code: the covariance term without centring,
    the variance term left out): negatives are the other anchors of the same view, a_ij = 4ν s(h_i, h_j) /
    (D (B−1)²), b_i = 2α / (B D). Weights linear in similarity, no dissipation.

    Args:
        embeddings: [first view, second view, ...], each (B, D); further columns are ignored.
        labels, scale: unused. invariance_weight α, variance_weight β, covariance_weight ν, gamma γ.
        components: `Components` fields; all three give the paper's modified VICReg.
    """
    first, second = (F.normalize(e, dim=-1) for e in embeddings[:2])
    invariance = F.mse_loss(first, second)
    variance = (_variance(first, gamma) + _variance(second, gamma)) / 2
    value = (invariance_weight * invariance + variance_weight * variance
             + covariance_weight * (_covariance(first) + _covariance(second)))
    terms = partial(vicreg_terms, invariance_weight=invariance_weight, covariance_weight=covariance_weight)
    return with_components(value, embeddings[:2], terms, Components(**components))


def _variance(z: Tensor, gamma: float) -> Tensor:
    return F.relu(gamma - torch.sqrt(z.var(dim=0) + 1e-4)).mean()


def _covariance(z: Tensor) -> Tensor:
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / (z.size(0) - 1)  # (D, D)
    return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / z.size(1)


def vicreg_terms(anchors: Tensor, positives: Tensor, hard: Tensor, invariance_weight: float,
                 covariance_weight: float) -> Terms:
    batch, dim = anchors.shape
    others = ~torch.eye(batch, dtype=torch.bool, device=anchors.device)
    a = (anchors @ anchors.T).masked_fill(~others, 0.0) * 4 * covariance_weight / (dim * (batch - 1) ** 2)
    return Terms(anchors, others, a, positives, anchors.new_full((batch,), 2 * invariance_weight / (batch * dim)))
