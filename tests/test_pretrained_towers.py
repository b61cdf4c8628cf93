"""Locked (LiT-style) image towers for cross-modal retrieval and composed image retrieval: the defaults name the
pretrained EfficientNet-Lite0, a locked backbone's features are computed once and give exactly what encoding the
pixels in every step gives, `unlock_image_after` lets the backbone train from that step on, and stage 2's bank is
the full tower's output. Tiny towers from config (a ViT with dropout, so train mode would show); one slow test
runs the real EfficientNet-Lite0 and all-mpnet-base-v2 teachers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import REPO, TINY_VIT
from embedlab.config import load_settings
from embedlab.config.cir import TrainCirParams
from embedlab.config.crossmodal import TrainCrossModalParams
from embedlab.image_text.dataset import split_by_image, write_dataset
from embedlab.image_text.records import ImageCaptions
from embedlab.image_text.triplets import gallery_images, split_by_reference
from embedlab.models.cir.model import ComposedQueryModel
from embedlab.models.crossmodal.data import ImageCaptionDataModule
from embedlab.models.crossmodal.module import CrossModalModule
from embedlab.models.dual_encoder import DualEncoder
from embedlab.models.objectives import OBJECTIVES
from embedlab.models.objectives.base import TeacherParams
from embedlab.tasks.cir.data import read_cir_triplets
from embedlab.tasks.cir.train import encode_modifications, score_cir_model, static_bank, train_cir_stage
from embedlab.tasks.crossmodal.train import (encode_locked_text, encode_teachers, locked_image_features,
                                             read_image_text_data, train_dual_encoder)

# dropout 0.5 in the backbone: a locked backbone that ran in train mode would give other features every call
DROPOUT_VIT = {**TINY_VIT, "hidden_dropout_prob": 0.5}
VIT_YAML = json.dumps(DROPOUT_VIT)
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
           "black": (10, 10, 10), "white": (245, 245, 245), "grey": (128, 128, 128), "pink": (240, 150, 190),
           "brown": (120, 70, 20), "cyan": (30, 220, 220)}


def test_defaults_are_the_pretrained_locked_image_tower_and_the_papers_teachers():
    """Code defaults and params.yaml agree: effnet-lite0 locked, MiniLM text; CUSA's teachers effnet-lite0 and
    mpnet; `profile: scratch` is the former from-scratch ViT, trained."""
    for section in (TrainCrossModalParams(), TrainCirParams()):
        assert (section.image_tower, section.freeze_image, section.unlock_image_after) == ("effnet-lite0", True, None)
        assert section.text_tower == "minilm"
    params = load_settings(REPO / "params.yaml").params
    for section in (params.train_crossmodal, params.train_cir):
        assert (section.image_tower, section.freeze_image, section.unlock_image_after) == ("effnet-lite0", True, None)
    cusa = OBJECTIVES.params("cusa", params.train_crossmodal.objectives["cusa"])
    assert (cusa.image_teacher, cusa.text_teacher) == ("effnet-lite0", "mpnet")
    scratch = load_settings(REPO / "params.yaml", ["train_crossmodal.profile=scratch"]).params.train_crossmodal
    assert scratch.image_tower["model_type"] == "vit" and scratch.image_tower["image_size"] == 64
    assert not scratch.freeze_image


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Ten one-colour images with an English and a German caption; 2 test images."""
    folder = tmp_path / "images"
    folder.mkdir()
    records = []
    for name, rgb in COLOURS.items():
        Image.new("RGB", (24, 24), rgb).save(folder / f"{name}.png")
        records.append(ImageCaptions(name, folder / f"{name}.png", {"en": (f"a {name} square",),
                                                                    "de": (f"ein Quadrat in {name}",)}))
    splits = split_by_image(records, ["en", "de"], val_images=0, test_images=2, seed=0)
    write_dataset(tmp_path / "ds", splits, folder, str(folder), {}, {})
    return tmp_path / "ds"


def crossmodal_settings(tmp_path: Path, tiny_model: Path, dataset: Path, *extra: str):
    return load_settings(REPO / "params.yaml", [
        f"train_crossmodal.dataset={dataset}", "train_crossmodal.languages=[en, de]",
        f"train_crossmodal.image_tower={VIT_YAML}", f"train_crossmodal.text_tower={tiny_model}",
        "train_crossmodal.embedding_dim=16", "train_crossmodal.max_seq_length=16", "train_crossmodal.batch_size=4",
        "train_crossmodal.checkpoint_every=1", "train_crossmodal.accelerator=cpu", "train_crossmodal.image_lr=0.01",
        "train_crossmodal.warmup_ratio=0", f"cache_dir={tmp_path / 'cache'}", *extra])


