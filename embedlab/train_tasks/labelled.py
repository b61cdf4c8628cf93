"""`labelled` format: texts with a class label (e.g. Banking77 intents), trained contrastively.

Each text becomes an anchor with a random same-label positive and a random other-label negative; the group ids
travel as the label so that `mnrl` leaves same-label in-batch candidates out of the negatives
(Khosla et al. 2020, "Supervised Contrastive Learning", arXiv 2004.11362).
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from embedlab.train_tasks.spec import TrainFormat
from embedlab.train_tasks.task import TrainExample, TrainTaskSpec, read_role


def read(spec: TrainTaskSpec, data_root: Path, seed: int) -> list[TrainExample]:
    rows = read_role(spec, "train", data_root)
    label_ids = {label: i for i, label in enumerate(sorted({row["label"] for row in rows}))}
    by_label: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        by_label[label_ids[row["label"]]].append(row["text"])
    rng = random.Random(seed)
    examples = []
    for row in rows:
        label = label_ids[row["label"]]
        others = [t for t in by_label[label] if t != row["text"]]
        if not others or len(by_label) < 2:  # no positive or no negative to pair with
            continue
        negative_label = rng.choice([k for k in by_label if k != label])
        examples.append(TrainExample((row["text"], rng.choice(others), rng.choice(by_label[negative_label])),
                                (label, label, negative_label)))
    return examples


FORMAT = TrainFormat({"train": ("text", "label")}, read)
