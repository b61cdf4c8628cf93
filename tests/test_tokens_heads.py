"""Decoding heads (paper 5): logits checked against the weights read independently, and the one-line errors for an
unknown head, a width mismatch, a source without such a head and a depth beyond the vocabulary."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from embedlab.errors import UserError
from embedlab.models.tokens.decode import check_depth, token_ids, top_tokens
from embedlab.models.tokens import HEADS
from embedlab.models.tokens.heads import fitting_heads, load_head


@pytest.fixture(scope="module")
def embedder(tiny_model) -> SentenceTransformer:
    return SentenceTransformer(str(tiny_model), device="cpu")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 1-layer causal LM (Llama) 48 wide over MiniLM's vocabulary size, saved to a folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_lm")
    LlamaForCausalLM(LlamaConfig(vocab_size=30522, hidden_size=48, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory):
    """A 1-layer BERT masked LM 32 wide (the tiny embedder's width), saved to a folder."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("tiny_mlm")
    BertForMaskedLM(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64)).save_pretrained(folder)
    return folder


def test_tied_head_is_the_input_embedding_matrix(embedder):
    decoder = load_head("tied", embedder, {}, "tiny")
    h = embedder.encode(["a girl is styling her hair"], convert_to_numpy=True)
    matrix = embedder[0].auto_model.get_input_embeddings().weight.detach().numpy()  # (V, 32)
    expected = h @ matrix.T
    assert decoder(torch.from_numpy(h)).numpy() == pytest.approx(expected, abs=1e-5)
    ids, logits = top_tokens(decoder, h, 5)
    assert ids[0].tolist() == np.argsort(-expected[0], kind="stable")[:5].tolist()
    assert logits[0] == pytest.approx(np.sort(expected[0])[::-1][:5], abs=1e-5)


def test_mlm_head_applies_its_transform_and_bias(embedder, tiny_mlm):
    from transformers import BertForMaskedLM

    decoder = load_head("mlm", embedder, {"source": str(tiny_mlm)}, "tiny")
    reference = BertForMaskedLM.from_pretrained(tiny_mlm).eval()
    h = torch.randn(3, 32)
    with torch.no_grad():
        hidden = reference.cls.predictions.transform(h)  # dense, GELU, LayerNorm
        expected = hidden @ reference.bert.embeddings.word_embeddings.weight.T + reference.cls.predictions.bias
    assert decoder(h).numpy() == pytest.approx(expected.numpy(), abs=1e-5)


def test_lm_head_of_another_width_is_refused_naming_both_and_the_heads_that_fit(embedder, tiny_lm):
    with pytest.raises(UserError) as error:
        load_head("lm_head", embedder, {"source": str(tiny_lm)}, "tiny")
    assert str(error.value) == (f"decoding head 'lm_head' of {tiny_lm} reads 48-dim vectors but the embedder tiny "
                                "gives 32-dim ones; heads that fit: tied")
    assert fitting_heads(embedder, {}) == ["tied"]


def test_lm_head_of_a_causal_lm_decodes_with_its_output_layer(tiny_lm):
    from transformers import LlamaForCausalLM

    lm = LlamaForCausalLM.from_pretrained(tiny_lm)

    class Wide:  # an embedder 48 wide: all load_head reads is its width
        def get_embedding_dimension(self):
            return 48

    decoder = load_head("lm_head", Wide(), {"source": str(tiny_lm)}, "wide")
    h = torch.randn(2, 48)
    assert decoder(h).numpy() == pytest.approx((h @ lm.lm_head.weight.detach().T).numpy(), abs=1e-5)


def test_unknown_head_missing_head_and_depth_errors(embedder):
    with pytest.raises(UserError, match=r"unknown decoding head 'tide'; did you mean 'tied'\?"):
        load_head("tide", embedder, {}, "tiny")
    with pytest.raises(UserError, match=r"decoding head 'mlm': 'tiny' is not a masked LM .*heads that fit tiny: tied"):
        load_head("mlm", embedder, {}, "tiny")
    with pytest.raises(UserError, match=r"tokens.head_options: decoding head 'tied': source: Extra inputs"):
        load_head("tied", embedder, {"source": "x"}, "tiny")
    decoder = load_head("tied", embedder, {}, "tiny")
    with pytest.raises(UserError, match=r"^k = 30523: expected 1 to 30522 \(the decoding head's vocabulary size\)$"):
        top_tokens(decoder, np.zeros((1, 32), dtype=np.float32), 30523)
    with pytest.raises(UserError, match=r"^tokens.sparse.doc_k = 0: expected 1 to 30522"):
        check_depth("tokens.sparse.doc_k", 0, decoder.vocab_size)


def test_token_ids_keep_or_drop_special_tokens(embedder):
    tokenizer = embedder.tokenizer
    # "a girl" -> [CLS] a girl [SEP] = 101, 1037, 2611, 102 in the uncased BERT vocabulary.
    assert token_ids(tokenizer, ["a girl"]) == [[101, 1037, 2611, 102]]
    assert token_ids(tokenizer, ["a girl"], special=False) == [[1037, 2611]]


def test_every_head_is_documented_and_rejects_unknown_options():
    for name in HEADS:
        assert len(HEADS.doc(name).split()) >= 5
        with pytest.raises(UserError, match="no_such_parameter: Extra inputs are not permitted"):
            HEADS.params(name, {"no_such_parameter": 1})
