"""The SmolLM2 embedder of paper 5 (a decoder LLM trained into a text embedder), on a tiny Llama built from config
with SmolLM2's real tokenizer: SGPT's weighted-mean pooling (hand-computed), padding that never enters a
sentence's embedding, 2 training steps with `train.pooling=weightedmean`, decoding through the backbone's
`lm_head`, alignment of backbone and embedder, and the spectral analysis backbone -> embedder. Expected values are
computed here from transformers' own modules (LlamaModel, LlamaForCausalLM), not through embedlab."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling
from typer.testing import CliRunner

from conftest import REPO, write
from embedlab.cli import app
from embedlab.config import TrainParams, load_settings
from embedlab.errors import UserError
from embedlab.eval_tasks.spec import FileSpec
from embedlab.flows.tokens import TokensRequest, spectrum
from embedlab.models.embedding_module import build_encoder
from embedlab.models.encoder import load_encoder, with_pooling
from embedlab.models.model_source import bundled_minilm_path, local_model_folder
from embedlab.models.tokens.heads import load_head
from embedlab.tasks.train import train_model
from embedlab.train_tasks import load_train_task
from embedlab.train_tasks.spec import TrainTaskSpec

runner = CliRunner()
LINES = ["A girl is styling her hair.", "A man plays the guitar.", "Two dogs run in the park.",
         "The stock market fell on Monday.", "She cooked pasta for dinner.", "Rain is expected tomorrow.",
         "The children built a sandcastle.", "He fixed the old bicycle."]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> Path:
    """A 2-layer Llama causal LM 32 wide with tied embeddings and SmolLM2-135M-Instruct's tokenizer and special
    tokens (pad = eos = <|im_end|>, id 2), saved as a Hugging Face folder like `.cache/models/smollm2`."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(local_model_folder("smollm2"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    folder = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def embedder(backbone, tmp_path_factory) -> Path:
    """The backbone trained 2 steps with InfoNCE (mnrl) on NLI-style triples, weighted-mean pooled."""
    root = tmp_path_factory.mktemp("tiny_llama_embedder")
    rows = "sent0,sent1,hard_neg\n" + "".join(f"{a},{a.lower()} indeed,{b}\n"
                                               for a, b in zip(LINES, LINES[1:] + LINES[:1]))
    columns = {"anchor": "sent0", "positive": "sent1", "negative": "hard_neg"}
    spec = TrainTaskSpec(format="pairs", loss="mnrl",
                         files={"train": FileSpec(path=str(write(root / "nli.csv", rows)), columns=columns)})
    params = TrainParams(base=str(backbone), output=str(root), batch_size=4, max_steps=2, lr=1e-2,
                         pooling="weightedmean", accelerator="cpu", precision="32-true")
    train_model.fn([load_train_task("nli", spec, root, 0)], params, root / "nli")
    return root / "nli" / "model"


def text_set(path: Path) -> str:
    """The override defining the text set `mine`: the lines of `path`."""
    return f"tokens.texts={{mine: {{file: {{path: {path}, format: tsv, header: false, columns: {{text: 0}}}}}}}}"


def weighted_mean_by_hand(folder: Path, texts: list[str]) -> np.ndarray:
    """(N, 32): each text alone through LlamaModel, token i of L weighted i / Σ_j j (SGPT)."""
    from transformers import AutoModel, AutoTokenizer

    model, tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    rows = []
    with torch.no_grad():
        for text in texts:
            hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0].double()  # (L, 32)
            weights = torch.arange(1, len(hidden) + 1, dtype=torch.float64)
            rows.append((weights @ hidden / weights.sum()).numpy())
    return np.stack(rows)


def lm_head_weight(folder: Path) -> np.ndarray:
    """(V, 32): the causal LM's output layer as transformers loads it."""
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM.from_pretrained(folder).lm_head.weight.detach().double().numpy()


def test_weightedmean_pooling_is_sgpts_position_weighted_mean():
    tokens = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]],
                           [[2.0, 2.0], [4.0, 0.0], [100.0, 100.0]],  # right padding: the last is a pad
                           [[100.0, 100.0], [2.0, 2.0], [4.0, 0.0]]])  # left padding: the first is a pad
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 1, 1]])
    pooled = Pooling(2, "weightedmean")({"token_embeddings": tokens, "attention_mask": mask})["sentence_embedding"]
    # (1·a + 2·b + 3·c) / 6 and (1·[2, 2] + 2·[4, 0]) / 3 whichever side the pad is on.
    expected = torch.tensor([[10 / 6, 13 / 6], [10 / 3, 2 / 3], [10 / 3, 2 / 3]])
    assert torch.allclose(pooled, expected, atol=1e-6)
    mean = Pooling(2, "mean")({"token_embeddings": tokens, "attention_mask": mask})["sentence_embedding"]
    assert torch.allclose(mean[1], torch.tensor([3.0, 1.0]))


