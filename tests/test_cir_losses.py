"""SPN4CIR's two losses, the combiners and Recall@K with the reference excluded, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from embedlab.errors import UserError
from embedlab.models.cir import COMBINERS
from embedlab.models.cir.combiner import build_combiner
from embedlab.models.cir.losses import bank_loss, in_batch_loss
from embedlab.models.cir.retrieval import target_ranks
from embedlab.models.retrieval.metrics import recall_at_k

# A 4-image bank of unit vectors and two composed queries (D = 2).
BANK = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
QUERIES = torch.tensor([[0.8, 0.6], [0.0, 1.0]], dtype=torch.float64)
# Cosine similarities by hand: q0 · b = 0.8, 0.6, -0.8, 0.48 + 0.48; q1 · b = 0, 1, 0, 0.8.
SIMS = [[0.8, 0.6, -0.8, 0.96], [0.0, 1.0, 0.0, 0.8]]
TARGET_ROWS = torch.tensor([3, 1])
REFERENCE_ROWS = torch.tensor([0, 3])


def neg_log_softmax(sims: list[float], positive: int, tau: float, keep: list[int] | None = None) -> float:
    """−log( exp(s_p/τ) / Σ_{j in keep} exp(s_j/τ) ), written out."""
    keep = range(len(sims)) if keep is None else keep
    return -(sims[positive] / tau - math.log(sum(math.exp(sims[j] / tau) for j in keep)))


@pytest.mark.parametrize("tau", [0.02, 0.5])
def test_stage2_loss_against_the_whole_bank_matches_hand_computation(tau):
    hand = (neg_log_softmax(SIMS[0], 3, tau) + neg_log_softmax(SIMS[1], 1, tau)) / 2
    assert bank_loss(QUERIES, BANK, TARGET_ROWS, tau).item() == pytest.approx(hand, rel=1e-9)


def test_stage2_loss_leaves_each_querys_reference_out_of_the_bank():
    hand = (neg_log_softmax(SIMS[0], 3, 0.02, keep=[1, 2, 3]) + neg_log_softmax(SIMS[1], 1, 0.02, keep=[0, 1, 2])) / 2
    ours = bank_loss(QUERIES, BANK, TARGET_ROWS, 0.02, reference_rows=REFERENCE_ROWS)
    assert ours.item() == pytest.approx(hand, rel=1e-9)


def test_stage2_default_temperature_is_the_papers():
    assert bank_loss(QUERIES, BANK, TARGET_ROWS).item() == pytest.approx(
        bank_loss(QUERIES, BANK, TARGET_ROWS, 0.02).item())


def test_stage1_loss_uses_in_batch_targets_and_never_the_same_image_as_a_negative():
    queries = torch.tensor([[0.6, 0.8], [0.8, 0.6], [0.0, 1.0]], dtype=torch.float64)
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    target_ids = torch.tensor([5, 7, 5])  # targets 0 and 2 are the same image
    sims = [[0.6, 0.8, 0.6], [0.8, 0.6, 0.8], [0.0, 1.0, 0.0]]  # q_i · t_j by hand
    tau = 0.1
    hand = (neg_log_softmax(sims[0], 0, tau, keep=[0, 1]) + neg_log_softmax(sims[1], 1, tau)
            + neg_log_softmax(sims[2], 2, tau, keep=[1, 2])) / 3
    assert in_batch_loss(queries, targets, tau, target_ids).item() == pytest.approx(hand, rel=1e-9)
    # query 0's reference is image 7 (target 1): excluded, only its positive is left, so its term is 0
    references = torch.tensor([7, 9, 8])
    hand = (0.0 + neg_log_softmax(sims[1], 1, tau) + neg_log_softmax(sims[2], 2, tau, keep=[1, 2])) / 3
    assert in_batch_loss(queries, targets, tau, target_ids, references).item() == pytest.approx(hand, rel=1e-9)


def test_sum_combiner_normalises_the_sum_and_mlp_starts_as_the_sum():
    refs, texts = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    expected = torch.tensor([[1 / math.sqrt(2), 1 / math.sqrt(2)]])
    for name in COMBINERS:
        assert torch.allclose(build_combiner(name, 2)(refs, texts), expected), name
    with pytest.raises(UserError, match="did you mean 'sum'"):
        build_combiner("summ", 2)


def test_recall_excludes_the_reference_and_breaks_ties_towards_the_lower_row():
    gallery = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]])
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    # query 0: scores 1, .8, .6, 0; reference row 0 left out, target row 2 -> rank 2 (behind row 1 only)
    # query 1: scores 0, .6, .8, 1; reference row 3 left out, target row 1 -> rank 2 (behind row 2)
    # query 2: scores .6, .96, 1, .8; reference row 2 left out, target row 0 -> rank 3 (behind rows 1 and 3)
    ranks = target_ranks(queries, gallery, torch.tensor([2, 1, 0]), torch.tensor([0, 3, 2]))
    assert ranks.tolist() == [2, 2, 3]
    tied = target_ranks(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]),
                        torch.tensor([2]), torch.tensor([0]))
    assert tied.tolist() == [2]  # the same score as row 1, which comes first
    assert recall_at_k(ranks, (1, 2, 3)) == {"recall_at_1": 0.0, "recall_at_2": pytest.approx(2 / 3),
                                             "recall_at_3": 1.0}
