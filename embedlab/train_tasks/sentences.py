"""`sentences` format: one text per row, trained as two dropout views of itself (unsupervised SimCSE).

Each example is (text, text): the module encodes each column in its own forward pass in training mode, so the two
embeddings differ by their dropout masks. Reference: Gao et al. 2021, "SimCSE" (arXiv 2104.08821), unsupervised.
"""

from __future__ import annotations

from pathlib import Path

from embedlab.train_tasks.spec import TrainFormat
from embedlab.train_tasks.task import TrainExample, TrainTaskSpec, read_role


def read(spec: TrainTaskSpec, data_root: Path, seed: int) -> list[TrainExample]:
    texts = (row["text"].strip() for row in read_role(spec, "train", data_root))
    return [TrainExample((text, text)) for text in texts if text]


FORMAT = TrainFormat({"train": ("text",)}, read)
