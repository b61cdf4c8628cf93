"""`scored_pairs` format: sentence pairs with a gold similarity, rescaled from `score_range` to [0, 1]."""

from __future__ import annotations

from pathlib import Path

from embedlab.errors import DataError
from embedlab.train_tasks.spec import TrainFormat
from embedlab.train_tasks.task import TrainExample, TrainTaskSpec, read_role


def read(spec: TrainTaskSpec, data_root: Path, seed: int) -> list[TrainExample]:
    low, high = spec.score_range
    examples = []
    for row in read_role(spec, "train", data_root):
        try:
            score = float(row["score"])
        except ValueError:
            raise DataError(spec.files["train"].path, f"score {row['score']!r} is not a number") from None
        examples.append(TrainExample((row["sentence1"], row["sentence2"]), (score - low) / (high - low)))
    return examples


FORMAT = TrainFormat({"train": ("sentence1", "sentence2", "score")}, read)
