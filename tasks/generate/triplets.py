"""MLLM triplets (SPN4CIR, paper 6): captions, pairs (random, or from a similarity-rank window), templates.

Every image is captioned (the dataset's own captions, or an MLLM); each image is then the reference of
`pairs_per_image` triplets. Targets are drawn at random (seeded) among the other captioned images — the authors'
default (BUAADreamer/SPN4CIR, zscir/get_cir_data.py `get_diff_id` with `--i2i_rank -1`) — or, with a rank window,
among the reference's neighbours of image–image similarity rank low..high (their `--i2i_rank`/`--i2i_rank_max`).
Each pair carries the modification text of every template ("{c2} instead of {c1}", "Unlike {c1}, I want {c2}",
"{c2}") filled with the reference's caption c1 and the target's caption c2, in template order, as their
`get_captions` attaches the whole list; training draws one per sample (`embedlab.models.cir.data`). Output rows:
{"reference", "modifications", "target", "reference_caption", "target_caption"} plus, with a rank window, "rank"
and "similarity"; images named by their path relative to the image folder.
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path
from typing import Any

import torch
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.errors import DataError, UserError
from embedlab.models.generation.backend import Completion, Prompt
from embedlab.models.image_encoder import image_features, nearest_neighbours

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MLLM = "mllm"  # `captions: mllm`: caption the images with generate.mllm instead of reading a file
_DETACHED = re.compile(r" (?=[,;:!?]|'s\b)")


def find_images(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name; UserError where there is none."""
    if not folder.is_dir():
        raise UserError(f"image folder {folder} does not exist")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(images) < 2:
        raise UserError(f"image folder {folder} holds {len(images)} images (.jpg/.jpeg/.png/.webp); need at least 2")
    return images


list_images = task(cache_policy=NO_CACHE, name="list_images")(find_images)


@task(cache_policy=NO_CACHE)
def read_captions(path: Path, images: list[Path], index: int) -> list[str]:
    """Caption number `index` (0: the first) of each image, from a CSV with the header `image,caption`
    (Flickr8k's captions.txt). DataError naming the first image without one."""
    if not path.is_file():
        raise UserError(f"captions file {path} does not exist")
    by_image: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"image", "caption"} <= set(reader.fieldnames or []):
            raise DataError(path, f"expected the header 'image,caption', got {reader.fieldnames}", 1)
        for row in reader:
            if row["image"] and row["caption"] and row["caption"].strip():
                by_image.setdefault(row["image"].strip(), []).append(row["caption"])
    captions = []
    for image in images:
        found = by_image.get(image.name, [])
        if len(found) <= index:
            raise DataError(path, f"image {image.name} has {len(found)} captions, caption_index is {index}")
        captions.append(found[index])
    return captions


def caption_prompts(images: list[Path], instruction: str) -> list[Prompt]:
    return [Prompt((("user", instruction),), image=image) for image in images]


def clean_caption(text: str) -> str:
    """One line without the trailing full stop or Flickr's detached punctuation ("dog , running" -> "dog,
    running"), the first letter lower-cased unless the word is an acronym ("A dog runs ." -> "a dog runs")."""
    text = _DETACHED.sub("", " ".join(text.split())).rstrip(" .")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text


def modification_text(template: str, c1: str, c2: str) -> str:
    """`template` filled with the cleaned captions, first letter upper-cased."""
    text = template.format(c1=clean_caption(c1), c2=clean_caption(c2))
    return text[:1].upper() + text[1:]


def usable_captions(replies: list[Completion]) -> list[str | None]:
    """The MLLM's captions; None for an empty one or a refusal (that image is then left out and counted)."""
    return [None if reply.refusal or not reply.text.strip() else reply.text.strip() for reply in replies]


@task(cache_policy=NO_CACHE)
def encode_images(images: list[Path], encoder: str, batch_size: int, device: str) -> torch.Tensor:
    """(N, D) L2-normalised image features (see `embedlab.models.image_encoder`)."""
    return image_features(images, encoder, batch_size, device)


def random_pairs(count: int, pairs_per_image: int, excluded: list[list[int]],
                 rng: random.Random) -> list[list[int]]:
    """For each of `count` images i, `pairs_per_image` distinct targets drawn uniformly among the images j not in
    excluded[i] (sorted; holds i itself), as `rng.sample(allowed, k)` would draw them — the authors' `get_diff_id`
    samples `list(range(N))` without i the same way — but in O(k + |excluded[i]|): `sample` draws by position
    only, so positions among range(count - |excluded[i]|) are mapped to the allowed images in order."""
    targets = []
    for i in range(count):
        skip = excluded[i]
        positions = rng.sample(range(count - len(skip)), min(pairs_per_image, count - len(skip)))
        targets.append([_nth_allowed(position, skip) for position in positions])
    return targets


def _nth_allowed(position: int, excluded: list[int]) -> int:
    """The image at `position` of range(N) with the sorted `excluded` images taken out."""
    for skipped in excluded:
        if skipped > position:
            break
        position += 1
    return position


@task(cache_policy=NO_CACHE)
def draw_triplets(names: list[str], captions: list[str | None], features: torch.Tensor | None,
                  window: tuple[int, int] | None, pairs_per_image: int, templates: list[str],
                  seed: int) -> list[dict[str, Any]]:
    """Triplets for every captioned reference, each with the modification text of every template.

    `window` None: targets drawn at random among the other captioned images (`random_pairs`); else drawn without
    replacement from the reference's captioned neighbours of rank window[0]..window[1] among the captioned images
    (1 = most similar) by `features` (N, D), L2-normalised, in the order of `names` and `captions`. Pairs whose two
    captions are the same text are never drawn (the modification would say nothing). Deterministic for a given
    `seed`.
    """
    keep = [i for i, caption in enumerate(captions) if caption is not None]
    cleaned = [clean_caption(captions[i]) for i in keep]
    rng = random.Random(seed)
    pairs: list[tuple[int, int, dict[str, Any]]] = []  # (reference m, target m, extra fields), rows of `keep`
    if window is None:
        same: dict[str, list[int]] = {}
        for m, text in enumerate(cleaned):
            same.setdefault(text, []).append(m)
        for m, targets in enumerate(random_pairs(len(keep), pairs_per_image, [same[t] for t in cleaned], rng)):
            pairs += [(m, n, {}) for n in targets]
    else:
        low, high = window
        if len(keep) <= high:
            raise UserError(f"rank_window ends at {high}, but only {len(keep)} images have a caption")
        sims, found = nearest_neighbours(features[keep], high)  # (M, high) each, over the captioned images
        neighbours = found.tolist()
        for m in range(len(keep)):
            ranks = [r for r in range(low, high + 1) if cleaned[neighbours[m][r - 1]] != cleaned[m]]
            for rank in sorted(rng.sample(ranks, min(pairs_per_image, len(ranks)))):
                pairs.append((m, neighbours[m][rank - 1],
                              {"rank": rank, "similarity": round(float(sims[m, rank - 1]), 6)}))
    rows = []
    for m, n, extra in pairs:
        i, j = keep[m], keep[n]
        rows.append({"reference": names[i], "modifications": [modification_text(t, captions[i], captions[j])
                                                               for t in templates],
                     "target": names[j], "reference_caption": captions[i], "target_caption": captions[j], **extra})
    return rows
