"""One image with its captions by language: the unit every image–text reader produces and every split keeps whole."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from embedlab.errors import DataError


@dataclass(frozen=True)
class ImageCaptions:
    """An image and its captions.

    `image` is the file's full path; `captions[lang]` holds one or more captions (never empty) and its first
    caption is the one evaluation uses (for the Flickr8k × Multi30K join: the Multi30K line, whose translations
    are the other languages' captions).
    """

    id: str
    image: Path
    captions: dict[str, tuple[str, ...]]

    def has_languages(self, languages: Iterable[str]) -> bool:
        return all(lang in self.captions for lang in languages)


def check_images(records: Sequence[ImageCaptions]) -> None:
    """DataError naming the first image file that does not exist (checked before any training or writing)."""
    for record in records:
        if not record.image.is_file():
            raise DataError(record.image, f"image of {record.id!r} not found")


def with_languages(records: Sequence[ImageCaptions], languages: Sequence[str]) -> list[ImageCaptions]:
    """The records that have a caption in every one of `languages` (a 1-to-K batch needs all K)."""
    return [record for record in records if record.has_languages(languages)]
