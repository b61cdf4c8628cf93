"""An image–text dual encoder: an image tower and a text tower projecting into one D-dimensional space.

Embeddings are L2-normalised (unless asked for raw, as composed image retrieval's combiner is), so a dot product
is a cosine similarity and faiss `IndexFlatIP` searches them exactly. The model saves to an inspectable folder: `dual_encoder.json`, `image/` and `text/` (see
`embedlab.models.towers`). References: CLIP (Radford et al. 2021, arXiv 2103.00020); the towers are trained by
the objectives of `embedlab.models.objectives` (papers 4 and 7) and reused by composed image retrieval (paper 6).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedlab.atomic import atomic_dir
from embedlab.errors import UserError
from embedlab.models.image_encoder import read_rgb
from embedlab.models.towers import ImageTower, TextTower, move_tokens

MODEL_FILE = "dual_encoder.json"


class DualEncoder(nn.Module):
    """`image` and `text` towers of the same output dimension D."""

    def __init__(self, image: ImageTower, text: TextTower) -> None:
        super().__init__()
        if image.dim != text.dim:
            raise ValueError(f"towers project to different dimensions: image {image.dim}, text {text.dim}")
        self.image, self.text = image, text

    @classmethod
    def build(cls, image_tower: str | dict[str, Any], text_tower: str, dim: int,
              max_seq_length: int | None = None) -> DualEncoder:
        return cls(ImageTower.build(image_tower, dim), TextTower.build(text_tower, dim, max_seq_length))

    @property
    def dim(self) -> int:
        return self.image.dim

    def encode_images(self, pixel_values: Tensor, normalize: bool = True) -> Tensor:
        """(B, 3, H, W) -> (B, D), L2-normalised; with `normalize=False` the tower's raw projection (composed image
        retrieval combines raw features, `embedlab.models.cir.model`)."""
        features = self.image(pixel_values)
        return F.normalize(features, dim=-1) if normalize else features

    def encode_texts(self, tokens: dict[str, Any], normalize: bool = True) -> Tensor:
        """Tokens of B texts -> (B, D), L2-normalised; with `normalize=False` the tower's raw projection."""
        features = self.text(tokens)
        return F.normalize(features, dim=-1) if normalize else features

    @torch.no_grad()
    def embed_images(self, paths: Sequence[Path], batch_size: int = 64, normalize: bool = True) -> Tensor:
        """(N, D) embeddings of the image files (normalised unless `normalize=False`), on the CPU; DataError for an
        unreadable file."""
        device = next(self.parameters()).device
        chunks = [self.encode_images(self.image.preprocess([read_rgb(p) for p in paths[i:i + batch_size]]).to(device),
                                     normalize) for i in range(0, len(paths), batch_size)]
        return torch.cat(chunks).float().cpu()

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str], batch_size: int = 64, normalize: bool = True) -> Tensor:
        """(N, D) embeddings of the texts (normalised unless `normalize=False`), on the CPU."""
        device = next(self.parameters()).device
        chunks = [self.encode_texts(move_tokens(self.text.tokenize(texts[i:i + batch_size]), device), normalize)
                  for i in range(0, len(texts), batch_size)]
        return torch.cat(chunks).float().cpu()

    def save(self, folder: Path, info: dict[str, Any] | None = None) -> None:
        """Write the folder whole or not at all; `info` (e.g. the training objective) goes into dual_encoder.json."""
        with atomic_dir(folder) as tmp:
            self.image.save(tmp / "image")
            self.text.save(tmp / "text")
            (tmp / MODEL_FILE).write_text(json.dumps({"dim": self.dim, **(info or {})}, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> DualEncoder:
        if not (folder / MODEL_FILE).is_file():
            raise UserError(f"{folder} is not a dual-encoder folder (no {MODEL_FILE}); train one with "
                            "`embedlab crossmodal train`")
        return cls(ImageTower.load(folder / "image"), TextTower.load(folder / "text")).eval()


def folder_fingerprint(folder: Path) -> str:
    """16 hex digits of the sha256 over a saved dual encoder's files (configs and weights), in path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
