"""Which task each training step draws from, and the batches of indices that follow.

Joint multi-task training keeps every batch within one task (in-batch negatives stay meaningful), as MTEB-style
trainers do. Strategies: `proportional` (p_i ∝ n_i), `uniform` (round robin), `temperature` (p_i ∝ n_i^α,
the *resampling* baseline of Li et al. 2024, "Improving General Text Embedding Model: Tackling Task Conflict and
Data Imbalance through Model Merging", arXiv 2410.15035).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

SAMPLINGS = ("proportional", "uniform", "temperature")


def task_probabilities(sizes: list[int], sampling: str, alpha: float = 1.0) -> list[float]:
    """Probability of drawing each task at a step: n_i, 1 or n_i^alpha, normalised."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    weights = {"proportional": [float(n) for n in sizes], "uniform": [1.0] * len(sizes),
               "temperature": [float(n) ** alpha for n in sizes]}[sampling]
    return [w / sum(weights) for w in weights]


class TaskMixBatchSampler(Sampler[list[int]]):
    """Batches of indices into the concatenation of the tasks' examples, each batch from one task.

    Each step draws a task (the same draw on every rank), then the next `batch_size * world_size` indices of
    that task's shuffled stream (reshuffled when used up); rank r keeps its r-th slice. An epoch has
    `steps_per_epoch` steps (default: the total examples over the global batch). Seeded by (seed, epoch).
    """

    def __init__(self, sizes: list[int], batch_size: int, sampling: str = "proportional", alpha: float = 1.0,
                 seed: int = 0, steps_per_epoch: int | None = None, rank: int = 0, world_size: int = 1) -> None:
        self.sizes, self.batch_size, self.sampling = sizes, batch_size, sampling
        self.probabilities = torch.tensor(task_probabilities(sizes, sampling, alpha))
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.seed, self.epoch, self.rank, self.world_size = seed, 0, rank, world_size
        self.steps = steps_per_epoch or max(1, sum(sizes) // (batch_size * world_size))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def task_order(self) -> list[int]:
        """The task index of every step of the current epoch."""
        if self.sampling == "uniform":
            return [step % len(self.sizes) for step in range(self.steps)]
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.multinomial(self.probabilities, self.steps, replacement=True, generator=generator).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch + 1)
        streams: list[list[int]] = [[] for _ in self.sizes]
        global_batch = self.batch_size * self.world_size
        for task in self.task_order():
            while len(streams[task]) < global_batch:
                streams[task] += torch.randperm(self.sizes[task], generator=generator).tolist()
            batch, streams[task] = streams[task][:global_batch], streams[task][global_batch:]
            mine = batch[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
            yield [self.offsets[task] + i for i in mine]
