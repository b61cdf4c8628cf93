"""Alignment between a text's decoded tokens and its own tokens (paper 5, arXiv 2406.17378, §3; the authors'
`aligned_token.py`, `calculate_metric`).

For text s with token list T_s (the tokenizer's ids, special tokens included as in the paper's code) and decoded
ranking R_s (token ids, best first):
  hit@k  = 1 if R_s[:k] ∩ set(T_s) ≠ ∅, averaged over texts;
  local  = |R_s[:c_s] ∩ set(T_s)| / |set(T_s)|, averaged over texts;
  global = |⋃_s (R_s[:c_s] ∩ set(T_s))| / |⋃_s set(T_s)| over the whole set;
with the cut c_s = |T_s| (the paper's top-|T_s| definition, |T_s| the length of the token list) or, with
`truncate` t, c_s = min(|T_s|, t): the released code keeps only the top 10 decoded tokens (t = 10).
Each R_s must hold at least c_s tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cut(tokens: Sequence[int], truncate: int | None) -> int:
    """c_s: how many decoded tokens text s is compared on."""
    return len(tokens) if truncate is None else min(len(tokens), truncate)


def depth_needed(tokens: Sequence[Sequence[int]], k: int, truncate: int | None) -> int:
    """How many decoded tokens per text hit@k and the alignments need: max(k, max_s c_s)."""
    return max([k, *(cut(t, truncate) for t in tokens)])


def _check(ranked: Sequence[Sequence[int]], tokens: Sequence[Sequence[int]]) -> None:
    if len(ranked) != len(tokens) or not tokens:
        raise ValueError(f"{len(ranked)} rankings for {len(tokens)} token lists (need the same number, at least 1)")


def hit_at_k(ranked: Sequence[Sequence[int]], tokens: Sequence[Sequence[int]], k: int = 10) -> float:
    """Share of texts with at least one of their own tokens among their top-k decoded tokens."""
    _check(ranked, tokens)
    return float(np.mean([bool(set(r[:k]) & set(t)) for r, t in zip(ranked, tokens)]))


def local_alignment(ranked: Sequence[Sequence[int]], tokens: Sequence[Sequence[int]],
                    truncate: int | None = None) -> float:
    """Mean over texts of |R_s[:c_s] ∩ set(T_s)| / |set(T_s)| (texts without tokens are skipped)."""
    _check(ranked, tokens)
    shares = [len(set(r[:cut(t, truncate)]) & set(t)) / len(set(t)) for r, t in zip(ranked, tokens) if t]
    return float(np.mean(shares))


def global_alignment(ranked: Sequence[Sequence[int]], tokens: Sequence[Sequence[int]],
                     truncate: int | None = None) -> float:
    """|⋃_s (R_s[:c_s] ∩ set(T_s))| / |⋃_s set(T_s)|."""
    _check(ranked, tokens)
    found: set[int] = set()
    every: set[int] = set()
    for r, t in zip(ranked, tokens):
        found |= set(r[:cut(t, truncate)]) & set(t)
        every |= set(t)
    return len(found) / len(every)
