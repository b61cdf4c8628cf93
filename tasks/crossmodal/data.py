"""Prefect tasks of the image–text data flow: read the configured caption source, write the versioned dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.config import PrepareCrossModalParams
from embedlab.hashing import file_sha256
from embedlab.image_text.dataset import split_by_image, write_dataset
from embedlab.image_text.readers import join_flickr8k_multi30k, read_caption_json, read_flickr8k_captions, read_multi30k
from embedlab.image_text.records import ImageCaptions, check_images


def _under(root: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else root / path


def _shown(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def source_paths(params: PrepareCrossModalParams, data_root: Path) -> list[Path]:
    """The image folder and the caption file or Multi30K folder that `params.format` reads."""
    paths = [_under(data_root, params.images)]
    if params.format in ("multi30k", "flickr8k_multi30k"):
        paths.append(_under(data_root, params.multi30k))
    if params.format != "multi30k":
        paths.append(_under(data_root, params.captions))
    return paths


@task(cache_policy=NO_CACHE)
def read_image_captions(params: PrepareCrossModalParams,
                        data_root: Path) -> tuple[list[ImageCaptions], dict[str, str]]:
    """The records of the configured source (see `PrepareCrossModalParams`), every image checked to exist, and
    the sha256 (12 hex digits) of each file read, keyed by its path under the data root.

    DataError naming the file for a malformed caption file or a missing image.
    """
    images = _under(data_root, params.images)
    read: list[Path] = []
    multi30k: list[ImageCaptions] = []
    if params.format in ("multi30k", "flickr8k_multi30k"):
        folder = _under(data_root, params.multi30k)
        for split in params.multi30k_splits:
            multi30k += read_multi30k(folder, split, params.languages, images)
            read += [folder / "image_splits" / f"{split}.txt"]
            read += [p for lang in params.languages if (p := folder / "raw" / f"{split}.{lang}").is_file()]
    if params.format == "multi30k":
        records = multi30k
    else:
        captions = _under(data_root, params.captions)
        reader = read_caption_json if params.format == "caption_json" else read_flickr8k_captions
        records = reader(captions, images, params.caption_language)
        read.append(captions)
        if params.format == "flickr8k_multi30k":
            records = join_flickr8k_multi30k(records, multi30k)
    check_images(records)
    return records, {_shown(data_root, path): file_sha256(path)[:12] for path in read}


@task(cache_policy=NO_CACHE)
def write_image_text_dataset(records: list[ImageCaptions], sources: dict[str, str], params: PrepareCrossModalParams,
                             data_root: Path, out: Path) -> dict[str, Any]:
    """Split by image (seeded) and write the versioned dataset to `out`, replaced whole. Returns its manifest."""
    splits = split_by_image(records, params.languages, params.val_images, params.test_images, params.seed)
    settings = params.model_dump(include={"format", "languages", "val_images", "test_images", "seed"})
    return write_dataset(out, splits, _under(data_root, params.images), params.images, sources, settings)