def test_the_train_setting_accepts_weightedmean_and_the_smollm2_profile_selects_it():
    profiled = load_settings(REPO / "params.yaml", ["train.profile=smollm2"]).params.train
    assert (profiled.base, profiled.pooling, profiled.output) == ("smollm2", "weightedmean",
                                                                  "results/tokens/smollm2-embedder")
    assert load_settings(REPO / "params.yaml", ["train.pooling=weightedmean"]).params.train.pooling == "weightedmean"
    with pytest.raises(UserError, match=r"train.pooling: Input should be 'mean', 'weightedmean' or 'cls'"):
        load_settings(REPO / "params.yaml", ["train.pooling=weighted"])


def test_smollm2_pads_on_the_right_with_a_masked_pad_token():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(local_model_folder("smollm2"))
    batch = tokenizer(["A dog.", "A dog runs in the green park."], padding=True)
    assert (tokenizer.padding_side, tokenizer.pad_token, tokenizer.pad_token_id) == ("right", "<|im_end|>", 2)
    short, long = batch["attention_mask"]
    assert sum(short) < len(short) and short == sorted(short, reverse=True) and all(long)
    assert all(t == 2 for t, m in zip(batch["input_ids"][0], short) if m == 0)


def test_texts_are_encoded_as_they_are_not_through_smollm2s_chat_template(backbone):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(backbone)
    assert tokenizer.chat_template  # SmolLM2-Instruct's: sentence-transformers would render each text as a message
    model = load_encoder(str(backbone), "cpu")
    text = "A dog runs."
    assert model.modalities == ["text"]
    assert model.tokenize([text])["input_ids"][0].tolist() == tokenizer(text)["input_ids"] == [49, 2767, 7313, 30]


@pytest.mark.parametrize("mode", ["weightedmean", "mean"])
def test_an_embedding_does_not_change_when_batched_with_a_longer_text(backbone, mode):
    model = build_encoder(str(backbone), pooling=mode).eval()
    short, long = "A dog runs.", "A much longer sentence about a dog that runs through the green park all day."
    with torch.no_grad():
        alone = model(model.tokenize([short]))["sentence_embedding"][0]
        features = model.tokenize([short, long])
        together = model(features)["sentence_embedding"][0]
        assert features["attention_mask"][0].sum() < features["attention_mask"].shape[1]  # it was padded
        assert torch.allclose(alone, together, atol=1e-5)
        # The check can fail: pooling over the pads as well gives another vector.
        features["attention_mask"] = torch.ones_like(features["attention_mask"])
        assert not torch.allclose(alone, model(features)["sentence_embedding"][0], atol=1e-3)
    if mode == "weightedmean":
        assert alone.double().numpy() == pytest.approx(weighted_mean_by_hand(backbone, [short])[0], abs=1e-5)


def test_training_saves_a_weighted_mean_embedder_decoded_by_the_backbones_lm_head(backbone, embedder):
    model = SentenceTransformer(str(embedder), device="cpu")
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling"]
    assert with_pooling(model, None) is model and model[1].pooling_mode == "weightedmean"
    assert model.get_embedding_dimension() == 32
    own = model[0].auto_model.get_input_embeddings().weight.detach().double().numpy()
    head = lm_head_weight(backbone)
    assert not np.allclose(own, head)  # trained: the embedder's own (tied) head moved away from the backbone's

    decoder = load_head("lm_head", model, {"source": str(backbone)}, "embedder")
    h = model.encode(LINES[:2], convert_to_numpy=True)
    assert decoder(torch.from_numpy(h)).double().numpy() == pytest.approx(h @ head.T, abs=1e-4)
    tied = load_head("tied", model, {}, "embedder")
    assert tied(torch.from_numpy(h)).double().numpy() == pytest.approx(h @ own.T, abs=1e-4)
    with pytest.raises(UserError, match=r"^decoding head 'lm_head': 'embedder' is not a causal LM .*--head-source"):
        load_head("lm_head", model, {}, "embedder")


def test_a_384_dim_embedder_with_smollm2s_576_dim_lm_head_is_refused_naming_both():
    minilm = SentenceTransformer(str(bundled_minilm_path()), device="cpu")
    with pytest.raises(UserError) as error:
        load_head("lm_head", minilm, {"source": "smollm2"}, "minilm")
    assert str(error.value) == ("decoding head 'lm_head' of smollm2 reads 576-dim vectors but the embedder minilm "
                                "gives 384-dim ones; heads that fit: tied")


