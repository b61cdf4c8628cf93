"""Recall@K and Mean Rank Variance on hand-built rankings; faiss ranks equal a brute-force sort."""

from __future__ import annotations

import pytest
import torch

from embedlab.models.crossmodal.retrieval import crossmodal_scores, mean_rank_variance, target_ranks


def test_mrv_of_a_hand_built_ranking():
    # three instances, ranks of the correct item in two languages: variances 1, 0 and 4
    ranks = torch.tensor([[1, 3], [2, 2], [1, 5]])
    assert mean_rank_variance(ranks) == pytest.approx((1 + 0 + 4) / 3)


def test_target_ranks_follow_the_scores():
    documents = torch.eye(3)  # with identity documents, a query's scores are the query itself
    queries = torch.tensor([[0.9, 0.5, 0.1],   # correct document 0 scores highest: rank 1
                            [0.8, 0.3, 0.1],   # document 1 is second: rank 2
                            [0.8, 0.9, 0.1]])  # document 2 is last: rank 3
    assert target_ranks(queries, documents).tolist() == [1, 2, 3]


def test_target_ranks_equal_brute_force_on_random_embeddings():
    generator = torch.Generator().manual_seed(0)
    queries = torch.nn.functional.normalize(torch.randn(20, 8, generator=generator), dim=1)
    documents = torch.nn.functional.normalize(torch.randn(30, 8, generator=generator), dim=1)
    scores = queries @ documents.T
    brute = (scores > scores.diagonal()[:, None]).sum(1) + 1
    assert target_ranks(queries, documents).tolist() == brute.tolist()


def test_crossmodal_scores_on_a_hand_built_ranking():
    images = torch.eye(3)
    # rows: captions 0..2, columns: their scores for images 0..2 (identity images make a caption's scores itself)
    language_b = torch.tensor([[0.2, 0.5, 0.9],   # t2i: image 0 ranks 3rd
                               [0.9, 0.6, 0.1],   # image 1 ranks 2nd
                               [0.1, 0.3, 0.8]])  # image 2 ranks 1st
    texts = torch.stack([torch.eye(3), language_b], dim=1)  # (3, 2, 3); language "a" is perfect
    scores = crossmodal_scores(images, texts, ["a", "b"], k_values=(1, 2))
    assert scores["t2i.a.recall_at_1"] == 1.0
    assert scores["t2i.b.recall_at_1"] == pytest.approx(1 / 3)
    assert scores["t2i.b.recall_at_2"] == pytest.approx(2 / 3)
    # t2i ranks per image over (a, b): (1, 3), (1, 2), (1, 1) -> variances 1, 0.25, 0
    assert scores["mrv_t2i"] == pytest.approx((1 + 0.25 + 0) / 3)
    # i2t, language b: image j scores the captions by column j: image 0 [0.2, 0.9, 0.1] -> its caption 2nd;
    # image 1 [0.5, 0.6, 0.3] -> 1st; image 2 [0.9, 0.1, 0.8] -> 2nd. Ranks (1, 2), (1, 1), (1, 2).
    assert scores["i2t.b.recall_at_1"] == pytest.approx(1 / 3) and scores["i2t.b.recall_at_2"] == 1.0
    assert scores["mrv_i2t"] == pytest.approx((0.25 + 0 + 0.25) / 3)
    assert scores["mrv"] == pytest.approx((scores["mrv_i2t"] + scores["mrv_t2i"]) / 2)
    assert scores["a.mean_recall"] == 1.0
    assert scores["b.mean_recall"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    assert scores["mean_recall"] == pytest.approx(sum(v for k, v in scores.items() if "recall_at" in k) / 8)


def test_perfect_embeddings_have_full_recall_and_zero_mrv():
    images = torch.eye(5)
    scores = crossmodal_scores(images, torch.stack([images, images, images], dim=1), ["en", "de", "fr"])
    assert scores["mean_recall"] == 1.0 and scores["mrv"] == 0.0