def test_a_locked_backbones_precomputed_features_give_the_same_loss_as_its_pixels(tiny_model, dataset):
    """One batch through the module twice: pixels through the locked backbone, and its features computed once
    before training. Expected: the backbone's own eval-mode forward; equal losses and gradients."""
    torch.manual_seed(0)
    module = CrossModalModule(DROPOUT_VIT, str(tiny_model), 16, 16, "clip", {}, freeze_text=True, freeze_image=True)
    assert not any(p.requires_grad for p in module.model.image.backbone.parameters())
    records = read_image_text_data.fn(dataset, dataset, ["en", "de"]).splits["train"][:4]
    paths = [record.image for record in records]
    tower = module.model.image
    with torch.no_grad():
        expected = tower.backbone.eval()(pixel_values=tower.preprocess([Image.open(p).convert("RGB")
                                                                        for p in paths])).pooler_output
    precomputed = locked_image_features(tower, paths, None, 3, "cpu")  # batches of 3: batching does not matter
    torch.testing.assert_close(precomputed, expected, rtol=1e-5, atol=1e-6)
    losses, grads = [], []
    for features in (None, dict(zip(paths, precomputed))):
        data = ImageCaptionDataModule(records, ["en", "de"], tower.preprocess, module.model.text.tokenize, 4, 0,
                                      None, None, features)
        batch = data.collate(list(range(4)))
        assert (batch["pixel_values"] is None) == (features is not None)
        module.zero_grad()
        loss = module.objective(module.encode(batch))["loss"]
        loss.backward()
        losses.append(loss.detach())
        grads.append(tower.projection.weight.grad.clone())
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def _backbone(folder: Path) -> dict[str, torch.Tensor]:
    return DualEncoder.load(folder / "model").image.backbone.state_dict()


def test_locked_training_caches_the_features_and_unlocking_trains_the_backbone_from_that_step(
        tmp_path, tiny_model, dataset):
    """3 steps each: locked (features cached) and `unlock_image_after: 3` (pixels every step, never unlocked) train
    the same projections and leave the backbone as built; `unlock_image_after: 2` changes it in step 3."""
    settings = crossmodal_settings(tmp_path, tiny_model, dataset, "train_crossmodal.max_steps=3")
    params = settings.params.train_crossmodal
    data = read_image_text_data.fn(settings.path(params.dataset), settings.data_root, params.languages)
    train = data.splits["train"]
    text = encode_locked_text.fn(params, train, settings.cache_dir)
    for run, unlock in (("locked", None), ("unlock3", 3), ("unlock2", 2)):
        train_dual_encoder.fn(train, params.model_copy(update={"unlock_image_after": unlock}), "clip", None,
                              tmp_path / run, False, text, settings.cache_dir)
    assert len(list((settings.cache_dir / "image_features").glob("*.entry"))) == 1
    torch.manual_seed(params.seed)  # the towers as training built them: the same seed, the same order
    initial = DualEncoder.build(DROPOUT_VIT, str(tiny_model), 16, 16).image
    built = initial.backbone.state_dict()
    for run in ("locked", "unlock3"):
        assert all(torch.equal(built[name], tensor) for name, tensor in _backbone(tmp_path / run).items())
    unlocked = _backbone(tmp_path / "unlock2")
    assert any(not torch.equal(built[name], tensor) for name, tensor in unlocked.items())
    locked, pixels = (DualEncoder.load(tmp_path / run / "model") for run in ("locked", "unlock3"))
    assert not torch.equal(locked.image.projection.weight, initial.projection.weight)  # the projection trained
    torch.testing.assert_close(locked.image.projection.weight, pixels.image.projection.weight, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(locked.text.projection.weight, pixels.text.projection.weight, rtol=1e-4, atol=1e-6)


@pytest.fixture
def triplets_file(tmp_path) -> Path:
    """Ten one-colour images; each is the reference of a triplet whose target is the next colour."""
    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    names = list(COLOURS)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (24, 24), rgb).save(folder / f"{name}.png")
    rows = [{"reference": f"{a}.png", "modifications": [f"a {b} square"], "target": f"{b}.png"}
            for a, b in zip(names, names[1:] + names[:1])]
    path = tmp_path / "triplets.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_cir_stage1_trains_the_projection_on_cached_features_and_stage2s_bank_is_the_full_tower(
        tmp_path, tiny_model, triplets_file):
    """Stage 1 with the locked backbone reads no pixels in training: the backbone stays as built, the projection
    trains. Stage 2's bank (projection of the cached features) equals the saved stage-1 tower's own embedding of
    the images (`DualEncoder.embed_images`, pixels through backbone and projection)."""
    settings = load_settings(REPO / "params.yaml", [
        f"train_cir.triplets.path={triplets_file}", f"train_cir.triplets.images={triplets_file.parent / 'images'}",
        f"train_cir.image_tower={VIT_YAML}", f"train_cir.text_tower={tiny_model}", "train_cir.embedding_dim=16",
        "train_cir.max_seq_length=16", "train_cir.batch_size=4", "train_cir.test_fraction=0.2",
        "train_cir.checkpoint_every=1", "train_cir.accelerator=cpu", f"cache_dir={tmp_path / 'cache'}"])
    params = settings.params.train_cir
    triplets = read_cir_triplets.fn(params.triplets, settings.path(params.triplets.path), settings.data_root)
    train, _ = split_by_reference(triplets, params.test_fraction, params.seed)
    texts = encode_modifications.fn(params, train, settings.cache_dir)
    train_cir_stage.fn(train, params, 1, 2, tmp_path / "s1", None, texts, settings.cache_dir)
    torch.manual_seed(params.seed)
    built = ComposedQueryModel.build(DROPOUT_VIT, str(tiny_model), 16, 16, "sum").towers.image
    stage1 = ComposedQueryModel.load(tmp_path / "s1" / "model").towers
    assert all(torch.equal(built.backbone.state_dict()[n], t) for n, t in stage1.image.backbone.state_dict().items())
    assert not torch.equal(built.projection.weight, stage1.image.projection.weight)
    assert len(list((settings.cache_dir / "image_features").glob("*.entry"))) == 1
    stage2 = train_cir_stage.fn(train, params, 2, 1, tmp_path / "s2", tmp_path / "s1" / "model", texts,
                                settings.cache_dir)
    images = gallery_images(train)
    expected = stage1.embed_images(images, 4, normalize=False)  # pixels through backbone and projection
    model = ComposedQueryModel.load(tmp_path / "s1" / "model")  # the bank stage 2 trained against, from its cache
    vectors, info = static_bank(model, images, settings.cache_dir, 4, "cpu")
    assert info["cached"] and info["key"] == stage2["bank"]["key"]
    torch.testing.assert_close(vectors, expected, rtol=1e-4, atol=1e-5)
    # evaluation reads the gallery's features from the same cache and scores as the pixels do
    with_pixels = score_cir_model.fn(tmp_path / "s1" / "model", train, images, 4, "cpu")
    with_cache = score_cir_model.fn(tmp_path / "s1" / "model", train, images, 4, "cpu", settings.cache_dir)
    assert {k: v for k, v in with_cache.items() if k != "seconds"} == {
        k: v for k, v in with_pixels.items() if k != "seconds"}
    assert len(list((settings.cache_dir / "image_features").glob("*.entry"))) == 1


