"""Embeddings of frozen encoders, computed once before training: the uni-modal teachers of CUSA (paper 7), a
locked text tower's features and a locked image backbone's features."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor

from embedlab.models.image_encoder import model_features, read_rgb
from embedlab.models.towers import ImageTower


@torch.no_grad()
def sentence_embeddings(model: SentenceTransformer, texts: Sequence[str], normalize: bool,
                        batch_size: int = 64) -> dict[str, Tensor]:
    """Each distinct text -> its (W,) sentence embedding by `model` (L2-normalised if `normalize`), on the CPU."""
    distinct = list(dict.fromkeys(texts))
    vectors = model.encode(distinct, batch_size=batch_size, normalize_embeddings=normalize, convert_to_tensor=True)
    return dict(zip(distinct, vectors.float().cpu(), strict=True))


def image_teacher_embeddings(spec: str, paths: Sequence[Path], batch_size: int = 32,
                             device: str = "auto") -> dict[Path, Tensor]:
    """Each distinct image file -> its (Ei,) L2-normalised embedding by the vision model `spec` (folder or Hub id)."""
    distinct = list(dict.fromkeys(paths))
    return dict(zip(distinct, model_features(distinct, spec, batch_size, device), strict=True))


@torch.no_grad()
def backbone_features(tower: ImageTower, paths: Sequence[Path], batch_size: int = 64,
                      device: str | torch.device = "cpu") -> Tensor:
    """(N, Wi) pooled features of the image tower's backbone (`ImageTower.features`, before the projection) for the
    image files, on the CPU, computed in eval mode (no dropout, BatchNorm's running statistics) — what a locked
    backbone (LiT, Zhai et al. 2022, arXiv 2111.07991) gives in every training step — and its mode restored."""
    was_training, original = tower.backbone.training, next(tower.backbone.parameters()).device
    tower.backbone.eval().to(device)
    try:
        chunks = [tower.features(tower.preprocess([read_rgb(p) for p in paths[i:i + batch_size]]).to(device))
                  for i in range(0, len(paths), batch_size)]
    finally:
        tower.backbone.train(was_training).to(original)
    return torch.cat(chunks).float().cpu()
