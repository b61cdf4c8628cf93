"""`hierarchical` format: JSON lines {"sentence": str, "levels": [str, ...]}, level 1 the most similar sample.

Written by `embedlab generate sentences` (ICL hierarchical data; Li et al. 2024, NGCSE, arXiv 2309.06453). Each
example is (sentence, level 1, ..., level L); every row must have the same number of levels, since a batch stacks
one column per level.
"""

from __future__ import annotations

from pathlib import Path

from embedlab.errors import DataError
from embedlab.jsonlines import read_json_lines
from embedlab.train_tasks.spec import TrainFormat
from embedlab.train_tasks.task import TrainExample, TrainTaskSpec


def read(spec: TrainTaskSpec, data_root: Path, seed: int) -> list[TrainExample]:
    file = spec.files["train"]
    path = Path(file.path) if Path(file.path).is_absolute() else data_root / file.path
    sentence_key, levels_key = (str(file.columns.get(c, c)) for c in ("sentence", "levels"))
    if not path.is_file():
        raise DataError(path, "file not found (files.train.path); `embedlab generate sentences` writes it")
    examples: list[TrainExample] = []
    for number, row in read_json_lines(path):
        sentence, levels = row.get(sentence_key), row.get(levels_key)
        if not isinstance(sentence, str) or not isinstance(levels, list) or not levels \
                or not all(isinstance(level, str) for level in levels):
            raise DataError(path, f"expected {{{sentence_key!r}: str, {levels_key!r}: [str, ...]}}", number)
        if examples and len(levels) != len(examples[0].texts) - 1:
            raise DataError(path, f"{len(levels)} levels where the first row has {len(examples[0].texts) - 1}",
                            number)
        examples.append(TrainExample((sentence, *levels)))
    return examples


FORMAT = TrainFormat({"train": ("sentence", "levels")}, read)
