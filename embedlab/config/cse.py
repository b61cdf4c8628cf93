"""The `cse` section of params.yaml: sentence-representation learning (papers 8 and 9)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from embedlab.config.section import Section
from embedlab.config.trainer import EncoderTrainerSettings
from embedlab.eval_tasks.spec import FileSpec


class ParadigmParams(Section):
    """`cse.paradigm`: the unified gradient paradigm's components (paper 8, arXiv 2402.18281), applied to the
    objective; null keeps the objective's own. The paper's modified non-contrastive losses use margin 0.3,
    weight_temperature 0.05 and ratio 1.5 (1.75 for alignment + uniformity)."""

    margin: float | None = Field(None, description="GD: rows whose positive margin is at least this get no gradient")
    weight_temperature: float | None = Field(None, gt=0, description="W: softmax temperature over the negatives")
    weight_power: float | None = Field(None, gt=0, description="W: power of the similarity over the negatives")
    ratio: float | None = Field(None, gt=0, description="R: scale of the positive pull")

    @model_validator(mode="after")
    def _one_weight(self) -> ParadigmParams:
        if self.weight_temperature is not None and self.weight_power is not None:
            raise ValueError("give weight_temperature or weight_power, not both")
        return self


class DiagnosticsParams(Section):
    """`cse.diagnostics`: alignment, uniformity and FDI (paper 9) every `every` steps, on `holdout` of the training
    data (held out of training) and on evaluation pairs: rows of `eval_files` (STS-B layout, under data_root;
    the authors' STS-B validation split) scoring at least `min_score`, a seeded sample of at most `max_pairs`
    pairs (the held-out set too). Evaluation uniformity is taken, as the authors do, over both sentences of the
    pairs scoring at least `min_score` or at most `low_score`, the first `uniform_sentences` in file order.
    `train_mode`: every set is encoded with dropout on, as in the authors' code (false: without)."""

    every: int = Field(25, gt=0)
    holdout: float = Field(0.1, gt=0, lt=1)
    max_pairs: int = Field(256, gt=1)
    min_score: float = 4.0
    low_score: float = 1.0
    uniform_sentences: int = Field(1000, gt=1)
    eval_files: list[str] = Field(default_factory=lambda: ["stsb/sts-dev.csv"], min_length=1)
    train_mode: bool = True
    batch_size: int = Field(64, gt=0)


class CseParams(EncoderTrainerSettings):
    """`cse` section: sentence-representation learning in the SimCSE setting (`embedlab cse`, papers 8 and 9).

    `data`: `wiki` (unsupervised: two dropout views of each line of `wiki`), `nli` ((premise, entailment,
    contradiction) triples of `nli`) or `generated` (the hierarchical sentences of `generate.sentences.output`).
    `objective` names a loss of `embedlab.models.losses.CSE_OBJECTIVES`; `options` are its own keyword
    parameters (e.g. `angular_margin` of arccon) and `paradigm` the components applied to it. `max_steps` null
    trains one epoch. `temperature` τ is the contrastive objectives' (scale 1/τ). The trained model is evaluated
    on `evaluate` (built-in evaluation tasks) with the `evaluate` section's device and batch size, reading at most
    `eval_max_seq_length` tokens (null: the model's own; the trained model keeps `max_seq_length`). The trainer
    fields are `EncoderTrainerSettings`'; this section's defaults differ where declared below.
    """

    objective: str = "infonce"
    data: Literal["wiki", "nli", "generated"] = "wiki"
    wiki: FileSpec = Field(default_factory=lambda: FileSpec(
        path="simcse/wiki1m_for_simcse_first11914.txt", format="tsv", header=False, columns={"text": 0}))
    nli: FileSpec = Field(default_factory=lambda: FileSpec(
        path="nli/nli_triples_for_simcse_from_dev.csv",
        columns={"anchor": "sent0", "positive": "sent1", "negative": "hard_neg"}))
    options: dict[str, Any] = Field(default_factory=dict)
    paradigm: ParadigmParams = Field(default_factory=ParadigmParams)
    output: str = "results/cse"
    batch_size: int = Field(32, gt=1)
    max_steps: int | None = Field(100, gt=0)
    warmup_ratio: float = Field(0.0, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    max_seq_length: int = Field(32, gt=0)
    temperature: float = Field(0.05, gt=0)
    checkpoint_every: int = Field(50, gt=0)
    evaluate: list[str] = Field(default_factory=lambda: ["STSBenchmark"], min_length=1)
    eval_max_seq_length: int | None = Field(128, gt=0)
    diagnostics: DiagnosticsParams = Field(default_factory=DiagnosticsParams)


RunName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$")]


class CseRunParams(Section):
    """One run of `cse_table.runs`: the objective, its own options and the paradigm components applied to it."""

    objective: str
    options: dict[str, Any] = Field(default_factory=dict)
    paradigm: ParadigmParams = Field(default_factory=ParadigmParams)


class CseTableParams(Section):
    """`cse_table` section: the acceptance grid of `embedlab cse`. Each entry of `runs` (name -> objective, options,
    paradigm) trains with the `cse` section's other settings into <output>/runs/<name> (`embedlab cse run --run NAME`,
    stage `cse@NAME` of pipelines/cse/dvc.yaml); `embedlab cse compare` adds the base model's row and writes
    the results table to <output>/table/ (stage `cse_table`)."""

    output: str = "results/cse_table"
    runs: dict[RunName, CseRunParams] = Field(default_factory=dict)
