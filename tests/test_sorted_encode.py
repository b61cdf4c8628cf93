"""The evaluation encoder's token-sorted batches (models/sorted_encode.py) and int8 quantisation (models/quantize.py).

Embeddings are checked against `SentenceTransformer.encode` on the same model (the independent reference), on
real STSBenchmark sentences and SciFact documents of the data root.
"""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest
import torch

from conftest import DATA_ROOT
from embedlab.config import load_settings
from embedlab.errors import UserError
from embedlab.models import sorted_encode
from embedlab.models.encoder import fingerprint, load_encoder
from embedlab.models.mteb_encoder import SentenceEncoder
from embedlab.models.sorted_encode import _batch, encode_sorted


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("minilm", "cpu")


@pytest.fixture(scope="module")
def real_texts() -> list[str]:
    """40 STSBenchmark test sentences and 8 SciFact documents (many over 256 tokens), shuffled together."""
    sentences = [line.split("\t")[5] for line in (DATA_ROOT / "stsb" / "sts-test.csv").read_text().splitlines()[:40]]
    with (DATA_ROOT / "scifact" / "corpus.jsonl").open() as handle:
        docs = [json.loads(next(handle)) for _ in range(8)]
    texts = sentences + [f"{doc['title']} {doc['text']}" for doc in docs]
    random.Random(0).shuffle(texts)
    return texts


def agree(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape and ours.dtype == np.float32
    assert np.abs(ours - reference).max() < 1e-5
    cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.9999


def test_sorted_batches_agree_with_sentence_transformers_encode(minilm, real_texts):
    reference = minilm.encode(real_texts, batch_size=8, convert_to_numpy=True)
    agree(encode_sorted(minilm, real_texts, batch_size=8), reference)
    # the evaluation encoder (no cache) is this path
    agree(SentenceEncoder(minilm, "minilm", batch_size=8, show_progress_bar=False).encode_texts(real_texts), reference)


def test_prompt_and_chunk_boundaries_agree(minilm, real_texts, monkeypatch):
    reference = minilm.encode(real_texts, prompt="query: ", batch_size=4, convert_to_numpy=True)
    monkeypatch.setattr(sorted_encode, "CHUNK", 7)  # 48 texts: 7 chunks, the last one of 6
    agree(encode_sorted(minilm, real_texts, batch_size=4, prompt="query: "), reference)


def test_a_model_without_attention_mask_is_left_to_encode():
    """Static embeddings (token ids and offsets, no mask): nothing to sort by; the texts go to `encode` as given."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from transformers import AutoTokenizer

    from embedlab.models.model_source import bundled_minilm_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path())).backend_tokenizer
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_dim=8)], device="cpu")
    texts = ["a dog", "the cat sat on the mat", "x", "two words", "a longer sentence than the others here"]
    reference = model.encode(texts, batch_size=2, convert_to_numpy=True)
    assert np.array_equal(encode_sorted(model, texts, batch_size=2), reference)


def test_no_texts(minilm):
    assert encode_sorted(minilm, [], batch_size=8).shape == (0, 0)


def test_batch_keeps_the_rows_and_drops_padding_columns():
    features = {"input_ids": torch.tensor([[1, 2, 0, 0, 0], [3, 4, 5, 6, 7], [8, 9, 10, 0, 0]]),
                "attention_mask": torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
                "prompt_length": 2}
    batch = _batch(features, torch.tensor([2, 0]), 3, left_padded=False)
    assert batch["input_ids"].tolist() == [[8, 9, 10], [1, 2, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["prompt_length"] == 2
    left = {"input_ids": torch.tensor([[0, 0, 0, 1, 2], [0, 0, 8, 9, 10]]),
            "attention_mask": torch.tensor([[0, 0, 0, 1, 1], [0, 0, 1, 1, 1]])}
    batch = _batch(left, torch.tensor([1, 0]), 3, left_padded=True)
    assert batch["input_ids"].tolist() == [[8, 9, 10], [0, 1, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 1, 1]]


def old_fingerprint(model) -> str:
    """The fingerprint as it was before quantised weights were handled: fp32 caches must keep their key."""
    digest = hashlib.sha256()
    for index, module in enumerate(model):
        config = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
        digest.update(json.dumps([index, type(module).__name__, config], sort_keys=True, default=str).encode())
    digest.update(str(model.max_seq_length).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def test_int8_quantises_linear_layers_close_to_fp32(tiny_model, real_texts):
    fp32 = load_encoder(str(tiny_model), "cpu", "fp32")
    int8 = load_encoder(str(tiny_model), "cpu", "int8")
    linear = int8[0].auto_model.encoder.layer[0].attention.self.query
    assert isinstance(linear, torch.ao.nn.quantized.dynamic.Linear) and linear.weight().dtype == torch.qint8
    assert not any(type(m) is torch.nn.Linear for m in int8.modules())
    reference = fp32.encode(real_texts, batch_size=16, convert_to_numpy=True)
    ours = encode_sorted(int8, real_texts, batch_size=16)
    cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() > 0.99 and not np.array_equal(ours, reference)
    # the embedding cache keys: fp32 unchanged, int8 its own and stable across loads
    assert fingerprint(fp32) == old_fingerprint(fp32)
    assert fingerprint(int8) != fingerprint(fp32)
    assert fingerprint(int8) == fingerprint(load_encoder(str(tiny_model), "cpu", "int8"))


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_int8_off_the_cpu_is_one_line_error(tiny_model, device):
    with pytest.raises(UserError, match=r"^precision int8 \(dynamic quantisation\) runs on the CPU only; "
                                        rf"the device is '{device}' \(set it to 'cpu'\)$"):
        load_encoder(str(tiny_model), device, "int8")


def test_params_accept_int8(tmp_path):
    assert load_settings(overrides=["evaluate.precision=int8"]).params.evaluate.precision == "int8"
    with pytest.raises(UserError, match="evaluate.precision"):
        load_settings(overrides=["evaluate.precision=int4"])
