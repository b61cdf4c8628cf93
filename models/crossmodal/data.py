"""Batches of B images, each with one caption per language (K captions), for the image–text objectives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from embedlab.errors import UserError
from embedlab.models.image_encoder import read_rgb
from embedlab.models.resume import ResumableDataLoader


class ImageCaptionsLike(Protocol):
    image: Path
    captions: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class TeacherEmbeddings:
    """Frozen teachers' L2-normalised embeddings: `texts` by caption (captions in `language`), `images` by file."""

    language: str
    texts: dict[str, Tensor]
    images: dict[Path, Tensor] | None = None


class ImageCaptionDataModule(L.LightningDataModule):
    """Shuffled batches (seeded; the last incomplete batch dropped) of

        {"pixel_values": (B, 3, H, W) | None, "image_features": (B, Wi) | None,
         "tokens": tokens of B·K captions (caption k of image i at row i·K + k),
         "text_features": (B·K, Wt) | None, "teacher_texts": (B, Et) | None, "teacher_images": (B, Ei) | None}.

    With `text_features` (a locked text tower's features by caption, computed once) batches carry those
    instead of tokens (`tokens` is None); with `image_features` (a locked image backbone's features by image file,
    computed once) they carry those instead of pixels (`pixel_values` is None, no image is read).

    Where a language has several captions for an image (Flickr8k's five English ones), one is drawn per batch,
    seeded by the batch's indices: the same batch in every run and after a resume.
    """

    def __init__(self, records: Sequence[ImageCaptionsLike], languages: Sequence[str],
                 preprocess: Callable[[list[Image.Image]], Tensor], tokenize: Callable[[list[str]], dict[str, Any]],
                 batch_size: int, seed: int = 0, teachers: TeacherEmbeddings | None = None,
                 text_features: dict[str, Tensor] | None = None,
                 image_features: dict[Path, Tensor] | None = None) -> None:
        super().__init__()
        if len(records) < batch_size:
            raise UserError(f"{len(records)} training images with captions in {list(languages)}: fewer than one "
                            f"batch of {batch_size}")
        self.records, self.languages = list(records), list(languages)
        self.preprocess, self.tokenize = preprocess, tokenize
        self.batch_size, self.seed, self.teachers, self.text_features = batch_size, seed, teachers, text_features
        self.image_features = image_features

    def train_dataloader(self) -> ResumableDataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return ResumableDataLoader(range(len(self.records)), batch_size=self.batch_size, shuffle=True,
                                   drop_last=True, generator=generator, collate_fn=self.collate)

    def captions(self, indices: Sequence[int]) -> list[list[str]]:
        """For each image of the batch, its K captions in `languages` order."""
        rng = np.random.default_rng([self.seed, *indices])
        return [[self.records[i].captions[lang][rng.integers(len(self.records[i].captions[lang]))]
                 for lang in self.languages] for i in indices]

    def collate(self, indices: list[int]) -> dict[str, Any]:
        chosen = self.captions(indices)  # B lists of K captions
        texts = [text for captions in chosen for text in captions]  # B·K, image-major
        batch = {"pixel_values": None, "image_features": None, "tokens": None, "text_features": None,
                 "teacher_texts": None, "teacher_images": None}
        if self.image_features is None:
            batch["pixel_values"] = self.preprocess([read_rgb(self.records[i].image) for i in indices])
        else:
            batch["image_features"] = torch.stack([self.image_features[self.records[i].image] for i in indices])
        if self.text_features is None:
            batch["tokens"] = self.tokenize(texts)
        else:
            batch["text_features"] = torch.stack([self.text_features[text] for text in texts])
        if self.teachers is not None:
            pivot = self.languages.index(self.teachers.language)
            batch["teacher_texts"] = torch.stack([self.teachers.texts[captions[pivot]] for captions in chosen])
            if self.teachers.images is not None:
                batch["teacher_images"] = torch.stack([self.teachers.images[self.records[i].image] for i in indices])
        return batch
