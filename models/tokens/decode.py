"""Embeddings -> aligned tokens: the top-k logits of g(h) (paper 5, arXiv 2406.17378; `torch.topk`, k = 10 by
default in the authors' `embedding.py`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from embedlab.errors import UserError
from embedlab.models.tokens.heads import Decoder


def check_depth(name: str, k: int, vocab_size: int) -> None:
    """UserError unless 1 <= k <= the head's vocabulary size (`name` is the option, e.g. "tokens.sparse.doc_k")."""
    if not 1 <= k <= vocab_size:
        raise UserError(f"{name} = {k}: expected 1 to {vocab_size} (the decoding head's vocabulary size)")


def top_tokens(decoder: Decoder, embeddings: Any, k: int, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(ids (N, k) int64, logits (N, k) float32) of the k largest logits of g(h) for each row h of `embeddings`
    (N, d), best first; computed `block` rows at a time, so memory stays O(block × V)."""
    check_depth("k", k, decoder.vocab_size)
    matrix = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
    ids, scores = [], []
    for start in range(0, len(matrix), block):
        values, indices = torch.topk(decoder(matrix[start:start + block]), k, dim=1)
        ids.append(indices.numpy())
        scores.append(values.numpy())
    if not ids:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
    return np.concatenate(ids).astype(np.int64), np.concatenate(scores).astype(np.float32)


def token_ids(tokenizer: Any, texts: list[str], special: bool = True, max_length: int | None = None) -> list[list[int]]:
    """Each text's token ids as the embedder reads them (`special`: with [CLS]/[SEP] or the model's own special
    tokens, as the paper's metrics count them; False removes every special id)."""
    encoded = tokenizer(texts, add_special_tokens=True, truncation=max_length is not None, max_length=max_length)
    if special:
        return [list(ids) for ids in encoded["input_ids"]]
    drop = set(tokenizer.all_special_ids)
    return [[i for i in ids if i not in drop] for ids in encoded["input_ids"]]
