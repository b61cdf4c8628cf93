"""A sentence encoder behind the project's embedding cache: texts -> L2-normalised vectors, each text encoded
once per model (`<cache_dir>/embeddings/<fingerprint>/`, shared with `embedlab evaluate`). Used wherever a
pipeline encodes texts outside an evaluation (KB-Coder's relation linking, EasyRAG's dense route)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedlab.models.embedding_cache import EmbeddingCache
from embedlab.models.encoder import fingerprint, load_encoder


class CachedEncoder:
    """`encoder(texts)` -> float32 (N, D), normalised. `spec` is the model as named (e.g. `minilm`),
    `fingerprint` its content hash (`embedlab.models.encoder.fingerprint`): what an index built with it records."""

    def __init__(self, spec: str, cache_dir: Path, batch_size: int = 128, device: str = "auto") -> None:
        self.spec, self.batch_size = spec, batch_size
        self.model = load_encoder(spec, device)
        self.fingerprint = fingerprint(self.model)
        self.cache = EmbeddingCache(cache_dir / "embeddings" / self.fingerprint)

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.cache.get_or_compute(list(texts), lambda missing: self.model.encode(
            missing, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True))
