"""A versioned image–caption dataset on disk: `train|val|test.jsonl` plus `manifest.json`.

Each JSON line is `{"id": ..., "image": <file under the image folder>, "captions": {lang: [caption, ...]}}`.
The manifest names the image folder (relative paths start from the data root), the languages, per split the
number of images and captions per language, the sha256 of every file it was made from, the settings of the
split, and `version`: 12 hex digits of the sha256 over the split files and the image folder. Nothing in it
depends on the time or the machine, so the same inputs give a byte-identical dataset.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedlab.atomic import atomic_dir
from embedlab.errors import DataError, UserError
from embedlab.image_text.records import ImageCaptions
from embedlab.jsonlines import read_json_lines

MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")
FORMAT = "embedlab-image-captions/1"


def split_by_image(records: Sequence[ImageCaptions], languages: Sequence[str], val_images: int, test_images: int,
                   seed: int) -> dict[str, list[ImageCaptions]]:
    """Seeded split by image: val and test are drawn from the records with a caption in every language; the rest,
    and every record lacking a language, is train. Each split keeps the input order."""
    complete = [n for n, record in enumerate(records) if record.has_languages(languages)]
    if len(complete) <= val_images + test_images:
        raise UserError(f"only {len(complete)} images have captions in all of {list(languages)}; "
                        f"cannot hold out {val_images} val + {test_images} test images and keep some for training")
    drawn = random.Random(seed).sample(complete, val_images + test_images)
    test, val = set(drawn[:test_images]), set(drawn[test_images:])
    splits: dict[str, list[ImageCaptions]] = {name: [] for name in SPLITS}
    for n, record in enumerate(records):
        splits["test" if n in test else "val" if n in val else "train"].append(record)
    return splits


def _line(record: ImageCaptions, image_dir: Path) -> str:
    try:
        image = record.image.relative_to(image_dir).as_posix()
    except ValueError:
        raise DataError(record.image, f"image of {record.id!r} is not under the image folder {image_dir}") from None
    captions = {lang: list(texts) for lang, texts in record.captions.items()}
    return json.dumps({"id": record.id, "image": image, "captions": captions}, ensure_ascii=False) + "\n"


def write_dataset(out: Path, splits: dict[str, list[ImageCaptions]], image_dir: Path, images_ref: str,
                  sources: dict[str, str], settings: dict[str, Any]) -> dict[str, Any]:
    """Write the split files and the manifest into `out`, replaced whole. Returns the manifest.

    `images_ref` is the image folder as the manifest records it (relative to the data root, or absolute);
    `sources` maps each input file to its sha256; `settings` are the split's parameters.
    """
    texts = {name: "".join(_line(record, image_dir) for record in splits[name]) for name in SPLITS}
    digest = hashlib.sha256(images_ref.encode())
    for name in SPLITS:
        digest.update(texts[name].encode())
    languages = sorted({lang for records in splits.values() for record in records for lang in record.captions})
    manifest = {
        "format": FORMAT, "version": digest.hexdigest()[:12], "images": images_ref, "languages": languages,
        "splits": {name: {"file": f"{name}.jsonl", "images": len(splits[name]),
                          "captions": {lang: sum(len(r.captions.get(lang, ())) for r in splits[name])
                                       for lang in languages}}
                   for name in SPLITS},
        "sources": sources, "settings": settings,
    }
    with atomic_dir(out) as tmp:
        for name in SPLITS:
            (tmp / f"{name}.jsonl").write_text(texts[name], encoding="utf-8")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


@dataclass(frozen=True)
class ImageTextDataset:
    """A dataset read back: its manifest and the records of each split (image paths resolved)."""

    folder: Path
    manifest: dict[str, Any]
    splits: dict[str, list[ImageCaptions]]

    @property
    def version(self) -> str:
        return self.manifest["version"]


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the dataset in `folder`; UserError where there is none (run `embedlab crossmodal prepare`)."""
    path = folder / MANIFEST
    if not path.is_file():
        raise UserError(f"{folder} is not an image-text dataset (no {MANIFEST}); write one with "
                        "`embedlab crossmodal prepare`")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise DataError(path, f"format {manifest.get('format')!r} is not {FORMAT!r}")
    return manifest


def read_dataset(folder: Path, data_root: Path) -> ImageTextDataset:
    """Read every split; a relative image folder starts from `data_root`. DataError names file and line of a bad row."""
    manifest = read_manifest(folder)
    image_dir = Path(manifest["images"])
    image_dir = image_dir if image_dir.is_absolute() else data_root / image_dir
    splits = {name: _read_split(folder / entry["file"], image_dir) for name, entry in manifest["splits"].items()}
    return ImageTextDataset(folder, manifest, splits)


def _read_split(path: Path, image_dir: Path) -> list[ImageCaptions]:
    records = []
    for line, row in read_json_lines(path):
        try:
            captions = {lang: tuple(texts) for lang, texts in row["captions"].items() if texts}
            records.append(ImageCaptions(row["id"], image_dir / row["image"], captions))
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(path, f"expected {{id, image, captions}} ({exc})", line) from None
    return records
