"""Issue 18: the places where the implementation follows the authors' released code rather than our reading of
the papers, each on fixed small inputs with the expected value computed by hand from the authors' formulation
(cited per test). CUSA and 1-to-K: tests/test_crossmodal_objectives.py; NGCSE's hierarchical loss:
tests/test_cse_objectives.py."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from torch import nn

from embedlab.config.cir import TrainCirParams
from embedlab.config.cse import DiagnosticsParams
from embedlab.models.diagnostics import AlignUniformMonitor, fdi_means
from embedlab.models.losses import CSE_OBJECTIVES, LOSSES
from embedlab.tasks.cse.train import read_eval_sentences

U = [[1.0, 0.0], [0.0, 1.0]]  # first view
V = [[0.6, 0.8], [0.8, 0.6]]  # second view: s(u_i, v_i) = 0.6, s(v_0, v_1) = 0.96, s(u_0, u_1) = 0


def leaves(*rows: list[list[float]]) -> list[torch.Tensor]:
    return [torch.tensor(r).requires_grad_() for r in rows]


# --- 4. the unified gradient paradigm (BDBC-KG-NLP/UnderstandingCSE, isotropy/models.py) -------------------------

# The non-contrastive baselines are the authors' gradient surrogates at their scripts' λ, by hand on (U, V):
# barlow_twins (λ = 30): ℓ(u, v) = Σ_i [−Σ_d π_d u_id v_id + λ Σ_j (2 v_i·v_j / B²) u_i·u_j],
#   π_d = (1 − (1 − λ) C_dd)·2/B, C = uᵀv/B: C_dd = 0.6/2 = 0.3, π_d = (1 + 29·0.3)·1 = 9.7;
#   ℓ(u, v): negatives Σ_j w_ij u_i·u_j = 0.5 (u orthonormal, w_ii = 2/4), positives −9.7·0.6 = −5.82 per row:
#   2·(−5.82 + 30·0.5) = 18.36; ℓ(v, u) the same by symmetry (w = 2 uuᵀ/4 = 0.5 I, C_dd = 0.3): total 36.72.
# vicreg (λ = 30): ℓ(u, v) = Σ_i [−(2/B) u_i·v_i + λ Σ_j (2 u_i·u_j / B²) u_i·u_j]:
#   ℓ(u, v) = 2·(−0.6 + 30·0.5) = 28.8; ℓ(v, u): Σ_j (2 s_ij/4) s_ij = 0.5 + 0.48·0.96 = 0.9608,
#   2·(−0.6 + 30·0.9608) = 56.448: total 85.248.
# align_uniform ("mhe", λ = 10, t = 1): λ (logsumexp_{i<j} s(u) + logsumexp_{i<j} s(v)) + mean(2 − 2 s(u_i, v_i))
#   = 10·(0 + 0.96) + 0.8 = 10.4.
# mhs (λ = 1): −mean_i min_{j≠i} sqrt(‖u_i − v_j‖² + 1e-4) − (same for v against u) + mean(2 − 2 s(u_i, v_i));
#   every such distance is sqrt(0.4 + 1e-4) (e.g. ‖(1, 0) − (0.8, 0.6)‖² = 0.04 + 0.36).
SURROGATES = {"barlow_twins": 36.72, "vicreg": 85.248, "align_uniform": 10.4,
              "mhs": -2 * math.sqrt(0.4001) + 0.8}


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_non_contrastive_baselines_are_the_authors_surrogates(name):
    assert LOSSES.get(name)(leaves(U, V)).item() == pytest.approx(SURROGATES[name], abs=1e-5)


def test_mhs_is_a_registered_cse_objective():
    assert "mhs" in CSE_OBJECTIVES
    assert LOSSES.params("mhs", {}).lam == 1.0


# h_0 = (1, 0), h_1 = (0, 1); positives p_0 = (0.85, √(1 − 0.85²)), p_1 = (0.6, 0.8); no hard negatives.
# Row 0: s(h_0, p_0) − s(h_0, p_1) = 0.85 − 0.6 = 0.25; row 1: 0.8 − √0.2775 = 0.273217. Both are above MPT's
# triplet margin 0.23 (MPT's own gradient is zero) and below the paradigm's margin 0.3 (the authors' binary GD
# keeps both rows): GD = 1/(B · #active) = 1/4 (their `(weight * target)[mask].mean()`), W = 1 on the single
# negative, R = 1.5. Anchor gradient GD (n − R p), projected on the sphere's tangent at h:
#   row 0: ¼ (p_1 − 1.5 p_0) = ¼ (−0.675, 0.8 − 1.5·0.5267827) → tangent (0, 0.00245648)
#   row 1: ¼ (p_0 − 1.5 p_1) = ¼ (0.85 − 0.9, ...)            → tangent (−0.0125, 0)
P0_Y = math.sqrt(1 - 0.85**2)
PARADIGM = {"margin": 0.3, "weight_temperature": 0.05, "ratio": 1.5}


@pytest.mark.parametrize("name", ["mpt", "infonce", "met"])
def test_gd_is_the_binary_margin_mask_alone(name):
    embeddings = leaves([[1.0, 0.0], [0.0, 1.0]], [[0.85, P0_Y], [0.6, 0.8]])
    loss = LOSSES.get(name)(embeddings, **PARADIGM)
    grad = torch.autograd.grad(loss, embeddings[0])[0]
    expected = torch.tensor([[0.0, (0.8 - 1.5 * P0_Y) / 4], [(0.85 - 0.9) / 4, 0.0]])
    assert torch.allclose(grad, expected, atol=1e-6)


def test_mpt_paradigm_is_not_mpt():
    embeddings = leaves([[1.0, 0.0], [0.0, 1.0]], [[0.85, P0_Y], [0.6, 0.8]])
    own = torch.autograd.grad(LOSSES.get("mpt")(embeddings), embeddings[0])[0]
    assert own.abs().max() == 0  # both rows past MPT's own margin 0.23: no gradient
    modified = torch.autograd.grad(LOSSES.get("mpt")(embeddings, **PARADIGM), embeddings[0])[0]
    assert modified.abs().max() > 1e-3  # the paradigm's GD switches them on


def test_non_contrastive_margin_is_measured_within_one_view():
    """vicreg, margin 0.3 alone. First view u_0 = (1, 0), u_1 = (0.8, 0.6), u_2 = (0, 1): 1 − max_{j≠i} s(u_i, u_j)
    is 0.2, 0.2, 0.4, so rows 0 and 1 keep their own gradient and row 2 gets none (the authors' `w_gd` mask on
    embeds_0 · embeds_0ᵀ). Row 0's own gradient by hand (B = 3, λ = 30, second view v_0 = (0.6, 0.8)):
    λ Σ_{j≠0} (2 s_0j/B²) u_j − (2/B) v_0 = (60/9)·0.8·(0.8, 0.6) − (2/3)(0.6, 0.8) = (3.866667, 2.666667),
    tangent at (1, 0): (0, 2.666667)."""
    first, second = [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], [[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]]
    plain_inputs, masked_inputs = leaves(first, second), leaves(first, second)
    plain = torch.autograd.grad(LOSSES.get("vicreg")(plain_inputs), plain_inputs[0])[0]
    masked = torch.autograd.grad(LOSSES.get("vicreg")(masked_inputs, margin=0.3), masked_inputs[0])[0]
    assert plain[0].tolist() == pytest.approx([0.0, 60 / 9 * 0.8 * 0.6 - 2 / 3 * 0.8], abs=1e-5)
    assert torch.allclose(masked[:2], plain[:2], atol=1e-6)
    assert masked[2].abs().max() == 0 and plain[2].abs().max() > 0


# --- 5. FDI / RFD (BDBC-KG-NLP/NGCSE, plot.py `collect_rfd`, tools.py `load_model`, `load_stsb`) -------------------

def test_fdi_means_leave_out_the_untrained_point():
    history = [{"step": 0, "fdi_align": 0.0, "fdi_uniform": 0.0},
               {"step": 5, "fdi_align": 0.3, "fdi_uniform": -0.6}, {"step": 10, "fdi_align": 0.5, "fdi_uniform": -1.0}]
    # (0.3 + 0.5) / 2 = 0.4 and (−0.6 − 1.0) / 2 = −0.8; with step 0 it would be 0.2667 and −0.5333
    assert fdi_means(history) == pytest.approx({"fdi_align": 0.4, "fdi_uniform": -0.8})


class _Characters:
    """Tokenises a text as its first 8 character codes (the monitor calls `pl_module.encoder.preprocess`)."""

    @staticmethod
    def preprocess(texts: list[str]) -> dict[str, torch.Tensor]:
        return {"ids": torch.tensor([[ord(c) % 128 for c in text.ljust(8)[:8]] for text in texts])}


class _Recorder(L.LightningModule):
    """A tiny sentence encoder (mean of per-character embeddings, then dropout) that records its mode per call."""

    def __init__(self) -> None:
        super().__init__()
        self.table, self.dropout, self.modes = nn.Embedding(128, 4), nn.Dropout(0.5), []
        self.encoder = _Characters()

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        self.modes.append(self.training)
        return self.dropout(self.table(features["ids"]).mean(dim=1))


def test_monitor_encodes_every_set_in_train_mode_and_uses_its_own_uniformity_set():
    module = _Recorder().eval()
    pairs = [("a cat sat", "a cat sits"), ("dogs run", "a dog runs")]
    monitor = AlignUniformMonitor(pairs, pairs, every=1, eval_sentences=["one", "two", "three"])
    monitor.measure(L.Trainer(logger=False, accelerator="cpu", enable_progress_bar=False), module)
    assert module.modes == [True] * 5  # 2 columns of held-out pairs, 2 of evaluation pairs, 1 uniformity set
    assert module.training is False  # restored
    assert monitor.history[0]["step"] == 0


def test_uniformity_set_is_both_sentences_of_pairs_scoring_high_or_low(tmp_path):
    rows = [("a", "b", 4.5), ("c", "d", 2.0), ("e", "f", 0.5), ("g", "h", 4.0), ("i", "j", 1.0)]
    (tmp_path / "stsb").mkdir()
    (tmp_path / "stsb" / "sts-dev.csv").write_text(
        "".join(f"main-captions\tMSRvid\t2012test\t{n:04d}\t{s:.3f}\t{a}\t{b}\n" for n, (a, b, s) in enumerate(rows)))
    # scores ≥ 4 or ≤ 1 in file order: (a, b), (e, f), (g, h), (i, j); both sentences each, the first 5
    diagnostics = DiagnosticsParams(uniform_sentences=5)
    assert read_eval_sentences.fn(tmp_path, diagnostics) == ["a", "b", "e", "f", "g"]


# --- 3. SPN4CIR (BUAADreamer/SPN4CIR, clip4cir/models.py) -------------------------------------------------------

def test_the_static_bank_keeps_the_reference_by_default():
    """The authors' `extract_bank_features` writes the reference images into the target bank and `infonce_loss`
    masks nothing: a query's own reference stays a negative."""
    assert TrainCirParams().exclude_reference is False
