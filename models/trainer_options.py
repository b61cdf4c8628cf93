"""How one training runs, as plain values: Lightning's run options (`fit`) and the optimiser's (the modules).

params.yaml's training sections hand these over (`embedlab.config.trainer.TrainerSettings`); `models/` reads no
params.yaml itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainerOptions:
    """The keyword arguments of `embedlab.models.trainer.fit`: `max_steps` in total (over resumes), a checkpoint
    every `checkpoint_every` steps, and Lightning's `accelerator`, `devices`, `strategy` and `precision` (`auto`:
    bf16-mixed on a GPU that supports it, else 32-true)."""

    max_steps: int
    checkpoint_every: int
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "auto"

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OptimizerOptions:
    """The keyword arguments every training module takes for AdamW with linear warm-up then linear decay: peak
    `lr`, the share `warmup_ratio` of the steps spent warming up, and AdamW's `weight_decay`."""

    lr: float
    warmup_ratio: float
    weight_decay: float

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)
