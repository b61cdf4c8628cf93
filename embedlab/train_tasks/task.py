"""A loaded training task: its examples (tuples of texts, with an optional label) ready for batching."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from embedlab.eval_tasks.readers import read_rows
from embedlab.train_tasks.spec import FORMATS, OPTIONAL_COLUMNS, TrainTaskSpec


class TrainExample(NamedTuple):
    """One training example: a text per column, and the label its loss needs.

    `label` is a float score (scored pairs), a tuple of group ids, one per text (labelled triples), or None.
    `ids` name the texts where a later step needs them (retrieval: query id, document id).
    """

    texts: tuple[str, ...]
    label: float | tuple[int, ...] | None = None
    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainRetrievalData:
    """What hard-negative mining needs: texts by id and each query's relevant documents."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    pairs: list[tuple[str, str]]  # (query id, relevant doc id), one per qrel


@dataclass(frozen=True)
class TrainTask:
    name: str
    spec: TrainTaskSpec
    examples: list[TrainExample]

    def __len__(self) -> int:
        return len(self.examples)

    def with_examples(self, examples: list[TrainExample]) -> TrainTask:
        return replace(self, examples=examples)


def read_role(spec: TrainTaskSpec, role: str, data_root: Path) -> list[dict[str, str]]:
    """The rows of the file playing `role`, each {column: text}; DataError for an empty or malformed file."""
    file = spec.files[role]
    path = Path(file.path) if Path(file.path).is_absolute() else data_root / file.path
    needed = FORMATS.get(spec.format).roles[role]
    return [row for _, row in read_rows(path, role, file, needed, OPTIONAL_COLUMNS.get(role, ()))]
