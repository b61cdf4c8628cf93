"""Issue 18, deviation 3 (SPN4CIR): the composed-image-retrieval choices that follow the authors' released code
(BUAADreamer/SPN4CIR), each on fixed small inputs with the expected value computed by hand from their formulation:

- clip4cir/models.py: `element_wise_sum` adds the RAW `encode_image` and `encode_text` features and only the sum is
  normalised (`forward`, `bank_large_step`); the targets (`target_bank`, in-batch targets) are normalised.
- zscir/get_cir_data.py: `get_diff_id` with the default `--i2i_rank -1` pairs each image with `random.sample` of
  all other images (seeded once with `random.seed(seed)`); `get_captions` attaches every template's text to the pair.
- clip4cir/data_utils.py: `CIRDataset.__getitem__` draws one of a pair's texts per sample (`random.choice`).
The stage-2 bank keeping the reference: tests/test_fidelity.py.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import TINY_VIT
from embedlab.config.cir import TrainCirParams
from embedlab.config.generation import TripletsParams
from embedlab.models.cir.data import IndexedTriplet, TripletDataModule, draw_modification
from embedlab.models.cir.model import ComposedQueryModel
from embedlab.models.cir.module import CirModule
from embedlab.tasks.generate.triplets import draw_triplets

TAU = 0.02


def cir_module(tiny_model, stage: int, inputs: str) -> CirModule:
    """Tiny towers projecting to D = 2; the text projection keeps the first two locked features (W = [I | 0])."""
    module = CirModule(TINY_VIT, str(tiny_model), 2, 16, "sum", stage, TAU, exclude_reference=False,
                       combiner_inputs=inputs)
    weight = torch.zeros_like(module.model.towers.text.projection.weight)  # (2, 32)
    weight[0, 0] = weight[1, 1] = 1.0
    module.model.towers.text.projection.weight.data.copy_(weight)
    return module


def text_batch(rows: list[list[float]], **fields) -> dict:
    """A batch whose locked text features project to `rows` (the first two of 32 features)."""
    features = torch.zeros(len(rows), 32)
    features[:, :2] = torch.tensor(rows)
    return {"tokens": None, "text_features": features, "reference_pixels": None, "target_pixels": None, **fields}


# --- (a) the combiner on raw features ---------------------------------------------------------------------------

# Stage 2 by hand. Raw bank rows r0 = (3, 4), r1 = (1, 0), r2 = (0, 2); the query's reference is r0, its text
# t = (0, 1), its target row 1. The authors: q = normalise(r0 + t) = (3, 5)/√34; candidates normalise(r):
# (0.6, 0.8), (1, 0), (0, 1); s = (5.8, 3, 5)/√34; loss = −log softmax(s/τ)[1] = logsumexp(s/τ) − s_1/τ.
# Normalising first (the option `normalized`): q = normalise((0.6, 0.8) + (0, 1)) = (0.6, 1.8)/√3.6,
# s = (1.8, 0.6, 1.8)/√3.6.
def _nll(sims: list[float], positive: int) -> float:
    logits = [s / TAU for s in sims]
    top = max(logits)
    return top + math.log(sum(math.exp(v - top) for v in logits)) - logits[positive]


@pytest.mark.parametrize(("inputs", "sims"), [
    ("raw", [5.8 / math.sqrt(34), 3 / math.sqrt(34), 5 / math.sqrt(34)]),
    ("normalized", [1.8 / math.sqrt(3.6), 0.6 / math.sqrt(3.6), 1.8 / math.sqrt(3.6)])])
def test_stage2_combines_raw_features_and_scores_against_the_normalised_bank(tiny_model, inputs, sims):
    module = cir_module(tiny_model, 2, inputs)
    module.set_bank(torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]]))
    batch = text_batch([[0.0, 1.0]], reference=torch.tensor([0]), target=torch.tensor([1]))
    loss = module.training_step(batch, 0)
    assert loss.item() == pytest.approx(_nll(sims, 1), rel=1e-5)


def test_the_default_combines_raw_features():
    assert TrainCirParams().combiner_inputs == "raw"


def test_stage1_combines_raw_tower_outputs_and_normalises_only_the_sum_and_the_targets(tiny_model):
    """The authors' `forward`: q_i = normalise(f_img(ref_i) + f_txt(t_i)), k_j = normalise(f_img(tgt_j)),
    loss = mean_i −log softmax_j(q_i·k_j/τ)[i], with the raw tower outputs read off the tower here."""
    torch.manual_seed(0)
    module = cir_module(tiny_model, 1, "raw")
    pixels = torch.randn(4, 3, 32, 32)
    batch = text_batch([[0.5, -1.0], [2.0, 0.0]], reference=torch.tensor([0, 1]), target=torch.tensor([2, 3]),
                       reference_pixels=pixels[:2], target_pixels=pixels[2:])
    loss = module.training_step(batch, 0).item()
    with torch.no_grad():
        raw = module.model.towers.image(pixels).tolist()  # (4, 2): references 0, 1, targets 2, 3
    texts = [[0.5, -1.0], [2.0, 0.0]]

    def unit(v):
        n = math.hypot(*v)
        return [x / n for x in v]

    queries = [unit([raw[i][0] + texts[i][0], raw[i][1] + texts[i][1]]) for i in range(2)]
    targets = [unit(raw[2]), unit(raw[3])]
    hand = sum(_nll([q[0] * k[0] + q[1] * k[1] for k in targets], i) for i, q in enumerate(queries)) / 2
    assert loss == pytest.approx(hand, rel=1e-4)
    raw_norms = [math.hypot(*r) for r in raw]
    assert max(abs(n - 1) for n in raw_norms) > 0.05  # the raw features are not unit vectors: the test can tell


def test_evaluation_queries_use_raw_text_and_reference_features_and_the_saved_inputs(tiny_model, tmp_path):
    torch.manual_seed(1)
    model = ComposedQueryModel.build(TINY_VIT, str(tiny_model), 2, 16, "sum")
    texts = ["a red square", "two dogs"]
    references = torch.tensor([[3.0, 4.0], [-1.0, 0.5]])  # raw image features
    with torch.no_grad():
        raw_texts = model.towers.text(model.towers.text.tokenize(texts))
    assert torch.allclose(model.embed_queries(references, texts), F.normalize(references + raw_texts, dim=-1),
                          atol=1e-6)
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "cir.json").read_text())["combiner_inputs"] == "raw"
    assert ComposedQueryModel.load(tmp_path / "m").inputs == "raw"
    meta = json.loads((tmp_path / "m" / "cir.json").read_text())
    del meta["combiner_inputs"]  # a folder from before the option: it was trained on normalised inputs
    (tmp_path / "m" / "cir.json").write_text(json.dumps(meta))
    legacy = ComposedQueryModel.load(tmp_path / "m")
    expected = F.normalize(F.normalize(references, dim=-1) + F.normalize(raw_texts, dim=-1), dim=-1)
    assert legacy.inputs == "normalized"
    assert torch.allclose(legacy.embed_queries(references, texts), expected, atol=1e-6)


# --- (b) random pairs -------------------------------------------------------------------------------------------

def _authors_pairs(count: int, k: int, seed: int, allowed) -> list[tuple[int, int]]:
    """get_diff_id with i2i_rank < 0, written out: one generator seeded once, images in order, each drawing k
    targets by random.sample from the list of the images it may be paired with."""
    rng = random.Random(seed)
    return [(i, j) for i in range(count) for j in rng.sample([j for j in range(count) if allowed(i, j)], k)]


def test_random_pairs_follow_the_authors_sampling_and_never_pair_an_image_with_itself():
    names = [f"{i}.jpg" for i in range(12)]
    captions = [f"Picture {i} ." for i in range(12)]
    rows = draw_triplets.fn(names, captions, None, None, 3, ["{c2} instead of {c1}", "{c2}"], 7)
    pairs = [(int(r["reference"][:-4]), int(r["target"][:-4])) for r in rows]
    assert pairs == _authors_pairs(12, 3, 7, lambda i, j: i != j)
    assert all(i != j for i, j in pairs) and len(set(pairs)) == 36
    assert rows == draw_triplets.fn(names, captions, None, None, 3, ["{c2} instead of {c1}", "{c2}"], 7)
    assert pairs != [(int(r["reference"][:-4]), int(r["target"][:-4]))
                     for r in draw_triplets.fn(names, captions, None, None, 3, ["{c2}"], 8)]
    assert rows[0]["modifications"] == [f"Picture {pairs[0][1]} instead of picture 0", f"Picture {pairs[0][1]}"]
    assert "rank" not in rows[0] and "similarity" not in rows[0]


def test_random_pairs_leave_out_uncaptioned_images_and_same_caption_pairs():
    names = list("abcdefgh")
    captions = ["A dog .", "a dog", "A cat .", None, "A bird .", "A car .", "A tree .", "A boat ."]
    rows = draw_triplets.fn(names, captions, None, None, 2, ["{c2}"], 3)
    keep = [0, 1, 2, 4, 5, 6, 7]  # "d" has no caption; "a" and "b" read the same once cleaned
    expected = _authors_pairs(7, 2, 3, lambda i, j: i != j and {i, j} != {0, 1})
    assert [(r["reference"], r["target"]) for r in rows] == [(names[keep[i]], names[keep[j]]) for i, j in expected]


def test_random_pairs_are_the_default_and_a_window_stays_available():
    params = TripletsParams()
    assert params.rank_window is None and params.encoder == "effnet-lite0"
    assert TripletsParams(rank_window=(2, 10)).rank_window == (2, 10)


# --- (c) one template drawn per sample --------------------------------------------------------------------------

def test_one_modification_is_drawn_per_sample_uniformly_and_deterministically_per_seed_and_epoch():
    texts = ("first", "second", "third")
    draws = {epoch: [draw_modification(texts, 0, epoch, i) for i in range(600)] for epoch in (0, 1)}
    assert draws[0] == [draw_modification(texts, 0, 0, i) for i in range(600)]  # the same seed and epoch
    assert draws[0] != [draw_modification(texts, 1, 0, i) for i in range(600)]  # another seed
    # uniform: each text 200 ± 3σ (σ = √(600·1/3·2/3) ≈ 11.5) times; two epochs agree with probability 1/3
    assert all(155 <= count <= 245 for count in Counter(draws[0]).values()) and set(draws[0]) == set(texts)
    agree = sum(a == b for a, b in zip(draws[0], draws[1], strict=True))
    assert 155 <= agree <= 245
    assert draw_modification(("only",), 5, 3, 9) == "only"  # FashionIQ, CIRR and older files: one text


class _Recorder(L.LightningModule):
    """Records, per batch, the epoch and each sample's reference row and text (by its one-hot feature)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[int, int, int]] = []

    def training_step(self, batch, batch_idx):
        texts = batch["text_features"].argmax(1).tolist()
        self.seen += [(self.current_epoch, row, text) for row, text in zip(batch["reference"].tolist(), texts)]
        return self.weight.sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_the_data_module_draws_each_triplets_text_with_the_trainers_epoch(tmp_path):
    texts = [f"text {n}" for n in range(8)]
    triplets = [IndexedTriplet(i, (texts[2 * (i % 4)], texts[2 * (i % 4) + 1]), (i + 1) % 8) for i in range(8)]
    features = {text: F.one_hot(torch.tensor(n), 8).float() for n, text in enumerate(texts)}
    data = TripletDataModule(triplets, [], None, lambda batch: {}, batch_size=4, seed=3, text_features=features)
    recorder = _Recorder()
    L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, default_root_dir=tmp_path).fit(recorder, data)
    assert sorted((epoch, row) for epoch, row, _ in recorder.seen) == [(e, i) for e in (0, 1) for i in range(8)]
    for epoch, row, text in recorder.seen:  # triplet `row` (its reference is row `row`) in pass `epoch`
        assert text in (2 * (row % 4), 2 * (row % 4) + 1)
        assert texts[text] == draw_modification(triplets[row].modifications, 3, epoch, row)
    fresh = TripletDataModule(triplets, [], None, lambda batch: {}, batch_size=4, seed=3, text_features=features)
    assert fresh.collate([5])["text_features"].argmax().item() == texts.index(
        draw_modification(triplets[5].modifications, 3, 0, 5))  # outside a trainer: epoch 0
