"""The layer-wise cross-encoder and EasyRAG's per-query early exit on a tiny random BERT (built from config), and
the reranker's training step."""

from __future__ import annotations

import math

import pytest
import torch

from embedlab.errors import UserError
from embedlab.models.rag.early_exit import rerank
from embedlab.models.rag.exit_rules import EXIT_RULES, EntropyRule, MaxRule
from embedlab.models.rag.layerwise import LayerwiseCrossEncoder
from embedlab.models.rag.train_reranker import Group, group_loss, train


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoTokenizer, BertConfig, BertModel

    from embedlab.models.model_source import bundled_minilm_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    return LayerwiseCrossEncoder(BertModel(config, add_pooling_layer=False), tokenizer, max_length=64).eval()


PASSAGES = [f"passage number {i} about topic {i % 3}" for i in range(40)]


def test_layers_match_the_full_bert_forward(tiny):
    batch = tiny.encode(["q"] * 3, PASSAGES[:3])
    with torch.no_grad():
        reference = tiny.bert(**batch, output_hidden_states=True).hidden_states  # embeddings, layer 1, ...
        scores = tiny.layer_scores(["q"] * 3, PASSAGES[:3])
        for layer in range(4):
            expected = tiny.heads[layer](reference[layer + 1][:, 0]).squeeze(-1)
            assert torch.allclose(scores[layer], expected, atol=1e-5)
    assert tiny.layer_scores(["q"] * 3, PASSAGES[:3], upto=2).shape == (2, 3)


def test_theta_zero_always_exits_and_above_one_never(tiny):
    full = rerank(tiny, "topic 1", PASSAGES, batch_size=32)
    assert full.layer == 4 and len(full.scores) == 40
    exits = rerank(tiny, "topic 1", PASSAGES, batch_size=32, check_layer=2, rule=MaxRule(theta=0.0))
    assert exits.layer == 2
    assert exits.scores == pytest.approx(rerank(tiny, "topic 1", PASSAGES, layer=2).scores, abs=1e-5)
    stays = rerank(tiny, "topic 1", PASSAGES, batch_size=32, check_layer=2, rule=MaxRule(theta=1.01))
    assert stays.layer == 4 and stays.scores == pytest.approx(full.scores, abs=1e-5)


def test_the_decision_is_made_again_for_every_query(tiny):
    with torch.no_grad():
        first = tiny.layer_scores(["topic 1"] * 32, PASSAGES[:32], upto=2)[1]
    top = float(torch.softmax(first, 0).max())
    rule = MaxRule(theta=top + 1e-6)  # this query's first batch stays just below θ
    assert rerank(tiny, "topic 1", PASSAGES, check_layer=2, rule=MaxRule(theta=top - 1e-6)).layer == 2
    assert rerank(tiny, "topic 1", PASSAGES, check_layer=2, rule=rule).layer == 4  # no sticky exit from before


def test_entropy_rule_by_hand():
    logits = torch.tensor([0.0, 0.0, math.log(2.0)])  # p = (1/4, 1/4, 1/2): H = 1.5 ln 2, / ln 3 = 0.9464
    assert EntropyRule(theta=0.95).exits(logits) and not EntropyRule(theta=0.94).exits(logits)
    assert EntropyRule(theta=0.94, exit_when="above").exits(logits)
    assert MaxRule(theta=0.5).exits(logits) and not MaxRule(theta=0.51).exits(logits)
    with pytest.raises(UserError, match="early-exit rule 'max': theta"):
        EXIT_RULES.params("max", {"theta": "high"})


def test_group_loss_by_hand_and_training_lowers_it(tiny):
    groups = [Group("alpha query", "alpha passage", ("beta", "gamma")), Group("delta", "delta text", ("x", "y"))]
    with torch.no_grad():
        logits = tiny.layer_scores([g.query for g in groups for _ in range(3)],
                                   [p for g in groups for p in (g.positive, *g.negatives)]).view(4, 2, 3)
        expected = -torch.log_softmax(logits, -1)[..., 0].mean()
        assert float(group_loss(tiny, groups)) == pytest.approx(float(expected), abs=1e-5)
    with torch.no_grad():
        before = float(group_loss(tiny, groups))
    losses = train(tiny, groups, epochs=20, groups_per_step=2, lr=1e-3)
    assert len(losses) == 20 and float(group_loss(tiny, groups)) < before


def test_heads_and_encoder_take_their_own_learning_rate(tiny):
    """AdamW's first step moves every parameter with a gradient by lr * (sign(g) + wd * p) (Adam's first m/sqrt(v)
    is sign(g)): the heads by head_lr, the encoder by lr."""
    import copy

    model = copy.deepcopy(tiny)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    train(model, [Group("alpha query", "alpha passage", ("beta", "gamma"))], groups_per_step=1, lr=1e-4,
          head_lr=1e-2, max_steps=1)
    for name, lr in (("heads.0.weight", 1e-2), ("bert.encoder.layer.0.attention.self.query.weight", 1e-4)):
        step = (dict(model.named_parameters())[name].detach() - before[name]).abs()
        assert torch.all(step <= lr * (1 + 0.01 * before[name].abs()) * 1.001), name  # |sign(g) + wd p| <= 1 + wd |p|
        assert float(step.median()) == pytest.approx(lr, rel=0.05), name  # Adam's eps shrinks only tiny gradients


def test_save_and_load_keep_the_scores(tiny, tmp_path):
    tiny.save(tmp_path)
    again = LayerwiseCrossEncoder.load(tmp_path)
    with torch.no_grad():
        assert torch.allclose(again.layer_scores(["q"], ["p"]), tiny.layer_scores(["q"], ["p"]), atol=1e-5)
