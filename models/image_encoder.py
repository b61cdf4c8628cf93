"""Image features for image–image similarity (SPN4CIR, paper 6: which images are paired into triplets).

Two encoders:
- `pixels`: a deterministic baseline with no weights — a 4×4 grid of mean colours plus 8-bin histograms per
  RGB channel (48 + 24 = 72 values), each value standardised over the collection. It finds images of similar
  colour and layout, not of similar content; use it where no pretrained vision model is available offline.
- any Hugging Face vision model (a folder or a Hub id): CLIP-style models through `get_image_features`, others
  through `pooler_output`, else the mean of `last_hidden_state`; or a registered image model (`effnet-lite0`,
  the pretrained EfficientNet-Lite0: its 1280-d pooled features at 224 px).
Features are L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from embedlab.errors import DataError
from embedlab.models.generation.hf_common import load_pretrained

PIXELS = "pixels"


def read_rgb(path: Path) -> Image.Image:
    """The image at `path` as RGB; DataError for a file PIL cannot read."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise DataError(path, f"not a readable image ({exc})") from None


def pixel_statistics(image: Image.Image) -> np.ndarray:
    """(72,) float32: the 4×4 grid of mean RGB values (48), then an 8-bin histogram per channel (24), in [0, 1]."""
    grid = np.asarray(image.resize((4, 4), Image.Resampling.BOX), dtype=np.float32).reshape(-1) / 255.0
    pixels = np.asarray(image, dtype=np.uint8).reshape(-1, 3)  # (H*W, 3)
    hist = [np.bincount(pixels[:, c] // 32, minlength=8) / len(pixels) for c in range(3)]
    return np.concatenate([grid, *hist]).astype(np.float32)


def pixel_features(paths: Sequence[Path]) -> torch.Tensor:
    """(N, 72) pixel statistics, standardised per dimension over the N images and L2-normalised."""
    raw = torch.from_numpy(np.stack([pixel_statistics(read_rgb(path)) for path in paths]))
    standard = (raw - raw.mean(0)) / raw.std(0).clamp_min(1e-6)
    return torch.nn.functional.normalize(standard, dim=1)


@torch.no_grad()
def model_features(paths: Sequence[Path], spec: str, batch_size: int, device: str) -> torch.Tensor:
    """(N, D) L2-normalised features of a Hugging Face vision model, `batch_size` images at a time."""
    from transformers import AutoImageProcessor, AutoModel

    from embedlab.models.device import resolve_device
    from embedlab.models.local.effnet import image_model

    device = resolve_device(device)
    registered = image_model(spec)
    if registered is not None:
        model, processor = registered
    else:
        processor, model = load_pretrained(AutoImageProcessor, spec), load_pretrained(AutoModel, spec)
    model = model.to(device).eval()
    chunks = []
    for start in range(0, len(paths), batch_size):
        images = [read_rgb(path) for path in paths[start:start + batch_size]]
        pixels = processor(images=images, return_tensors="pt")["pixel_values"].to(device)  # (B, 3, H, W)
        if hasattr(model, "get_image_features"):
            out = model.get_image_features(pixel_values=pixels)
            features = out if isinstance(out, torch.Tensor) else out.pooler_output
        else:
            out = model(pixel_values=pixels)
            pooled = getattr(out, "pooler_output", None)
            features = pooled if pooled is not None else out.last_hidden_state.mean(1)  # (B, D)
        chunks.append(features.float().cpu())
    return torch.nn.functional.normalize(torch.cat(chunks), dim=1)


def image_features(paths: Sequence[Path], encoder: str, batch_size: int = 32, device: str = "auto") -> torch.Tensor:
    """(N, D) L2-normalised features of the images at `paths` with `encoder` (`pixels` or a model)."""
    if encoder == PIXELS:
        return pixel_features(paths)
    return model_features(paths, encoder, batch_size, device)


def nearest_neighbours(features: torch.Tensor, k: int, block: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of `features` (N, D), its `k` most similar other rows, most similar first.

    Returns (similarities (N, k), indices (N, k)); column r-1 holds the neighbour of similarity rank r.
    Computed `block` rows at a time, so memory is O(block × N), not O(N²). Ties go to the lower index.
    """
    n = features.shape[0]
    sims, indices = [], []
    for start in range(0, n, block):
        scores = features[start:start + block] @ features.T  # (b, N)
        rows = torch.arange(start, min(start + block, n))
        scores[rows - start, rows] = -float("inf")  # never one's own neighbour
        values, order = torch.sort(scores, dim=1, descending=True, stable=True)
        sims.append(values[:, :k])
        indices.append(order[:, :k])
    return torch.cat(sims), torch.cat(indices)
