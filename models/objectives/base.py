"""The small base every image–text objective shares: parameters, a clamped learnable temperature, and the
encoded batch it scores.

Notation (see ../shared/METHODS.md): B images per batch, K captions per image (one per language), D the
embedding dimension, τ a temperature, s(a, b) the cosine similarity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn


@dataclass
class Encoded:
    """A batch of B images with K captions each, as the objectives see it.

    images: (B, D) and texts: (B, K, D), L2-normalised; caption k of image i is texts[i, k].
    image_features: (B, Wi) and text_features: (B, K, Wt), the towers' pooled features before projection.
    teacher_images: (B, Ei) and teacher_texts: (B, Et), frozen teachers' L2-normalised embeddings, where the
    objective asks for teachers (`TeacherParams`); teacher_texts embeds each image's caption in the teacher's
    language.
    """

    images: Tensor
    texts: Tensor
    image_features: Tensor
    text_features: Tensor
    teacher_images: Tensor | None = None
    teacher_texts: Tensor | None = None


class ObjectiveParams(BaseModel):
    """An objective's parameters: unknown keys are errors. Every objective has a learnable temperature τ."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.07, gt=0, description="initial τ")
    temperature_range: tuple[float, float] = Field((0.001, 0.5), description="τ is clamped to [low, high]")

    @model_validator(mode="after")
    def _check_range(self) -> ObjectiveParams:
        low, high = self.temperature_range
        if not 0 < low <= self.temperature <= high:
            raise ValueError(f"need 0 < low <= temperature <= high, got temperature {self.temperature} "
                             f"and temperature_range {list(self.temperature_range)}")
        return self


class TeacherParams(ObjectiveParams):
    """Parameters of an objective with frozen uni-modal teachers (their embeddings are computed once, before
    training). `text_teacher` embeds each image's caption in `teacher_language`; `image_teacher` is optional."""

    text_teacher: str = "minilm"
    image_teacher: str | None = None
    teacher_language: str = "en"


class Temperature(nn.Module):
    """A learnable τ > 0, stored as log τ, read clamped to [low, high] (no gradient beyond the bounds)."""

    def __init__(self, init: float, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = low, high
        self.log_value = nn.Parameter(torch.tensor(math.log(init)))

    def forward(self) -> Tensor:
        return self.log_value.exp().clamp(self.low, self.high)


class Objective(nn.Module):
    """One registered objective: `forward(Encoded) -> {"loss": scalar, <part>: scalar, ...}` (parts are logged).

    `notes` are facts about the configuration that a run reports (e.g. a soft label left out).
    """

    name: ClassVar[str]
    Params: ClassVar[type[ObjectiveParams]] = ObjectiveParams

    def __init__(self, params: ObjectiveParams, image_width: int, text_width: int) -> None:
        super().__init__()
        self.params = params
        self.temperature = Temperature(params.temperature, *params.temperature_range)
        self.notes: list[str] = []

    def forward(self, batch: Encoded) -> dict[str, Tensor]:
        raise NotImplementedError
