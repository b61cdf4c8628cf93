"""Alignment metrics, spectral analysis and the sparse token retriever of `embedlab.models.tokens` (paper 5) on
hand-made inputs; every expected value is computed by hand in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab.models.tokens.alignment import depth_needed, global_alignment, hit_at_k, local_alignment
from embedlab.models.tokens.sparse import SparseTokenRetriever, document_matrix, index_bytes, query_matrix
from embedlab.models.tokens.spectrum import adjust, first_component, mean_shift, right_singular_vectors

# Text 1: T = [101, 7, 8, 8, 102] (|T| = 5, set {101, 7, 8, 102} of 4); text 2: T = [101, 9, 102] (|T| = 3, set of 3).
TOKENS = [[101, 7, 8, 8, 102], [101, 9, 102]]
RANKED = [[8, 50, 51, 7, 101, 52], [60, 61, 62, 9, 63, 64]]


def test_hit_at_k():
    # k=3: text 1 top {8, 50, 51} holds 8 -> 1; text 2 top {60, 61, 62} holds none -> 0; mean 0.5.
    assert hit_at_k(RANKED, TOKENS, 3) == 0.5
    # k=4: text 2's top 4 now holds 9 -> both hit.
    assert hit_at_k(RANKED, TOKENS, 4) == 1.0
    # k=1: text 1's top {8} hits, text 2's {60} does not.
    assert hit_at_k(RANKED, TOKENS, 1) == 0.5


def test_local_alignment_paper_definition_and_truncation():
    # Paper (cut |T|): text 1 top 5 {8, 50, 51, 7, 101} ∩ {101, 7, 8, 102} = {8, 7, 101} -> 3/4;
    # text 2 top 3 {60, 61, 62} -> 0/3; mean (0.75 + 0) / 2 = 0.375.
    assert local_alignment(RANKED, TOKENS) == pytest.approx(0.375)
    # Code's truncation t=4: text 1 cut min(5, 4) = 4: {8, 50, 51, 7} -> 2/4; text 2 cut 3 -> 0; mean 0.25.
    assert local_alignment(RANKED, TOKENS, truncate=4) == pytest.approx(0.25)
    # t=2: text 1 {8, 50} -> 1/4; text 2 {60, 61} -> 0; mean 0.125.
    assert local_alignment(RANKED, TOKENS, truncate=2) == pytest.approx(0.125)
    # t=10 is the released code's setting; both texts are shorter, so it equals the paper's value here.
    assert local_alignment(RANKED, TOKENS, truncate=10) == pytest.approx(0.375)


def test_global_alignment():
    # Paper: found {8, 7, 101} ∪ {} = 3 tokens; all tokens {101, 7, 8, 102, 9} = 5 -> 0.6.
    assert global_alignment(RANKED, TOKENS) == pytest.approx(0.6)
    # t=4: found {8, 7} -> 2/5 = 0.4.
    assert global_alignment(RANKED, TOKENS, truncate=4) == pytest.approx(0.4)


def test_depth_needed_and_mismatched_lists():
    assert depth_needed(TOKENS, 10, None) == 10  # max(10, 5, 3)
    assert depth_needed([[1] * 12, [2]], 10, None) == 12  # the paper's cut needs the longest text's length
    assert depth_needed([[1] * 12, [2]], 3, 10) == 10
    with pytest.raises(ValueError, match="2 rankings for 1 token lists"):
        hit_at_k(RANKED, TOKENS[:1])


def test_spectrum_uncentered_svd_mean_shift_and_adjustment():
    # X = [[3, 0], [0, 1]]: uncentered singular values 3 and 1 with u1 = ±e1, u2 = ±e2 (centering would give a
    # single non-zero value sqrt(5)).
    backbone = np.array([[3.0, 0.0], [0.0, 1.0]])
    values, directions = right_singular_vectors(backbone)
    assert values == pytest.approx([3.0, 1.0])
    assert np.abs(directions) == pytest.approx(np.eye(2))
    # Y - X = [[2, 1], [2, -1]], mean [2, 0] -> |v1| = 2, v2 = 0.
    shift = mean_shift(backbone, backbone + np.array([[2.0, 1.0], [2.0, -1.0]]), directions)
    assert np.abs(shift) == pytest.approx([2.0, 0.0])
    u1 = directions[:, 0]
    # h + v1 u1 = [1, 1] + [2, 0] = [3, 1] whatever the sign of u1.
    assert adjust(np.array([[1.0, 1.0]]), u1, shift[0]) == pytest.approx(np.array([[3.0, 1.0]]))
    projection, residual = first_component(np.array([[1.0, 1.0]]), u1)
    assert projection == pytest.approx(np.array([[1.0, 0.0]]))
    assert residual == pytest.approx(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="differ in shape"):
        mean_shift(backbone, backbone[:1], directions)


# Vocabulary of 6 tokens. Documents' top-2 tokens: d0 {1: 2.0, 3: 1.0}, d1 {3: 3.0, 4: 0.5}, d2 {0: 1.5, 5: 1.0}.
DOC_IDS = np.array([[1, 3], [3, 4], [0, 5]])
DOC_LOGITS = np.array([[2.0, 1.0], [3.0, 0.5], [1.5, 1.0]], dtype=np.float32)
# The query's top-2 aligned tokens 3 (logit 0.9) and 5 (logit -0.2); its literal token 4 (logit 0.4).
QUERY_IDS, QUERY_LOGITS = np.array([[3, 5]]), np.array([[0.9, -0.2]], dtype=np.float32)
QUERY_FULL = np.array([[0.0, 0.0, 0.0, 0.9, 0.4, -0.2]], dtype=np.float32)


def _retriever(ids=("d0", "d1", "d2")) -> SparseTokenRetriever:
    retriever = SparseTokenRetriever()
    retriever.index(list(ids), document_matrix(DOC_IDS, DOC_LOGITS, 6))
    return retriever


def test_sparse_binary_query_scores_by_hand():
    queries = query_matrix(QUERY_IDS, QUERY_LOGITS, [[4]], 6, "binary")
    # Binary: token 3 (positive logit) and literal 4 get weight 1; token 5 (logit -0.2) is dropped.
    assert queries.toarray().tolist() == [[0, 0, 0, 1, 1, 0]]
    # d0: w(3) = 1.0; d1: 3.0 + 0.5 = 3.5; d2: no shared token -> 0.
    ids, scores = _retriever().search(queries, 3)
    assert ids.tolist() == [["d1", "d0", "d2"]]
    assert scores.tolist() == [[3.5, 1.0, 0.0]]
    assert len(_retriever()) == 3


def test_sparse_logit_query_scores_by_hand():
    queries = query_matrix(QUERY_IDS, QUERY_LOGITS, [[4]], 6, "logit", QUERY_FULL)
    # d0: 0.9 * 1.0 = 0.9; d1: 0.9 * 3.0 + 0.4 * 0.5 = 2.9; d2: -0.2 * 1.0 = -0.2.
    ids, scores = _retriever().search(queries, 2)
    assert ids.tolist() == [["d1", "d0"]]
    assert scores[0] == pytest.approx([2.9, 0.9])
    # Aligned tokens only (no literal): d1 loses its 0.4 * 0.5 -> 2.7.
    _, scores = _retriever().search(query_matrix(QUERY_IDS, QUERY_LOGITS, None, 6, "logit"), 3)
    assert scores[0] == pytest.approx([2.7, 0.9, -0.2])


def test_sparse_ties_go_to_the_lower_position_and_sizes():
    # A query sharing no token with any document: all scores 0, order = index positions.
    ids, _ = _retriever(ids=(30, 10, 20)).search(query_matrix(np.array([[2]]), np.array([[1.0]]), None, 6), 3)
    assert ids.tolist() == [[30, 10, 20]]
    documents = document_matrix(DOC_IDS, DOC_LOGITS, 6)
    # 6 float32 weights + 6 int32 token ids + 4 int32 row pointers = 24 + 24 + 16 bytes.
    assert index_bytes(documents) == 64
    with pytest.raises(ValueError, match="2 ids for 3 documents"):
        SparseTokenRetriever().index(["a", "b"], documents)
