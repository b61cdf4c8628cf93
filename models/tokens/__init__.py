"""Decoding text embeddings into aligned tokens (paper 5: Nie et al., "A Text is Worth Several Tokens: Text
Embedding from LLMs Secretly Aligns Well with The Key Tokens", arXiv 2406.17378, ACL 2025).

heads.py: the decoding heads g (registry `HEADS`: tied input embeddings, a causal LM's lm_head, an MLM head);
decode.py: embeddings -> top-k vocabulary tokens; alignment.py: hit@k, local and global alignment;
spectrum.py: the uncentered SVD, mean shift per component and the first-component adjustment;
sparse.py: sparse retrieval from aligned tokens (a `Retriever` over a scipy.sparse inverted index).
"""

from __future__ import annotations

from typing import Any

from embedlab.registry import Registry

# Decoding heads by name (heads.py documents each); entries import torch only when used.
HEADS: Registry[Any] = Registry("decoding head", {
    "tied": "embedlab.models.tokens.heads:TIED",
    "lm_head": "embedlab.models.tokens.heads:LM_HEAD",
    "mlm": "embedlab.models.tokens.heads:MLM",
}, params=lambda head: head.params, doc=lambda head: head.what)
