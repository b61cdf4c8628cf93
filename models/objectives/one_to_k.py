"""`one_to_k`: the 1-to-K contrastive loss of CCRK (paper 4: "Improving the Consistency in Cross-Lingual
Cross-Modal Retrieval with 1-to-K Contrastive Learning", Nie et al., KDD 2024, arXiv 2406.18254).

Each image is scored against all B·K captions of the batch, with its K captions (one per language) all
positive, so captions of every language compete in one softmax; text-to-image is the usual cross-entropy over
the B images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from embedlab.models.objectives.base import Encoded, Objective, ObjectiveParams


def one_to_k_loss(images: Tensor, texts: Tensor, temperature: Tensor) -> Tensor:
    """L = (L_i2t + L_t2i) / 2 / K, as the authors' `XVLMBase.get_unialign_contrastive_loss` (github
    BUAADreamer/CCRK, `models/xvlm.py`, `need_divm` 0), whose two terms are row means of their logit matrices:

        L_i2t = −(1/B)   Σ_i Σ_k log softmax_j( s(v_i, t_j) / τ )[t_{i,k}]   over all B·K captions t_j (B rows),
        L_t2i = −(1/(BK)) Σ_i Σ_k log softmax_j( s(t_{i,k}, v_j) / τ )[v_i]  over the B images v_j (B·K rows).

    Args:
        images: (B, D) L2-normalised. texts: (B, K, D) L2-normalised. temperature: scalar τ.
    Returns:
        scalar loss.
    """
    batch, languages, dim = texts.shape
    flat = texts.reshape(batch * languages, dim)  # (B*K, D): caption (i, k) at row i*K + k
    log_i2t = F.log_softmax(images @ flat.T / temperature, dim=1)  # (B, B*K)
    own = torch.arange(batch, device=images.device)
    positives = log_i2t.view(batch, batch, languages)[own, own]  # (B, K): image i's own K captions
    l_i2t = -positives.sum(1).mean()
    t2i = flat @ images.T / temperature  # (B*K, B)
    l_t2i = F.cross_entropy(t2i, own.repeat_interleave(languages))  # mean over the B*K captions
    return (l_i2t + l_t2i) / (2 * languages)


class OneToK(Objective):
    """τ learnable, init 0.07, clamped to [0.001, 0.5] (the paper's values, the defaults), trained as τ itself
    like the authors' `temp` (see `ObjectiveParams.temperature_parameterization`)."""

    name = "one_to_k"
    Params = ObjectiveParams

    def forward(self, batch: Encoded) -> dict[str, Tensor]:
        tau = self.temperature()
        return {"loss": one_to_k_loss(batch.images, batch.texts, tau), "temperature": tau.detach()}
