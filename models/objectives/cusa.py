"""`cusa`: cross-modal and uni-modal soft-label alignment (paper 7: "Cross-modal and Uni-modal Soft-label
Alignment for Image-Text Retrieval", Huang et al., AAAI 2024, arXiv 2403.05261; github lerogo/aaai24_itr_cusa).

Frozen uni-modal teachers give soft labels: teacher similarities between the batch's texts (S^T_tt) and, with an
image teacher, between its images (S^T_ii). With K languages per image, the text teacher embeds each image's
caption in `teacher_language` and its (B, B) similarities serve every language's rows (the paper is monolingual;
this pivot is our reading [open]). Without an image teacher the image-side soft labels are left out (a note).
The weighting, clamps, separate image/text τ_u and LayerNorm heads follow the authors' code (see `CusaParams`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from embedlab.models.objectives.base import Encoded, Objective, TeacherParams, Temperature
from embedlab.models.objectives.clip import clip_loss


class CusaParams(TeacherParams):
    """α, β weigh CSA and USA. Defaults follow the authors' released configuration (lerogo/aaai24_itr_cusa,
    `configs/*/cusa.yaml`): L_CLIP's τ init 0.05 clamped to [0.01, 0.10]; one τ_c for both cross-modal sides
    (`use_same_tau`), init 0.45, clamped to [0.10, 0.99]; a τ_u for images and another for texts
    (`use_same_tau: False`), init 0.45, clamped to [0.10, 1.00]; τ_s fixed at 1.

    `clip_reduction`: `mean` is the authors' `ContrastiveLoss` in its configured "mean" mode, which averages
    the log-probabilities over the B columns as well, i.e. the usual cross-entropy divided by B (so α·CSA and
    β·USA weigh about B times more against L_CLIP than with `sum`, the plain cross-entropy).
    `uni_dim`: output size of the uni-modal heads (the authors' heads keep CLIP's embedding size)."""

    temperature: float = Field(0.05, gt=0)
    temperature_range: tuple[float, float] = (0.01, 0.1)
    alpha: float = Field(0.1, ge=0)
    beta: float = Field(0.5, ge=0)
    soft_temperature: float = Field(0.45, gt=0, description="initial τ_c and τ_u")
    soft_temperature_range: tuple[float, float] = Field((0.10, 0.99), description="τ_c's clamp")
    uni_temperature_range: tuple[float, float] = Field((0.10, 1.00), description="τ_u's clamp (images, texts)")
    teacher_temperature: float = Field(1.0, gt=0, description="τ_s")
    clip_reduction: Literal["mean", "sum"] = "mean"
    uni_dim: int = Field(256, gt=0)

    @model_validator(mode="after")
    def _check_soft_range(self) -> CusaParams:
        for name in ("soft_temperature_range", "uni_temperature_range"):
            low, high = getattr(self, name)
            if not 0 < low <= self.soft_temperature <= high:
                raise ValueError(f"need 0 < low <= soft_temperature <= high, got {self.soft_temperature} "
                                 f"and {name} {[low, high]}")
        return self


def soft_label_kl(teacher: Tensor, student: Tensor, teacher_temperature: float | Tensor,
                  student_temperature: Tensor) -> Tensor:
    """KL( softmax(teacher / τ_s) ‖ softmax(student / τ) ) per row, averaged over rows (and leading dims).

    Args:
        teacher: (..., B, B) similarities, broadcast against student. student: (..., B, B) similarities.
    """
    target = F.log_softmax(teacher / teacher_temperature, dim=-1)
    log_q = F.log_softmax(student / student_temperature, dim=-1)
    return (target.exp() * (target - log_q)).sum(-1).mean()  # target broadcasts over the student's leading dims


def cusa_loss(images: Tensor, texts: Tensor, image_uni: Tensor | None, text_uni: Tensor, teacher_images: Tensor | None,
              teacher_texts: Tensor, tau: Tensor, tau_c: Tensor, tau_u_image: Tensor | None, tau_u_text: Tensor,
              tau_s: float, alpha: float, beta: float, clip_reduction: str = "mean") -> dict[str, Tensor]:
    """L = L_CLIP + α·L_CSA + β·L_USA, as the authors' `unire.forward` (github lerogo/aaai24_itr_cusa,
    `unire/model.py`: `ContrastiveLoss`, `KLContrastiveSimLoss` with `F.kl_div(..., reduction='batchmean')`).

        L_CLIP = `clip_loss(images, texts, τ)`, divided by B with `clip_reduction` "mean" (the authors' mode)
        L_CSA  = mean over languages k and available sides of
                 KL(softmax(S^T_tt / τ_s) ‖ softmax(S_t2i,k / τ_c))   (text rows: caption (i, k) against images)
                 KL(softmax(S^T_ii / τ_s) ‖ softmax(S_i2t,k / τ_c))   (image rows; only with an image teacher)
        L_USA  = mean over available sides of
                 KL(softmax(S^T_tt / τ_s) ‖ softmax(U_tt,k / τ_u,text))   (U: cosine similarities of uni-modal heads)
                 KL(softmax(S^T_ii / τ_s) ‖ softmax(U_ii / τ_u,image))     (only with an image teacher)

    Args:
        images: (B, D), texts: (B, K, D): normalised dual-encoder embeddings.
        image_uni: (B, U) | None, text_uni: (B, K, U): normalised uni-modal head outputs.
        teacher_images: (B, Ei) | None, teacher_texts: (B, Et): normalised teacher embeddings.
    Returns:
        {"loss", "clip", "csa", "usa"} scalars.
    """
    clip = clip_loss(images, texts, tau)
    if clip_reduction == "mean":
        clip = clip / images.size(0)
    i2t = torch.einsum("id,jkd->kij", images, texts)  # (K, B, B): S_i2t per language
    teacher_tt = teacher_texts @ teacher_texts.T  # (B, B)
    csa = [soft_label_kl(teacher_tt, i2t.transpose(1, 2), tau_s, tau_c)]
    usa = [soft_label_kl(teacher_tt, torch.einsum("ikd,jkd->kij", text_uni, text_uni), tau_s, tau_u_text)]
    if teacher_images is not None:
        teacher_ii = teacher_images @ teacher_images.T  # (B, B)
        csa.append(soft_label_kl(teacher_ii, i2t, tau_s, tau_c))
        usa.append(soft_label_kl(teacher_ii, image_uni @ image_uni.T, tau_s, tau_u_image))
    csa_loss, usa_loss = torch.stack(csa).mean(), torch.stack(usa).mean()
    return {"loss": clip + alpha * csa_loss + beta * usa_loss, "clip": clip, "csa": csa_loss, "usa": usa_loss}


def uni_head(width: int, dim: int) -> nn.Sequential:
    """A uni-modal head: LayerNorm then a linear map, as the authors' `ln_uni_*_projection` + `uni_*_projection`
    (weights N(0, 0.02), as their `initialize_parameters`)."""
    head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))
    nn.init.normal_(head[1].weight, std=0.02)
    return head


class Cusa(Objective):
    """L_CLIP plus soft-label alignment; owns τ, τ_c, τ_u (images, texts) and the uni-modal heads (trained, unused
    at retrieval)."""

    name = "cusa"
    Params = CusaParams

    def __init__(self, params: CusaParams, image_width: int, text_width: int) -> None:
        super().__init__(params, image_width, text_width)
        kind = params.temperature_parameterization
        self.soft_cross = Temperature(params.soft_temperature, *params.soft_temperature_range, kind)  # τ_c
        self.soft_uni_text = Temperature(params.soft_temperature, *params.uni_temperature_range, kind)  # τ_u,text
        self.text_head = uni_head(text_width, params.uni_dim)
        self.soft_uni_image = self.image_head = None
        if params.image_teacher:
            self.soft_uni_image = Temperature(params.soft_temperature, *params.uni_temperature_range, kind)
            self.image_head = uni_head(image_width, params.uni_dim)
        else:
            self.notes.append("cusa: no image teacher, so the image-side soft labels (S^T_ii in CSA and USA) "
                              "are left out; set train_crossmodal.objectives.cusa.image_teacher to use them")

    def forward(self, batch: Encoded) -> dict[str, Tensor]:
        if batch.teacher_texts is None or (self.image_head is not None and batch.teacher_images is None):
            raise ValueError("cusa needs the teachers' embeddings in the batch")
        text_uni = F.normalize(self.text_head(batch.text_features), dim=-1)  # (B, K, U)
        image_uni = F.normalize(self.image_head(batch.image_features), dim=-1) if self.image_head else None
        tau, tau_c, tau_u_text = self.temperature(), self.soft_cross(), self.soft_uni_text()
        tau_u_image = self.soft_uni_image() if self.soft_uni_image else None
        parts = cusa_loss(batch.images, batch.texts, image_uni, text_uni,
                          batch.teacher_images if self.image_head else None, batch.teacher_texts, tau, tau_c,
                          tau_u_image, tau_u_text, self.params.teacher_temperature, self.params.alpha,
                          self.params.beta, self.params.clip_reduction)
        logged = {"temperature": tau, "tau_c": tau_c, "tau_u_text": tau_u_text}
        if tau_u_image is not None:
            logged["tau_u_image"] = tau_u_image
        return {**parts, **{name: value.detach() for name, value in logged.items()}}
