"""Acceptance of paper 5 with the real all-MiniLM-L6-v2 and its tied head on the real data (slow: the SciFact
corpus is encoded once, then read from the project's embedding cache). Targets from the method notes
(../shared/methods/text_tokens.md), measured independently on this data."""

from __future__ import annotations

import pytest

from conftest import REPO
from embedlab.flows.tokens import TokensRequest, align, sparse

pytestmark = pytest.mark.slow
CACHE = f"cache_dir={REPO / '.cache'}"


def test_minilm_tied_head_alignment_on_500_stsb_sentences(project, tmp_path):
    """Sentence 1 of the first 500 STS-B test rows, special tokens kept, the code's top-10 truncation."""
    result = align(TokensRequest(output=str(tmp_path / "al"), overrides=[CACHE], track=False))
    assert result["texts"] == 500
    assert result["metrics"]["hit_at_10"] == pytest.approx(0.846, abs=0.01)
    assert result["metrics"]["local_alignment"] == pytest.approx(0.122, abs=0.0015)
    assert result["metrics"]["global_alignment"] == pytest.approx(0.38, abs=0.01)
    assert "hair" in result["examples"][0]["tokens"]  # "A girl is styling her hair."


def test_minilm_sparse_from_aligned_tokens_on_scifact(project, tmp_path):
    """Dense reproduces MTEB's 0.6451; doc top-256, query literal ∪ top-64 (binary) gives 0.497, top-128 0.549."""
    overrides = [CACHE, "tokens.sparse.sweep_doc_k=[256]", "tokens.sparse.sweep_query_m=[64, 128]",
                 "tokens.sparse.latency_queries=20"]
    result = sparse(TokensRequest(output=str(tmp_path / "sp"), overrides=overrides, track=False))
    assert result["dense"]["ndcg_at_10"] == pytest.approx(0.6451, abs=5e-4)
    assert result["sparse"]["ndcg_at_10"] == pytest.approx(0.497, abs=0.005)
    assert result["sparse"]["nonzeros_per_doc"] == 256
    assert result["sweep"][1]["ndcg_at_10"] == pytest.approx(0.549, abs=0.005)
