"""Embeddings of frozen encoders, computed once before training: the uni-modal teachers of CUSA (paper 7) and a
locked text tower's features."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor

from embedlab.models.image_encoder import model_features


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
