"""Triplet readers (generated, and FashionIQ and CIRR on their real annotation files), the missing-image error,
and the seeded split by reference image."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from conftest import DATA_ROOT
from embedlab.errors import DataError, UserError
from embedlab.image_text.triplet_readers import read_cirr, read_fashioniq, read_generated_triplets
from embedlab.image_text.triplets import Triplet, check_triplet_images, gallery_images, split_by_reference

FASHION_IQ = DATA_ROOT / "image_text" / "fashion_iq" / "captions"
CIRR = DATA_ROOT / "image_text" / "cirr"


def test_fashioniq_reader_on_the_real_annotations(tmp_path):
    triplets = read_fashioniq(FASHION_IQ / "cap.dress.val.json", tmp_path / "images")
    assert len(triplets) == 2017
    first = triplets[0]  # {"target": "B0084Y8XIU", "candidate": "B005X4PL1G", "captions": [...]}
    assert first.reference == tmp_path / "images" / "B005X4PL1G.png"
    assert first.target == tmp_path / "images" / "B0084Y8XIU.png"
    assert first.modification == "is shiny and silver with shorter sleeves and fit and flare"
    assert first.where.endswith("cap.dress.val.json[0]")
    with pytest.raises(DataError, match=re.escape("cap.dress.test.json[0]: 'target' must be a non-empty string "
                                                  "(FashionIQ's test files carry no targets)")):
        read_fashioniq(FASHION_IQ / "cap.dress.test.json", tmp_path)


def test_cirr_reader_on_the_real_annotations(tmp_path):
    triplets = read_cirr(CIRR / "captions" / "cap.rc2.val.json", CIRR / "image_splits" / "split.rc2.val.json",
                         tmp_path / "nlvr2")
    assert len(triplets) == 4181
    first = triplets[0]  # pairid 12060
    assert first.reference == tmp_path / "nlvr2" / "dev" / "dev-244-0-img0.png"
    assert first.target == tmp_path / "nlvr2" / "dev" / "dev-1028-1-img1.png"
    assert first.modification == "show three bottles of soft drink"
    with pytest.raises(DataError, match="CIRR's test1 files carry no targets"):
        read_cirr(CIRR / "captions" / "cap.rc2.test1.json", CIRR / "image_splits" / "split.rc2.test1.json", tmp_path)
    with pytest.raises(DataError, match=r"cap\.rc2\.val\.json\[0\]: image 'dev-244-0-img0' is not in .*train\.json"):
        read_cirr(CIRR / "captions" / "cap.rc2.val.json", CIRR / "image_splits" / "split.rc2.train.json", tmp_path)


@pytest.mark.parametrize("kind", ["fashioniq", "cirr"])
def test_real_annotations_without_their_images_fail_on_the_first_triplet_naming_the_path(kind, tmp_path):
    if kind == "fashioniq":
        triplets = read_fashioniq(FASHION_IQ / "cap.shirt.val.json", tmp_path)
    else:
        triplets = read_cirr(CIRR / "captions" / "cap.rc2.val.json", CIRR / "image_splits" / "split.rc2.val.json",
                             tmp_path)
    with pytest.raises(DataError) as caught:
        check_triplet_images(triplets)
    message = str(caught.value)
    assert message.startswith(f"{triplets[0].where}: triplet {triplets[0].reference.name} + ")
    assert message.endswith(f"reference image {triplets[0].reference} not found") and "\n" not in message


def _write_triplets(folder: Path, rows: list[dict]) -> Path:
    path = folder / "triplets.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_generated_reader_and_the_missing_image_error_name_the_line_and_path(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    path = _write_triplets(tmp_path, [
        {"reference": "a.jpg", "modification": "A dog instead of a cat", "target": "b.jpg"},
        {"reference": "b.jpg", "modification": "Unlike a dog, I want a car", "target": "gone.jpg", "rank": 3}])
    triplets = read_generated_triplets(path, tmp_path)
    assert triplets[0] == Triplet(f"{path}:1", tmp_path / "a.jpg", "A dog instead of a cat", tmp_path / "b.jpg")
    with pytest.raises(DataError) as caught:
        check_triplet_images(triplets)
    assert str(caught.value) == (f"{path}:2: triplet b.jpg + 'Unlike a dog, I want a car' -> gone.jpg: target image "
                                 f"{tmp_path / 'gone.jpg'} not found")
    bad = _write_triplets(tmp_path, [{"reference": "a.jpg", "modification": " ", "target": "b.jpg"}])
    with pytest.raises(DataError, match=r"triplets\.jsonl:1: 'modification' must be a non-empty string"):
        read_generated_triplets(bad, tmp_path)


def test_generated_reader_keeps_every_template_text_and_reads_older_one_text_files(tmp_path):
    path = _write_triplets(tmp_path, [
        {"reference": "a.jpg", "modifications": ["A dog instead of a cat", " Unlike a cat, I want a dog ", "A dog"],
         "target": "b.jpg"},
        {"reference": "b.jpg", "modification": "A car", "target": "c.jpg"}])  # a file of an earlier version
    first, second = read_generated_triplets(path, tmp_path)
    assert first == Triplet(f"{path}:1", tmp_path / "a.jpg", "A dog instead of a cat", tmp_path / "b.jpg",
                            ("Unlike a cat, I want a dog", "A dog"))
    assert first.modifications == ("A dog instead of a cat", "Unlike a cat, I want a dog", "A dog")
    assert second.modifications == ("A car",) and second.modification == "A car"
    for row, message in [({"modifications": []}, "'modifications' must be a non-empty list of non-empty strings"),
                         ({"modifications": ["ok", " "]}, "'modifications' must be a non-empty list"),
                         ({"modifications": "A dog"}, "'modifications' must be a non-empty list"),
                         ({"modifications": ["A dog"], "modification": "A dog"}, "not both")]:
        bad = _write_triplets(tmp_path, [{"reference": "a.jpg", "target": "b.jpg", **row}])
        with pytest.raises(DataError, match=rf"triplets\.jsonl:1: .*{re.escape(message)}"):
            read_generated_triplets(bad, tmp_path)


def test_split_by_reference_is_seeded_and_keeps_every_reference_on_one_side(tmp_path):
    triplets = [Triplet(f"t:{n}", tmp_path / f"r{n % 10}.jpg", f"text {n}", tmp_path / f"t{n}.jpg") for n in range(30)]
    train, test = split_by_reference(triplets, 0.2, seed=1)
    assert len({t.reference for t in test}) == 2 and len(train) + len(test) == 30
    assert not {t.reference for t in train} & {t.reference for t in test}
    assert (train, test) == split_by_reference(triplets, 0.2, seed=1)
    assert test != split_by_reference(triplets, 0.2, seed=2)[1]
    assert len(gallery_images(triplets)) == 40
    with pytest.raises(UserError, match="cannot hold out"):
        split_by_reference(triplets[:1], 0.2, seed=1)
