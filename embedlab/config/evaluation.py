"""The `evaluate`, `prepare` and `tracking` sections of params.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from embedlab.config.section import Section


DEFAULT_TASKS = ["STSBenchmark", "SciFact", "Banking77Classification"]


class EvaluateParams(Section):
    """`evaluate` section: what to evaluate and how."""

    model: str = "minilm"
    tasks: list[str] = Field(default_factory=lambda: list(DEFAULT_TASKS))
    task_files: list[str] = Field(default_factory=list)
    source: Literal["local", "hub"] = Field("local", description="local files under data_root, or mteb's Hub datasets")
    batch_size: int = Field(64, gt=0)
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = Field(
        "auto", description="auto: bf16 on CUDA, fp32 on CPU; int8: Linear layers dynamically quantised (CPU only)")
    output: str = "results/runs"  # each ad-hoc evaluation: <output>/evaluate-<time>/ (the DVC stage passes -o)


class PrepareParams(Section):
    """`prepare` section: where the validated, normalised evaluation data is written."""

    out: str = "data/prepared"


class TrackingParams(Section):
    """`tracking` section: MLflow. `tracking_uri` null means a SQLite file in the project."""

    tracking_uri: str | None = None
    experiment: str = "embedlab"
    strict: bool = False  # an unreachable tracking server is an error (exit 2) instead of a warning
    connect_timeout_s: float = Field(default=5.0, gt=0)  # how long a command waits for the tracking server
