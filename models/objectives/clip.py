"""`clip`: symmetric InfoNCE, the 1-to-1 baseline (CLIP, Radford et al. 2021, arXiv 2103.00020).

With K captions per image (one per language) each caption is paired with its own image only: the loss is
computed per language over the B images and their B captions in that language, then averaged over languages,
so captions of different languages never compete in one softmax (the setting paper 4 calls 1-to-1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.objectives.base import Encoded, Objective, ObjectiveParams


def clip_loss(images: Tensor, texts: Tensor, temperature: Tensor) -> Tensor:
    """L = (1/K) Σ_k ½ [CE(S_k / τ, I) + CE(S_kᵀ / τ, I)], with S_k[i, j] = s(v_i, t_{j,k}) and I the diagonal.

    Args:
        images: (B, D) L2-normalised. texts: (B, K, D) L2-normalised. temperature: scalar τ.
    Returns:
        scalar loss.
    """
    batch, languages, _ = texts.shape
    logits = torch.einsum("id,jkd->kij", images, texts) / temperature  # (K, B, B): image i against caption (j, k)
    target = torch.arange(batch, device=images.device).repeat(languages)  # (K * B,)
    i2t = F.cross_entropy(logits.reshape(languages * batch, batch), target)
    t2i = F.cross_entropy(logits.transpose(1, 2).reshape(languages * batch, batch), target)
    return (i2t + t2i) / 2


class Clip(Objective):
    """τ learnable (default init 0.07, clamped to [0.001, 0.5], as `one_to_k`, so only the pairing differs)."""

    name = "clip"
    Params = ObjectiveParams

    def forward(self, batch: Encoded) -> dict[str, Tensor]:
        tau = self.temperature()
        return {"loss": clip_loss(batch.images, batch.texts, tau), "temperature": tau.detach()}
