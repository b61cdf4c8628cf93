"""Batches of composed-image-retrieval triplets for the two training stages (paper 6).

A triplet may carry several modification texts (one per template, as the authors' generation attaches the whole
list to a pair: BUAADreamer/SPN4CIR, zscir/get_cir_data.py `get_captions`); each time a triplet is batched, one of
them is drawn uniformly (their clip4cir/data_utils.py `CIRDataset.__getitem__`: `random.choice(captions)`), here
as a pure function of (seed, epoch, triplet) so that runs and resumed runs draw the same texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from embedlab.errors import UserError
from embedlab.models.image_encoder import read_rgb
from embedlab.models.resume import ResumableDataLoader


@dataclass(frozen=True)
class IndexedTriplet:
    """A triplet by image row (`reference`, `target`: rows of the training images, i.e. of the static bank) and its
    modification texts (one or more, e.g. one per template)."""

    reference: int
    modifications: tuple[str, ...]
    target: int


def draw_modification(modifications: Sequence[str], seed: int, epoch: int, index: int) -> str:
    """One of `modifications`, uniformly, for triplet `index` in training pass `epoch`: the same for the same
    (seed, epoch, index), independent across them (numpy's generator seeded with the three)."""
    if len(modifications) == 1:
        return modifications[0]
    return modifications[int(np.random.default_rng((seed, epoch, index)).integers(len(modifications)))]


class TripletDataModule(L.LightningDataModule):
    """Shuffled batches (seeded; the last incomplete batch dropped) of

        {"reference": (B,) long, "target": (B,) long  — rows of `images`,
         "tokens": tokens of the B modification texts | None, "text_features": (B, Wt) | None,
         "reference_pixels": (B, 3, H, W) | None, "target_pixels": (B, 3, H, W) | None}.

    Each triplet's text is drawn from its modifications by `draw_modification` with the trainer's current epoch
    (0 outside a trainer). With `text_features` (a locked text tower's features by text, computed once) batches
    carry those instead of tokens. With `preprocess` (stage 1) they carry both images' pixels; without (stage 2,
    whose image features come from the static bank) no image is read.
    """

    def __init__(self, triplets: Sequence[IndexedTriplet], images: Sequence[Path],
                 preprocess: Callable[[list[Image.Image]], Tensor] | None,
                 tokenize: Callable[[list[str]], dict[str, Any]], batch_size: int, seed: int = 0,
                 text_features: dict[str, Tensor] | None = None) -> None:
        super().__init__()
        if len(triplets) < batch_size:
            raise UserError(f"{len(triplets)} training triplets: fewer than one batch of {batch_size}")
        self.triplets, self.images = list(triplets), list(images)
        self.preprocess, self.tokenize = preprocess, tokenize
        self.batch_size, self.seed, self.text_features = batch_size, seed, text_features

    def train_dataloader(self) -> ResumableDataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return ResumableDataLoader(range(len(self.triplets)), batch_size=self.batch_size, shuffle=True,
                                   drop_last=True, generator=generator, collate_fn=self.collate)

    def collate(self, indices: list[int]) -> dict[str, Any]:
        chosen = [self.triplets[i] for i in indices]
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        texts = [draw_modification(self.triplets[i].modifications, self.seed, epoch, i) for i in indices]
        batch = {"reference": torch.tensor([t.reference for t in chosen]),
                 "target": torch.tensor([t.target for t in chosen]),
                 "tokens": None, "text_features": None, "reference_pixels": None, "target_pixels": None}
        if self.text_features is None:
            batch["tokens"] = self.tokenize(texts)
        else:
            batch["text_features"] = torch.stack([self.text_features[text] for text in texts])
        if self.preprocess is not None:
            for role in ("reference", "target"):
                batch[f"{role}_pixels"] = self.preprocess([read_rgb(self.images[getattr(t, role)]) for t in chosen])
        return batch
