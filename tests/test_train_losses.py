"""Each registered loss against sentence-transformers' own loss class on the same embeddings.

The sentence-representation objectives without a sentence-transformers counterpart (CSE_OBJECTIVES) are checked
against their gradients in tests/test_cse_objectives.py."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.sentence_transformer.losses import CoSENTLoss, MultipleNegativesRankingLoss

from embedlab.errors import UserError
from embedlab.models.losses import CSE_OBJECTIVES, LOSSES
from embedlab.models.losses.mnrl import mnrl


def _embeddings(columns: int, batch: int = 8, dim: int = 16, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator) for _ in range(columns)]


# name -> (sentence-transformers reference, number of text columns, labels)
REFERENCES = {
    "mnrl": (MultipleNegativesRankingLoss(model=None), 3, None),
    "infonce": (MultipleNegativesRankingLoss(model=None), 3, None),
    "cosent": (CoSENTLoss(model=None), 2, torch.tensor([0.1, 0.9, 0.5, 0.5, 0.0, 1.0, 0.3, 0.7])),
}


def test_every_registered_loss_has_a_reference():
    assert set(REFERENCES) | set(CSE_OBJECTIVES) == set(LOSSES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_matches_sentence_transformers(name, seed):
    reference, columns, labels = REFERENCES[name]
    embeddings = _embeddings(columns, seed=seed)
    ours = LOSSES.get(name)(embeddings, labels, scale=20.0)
    theirs = reference.compute_loss_from_embeddings(embeddings, labels)
    assert torch.allclose(ours, theirs, atol=1e-5), (ours.item(), theirs.item())


def test_mnrl_pairs_match_sentence_transformers():
    embeddings = _embeddings(2)
    theirs = MultipleNegativesRankingLoss(model=None).compute_loss_from_embeddings(embeddings, None)
    assert torch.allclose(mnrl(embeddings), theirs, atol=1e-5)


def test_mnrl_groups_drop_same_group_candidates():
    embeddings = _embeddings(3, batch=4)
    distinct = torch.tensor([[0, 0, 10], [1, 1, 11], [2, 2, 12], [3, 3, 13]])
    assert torch.allclose(mnrl(embeddings, distinct), mnrl(embeddings), atol=1e-6)
    # rows 0 and 1 share a group, so each one's positive is left out of the other's softmax
    shared = torch.tensor([[0, 0, 10], [0, 0, 11], [2, 2, 12], [3, 3, 13]])
    anchors, *candidates = (torch.nn.functional.normalize(e, dim=-1) for e in embeddings)
    scores = anchors @ torch.cat(candidates).T * 20  # (4, 8)
    scores[0, 1] = scores[1, 0] = float("-inf")
    expected = torch.nn.functional.cross_entropy(scores, torch.arange(4))
    assert torch.allclose(mnrl(embeddings, shared), expected, atol=1e-5)


def test_cosent_needs_scores():
    with pytest.raises(ValueError, match="score"):
        LOSSES.get("cosent")(_embeddings(2), None)


def test_unknown_loss_suggests_nearest():
    with pytest.raises(UserError, match="did you mean 'mnrl'"):
        LOSSES.get("mnlr")
