"""The schema of a training task: a params.yaml entry pointing at files, a format and a loss (a task is data),
and the registry of training formats.

Adding a format is one file defining `FORMAT = TrainFormat(roles, read)` (its docstring documents the format)
plus one line in FORMATS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from embedlab.eval_tasks.spec import FileSpec
from embedlab.registry import Registry, module_doc, name_check

if TYPE_CHECKING:
    from embedlab.train_tasks.task import TrainExample


class TrainFormat(NamedTuple):
    """One training format: the files it reads by role, each with the columns it must provide (optional ones in
    OPTIONAL_COLUMNS), and `read(spec, data_root, seed) -> list[TrainExample]`."""

    roles: dict[str, tuple[str, ...]]
    read: Callable[[TrainTaskSpec, Path, int], list[TrainExample]]


FORMATS: Registry[TrainFormat] = Registry("training format", {
    "pairs": "embedlab.train_tasks.pairs:FORMAT",
    "scored_pairs": "embedlab.train_tasks.scored_pairs:FORMAT",
    "retrieval": "embedlab.train_tasks.retrieval:FORMAT",
    "labelled": "embedlab.train_tasks.labelled:FORMAT",
    "sentences": "embedlab.train_tasks.sentences:FORMAT",
    "hierarchical": "embedlab.train_tasks.hierarchical:FORMAT",
}, doc=lambda format: module_doc(format.read))
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {"train": ("negative",), "corpus": ("title",), "qrels": ("score",)}


class TrainTaskSpec(BaseModel):
    """One training task.

    `pairs`: (anchor, positive[, negative]) rows. `scored_pairs`: sentence pairs with a gold score in
    `score_range`. `retrieval`: BEIR-style corpus, queries and qrels; `hard_negatives` documents per query are
    mined with the base model. `labelled`: texts with a class label, trained as (anchor, same-label positive,
    other-label negative) triples. `sentences`: one text per row, trained as two dropout views of itself
    (unsupervised SimCSE). `hierarchical`: JSON lines {sentence, levels: [most similar, ..., least similar]}.
    `batch_size`, `max_steps` and `lr` override the `train` section when this task trains alone (`train@<task>`).
    """

    model_config = ConfigDict(extra="forbid")

    format: Annotated[str, AfterValidator(name_check(FORMATS))]
    files: dict[str, FileSpec]
    loss: str
    loss_scale: float = Field(20.0, gt=0, description="inverse temperature of the loss")
    score_range: tuple[float, float] = (0.0, 5.0)
    hard_negatives: int = Field(0, ge=0, description="retrieval: mined negatives per query")
    mining_skip: int = Field(3, ge=0, description="retrieval: top-ranked non-relevant documents skipped "
                                                  "(likely unlabelled positives)")
    max_examples: int | None = Field(None, gt=0, description="a seeded random subset of this many examples")
    batch_size: int | None = Field(None, gt=0)
    max_steps: int | None = Field(None, gt=0)
    lr: float | None = Field(None, gt=0)
    description: str = ""

    @model_validator(mode="after")
    def _check_files(self) -> TrainTaskSpec:
        roles = FORMATS.get(self.format).roles
        expected, given = set(roles), set(self.files)
        if given != expected:
            raise ValueError(f"files of a {self.format} task must be {sorted(expected)}, got {sorted(given)}")
        for role, file in self.files.items():
            allowed = set(roles[role]) | set(OPTIONAL_COLUMNS.get(role, ()))
            unknown = sorted(set(file.columns) - allowed)
            if unknown:
                raise ValueError(f"files.{role}.columns: unknown column role(s) {unknown}; expected {sorted(allowed)}")
        if self.score_range[0] >= self.score_range[1]:
            raise ValueError(f"score_range must be [low, high] with low < high, got {list(self.score_range)}")
        return self
