"""`pairs` format: (anchor, positive[, negative]) rows, e.g. NLI (premise, entailment, contradiction) triples.

Reference: Gao et al. 2021, "SimCSE" (arXiv 2104.08821), supervised setting with contradictions as hard negatives.
"""

from __future__ import annotations

from pathlib import Path

from embedlab.train_tasks.spec import TrainFormat
from embedlab.train_tasks.task import TrainExample, TrainTaskSpec, read_role


def read(spec: TrainTaskSpec, data_root: Path, seed: int) -> list[TrainExample]:
    columns = ("anchor", "positive", "negative") if "negative" in spec.files["train"].columns else ("anchor", "positive")
    return [TrainExample(tuple(row[c] for c in columns)) for row in read_role(spec, "train", data_root)]


FORMAT = TrainFormat({"train": ("anchor", "positive")}, read)
