"""Running Lightning: checkpoints every N steps (written atomically), exact resume from the last, save the model."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from embedlab.atomic import remove_stale_temps
from embedlab.models.embedding_module import EmbeddingModule
from embedlab.models.resume import RandomState

LAST = "last.ckpt"  # the one checkpoint `fit` keeps (save_top_k=0, save_last=True)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temp file beside it, then renames: `kill -9` never leaves a torn last.ckpt.

    The temp file is `.<name>.<pid>.<random>.tmp`, the naming of `embedlab.atomic`, so the temp file of a process
    killed while writing is recognised (its pid no longer runs) and removed by the next run (`fit`).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
        os.close(fd)
        try:
            torch.save(checkpoint, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class StepClock(L.Callback):
    """The step training starts from (after a resume), the wall time of the steps run in this process, and the
    wall time of all the steps the model has had: the seconds of earlier runs up to their last checkpoint are kept
    in the checkpoint (the work a killed run did after it is lost and not counted)."""

    def __init__(self) -> None:
        self.first_step, self.start, self.steps, self.seconds, self.earlier = 0, 0.0, 0, 0.0, 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.first_step, self.start = trainer.global_step, time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.steps, self.seconds = trainer.global_step - self.first_step, time.perf_counter() - self.start

    def state_dict(self) -> dict[str, float]:
        return {"seconds": self.earlier + (time.perf_counter() - self.start if self.start else 0.0)}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.earlier = state_dict["seconds"]


@dataclass
class FitResult:
    """`steps` and `seconds_total` of the model, over every run that trained it; `steps_run`, `seconds` and
    `samples_run` of this process only (fewer after a resume)."""

    steps: int
    steps_run: int
    seconds: float
    seconds_total: float
    samples_run: int
    task_steps: dict[str, int]
    is_global_zero: bool


def resolve_precision(precision: str, accelerator: str) -> str:
    """`auto`: bf16-mixed where training runs on a GPU that supports it, else full 32-bit."""
    if precision != "auto":
        return precision
    on_gpu = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if on_gpu and torch.cuda.is_bf16_supported() else "32-true"


def fit(module: EmbeddingModule | L.LightningModule, data: L.LightningDataModule, out_dir: Path, *, max_steps: int,
        checkpoint_every: int, accelerator: str = "auto", devices: int | str = 1, strategy: str = "auto",
        precision: str = "auto", logger: Any = False, log_every_n_steps: int = 5,
        callbacks: Sequence[L.Callback] = ()) -> FitResult:
    """Train `module` for `max_steps` steps in total, resuming from `out_dir/checkpoints/last.ckpt` if present.

    A resumed run ends with the weights an uninterrupted run ends with (bit for bit on the CPU) when `data`'s
    train loader is an `embedlab.models.resume.ResumableDataLoader` (its position is checkpointed) and the
    module draws randomness only from the global random state (checkpointed by `RandomState`). A checkpoint
    temp file left by a killed run of the same `out_dir` is removed first.

    `module` is an `EmbeddingModule` or any LightningModule with `task_steps` (steps per training task) and
    `save_model(folder)`. On rank zero, writes `out_dir/model` (a sentence-transformers folder for an
    `EmbeddingModule`) atomically at the end.
    Call `lightning.seed_everything(seed)` before building `module` for a reproducible run. `callbacks` run
    beside the checkpointing; their state is saved in the checkpoints and restored on resume.
    """
    remove_stale_temps(out_dir / "checkpoints" / LAST)
    checkpoints = ModelCheckpoint(dirpath=out_dir / "checkpoints", every_n_train_steps=checkpoint_every,
                                  save_last=True, save_top_k=0)
    clock = StepClock()
    trainer = L.Trainer(max_steps=max_steps, max_epochs=-1, accelerator=accelerator, devices=devices,
                        strategy=strategy, precision=resolve_precision(precision, accelerator), logger=logger,
                        callbacks=[checkpoints, clock, *callbacks, RandomState()], plugins=[AtomicCheckpointIO()],
                        use_distributed_sampler=False,
                        deterministic="warn", enable_model_summary=False, enable_progress_bar=False,
                        log_every_n_steps=log_every_n_steps, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=data, ckpt_path="last")
    if trainer.is_global_zero:  # a sentence encoder saves a sentence-transformers folder; other modules define save_model
        save = module.save_model if hasattr(module, "save_model") else module.save_sentence_transformer
        save(out_dir / "model")
    samples = clock.steps * data.batch_size * trainer.world_size
    return FitResult(trainer.global_step, clock.steps, clock.seconds, clock.earlier + clock.seconds, samples,
                     dict(module.task_steps), trainer.is_global_zero)