@pytest.mark.slow
def test_real_effnet_lite0_locked_with_mpnet_and_effnet_teachers_trains_cusa(tmp_path, project):
    """The defaults on 8 real Flickr8k photos: effnet-lite0 locked (1280-d features, cached), MiniLM locked, CUSA
    with the effnet-lite0 image teacher and the all-mpnet-base-v2 text teacher; 2 steps of 4 images."""
    data_root = REPO.parent / "shared" / "data"
    photos = sorted((data_root / "image_text" / "flickr8k_1000" / "images").glob("*.jpg"))[:10]
    records = [ImageCaptions(p.stem, p, {"en": (f"photo {i}",), "de": (f"Foto {i}",)}) for i, p in enumerate(photos)]
    splits = split_by_image(records, ["en", "de"], val_images=0, test_images=2, seed=0)
    write_dataset(tmp_path / "ds", splits, photos[0].parent, str(photos[0].parent), {}, {})
    settings = load_settings(REPO / "params.yaml", [
        f"train_crossmodal.dataset={tmp_path / 'ds'}", "train_crossmodal.languages=[en, de]",
        "train_crossmodal.batch_size=4", "train_crossmodal.max_steps=2", "train_crossmodal.accelerator=cpu",
        f"cache_dir={tmp_path / 'cache'}"])
    params = settings.params.train_crossmodal
    data = read_image_text_data.fn(settings.path(params.dataset), settings.data_root, params.languages)
    chosen = OBJECTIVES.params("cusa", params.objectives["cusa"])
    assert isinstance(chosen, TeacherParams)
    teachers = encode_teachers.fn(chosen, data.splits["train"], params.languages, settings.cache_dir)
    assert next(iter(teachers.texts.values())).shape == (768,) and next(iter(teachers.images.values())).shape == (1280,)
    text = encode_locked_text.fn(params, data.splits["train"], settings.cache_dir)
    summary = train_dual_encoder.fn(data.splits["train"], params, "cusa", teachers, tmp_path / "out", False, text,
                                    settings.cache_dir)
    assert summary["steps"] == 2 and summary["notes"] == []
    cached = locked_image_features(DualEncoder.load(tmp_path / "out" / "model").image,
                                   [r.image for r in data.splits["train"]], settings.cache_dir)
    assert cached.shape == (8, 1280)
    torch.testing.assert_close(torch.nn.functional.normalize(cached, dim=1),
                               torch.stack([teachers.images[r.image] for r in data.splits["train"]]),
                               rtol=1e-4, atol=1e-5)  # the locked tower and the image teacher are one network
