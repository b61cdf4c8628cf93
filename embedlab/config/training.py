"""The `train`, `merge` and `compare` sections of params.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from embedlab.config.section import ProfiledSection, Section
from embedlab.models.merging import METHODS
from embedlab.train_tasks.spec import TrainTaskSpec


class TrainParams(ProfiledSection):
    """`train` section: fine-tuning with Lightning (`embedlab train`).

    `profile` names an entry of `profiles` whose values replace this section's (e.g. `full` for GPUs);
    `precision: auto` is bf16-mixed on a GPU that supports it, else 32-true.
    """

    base: str = "minilm"
    output: str = "results/train"
    seed: int = 42
    batch_size: int = Field(32, gt=0)
    max_steps: int = Field(100, gt=0)
    lr: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    max_seq_length: int | None = Field(128, gt=0)
    pooling: Literal["mean", "cls"] | None = Field(None, description="null keeps the base model's pooling")
    normalize: bool | None = Field(None, description="null keeps the base model's normalisation")
    sampling: Literal["proportional", "uniform", "temperature"] = "proportional"
    alpha: float = Field(0.5, gt=0, description="temperature sampling: p_i proportional to n_i ** alpha")
    joint_tasks: list[str] = Field(default_factory=list, description="tasks of the joint model; empty: all")
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "auto"
    checkpoint_every: int = Field(25, gt=0, description="steps between Lightning checkpoints")
    tasks: dict[str, TrainTaskSpec] = Field(default_factory=dict)



class MergeParams(Section):
    """`merge` section: each merge method's parameters by method name (`embedlab merge -S key=value` sets one
    for the chosen method). Names and values are checked against `embedlab.models.merging.METHODS` when a merge
    starts, so that reading params.yaml does not import torch."""

    methods: dict[str, dict[str, Any]] = Field(default_factory=dict)


class CompareParams(ProfiledSection):
    """`compare` section: the comparison of Li et al. 2024 (arXiv 2410.15035) on our data (`embedlab compare`).

    The variants: the base (`train.base`), a model per training task (`<train.output>/<task>/model`), joint
    training with each of `samplings` for `joint_steps` steps (`<joint_output>/joint-<sampling>/model`; the
    default, 4 tasks × `train.max_steps`, sees as many samples as the per-task trainings) and each of `merges` of the
    per-task models (`<merge_output>/<method>`). They are scored on `tasks`, prepared evaluation tasks
    (`prepare.out`; empty: all of them), where `task_options` replaces fields of a task's spec (e.g.
    `{SciFact: {sample: {corpus: 500}}}`, see `EvalTaskSpec.sample`), every model reading at most
    `max_seq_length` tokens (null: each model's own). `profile` names an entry of `profiles` replacing values.
    """

    tasks: list[str] = Field(default_factory=list)
    task_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    samplings: list[Literal["proportional", "uniform", "temperature"]] = Field(
        default_factory=lambda: ["proportional", "temperature"])
    joint_steps: int = Field(80, gt=0, description="steps of each joint training (the DVC stage train_joint)")
    merges: list[str] = Field(default_factory=lambda: list(METHODS.names), description="default: every merge method")
    max_seq_length: int | None = Field(128, gt=0)
    joint_output: str = "results/joint"
    merge_output: str = "results/merge"
    output: str = "results/compare"
