"""What a checkpoint must hold so that a resumed run continues exactly as an uninterrupted one.

Lightning restores the weights, optimizer, scheduler and step counters, but on its own it restarts the data at
the start of the epoch and leaves the global random state where the new process seeded it. Two additions close
the gap (bit for bit on the CPU):

- `ResumableDataLoader`: its position (the generator's state at the start of the current pass and the batches
  handed out since) goes into the checkpoint (Lightning's stateful-dataloader interface); a resumed pass skips
  the batches already trained on, at the level of indices, so no data is loaded for them.
- `RandomState`: a callback whose state is the global random state (torch, CUDA, numpy, Python) when the
  checkpoint was written, set again when training restarts (dropout masks continue where they were).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader


class _Skip:
    """Index sampler `inner` whose next pass leaves out its first `count` batches (drawn, never loaded)."""

    def __init__(self, inner: Any, count: int) -> None:
        self.inner, self.count = inner, count

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[Any]:
        count, self.count = self.count, 0  # once: a persistent-workers iterator keeps this object for later passes
        return itertools.islice(iter(self.inner), count, None)


class _Counting:
    """The loader's iterator, counting the batches it hands out into `loader.position`."""

    def __init__(self, iterator: Iterator[Any], loader: ResumableDataLoader) -> None:
        self.iterator, self.loader = iterator, loader

    def __iter__(self) -> _Counting:
        return self

    def __next__(self) -> Any:
        batch = next(self.iterator)
        self.loader.position += 1
        return batch


class ResumableDataLoader(DataLoader):
    """A DataLoader that Lightning can resume mid-epoch: `state_dict()` / `load_state_dict()`.

    Takes DataLoader's arguments; `generator` is required and is the loader's only source of randomness (the
    shuffling of a `RandomSampler` and the workers' base seed), so iterating never draws from the global random
    state. Batch samplers that reshuffle by epoch through `set_epoch` (Lightning sets the epoch before each pass)
    resume as well.

    State: `pass_start`, the generator's state when the current pass began, and `position`, the batches handed out
    in it. A pass resumed with `position` < len(self) replays the generator from `pass_start` and skips that many
    batches of indices; after a finished pass (`position` == len(self)) the next one starts from the generator as
    it was when the checkpoint was written — as in Lightning's loop, which takes len(self) batches a pass and asks
    for no more (a sampler may still draw when asked past its end).
    """

    def __init__(self, *args: Any, generator: torch.Generator, **kwargs: Any) -> None:
        super().__init__(*args, generator=generator, **kwargs)
        self.pass_start, self.position = generator.get_state(), 0
        self._resume_at = self._skipping = 0

    @property
    def _index_sampler(self) -> Any:  # DataLoader's own name for the sampler its iterator draws indices from
        inner = super()._index_sampler
        return _Skip(inner, self._skipping) if self._skipping else inner

    def __iter__(self) -> _Counting:
        skip, self._resume_at = self._resume_at, 0
        if not skip:
            self.pass_start = self.generator.get_state()
        self.position = self._skipping = skip
        try:
            iterator = super().__iter__()  # reads `_index_sampler` while `_skipping` holds
        finally:
            self._skipping = 0
        return _Counting(iterator, self)

    def state_dict(self) -> dict[str, Any]:
        return {"pass_start": self.pass_start, "position": self.position,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["position"] >= len(self):
            self.generator.set_state(state["generator"])
            self._resume_at = 0
        else:
            self.generator.set_state(state["pass_start"])
            self._resume_at = state["position"]


def global_random_state() -> dict[str, Any]:
    """torch's, CUDA's (one per device), numpy's and Python's global random state, as tensors and plain values
    (what `torch.load(weights_only=True)` reads back)."""
    name, key, position, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": (name, key.tolist(), position, has_gauss, gauss), "python": random.getstate()}


def set_global_random_state(state: dict[str, Any]) -> None:
    """Set what `global_random_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and len(state["cuda"]) == torch.cuda.device_count():  # not across machines of other sizes
        torch.cuda.set_rng_state_all(state["cuda"])
    name, key, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), position, has_gauss, gauss))
    version, values, gauss = state["python"]
    random.setstate((version, tuple(values), gauss))


class RandomState(L.Callback):
    """Saves the global random state with each checkpoint and sets it again when a resumed run starts training.

    The state is taken when the checkpoint is written (after a step) and set at `on_train_start`, after the
    model, optimizer and data were built — so whatever those drew does not shift the draws of the steps that
    follow. In multi-process training the state of rank zero (the one whose checkpoint is kept) is set on every
    rank; ranks seeded alike hold the same state anyway.
    """

    def __init__(self) -> None:
        self.saved: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return global_random_state()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.saved = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.saved is not None:
            set_global_random_state(self.saved)
            self.saved = None
