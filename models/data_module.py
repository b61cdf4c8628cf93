"""LightningDataModule over one or more training tasks: single-task batches, tokenised per text column."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import lightning as L
import torch

from embedlab.models.resume import ResumableDataLoader
from embedlab.models.task_mix import TaskMixBatchSampler


class ExampleLike(Protocol):
    texts: tuple[str, ...]
    label: float | tuple[int, ...] | None


class TaskMixDataModule(L.LightningDataModule):
    """Batches `{"task": name, "features": [tokenised column, ...], "labels": Tensor | None}`.

    `tasks` maps a task name to its examples; every batch is from one task, drawn by `sampling`
    (see `TaskMixBatchSampler`). `labels` is (B,) float for scored pairs, (B, columns) long for group ids.
    """

    def __init__(self, tasks: dict[str, Sequence[ExampleLike]], tokenize: Callable[[list[str]], dict[str, Any]],
                 batch_size: int, sampling: str = "proportional", alpha: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        self.tasks, self.tokenize = tasks, tokenize
        self.batch_size, self.sampling, self.alpha, self.seed = batch_size, sampling, alpha, seed
        self.items = [(name, example) for name, examples in tasks.items() for example in examples]

    def train_dataloader(self) -> ResumableDataLoader:
        """Batches in the order of `TaskMixBatchSampler` (seeded by seed and epoch); resumable mid-epoch."""
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        sampler = TaskMixBatchSampler([len(v) for v in self.tasks.values()], self.batch_size, self.sampling,
                                      self.alpha, self.seed, rank=rank, world_size=world)
        return ResumableDataLoader(self.items, batch_sampler=sampler, collate_fn=self.collate,
                                   generator=torch.Generator().manual_seed(self.seed))

    def collate(self, items: list[tuple[str, ExampleLike]]) -> dict[str, Any]:
        names = {name for name, _ in items}
        assert len(names) == 1, f"a batch mixes tasks {sorted(names)}"
        examples = [example for _, example in items]
        columns = list(zip(*(example.texts for example in examples)))  # one tuple of B texts per column
        first = examples[0].label
        if first is None:
            labels = None
        elif isinstance(first, tuple):
            labels = torch.tensor([example.label for example in examples], dtype=torch.long)  # (B, columns)
        else:
            labels = torch.tensor([example.label for example in examples], dtype=torch.float32)  # (B,)
        return {"task": names.pop(), "features": [self.tokenize(list(column)) for column in columns], "labels": labels}
