"""Readers of the image–caption formats users bring, each returning `ImageCaptions` records in file order.

- Flickr8k captions CSV: header `image,caption`, one row per caption (5 per image in Flickr8k).
- Multi30K-style parallel files: `<folder>/raw/<split>.<lang>` (line n is the caption of image n) and
  `<folder>/image_splits/<split>.txt` (line n names image n's file).
- Caption JSON: COCO (`images` with `id`/`file_name`, `annotations` with `image_id`/`caption`) or the
  Karpathy-split Flickr/COCO file (`images` with `filename`, optional `filepath`, `sentences[].raw`).

Readers do not look at the image files; `records.check_images` does, once the records are final.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedlab.errors import DataError
from embedlab.image_text.records import ImageCaptions


def _text(path: Path) -> str:
    if not path.is_file():
        raise DataError(path, "file not found")
    return path.read_text(encoding="utf-8")


def read_flickr8k_captions(path: Path, image_dir: Path, language: str = "en") -> list[ImageCaptions]:
    """Group the rows of an `image,caption` CSV by image; DataError for a missing column or an empty caption."""
    rows = csv.DictReader(_text(path).splitlines())
    if not {"image", "caption"} <= set(rows.fieldnames or ()):
        raise DataError(path, f"expected the header 'image,caption', got {rows.fieldnames}", 1)
    grouped: dict[str, list[str]] = {}
    for line, row in enumerate(rows, start=2):
        caption = (row["caption"] or "").strip()
        if not row["image"] or not caption:
            raise DataError(path, "empty image name or caption", line)
        grouped.setdefault(row["image"], []).append(caption)
    if not grouped:
        raise DataError(path, "no caption rows")
    return [ImageCaptions(Path(name).stem, image_dir / name, {language: tuple(captions)})
            for name, captions in grouped.items()]


def read_multi30k(folder: Path, split: str, languages: Sequence[str], image_dir: Path) -> list[ImageCaptions]:
    """One record per line of `image_splits/<split>.txt`, with that line of each `raw/<split>.<lang>`.

    A language whose file is absent is left out of every record (Multi30K's 2017 tests have no Czech);
    DataError where a caption file's line count differs from the image list's.
    """
    names_file = folder / "image_splits" / f"{split}.txt"
    names = _text(names_file).splitlines()
    captions: dict[str, list[str]] = {}
    for lang in languages:
        path = folder / "raw" / f"{split}.{lang}"
        if path.is_file():
            captions[lang] = _text(path).splitlines()
            if len(captions[lang]) != len(names):
                raise DataError(path, f"{len(captions[lang])} lines, but {names_file} names {len(names)} images")
    if not captions:
        raise DataError(folder / "raw", f"no caption file {split}.<lang> for languages {list(languages)}")
    return [ImageCaptions(Path(name).stem, image_dir / name,
                          {lang: (lines[n].strip(),) for lang, lines in captions.items()})
            for n, name in enumerate(names)]


def read_caption_json(path: Path, image_dir: Path, language: str = "en") -> list[ImageCaptions]:
    """COCO captions JSON or the Karpathy-split JSON; DataError where neither layout fits."""
    try:
        data: Any = json.loads(_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc.msg})", exc.lineno) from None
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list) or not images:
        raise DataError(path, "expected an object with a non-empty 'images' list (COCO or Karpathy layout)")
    if "annotations" in data:
        return _coco_records(path, images, data["annotations"], image_dir, language)
    return _karpathy_records(path, images, image_dir, language)


def _coco_records(path: Path, images: list, annotations: list, image_dir: Path, language: str) -> list[ImageCaptions]:
    try:
        files = {image["id"]: image["file_name"] for image in images}
        captions: dict[Any, list[str]] = {}
        for note in annotations:
            captions.setdefault(note["image_id"], []).append(note["caption"].strip())
    except (KeyError, TypeError, AttributeError) as exc:
        raise DataError(path, f"COCO layout: missing or malformed field {exc}") from None
    unknown = sorted(set(captions) - set(files), key=str)
    if unknown:
        raise DataError(path, f"annotation for image id {unknown[0]!r}, which 'images' does not list")
    return [ImageCaptions(Path(files[key]).stem, image_dir / files[key], {language: tuple(texts)})
            for key, texts in captions.items()]


def _karpathy_records(path: Path, images: list, image_dir: Path, language: str) -> list[ImageCaptions]:
    records = []
    try:
        for image in images:
            name = str(Path(image.get("filepath", "")) / image["filename"])
            texts = tuple(sentence["raw"].strip() for sentence in image["sentences"])
            if texts:
                records.append(ImageCaptions(Path(name).stem, image_dir / name, {language: texts}))
    except (KeyError, TypeError, AttributeError) as exc:
        raise DataError(path, f"Karpathy layout: missing or malformed field {exc}") from None
    return records


def join_flickr8k_multi30k(flickr8k: Sequence[ImageCaptions], multi30k: Sequence[ImageCaptions]) -> list[ImageCaptions]:
    """Flickr8k records with the Multi30K captions of the same photo added.

    A Flickr8k file name's part before `_` is the Flickr30k/Multi30K image id. A shared language's Multi30K
    caption comes first (so the K first captions are translations of each other); Flickr8k records without a
    Multi30K line keep their own captions only.
    """
    by_id = {record.id: record for record in multi30k}
    joined = []
    for record in flickr8k:
        match = by_id.get(record.id.split("_")[0])
        captions = dict(record.captions)
        for lang, texts in (match.captions.items() if match else ()):
            captions[lang] = texts + captions.get(lang, ())
        joined.append(ImageCaptions(record.id, record.image, captions))
    return joined
