"""The small base every image–text objective shares: parameters, a clamped learnable temperature, and the
encoded batch it scores.

Notation (see ../shared/METHODS.md): B images per batch, K captions per image (one per language), D the
embedding dimension, τ a temperature, s(a, b) the cosine similarity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

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
    """An objective's parameters: unknown keys are errors. Every objective has a learnable temperature τ.

    `temperature_parameterization`: `raw` trains τ itself, clamped in place before each use, as the authors of
    papers 4 and 7 do (CCRK `XVLMBase.temp`, CUSA `unire.tau` with `clamp_tau`): at our lr 3e-4 τ may move by
    up to about 3e-4 per step (CCRK's pre-training gives τ lr·lr_mult = 2e-4), so it actually learns in a few
    hundred steps. `log` trains log τ (CLIP's logit scale): the same lr moves τ by about 0.03 % per step, so
    over 200 steps it stays within ±6 % of its start, in effect fixed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.07, gt=0, description="initial τ")
    temperature_range: tuple[float, float] = Field((0.001, 0.5), description="τ is clamped to [low, high]")
    temperature_parameterization: Literal["raw", "log"] = "raw"

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
    """A learnable τ in [low, high].

    `raw` (the authors' form): the parameter `value` is τ itself, clamped in place to [low, high] before each
    read, so it can leave a bound again. `log`: the parameter `log_value` is log τ, read clamped (no gradient
    beyond the bounds).
    """

    def __init__(self, init: float, low: float, high: float, parameterization: str = "raw") -> None:
        super().__init__()
        self.low, self.high, self.parameterization = low, high, parameterization
        if parameterization == "raw":
            self.value = nn.Parameter(torch.tensor(float(init)))
        else:
            self.log_value = nn.Parameter(torch.tensor(math.log(init)))

    @property
    def parameter(self) -> nn.Parameter:
        """The trained parameter (τ or log τ)."""
        return self.value if self.parameterization == "raw" else self.log_value

    def set(self, tau: float) -> None:
        """Write τ (unclamped) into the parameter, e.g. to test the clamp."""
        with torch.no_grad():
            self.parameter.fill_(tau if self.parameterization == "raw" else math.log(tau))

    def forward(self) -> Tensor:
        if self.parameterization == "raw":
            if not self.low <= self.value.item() <= self.high:  # clamp only when out of range: a second read
                with torch.no_grad():                           # in one step must not modify a saved tensor
                    self.value.clamp_(self.low, self.high)
            return self.value
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
        self.temperature = Temperature(params.temperature, *params.temperature_range,
                                       params.temperature_parameterization)
        self.notes: list[str] = []

    def forward(self, batch: Encoded) -> dict[str, Tensor]:
        raise NotImplementedError
