"""Prefect task of `embedlab tokens spectrum`: the spectral analysis of embedding training (paper 5,
arXiv 2406.17378; `embedlab.models.tokens.spectrum`) between a backbone and an embedder trained from it, with the
backbone's head decoding h, its first component, the rest, and h + λ u_1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.errors import UserError
from embedlab.models.tokens import alignment
from embedlab.models.tokens.decode import token_ids, top_tokens
from embedlab.models.tokens.spectrum import adjust, first_component, mean_shift, right_singular_vectors
from embedlab.tasks.tokens.common import TokenModel, embed


def _alignment(model: TokenModel, vectors: np.ndarray, tokens: list[list[int]], k: int,
               truncate: int | None) -> dict[str, float]:
    ids, _ = top_tokens(model.decoder, vectors, alignment.depth_needed(tokens, k, truncate))
    ranked = [list(row) for row in ids]
    return {f"hit_at_{k}": alignment.hit_at_k(ranked, tokens, k),
            "local_alignment": alignment.local_alignment(ranked, tokens, truncate)}


@task(cache_policy=NO_CACHE)
def analyse_spectrum(backbone: TokenModel, embedder: TokenModel, texts: list[str], lam: float | None, k: int,
                     truncate: int | None, components: int, examples: int, cache_dir: Path) -> dict[str, Any]:
    """X = backbone embeddings, Y = embedder embeddings of `texts`: singular values of the uncentered X, the mean
    shift v_j per component (first `components`), λ (`lam`, default v_1), the alignment of X, Y and X + λ u_1
    decoded through the backbone's head, and `examples` texts decoded as h, its first component, the rest,
    h + λ u_1 and the embedder's ĥ (through the embedder's head: the backbone's where the head reads a `source`,
    the embedder's own input embeddings for `tied`). `pooling`: the embedder's, which the backbone was read with.
    UserError where the two give the same embeddings (no shift to analyse)."""
    x, y = embed(backbone, texts, cache_dir), embed(embedder, texts, cache_dir)
    if np.array_equal(x, y):
        raise UserError(f"embedder {embedder.spec} gives the same embeddings as backbone {backbone.spec} on the "
                        f"{len(texts)} texts: no shift to analyse (an untrained copy? the first step of a warm-up "
                        "has learning rate 0)")
    values, directions = right_singular_vectors(x)
    shift = mean_shift(x, y, directions)
    u1 = directions[:, 0]
    chosen = float(shift[0]) if lam is None else lam
    adjusted = adjust(x, u1, chosen).astype(np.float32)
    tokens = token_ids(backbone.tokenizer, texts, True, backbone.loaded.encoder.model.max_seq_length)
    magnitudes = np.abs(shift)
    projection, residual = first_component(x[:examples], u1)

    def words(vectors: np.ndarray, model: TokenModel = backbone) -> list[list[str]]:
        return [model.tokens(row) for row in top_tokens(model.decoder, vectors.astype(np.float32), k)[0]]

    decoded = {"backbone h": words(x[:examples]), "first component (h·u1)u1": words(projection),
               "rest h − (h·u1)u1": words(residual), "adjusted h + λu1": words(adjusted[:examples]),
               "embedder ĥ": words(y[:examples], embedder)}
    return {
        "texts": len(texts), "pooling": embedder.pooling, "lambda": chosen,
        "singular_values": values[:components].tolist(),
        "shift": shift[:components].tolist(),
        "first_share": float(magnitudes[0] / magnitudes.sum()),
        "v1_over_next": float(magnitudes[0] / magnitudes[1:].max()),
        "largest_component": int(magnitudes.argmax()) + 1,
        "alignment": {"backbone": _alignment(backbone, x, tokens, k, truncate),
                      "embedder": _alignment(backbone, y, tokens, k, truncate),
                      "adjusted": _alignment(backbone, adjusted, tokens, k, truncate)},
        "examples": [{"text": text, **{name: rows[i] for name, rows in decoded.items()}}
                     for i, text in enumerate(texts[:examples])],
    }
