"""The probe set of a merge learned from data: a small task-balanced sample of the training tasks' examples,
batched per task, scored by each task's own training loss.

Self Positioning (Li et al. 2024, arXiv 2410.15035) searches its coefficients on such a set. Every step sees one
batch of every task, and the step's loss is the mean of the tasks' losses, so no task outweighs another however
large its training data.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from embedlab.models.data_module import ExampleLike, TaskMixDataModule
from embedlab.models.losses import LOSSES


@dataclass(frozen=True)
class ProbeTask:
    """One training task's part of the probe: its loss (registry name and scale) and its sampled examples."""

    name: str
    loss: str
    scale: float
    examples: Sequence[ExampleLike]


@dataclass(frozen=True)
class ProbeSet:
    """The probe: one `ProbeTask` per training task, and the token length the model reads (None: its own)."""

    tasks: Sequence[ProbeTask]
    max_seq_length: int | None = None

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("a probe set needs at least one task")


def sample_examples(examples: Sequence[ExampleLike], size: int, seed: int) -> list[ExampleLike]:
    """A seeded sample of `size` examples in their original order (all of them where there are fewer)."""
    if size >= len(examples):
        return list(examples)
    return [examples[i] for i in sorted(random.Random(seed).sample(range(len(examples)), size))]


def probe_steps(probe: ProbeSet, tokenize: Callable[[list[str]], dict[str, Any]],
                batch_size: int) -> list[list[dict[str, Any]]]:
    """The distinct steps of a search: step j holds batch j of every task (tasks with fewer batches wrap round).

    A batch is `{"task", "features": [tokenised column, ...], "labels"}`, as in training. A task's last batch
    is dropped when it would hold fewer than 2 examples (in-batch contrastive losses need two).
    """
    batches = []
    for task in probe.tasks:
        chunks = [list(task.examples[i:i + batch_size]) for i in range(0, len(task.examples), batch_size)]
        chunks = [chunk for chunk in chunks if len(chunk) >= 2] or [list(task.examples)]
        collate = TaskMixDataModule({task.name: task.examples}, tokenize, batch_size).collate
        batches.append([collate([(task.name, example) for example in chunk]) for chunk in chunks])
    return [[task_batches[j % len(task_batches)] for task_batches in batches]
            for j in range(max(len(task_batches) for task_batches in batches))]


def probe_loss(probe: ProbeSet) -> Callable[[Callable[..., Any], list[dict[str, Any]]], Tensor]:
    """The loss of one step (a `ProbeLoss`): the mean over tasks of each task's own training loss on its batch.

    `forward(features)` runs the (merged) sentence-transformers model and returns its output dict.
    """
    losses = {task.name: (LOSSES.get(task.loss), task.scale) for task in probe.tasks}

    def loss(forward: Callable[..., Any], step: list[dict[str, Any]]) -> Tensor:
        values = []
        for batch in step:
            function, scale = losses[batch["task"]]
            embeddings = [forward(features)["sentence_embedding"] for features in batch["features"]]  # (B, D) each
            values.append(function(embeddings, batch["labels"], scale=scale))
        return sum(values) / len(values)

    return loss
