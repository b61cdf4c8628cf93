"""Composed-image-retrieval triplets (paper 6, SPN4CIR): the record every triplet reader produces, the check that
every image a triplet names exists, the seeded split by reference image, and the gallery of a set of triplets."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from embedlab.errors import DataError, UserError


@dataclass(frozen=True)
class Triplet:
    """A reference image, the text that modifies it, and the target image it describes.

    `where` names the triplet in its file (`triplets.jsonl:17`, `cap.dress.val.json[3]`); images are full paths.
    `alternatives`: further modification texts of the same pair (generated triplets carry one per template);
    training draws one of `modifications` per sample, evaluation uses `modification`, the first (as the authors'
    validation takes `captions[0]`: BUAADreamer/SPN4CIR, clip4cir/data_utils.py).
    """

    where: str
    reference: Path
    modification: str
    target: Path
    alternatives: tuple[str, ...] = ()

    @property
    def modifications(self) -> tuple[str, ...]:
        """Every modification text of the pair, `modification` first."""
        return (self.modification, *self.alternatives)

    def label(self) -> str:
        """`reference.jpg + 'text…' -> target.jpg`, for messages."""
        text = self.modification if len(self.modification) <= 40 else self.modification[:39] + "…"
        return f"{self.reference.name} + {text!r} -> {self.target.name}"


def check_triplet_images(triplets: Sequence[Triplet]) -> None:
    """DataError naming the first triplet whose reference or target image file does not exist, and the path;
    run before any training or encoding."""
    for triplet in triplets:
        for role, path in (("reference", triplet.reference), ("target", triplet.target)):
            if not path.is_file():
                raise DataError(triplet.where, f"triplet {triplet.label()}: {role} image {path} not found")


def split_by_reference(triplets: Sequence[Triplet], test_fraction: float,
                       seed: int) -> tuple[list[Triplet], list[Triplet]]:
    """(train, test): a seeded `test_fraction` of the distinct reference images (at least one) and every triplet
    of theirs held out, so no test reference is ever a training reference. Each part keeps the input order."""
    references = sorted({triplet.reference for triplet in triplets})
    held = max(1, round(test_fraction * len(references)))
    if held >= len(references):
        raise UserError(f"{len(references)} distinct reference images: cannot hold out {held} of them for testing "
                        "and keep some for training")
    test = set(random.Random(seed).sample(references, held))
    return ([t for t in triplets if t.reference not in test], [t for t in triplets if t.reference in test])


def gallery_images(triplets: Sequence[Triplet]) -> list[Path]:
    """Every image the triplets name (references and targets), sorted by path."""
    return sorted({path for triplet in triplets for path in (triplet.reference, triplet.target)})
