"""Image–caption data: the readers of each format, the Flickr8k × Multi30K join, the seeded split by image, the
versioned dataset on disk, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from conftest import DATA_ROOT, REPO, write
from embedlab.config import PrepareCrossModalParams, load_settings
from embedlab.errors import DataError, UserError
from embedlab.image_text.dataset import read_dataset, read_manifest, split_by_image, write_dataset
from embedlab.image_text.readers import (join_flickr8k_multi30k, read_caption_json, read_flickr8k_captions,
                                          read_multi30k)
from embedlab.image_text.records import ImageCaptions, check_images
from embedlab.tasks.crossmodal.data import read_image_captions, write_image_text_dataset


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for n, name in enumerate(["111_a.jpg", "222_b.jpg", "333_c.jpg"]):
        Image.new("RGB", (20, 16), (80 * n, 40, 200)).save(folder / name)
    return folder


def multi30k_files(root: Path) -> Path:
    write(root / "image_splits" / "train.txt", "111.jpg\n999.jpg\n222.jpg\n")
    write(root / "raw" / "train.en", "A dog runs.\nA cat sleeps.\nTwo kids play.\n")
    write(root / "raw" / "train.de", "Ein Hund rennt.\nEine Katze schläft.\nZwei Kinder spielen.\n")
    return root


def test_flickr8k_captions_join_multi30k_by_photo_id(tmp_path, images):
    csv = write(tmp_path / "captions.txt", 'image,caption\n111_a.jpg,"A dog, running."\n111_a.jpg,A brown dog .\n'
                                            "333_c.jpg,A beach .\n")
    flickr = read_flickr8k_captions(csv, images)
    assert [(r.id, r.captions["en"]) for r in flickr] == [("111_a", ("A dog, running.", "A brown dog .")),
                                                          ("333_c", ("A beach .",))]
    multi = read_multi30k(multi30k_files(tmp_path / "m30k"), "train", ["en", "de", "cs"], images)
    assert [r.id for r in multi] == ["111", "999", "222"] and "cs" not in multi[0].captions  # no train.cs
    joined = join_flickr8k_multi30k(flickr, multi)
    assert joined[0].captions == {"en": ("A dog runs.", "A dog, running.", "A brown dog ."), "de": ("Ein Hund rennt.",)}
    assert joined[0].image == images / "111_a.jpg"
    assert joined[1].captions == {"en": ("A beach .",)}  # no Multi30K line for photo 333


def test_caption_json_reads_coco_and_karpathy_layouts(tmp_path, images):
    coco = write(tmp_path / "coco.json", json.dumps({
        "images": [{"id": 7, "file_name": "111_a.jpg"}, {"id": 8, "file_name": "222_b.jpg"}],
        "annotations": [{"image_id": 8, "caption": "b one"}, {"image_id": 7, "caption": "a one"},
                        {"image_id": 8, "caption": "b two"}]}))
    records = read_caption_json(coco, images, "de")
    assert {r.id: r.captions["de"] for r in records} == {"222_b": ("b one", "b two"), "111_a": ("a one",)}
    karpathy = write(tmp_path / "dataset_flickr.json", json.dumps({"images": [
        {"filename": "333_c.jpg", "split": "test", "sentences": [{"raw": "c one"}, {"raw": "c two"}]}]}))
    assert read_caption_json(karpathy, images)[0].captions == {"en": ("c one", "c two")}


@pytest.mark.parametrize("text, message", [
    ("not json", "not valid JSON"),
    ('{"images": []}', "non-empty 'images'"),
    ('{"images": [{"id": 1, "file_name": "x.jpg"}], "annotations": [{"image_id": 2, "caption": "c"}]}', "image id 2"),
    ('{"images": [{"file": "x.jpg"}]}', "Karpathy layout"),
])
def test_malformed_caption_json_is_a_one_line_error(tmp_path, images, text, message):
    path = write(tmp_path / "bad.json", text)
    with pytest.raises(DataError, match=message) as error:
        read_caption_json(path, images)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_parallel_files_of_different_lengths_are_an_error(tmp_path, images):
    root = multi30k_files(tmp_path / "m30k")
    write(root / "raw" / "train.de", "Ein Hund rennt.\n")
    with pytest.raises(DataError, match=r"train\.de: 1 lines, but .* names 3 images"):
        read_multi30k(root, "train", ["en", "de"], images)


def test_missing_image_is_a_one_line_error_naming_the_file(tmp_path, images):
    records = [ImageCaptions("111_a", images / "111_a.jpg", {"en": ("x",)}),
               ImageCaptions("404_z", images / "404_z.jpg", {"en": ("y",)})]
    with pytest.raises(DataError) as error:
        check_images(records)
    assert str(error.value) == f"{images / '404_z.jpg'}: image of '404_z' not found"


def records_for_split(n: int = 20) -> list[ImageCaptions]:
    """n records; every third one lacks German."""
    return [ImageCaptions(f"r{i}", Path(f"/img/r{i}.jpg"),
                          {"en": (f"en {i}",), **({} if i % 3 == 0 else {"de": (f"de {i}",)})}) for i in range(n)]


def test_split_by_image_is_seeded_and_holds_out_complete_images_only():
    records = records_for_split()
    splits = split_by_image(records, ["en", "de"], val_images=2, test_images=3, seed=1)
    assert split_by_image(records, ["en", "de"], 2, 3, seed=1) == splits
    assert split_by_image(records, ["en", "de"], 2, 3, seed=2) != splits
    assert [len(splits[s]) for s in ("train", "val", "test")] == [15, 2, 3]
    ids = [r.id for s in splits.values() for r in s]
    assert sorted(ids) == sorted(r.id for r in records)  # each image in exactly one split
    assert all(r.has_languages(["en", "de"]) for r in splits["val"] + splits["test"])
    with pytest.raises(UserError, match="only 13 images"):
        split_by_image(records, ["en", "de"], val_images=5, test_images=8, seed=1)


def test_dataset_round_trip_is_byte_identical_and_versioned(tmp_path):
    records = [ImageCaptions(r.id, Path("/img") / f"{r.id}.jpg", r.captions) for r in records_for_split(8)]
    splits = split_by_image(records, ["en", "de"], 1, 2, seed=0)
    first = write_dataset(tmp_path / "a", splits, Path("/img"), "/img", {"src.txt": "abc"}, {"seed": 0})
    second = write_dataset(tmp_path / "b", splits, Path("/img"), "/img", {"src.txt": "abc"}, {"seed": 0})
    assert first == second and len(first["version"]) == 12
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
               for f in ("train.jsonl", "val.jsonl", "test.jsonl", "manifest.json"))
    loaded = read_dataset(tmp_path / "a", data_root=tmp_path)
    assert loaded.splits == splits and loaded.version == first["version"]
    with pytest.raises(UserError, match="crossmodal prepare"):
        read_manifest(tmp_path / "nowhere")


def test_real_flickr8k_multi30k_dataset(tmp_path):
    """The default `prepare_crossmodal` source: 1,000 Flickr8k photos, 937 with Multi30K en/de/fr/cs captions."""
    params = load_settings(REPO / "params.yaml").params.prepare_crossmodal
    records, sources = read_image_captions.fn(params, DATA_ROOT)
    assert len(records) == 1000 and "image_text/multi30k/raw/train.cs" in sources
    complete = [r for r in records if r.has_languages(["en", "de", "fr", "cs"])]
    assert len(complete) == 937 and all(len(r.captions["en"]) == 6 for r in complete)
    manifest = write_image_text_dataset.fn(records, sources, params, DATA_ROOT, tmp_path / "ds")
    assert manifest["splits"]["test"]["captions"] == {"cs": 150, "de": 150, "en": 900, "fr": 150}
    assert manifest["splits"]["train"]["images"] == 800


def test_prepare_reads_a_users_caption_json_and_multi30k_files(tmp_path, images):
    coco = write(tmp_path / "coco.json", json.dumps({
        "images": [{"id": n, "file_name": name} for n, name in enumerate(["111_a.jpg", "222_b.jpg", "333_c.jpg"])],
        "annotations": [{"image_id": n, "caption": f"caption {n}"} for n in range(3)]}))
    params = PrepareCrossModalParams(format="caption_json", images=str(images), captions=str(coco), languages=["en"],
                                     val_images=0, test_images=1)
    records, sources = read_image_captions.fn(params, tmp_path)
    manifest = write_image_text_dataset.fn(records, sources, params, tmp_path, tmp_path / "ds")
    assert manifest["images"] == str(images) and manifest["sources"] == {"coco.json": sources["coco.json"]}
    assert read_dataset(tmp_path / "ds", tmp_path).splits["test"][0].image.is_file()
    m30k = multi30k_files(tmp_path / "m30k")  # names Flickr30k files (111.jpg, ...), which the image folder lacks
    params = PrepareCrossModalParams(format="multi30k", images=str(images), multi30k=str(m30k), multi30k_splits=["train"],
                                     languages=["en", "de"])
    with pytest.raises(DataError, match=r"images/111\.jpg: image of '111' not found"):
        read_image_captions.fn(params, tmp_path)


def test_prepare_params_name_the_files_their_format_needs():
    with pytest.raises(ValidationError, match="needs multi30k"):
        PrepareCrossModalParams(format="multi30k", multi30k=None)
    with pytest.raises(ValidationError, match="needs captions"):
        PrepareCrossModalParams(format="caption_json", captions=None)
