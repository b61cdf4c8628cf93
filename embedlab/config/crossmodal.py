"""The `prepare_crossmodal` and `train_crossmodal` sections of params.yaml (papers 4 and 7)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from embedlab.config.section import Section
from embedlab.config.trainer import TrainerSettings


CROSSMODAL_LANGUAGES = ["en", "de", "fr", "cs"]


class PrepareCrossModalParams(Section):
    """`prepare_crossmodal`: the versioned image–caption dataset (papers 4 and 7; `embedlab crossmodal prepare`).

    `format`: `flickr8k_multi30k` joins the Flickr8k `captions` CSV with the Multi30K files under `multi30k`
    (`raw/<split>.<lang>`, `image_splits/<split>.txt`) for the same photos; `multi30k` reads Multi30K-style files
    alone (`images` then holds the Flickr30k photos); `caption_json` reads a COCO or Karpathy JSON `captions`.
    Paths lie under data_root (or are absolute). Val and test images are drawn (seeded) from the images with a
    caption in every one of `languages`.
    """

    format: Literal["flickr8k_multi30k", "multi30k", "caption_json"] = "flickr8k_multi30k"
    images: str = "image_text/flickr8k_1000/images"
    captions: str | None = "image_text/flickr8k_1000/captions.txt"
    caption_language: str = Field("en", description="language of the `captions` file")
    multi30k: str | None = "image_text/multi30k"
    multi30k_splits: list[str] = Field(default_factory=lambda: ["train", "val", "test_2016_flickr"], min_length=1)
    languages: list[str] = Field(default_factory=lambda: list(CROSSMODAL_LANGUAGES), min_length=1)
    val_images: int = Field(50, ge=0)
    test_images: int = Field(150, gt=0)
    seed: int = 42
    out: str = "data/crossmodal"

    @model_validator(mode="after")
    def _check_sources(self) -> PrepareCrossModalParams:
        needed = {"flickr8k_multi30k": ("captions", "multi30k"), "multi30k": ("multi30k",),
                  "caption_json": ("captions",)}[self.format]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"format {self.format!r} needs {', '.join(missing)}")
        return self


class TrainCrossModalParams(TrainerSettings):
    """`train_crossmodal`: an image–text dual encoder (`embedlab crossmodal train`, papers 4 and 7).

    `image_tower`: a Hugging Face vision model (folder or Hub id) or a config to build from scratch (a dict with
    `model_type`); `text_tower`: a sentence encoder ('minilm', folder or Hub id). `objectives` holds each
    objective's parameters by name (checked against `embedlab.models.objectives` when training starts). `lr` is
    for the weights trained from scratch (projection heads, objective parameters, a from-config image tower),
    `image_lr` (null: `lr`) and `text_lr` for the towers' backbones; `freeze_text` locks the text backbone
    (only its projection trains; its features are computed once). `batch_size` counts images; each brings
    one caption per language. `freeze_image` locks the image backbone, as LiT does (Zhai et al. 2022, arXiv
    2111.07991: a pretrained image tower, the ImageNet EfficientNet-Lite0 `effnet-lite0` at 224 px by default, with
    only the projection and text side training); its features of every training image are then computed once
    and cached. `unlock_image_after: N` unlocks it from step N on (it trains at `image_lr`, and every step encodes
    pixels, so nothing is precomputed); a dict `image_tower` builds a vision model from scratch (`profile:
    scratch`: the 64 px ViT of the earlier tables, trained; tests use a tinier one). `profile: full` selects the
    paper-scale towers of `profiles.full` for GPUs. The trainer fields are `TrainerSettings`'; this section's
    defaults differ where declared below.
    """

    dataset: str = "data/crossmodal"
    languages: list[str] = Field(default_factory=lambda: list(CROSSMODAL_LANGUAGES), min_length=1)
    objective: str = "one_to_k"
    objectives: dict[str, dict[str, Any]] = Field(default_factory=dict)
    image_tower: str | dict[str, Any] = "effnet-lite0"
    text_tower: str = "minilm"
    embedding_dim: int = Field(256, gt=0)
    max_seq_length: int = Field(32, gt=0)
    batch_size: int = Field(32, gt=1)
    max_steps: int = Field(150, gt=0)
    lr: float = Field(3e-4, gt=0)
    image_lr: float | None = Field(None, gt=0)
    text_lr: float = Field(3e-5, gt=0)
    freeze_text: bool = Field(False, description="lock the text backbone (its features are computed once)")
    freeze_image: bool = Field(True, description="lock the image backbone (LiT; its features are computed once)")
    unlock_image_after: int | None = Field(None, ge=0, description="step from which a locked image backbone trains")
    eval_split: Literal["val", "test"] = "test"
    eval_batch_size: int = Field(64, gt=0)
    output: str = "results/crossmodal"
    checkpoint_every: int = Field(500, gt=0)
