"""The `train`, `merge` and `compare` sections of params.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from embedlab.config.section import ProfiledSection, Section
from embedlab.config.trainer import EncoderTrainerSettings
from embedlab.models.merging import METHODS
from embedlab.train_tasks.spec import TrainTaskSpec


class TrainParams(EncoderTrainerSettings):
    """`train` section: fine-tuning with Lightning (`embedlab train`); the trainer fields are
    `EncoderTrainerSettings`'. `sampling` draws the task of each joint-training step.
    """

    sampling: Literal["proportional", "uniform", "temperature"] = "proportional"
    alpha: float = Field(0.5, gt=0, description="temperature sampling: p_i proportional to n_i ** alpha")
    joint_tasks: list[str] = Field(default_factory=list, description="tasks of the joint model; empty: all")
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
    `seeds`: one seed (the default) compares the models of the folders above, trained with `train.seed`; several
    compare every trained variant once per seed, each seed's models under `<seed_output>/seed-<s>/` (`train/`,
    `joint/`, `merge/`; `pipelines/seeds/dvc.yaml` trains them), and report mean ± std over the seeds.
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
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1, description="training seeds compared")
    seed_output: str = Field("results/seeds", description="several seeds: <seed_output>/seed-<s>/{train,joint,merge}")
