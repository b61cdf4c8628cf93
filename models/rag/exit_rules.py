"""The early-exit rules of EasyRAG's layer-wise reranking (paper §5; see `early_exit`), in a module without torch at
import time so that params.yaml's validation can list their names cheaply."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from embedlab.registry import Registry

if TYPE_CHECKING:
    import torch


class MaxRule(BaseModel):
    """Exit when the largest softmax probability of the check layer's first-batch scores is >= theta."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    theta: float = Field(0.4, ge=0)

    def exits(self, logits: torch.Tensor) -> bool:
        import torch

        return float(torch.softmax(logits.float(), 0).max()) >= self.theta


class EntropyRule(BaseModel):
    """Exit when H(p) / log N of the check layer's first-batch softmax is below (or above) theta."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    theta: float = Field(0.4, ge=0)
    exit_when: Literal["below", "above"] = "below"

    def exits(self, logits: torch.Tensor) -> bool:
        import torch

        if len(logits) < 2:
            return True
        p = torch.softmax(logits.double(), 0)
        h = float(-(p * torch.log(p.clamp_min(1e-300))).sum()) / math.log(len(p))
        return h < self.theta if self.exit_when == "below" else h >= self.theta


EXIT_RULES: Registry[type[BaseModel]] = Registry("early-exit rule", {"max": MaxRule, "entropy": EntropyRule},
                                                 params=lambda entry: entry)
