"""EfficientNet-Lite0 (Tan & Le, "EfficientNet", ICML 2019; the Lite variants drop squeeze-excitation and swish
for mobile accelerators), ImageNet-1k weights, as an image backbone with its preprocessing.

`EffNetBackbone(pixel_values (B, 3, 224, 224))` gives `pooler_output` (B, 1280): the global average of the last
convolution's features, before the classifier `_fc`; `logits` adds the classifier (B, 1000). `EffNetProcessor`
resizes the shorter side to 256, centre-crops 224 (EfficientNet's crop padding of 32), scales to [0, 1] and
normalises with mean 0.498, std 0.502 (the Lite models' preprocessing). Both save to and load from a folder
(`effnet.json`, `model.safetensors`), so a trained image tower reloads; `IMAGE_MODELS` is the registry of such
non-Hugging-Face image backbones by short name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from embedlab.registry import Registry, module_doc

NAME = "effnet-lite0"
CONFIG_FILE = "effnet.json"
SIZE, RESIZE, MEAN, STD = 224, 256, 0.498, 0.502


class EffNetProcessor:
    """RGB images -> pixel_values (B, 3, 224, 224), the Lite0 preprocessing."""

    def __call__(self, images: Sequence[Image.Image], return_tensors: str = "pt") -> dict[str, Tensor]:
        return {"pixel_values": torch.stack([self.one(image) for image in images])}

    @staticmethod
    def one(image: Image.Image) -> Tensor:
        width, height = image.size
        scale = RESIZE / min(width, height)
        image = image.resize((max(SIZE, round(width * scale)), max(SIZE, round(height * scale))),
                             Image.Resampling.BICUBIC)
        left, top = (image.width - SIZE) // 2, (image.height - SIZE) // 2
        pixels = np.asarray(image.crop((left, top, left + SIZE, top + SIZE)), dtype=np.float32) / 255.0
        return (torch.from_numpy(pixels).permute(2, 0, 1) - MEAN) / STD  # (3, 224, 224)

    def to_json_string(self) -> str:
        return json.dumps({"name": NAME, "size": SIZE, "resize": RESIZE, "mean": MEAN, "std": STD}, sort_keys=True)

    def save_pretrained(self, folder: Path) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "preprocessor.json").write_text(self.to_json_string() + "\n")


class EffNetBackbone(nn.Module):
    """EfficientNet-Lite0 with a Hugging Face-like surface: `config.hidden_size` (1280), `forward(pixel_values=)`
    -> `pooler_output`, `save_pretrained(folder)`."""

    def __init__(self) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.net = EfficientNet.from_name(NAME.replace("effnet", "efficientnet"))
        self.config = SimpleNamespace(hidden_size=1280, image_size=SIZE, model_type=NAME)

    def forward(self, pixel_values: Tensor) -> BaseModelOutputWithPooling:
        maps = self.net.extract_features(pixel_values)  # (B, 1280, 7, 7)
        return BaseModelOutputWithPooling(last_hidden_state=maps.flatten(2).transpose(1, 2),
                                          pooler_output=maps.mean((2, 3)))

    def logits(self, pixel_values: Tensor) -> Tensor:
        """(B, 1000) ImageNet-1k logits (eval mode: no dropout)."""
        return self.net(pixel_values)

    def save_pretrained(self, folder: Path) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.net.state_dict().items()},
                  Path(folder) / "model.safetensors")
        (Path(folder) / CONFIG_FILE).write_text(json.dumps({"name": NAME}) + "\n")


def load(source: Path) -> tuple[EffNetBackbone, EffNetProcessor]:
    """The backbone (eval mode) and its processor from the catalogue's `.pth` file or a saved folder."""
    backbone = EffNetBackbone()
    if source.suffix == ".pth":
        state = torch.load(source, map_location="cpu", weights_only=True)
    else:
        state = load_file(source / "model.safetensors")
    backbone.net.load_state_dict(state)
    return backbone.eval(), EffNetProcessor()


IMAGE_MODELS: Registry = Registry("image model", {NAME: load}, doc=module_doc)


def image_model(spec: str | dict) -> tuple[nn.Module, EffNetProcessor] | None:
    """The backbone and processor `spec` names where it is a registered image model (its short name, or a
    folder one saved), else None (a Hugging Face vision model)."""
    if not isinstance(spec, str):
        return None
    if spec in IMAGE_MODELS:
        from embedlab.models.local.catalog import MODELS
        from embedlab.models.model_source import local_model_folder

        model = MODELS.get(spec)
        return IMAGE_MODELS.get(spec)(local_model_folder(spec) / next(iter(model.sha256)))
    config = Path(spec).expanduser() / CONFIG_FILE
    if config.is_file():
        return IMAGE_MODELS.get(json.loads(config.read_text())["name"])(config.parent)
    return None
