"""The trainer settings every training section of params.yaml shares (`train`, `cse`, `train_crossmodal`,
`train_cir`): one pydantic base, so a new training section inherits them instead of declaring them again.

A section changes a default by declaring the field again (e.g. `train_crossmodal.lr: 3e-4`); the YAML keys are
the same in every section. `trainer_options()` and `optimizer_options()` hand them to `models/` as plain values
(`embedlab.models.trainer_options`), the one conversion every training task uses."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from embedlab.config.section import ProfiledSection
from embedlab.models.trainer_options import OptimizerOptions, TrainerOptions


class TrainerSettings(ProfiledSection):
    """Seeded AdamW training for `max_steps` steps of `batch_size` with linear warm-up over `warmup_ratio` of them,
    checkpointed every `checkpoint_every` steps, on Lightning's `accelerator`/`devices`/`strategy` at `precision`
    (`auto`: bf16-mixed on a GPU that supports it, else 32-true). `profile` names an entry of `profiles` whose
    values replace the section's (e.g. `full` for GPUs)."""

    seed: int = 42
    batch_size: int = Field(32, gt=0)
    max_steps: int = Field(100, gt=0)
    lr: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "auto"
    checkpoint_every: int = Field(25, gt=0, description="steps between Lightning checkpoints")

    def trainer_options(self, max_steps: int | None = None) -> TrainerOptions:
        """Lightning's run options; `max_steps` replaces the section's (a stage's share, one epoch, a task's own)."""
        return TrainerOptions(max_steps=max_steps or self.max_steps, checkpoint_every=self.checkpoint_every,
                              accelerator=self.accelerator, devices=self.devices, strategy=self.strategy,
                              precision=self.precision)

    def optimizer_options(self, lr: float | None = None) -> OptimizerOptions:
        """The optimiser's options; `lr` replaces the section's (a training task's own)."""
        return OptimizerOptions(lr=lr or self.lr, warmup_ratio=self.warmup_ratio, weight_decay=self.weight_decay)


class EncoderTrainerSettings(TrainerSettings):
    """The trainer settings of a sentence encoder fine-tuned from `base` (`train`, `cse`): the output folder, the
    tokens it reads (`max_seq_length`) and its pooling and normalisation (null: the base model's own)."""

    base: str = "minilm"
    output: str = "results/train"
    max_seq_length: int | None = Field(128, gt=0)
    pooling: Literal["mean", "weightedmean", "cls"] | None = Field(
        None, description="null keeps the base model's pooling; weightedmean: SGPT's position-weighted mean")
    normalize: bool | None = Field(None, description="null keeps the base model's normalisation")
