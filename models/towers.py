"""The two towers of an image–text dual encoder, each a backbone plus a linear projection into a shared space.

Shared by the cross-modal dual encoder (papers 4 and 7) and the composed-image-retrieval model (paper 6):
`ImageTower(pixel_values (B, 3, H, W)) -> (B, D)` and `TextTower(tokens of B texts) -> (B, D)`, unnormalised;
`features` gives the backbone's pooled output before the projection (B, W) where a method needs it.
A tower saves to and loads from a folder: `backbone/` (Hugging Face or sentence-transformers files),
`projection.safetensors` and `tower.json`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from sentence_transformers import SentenceTransformer
from torch import Tensor, nn
from transformers import AutoConfig, AutoImageProcessor, AutoModel, PretrainedConfig, PreTrainedModel

from embedlab.models.embedding_module import build_encoder
from embedlab.models.generation.hf_common import load_pretrained
from embedlab.models.local.effnet import image_model

TOWER_FILE = "tower.json"


def vision_width(config: PretrainedConfig) -> int:
    """Width of a vision backbone's pooled output: `hidden_size` (ViT, CLIP, DINOv2, Swin) or the last of
    `hidden_sizes` (ResNet, ConvNeXt)."""
    return getattr(config, "hidden_size", None) or config.hidden_sizes[-1]


def _vision_part(config: PretrainedConfig) -> PretrainedConfig:
    """The vision config of a two-tower model (CLIP, SigLIP); the config itself otherwise."""
    return getattr(config, "vision_config", None) or config


class _Projected(nn.Module):
    """A backbone's pooled features (B, W) and a bias-free linear projection W -> D; saved and loaded alike for
    both towers (only the backbone's own files differ)."""

    KIND = ""  # "image" | "text": tower.json's `kind`

    def __init__(self, width: int, dim: int) -> None:
        super().__init__()
        self.width, self.dim = width, dim
        self.projection = nn.Linear(width, dim, bias=False)

    def features(self, inputs: Any) -> Tensor:
        raise NotImplementedError

    def forward(self, inputs: Any) -> Tensor:
        """inputs -> (B, D) projected, not normalised."""
        return self.projection(self.features(inputs))

    def _save_backbone(self, folder: Path) -> None:
        raise NotImplementedError

    @classmethod
    def build(cls, spec: Any, dim: int) -> Self:
        raise NotImplementedError

    def save(self, folder: Path) -> None:
        """`backbone/` (the backbone's own files), `projection.safetensors` and `tower.json` into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        self._save_backbone(folder / "backbone")
        save_file({"weight": self.projection.weight.detach().contiguous().cpu()}, folder / "projection.safetensors")
        (folder / TOWER_FILE).write_text(json.dumps({"kind": self.KIND, "width": self.width, "dim": self.dim}) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Self:
        """A tower saved by `save`: the backbone built from `folder`/backbone, the projection's weights read back."""
        head = json.loads((folder / TOWER_FILE).read_text())
        tower = cls.build(str(folder / "backbone"), head["dim"])
        tower.projection.weight.data.copy_(load_file(folder / "projection.safetensors")["weight"])
        return tower


class ImageTower(_Projected):
    """Any Hugging Face vision model with its image processor (resize, rescale, normalise; no torchvision)."""

    KIND = "image"

    def __init__(self, backbone: PreTrainedModel, processor: Any, dim: int) -> None:
        super().__init__(vision_width(backbone.config), dim)
        self.backbone, self.processor = backbone, processor

    @classmethod
    def build(cls, spec: str | dict[str, Any], dim: int) -> ImageTower:
        """From a folder or Hub id (the vision half of CLIP-like models), a registered image model (`effnet-lite0`,
        `models.local.effnet.IMAGE_MODELS`), or from scratch given a config dict with `model_type` (e.g. a tiny
        ViT) and a processor normalising to [-1, 1] at the config's image_size."""
        if (registered := image_model(spec)) is not None:
            return cls(*registered, dim)
        if isinstance(spec, dict):
            from transformers import ViTImageProcessorPil

            config = _vision_part(AutoConfig.for_model(**spec))
            size = getattr(config, "image_size", 224)
            processor = ViTImageProcessorPil(size={"height": size, "width": size}, image_mean=[0.5] * 3,
                                             image_std=[0.5] * 3)
            return cls(AutoModel.from_config(config), processor, dim)
        config = _vision_part(load_pretrained(AutoConfig, spec))
        backbone = load_pretrained(AutoModel, spec, config=config)
        return cls(backbone, load_pretrained(AutoImageProcessor, spec), dim)

    def preprocess(self, images: Sequence[Image.Image]) -> Tensor:
        """RGB images -> pixel_values (B, 3, H, W)."""
        return self.processor(images=list(images), return_tensors="pt")["pixel_values"]

    def features(self, pixel_values: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, W): the backbone's pooler output, else the mean of its last hidden states."""
        out = self.backbone(pixel_values=pixel_values)
        pooled = getattr(out, "pooler_output", None)
        return pooled.flatten(1) if pooled is not None else out.last_hidden_state.mean(1)

    def _save_backbone(self, folder: Path) -> None:
        self.backbone.save_pretrained(folder)
        self.processor.save_pretrained(folder)


class TextTower(_Projected):
    """Any sentence encoder (`build_encoder`: 'minilm', a folder or a Hub id), its Normalize module dropped."""

    KIND = "text"

    def __init__(self, encoder: SentenceTransformer, dim: int) -> None:
        super().__init__(encoder.get_embedding_dimension(), dim)
        self.encoder = encoder

    @classmethod
    def build(cls, spec: str, dim: int, max_seq_length: int | None = None) -> TextTower:
        return cls(build_encoder(spec, normalize=False, max_seq_length=max_seq_length), dim)

    def tokenize(self, texts: Sequence[str]) -> dict[str, Any]:
        return self.encoder.preprocess(list(texts))

    def features(self, tokens: dict[str, Any]) -> Tensor:
        """Tokens of B texts -> (B, W) pooled sentence features."""
        return self.encoder(tokens)["sentence_embedding"]

    def _save_backbone(self, folder: Path) -> None:
        self.encoder.save(str(folder))


def move_tokens(tokens: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Token tensors moved to `device` (other entries, such as the modality name, unchanged)."""
    return {key: value.to(device) if isinstance(value, Tensor) else value for key, value in tokens.items()}