def _alignment_by_hand(vectors: np.ndarray, head: np.ndarray, ids: list[list[int]], k: int = 10) -> tuple[float, float]:
    """hit@k and local alignment with the top-10 cut: top tokens of vectors @ headᵀ against each text's ids."""
    ranked = np.argsort(-(vectors @ head.T), axis=1, kind="stable")
    hits = [bool(set(r[:k].tolist()) & set(t)) for r, t in zip(ranked, ids)]
    local = [len(set(r[:min(len(t), 10)].tolist()) & set(t)) / len(set(t)) for r, t in zip(ranked, ids)]
    return float(np.mean(hits)), float(np.mean(local))


def test_align_backbone_and_embedder_through_the_backbones_lm_head(backbone, embedder, project, tmp_path):
    from transformers import AutoTokenizer

    texts = write(tmp_path / "texts.txt", "\n".join(LINES) + "\n")
    common = ["--head", "lm_head", "--data", "mine", "--json", "--no-track", "-S", "tokens.device=cpu",
              "-S", f"cache_dir={tmp_path / 'cache'}", "-S", text_set(texts)]
    before = runner.invoke(app, ["tokens", "align", "--model", str(backbone), "--pooling", "weightedmean",
                                 "-o", str(tmp_path / "backbone"), *common])
    after = runner.invoke(app, ["tokens", "align", "--model", str(embedder), "--head-source", str(backbone),
                                "-o", str(tmp_path / "embedder"), *common])
    assert before.exit_code == 0 and after.exit_code == 0, before.output + after.output
    backbone_summary, embedder_summary = json.loads(before.stdout), json.loads(after.stdout)
    assert backbone_summary["pooling"] == embedder_summary["pooling"] == "weightedmean"

    ids = AutoTokenizer.from_pretrained(backbone)(LINES)["input_ids"]
    head = lm_head_weight(backbone)
    y = SentenceTransformer(str(embedder), device="cpu").encode(LINES, convert_to_numpy=True).astype(np.float64)
    for summary, vectors in [(backbone_summary, weighted_mean_by_hand(backbone, LINES)), (embedder_summary, y)]:
        hit, local = _alignment_by_hand(vectors, head, ids)
        assert summary["metrics"]["hit_at_10"] == pytest.approx(hit)
        assert summary["metrics"]["local_alignment"] == pytest.approx(local)
    assert f"head `lm_head of {backbone}`" in (tmp_path / "embedder" / "report.md").read_text()


def test_spectrum_reads_the_backbone_as_the_embedder_pools_and_decodes_through_its_lm_head(backbone, embedder,
                                                                                           project, tmp_path):
    texts = write(tmp_path / "texts.txt", "\n".join(LINES) + "\n")
    overrides = ["tokens.device=cpu", f"cache_dir={tmp_path / 'cache'}", "tokens.head=lm_head", text_set(texts),
                 f"tokens.spectrum.backbone={backbone}", f"tokens.spectrum.embedder={embedder}",
                 "tokens.spectrum.data=mine", "tokens.spectrum.components=5", "tokens.spectrum.examples=2"]
    result = spectrum(TokensRequest(output=str(tmp_path / "spec"), overrides=overrides, track=False))

    x = weighted_mean_by_hand(backbone, LINES)  # the backbone, pooled as the embedder pools
    y = SentenceTransformer(str(embedder), device="cpu").encode(LINES, convert_to_numpy=True).astype(np.float64)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    shift = (y - x).mean(axis=0) @ vt.T  # v_j, up to the sign of each u_j
    assert result["pooling"] == "weightedmean"
    assert np.abs(result["shift"]) == pytest.approx(np.abs(shift[:5]), abs=1e-4)
    assert abs(result["lambda"]) == pytest.approx(abs(shift[0]), abs=1e-4)

    head = lm_head_weight(backbone)
    tokenizer = SentenceTransformer(str(embedder), device="cpu").tokenizer
    for example, vector in zip(result["examples"], y):
        top = np.argsort(-(vector @ head.T), kind="stable")[:10]
        assert example["embedder ĥ"] == tokenizer.convert_ids_to_tokens(top.tolist())
    assert "weightedmean" in (tmp_path / "spec" / "report.md").read_text()


def test_spectrum_of_a_model_against_itself_is_refused_in_one_line(backbone, project, tmp_path):
    texts = write(tmp_path / "texts.txt", "\n".join(LINES) + "\n")
    result = runner.invoke(app, ["tokens", "spectrum", "--backbone", str(backbone), "--embedder", str(backbone),
                                 "--head", "lm_head", "--data", "mine", "--no-track", "-o", str(tmp_path / "spec"),
                                 "-S", "tokens.device=cpu", "-S", f"cache_dir={tmp_path / 'cache'}",
                                 "-S", text_set(texts), "-S", "tokens.spectrum.components=5"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1].startswith(
        f"error: embedder {backbone} gives the same embeddings as backbone {backbone} on the 8 texts: no shift")
    assert not (tmp_path / "spec").exists()
