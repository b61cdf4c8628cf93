"""Readers of composed-image-retrieval annotations, each returning `Triplet` records in file order.

- `generated`: the JSON lines of `embedlab generate triplets` (`{"reference", "modifications": [texts, one per
  template], "target", ...}`; files of earlier versions, with one `"modification"` text, read as well), image
  names relative to the image folder.
- `fashioniq`: FashionIQ's `cap.<category>.<split>.json` (`[{"candidate", "target", "captions": [two texts]}]`;
  Wu et al. 2021, arXiv 1905.12794): the candidate is the reference, the modification text the two captions
  joined by " and " (as CLIP4Cir does), images `<asin><suffix>` in the image folder.
- `cirr`: CIRR's `cap.rc2.<split>.json` (`[{"pairid", "reference", "target_hard", "caption", ...}]`; Liu et al.
  2021, arXiv 2108.04024) with `split.rc2.<split>.json`, which maps each image name to its file under the image
  folder (`./dev/dev-244-0-img0.png`).

Readers do not look at the image files; `triplets.check_triplet_images` does, once the records are final. Test
files without target labels (FashionIQ's and CIRR's `test1`) are refused: they cannot be scored or trained on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embedlab.errors import DataError
from embedlab.image_text.triplets import Triplet
from embedlab.jsonlines import read_json_lines

def _json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc.msg})", exc.lineno) from None


def _entries(path: Path) -> list[dict[str, Any]]:
    """A JSON file holding a non-empty list of objects."""
    data = _json(path)
    if not isinstance(data, list) or not data or not all(isinstance(entry, dict) for entry in data):
        raise DataError(path, "expected a non-empty JSON list of objects")
    return data


def _text(where: str, entry: dict[str, Any], key: str, hint: str = "") -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError(where, f"'{key}' must be a non-empty string{hint}, got {value!r}")
    return value.strip()


def _modifications(where: str, row: dict[str, Any]) -> list[str]:
    """A generated row's modification texts: its non-empty list `modifications`, or its one `modification`."""
    if "modifications" not in row:
        return [_text(where, row, "modification")]
    texts = row["modifications"]
    if "modification" in row:
        raise DataError(where, "give either 'modification' (one text) or 'modifications' (a list), not both")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise DataError(where, f"'modifications' must be a non-empty list of non-empty strings, got {texts!r}")
    return [text.strip() for text in texts]


def read_generated_triplets(path: Path, image_dir: Path) -> list[Triplet]:
    """One triplet per JSON line; DataError naming the line for bad JSON or a missing/empty field."""
    if not path.is_file():
        raise DataError(path, "file not found (make it with `embedlab generate triplets`)")
    triplets = []
    for line, row in read_json_lines(path):
        where = f"{path}:{line}"
        texts = _modifications(where, row)
        triplets.append(Triplet(where, image_dir / _text(where, row, "reference"), texts[0],
                                image_dir / _text(where, row, "target"), tuple(texts[1:])))
    if not triplets:
        raise DataError(path, "no triplets")
    return triplets


def read_fashioniq(path: Path, image_dir: Path, suffix: str = ".png") -> list[Triplet]:
    """FashionIQ triplets; DataError for an entry without a target (the test files) or without captions."""
    triplets = []
    for n, entry in enumerate(_entries(path)):
        where = f"{path}[{n}]"
        target = _text(where, entry, "target", " (FashionIQ's test files carry no targets)")
        captions = entry.get("captions")
        parts = [c.strip(" .?,") for c in captions if isinstance(c, str) and c.strip(" .?,")] \
            if isinstance(captions, list) else []
        if not parts:
            raise DataError(where, f"'captions' must be a list with a non-empty text, got {captions!r}")
        triplets.append(Triplet(where, image_dir / f"{_text(where, entry, 'candidate')}{suffix}",
                                " and ".join(parts), image_dir / f"{target}{suffix}"))
    return triplets


def read_cirr(path: Path, image_names: Path, image_dir: Path) -> list[Triplet]:
    """CIRR triplets (the hard target); DataError for an entry without a target (test1) or an image name that
    `image_names` does not map to a file."""
    files = _json(image_names)
    if not isinstance(files, dict):
        raise DataError(image_names, "expected a JSON object mapping image names to files")

    def image(where: str, name: str) -> Path:
        if not isinstance(files.get(name), str):
            raise DataError(where, f"image {name!r} is not in {image_names}")
        return image_dir / files[name]

    triplets = []
    for n, entry in enumerate(_entries(path)):
        where = f"{path}[{n}]"
        target = _text(where, entry, "target_hard", " (CIRR's test1 files carry no targets)")
        triplets.append(Triplet(where, image(where, _text(where, entry, "reference")),
                                _text(where, entry, "caption"), image(where, target)))
    return triplets
