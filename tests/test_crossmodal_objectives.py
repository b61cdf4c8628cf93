"""Each image–text objective against a hand computation on 2 images × 2 languages; gradients; temperature clamps."""

from __future__ import annotations

import math

import pytest
import torch

from embedlab.errors import UserError
from embedlab.models.objectives import OBJECTIVES, build_objective
from embedlab.models.objectives.base import Encoded
from embedlab.models.objectives.base import Temperature
from embedlab.models.objectives.clip import clip_loss
from embedlab.models.objectives.cusa import cusa_loss
from embedlab.models.objectives.one_to_k import one_to_k_loss

TAU = 0.5
IMAGES = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # v0, v1
TEXTS = torch.tensor([[[1.0, 0.0], [0.6, 0.8]],  # t00 (image 0, language 0), t01
                      [[0.0, 1.0], [0.8, 0.6]]])  # t10, t11
# Cosine similarities, by hand: s(v0, ·) over [t00, t01, t10, t11] and s(v1, ·).
S_V0 = [1.0, 0.6, 0.0, 0.8]
S_V1 = [0.0, 0.8, 1.0, 0.6]


def neg_log_softmax(logits: list[float], target: int, tau: float = TAU) -> float:
    return -(logits[target] / tau - math.log(sum(math.exp(x / tau) for x in logits)))


def kl(teacher: list[float], student: list[float], tau_s: float, tau: float) -> float:
    """KL(softmax(teacher / tau_s) || softmax(student / tau)) of one row."""
    p = [math.exp(x / tau_s) for x in teacher]
    p = [x / sum(p) for x in p]
    q = [math.exp(x / tau) for x in student]
    q = [x / sum(q) for x in q]
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def hand_clip() -> float:
    # language 0: S = [[1, 0], [0, 1]]; language 1: S = [[0.6, 0.8], [0.8, 0.6]] (rows: images, columns: captions)
    rows = [neg_log_softmax([1, 0], 0), neg_log_softmax([0, 1], 1), neg_log_softmax([0.6, 0.8], 0),
            neg_log_softmax([0.8, 0.6], 1)]
    columns = rows  # both matrices are symmetric
    return (sum(rows) / 4 + sum(columns) / 4) / 2


HAND_COMPUTED = {"clip", "one_to_k", "cusa"}  # each has a test against a hand computation below


def test_every_registered_objective_has_a_hand_computation():
    assert set(OBJECTIVES) == HAND_COMPUTED


def test_clip_matches_hand_computation():
    ours = clip_loss(IMAGES, TEXTS, torch.tensor(TAU))
    assert ours.item() == pytest.approx(hand_clip(), abs=1e-6)


def test_one_to_k_matches_hand_computation():
    """The authors' `get_unialign_contrastive_loss` (CCRK, models/xvlm.py): each loss is the mean over its
    logit matrix's rows, B = 2 image rows for i2t and B·K = 4 caption rows for t2i, then (i2t + t2i) / 2 / K."""
    # each image against all four captions, its own two positive: sum over the K = 2 positives, mean over B = 2 rows
    l_i2t = (1 / 2) * (neg_log_softmax(S_V0, 0) + neg_log_softmax(S_V0, 1)
                       + neg_log_softmax(S_V1, 2) + neg_log_softmax(S_V1, 3))
    # each caption against the two images: t00 [1, 0] -> 0, t01 [0.6, 0.8] -> 0, t10 [0, 1] -> 1, t11 [0.8, 0.6] -> 1;
    # the mean over the B·K = 4 caption rows (not the sum over K per image)
    l_t2i = (1 / 4) * (neg_log_softmax([1, 0], 0) + neg_log_softmax([0.6, 0.8], 0)
                       + neg_log_softmax([0, 1], 1) + neg_log_softmax([0.8, 0.6], 1))
    expected = (l_i2t + l_t2i) / 2 / 2
    assert one_to_k_loss(IMAGES, TEXTS, torch.tensor(TAU)).item() == pytest.approx(expected, abs=1e-6)


def test_one_to_k_differs_from_clip_by_letting_languages_compete():
    """With one language the image side is the same softmax as CLIP's, and the two losses agree."""
    one_language = TEXTS[:, :1]
    tau = torch.tensor(TAU)
    assert one_to_k_loss(IMAGES, one_language, tau).item() == pytest.approx(clip_loss(IMAGES, one_language, tau).item())
    assert one_to_k_loss(IMAGES, TEXTS, tau).item() != pytest.approx(clip_loss(IMAGES, TEXTS, tau).item())


TEACHER_TEXTS = torch.tensor([[1.0, 0.0], [0.6, 0.8]])  # S^T_tt = [[1, 0.6], [0.6, 1]]
TEACHER_IMAGES = torch.tensor([[0.0, 1.0], [0.8, 0.6]])  # S^T_ii = [[1, 0.6], [0.6, 1]] as well, by design
TAU_C, TAU_U, TAU_U_IMAGE, TAU_S, ALPHA, BETA = 0.45, 0.3, 0.8, 1.0, 0.1, 0.5


def hand_cusa(with_images: bool) -> dict[str, float]:
    """The authors' `unire.forward` (lerogo/aaai24_itr_cusa, unire/model.py): L_CLIP in "mean" mode is the
    cross-entropy averaged over the B = 2 columns too, i.e. divided by B; CSA and USA are KL 'batchmean' (mean
    over rows), image and text sides averaged; τ_u differs between images (0.8) and texts (0.3)."""
    teacher = [[1, 0.6], [0.6, 1]]
    # CSA text rows: S_t2i per language, the transpose of S_i2t: [[1, 0], [0, 1]] and [[0.6, 0.8], [0.8, 0.6]]
    t2i = [[[1, 0], [0, 1]], [[0.6, 0.8], [0.8, 0.6]]]
    csa_text = sum(kl(teacher[i], t2i[k][i], TAU_S, TAU_C) for k in range(2) for i in range(2)) / 4
    # USA text: the uni-modal heads' caption similarities (uni = the captions here): language 0 [[1, 0], [0, 1]],
    # language 1: s(t01, t11) = 0.6 * 0.8 + 0.8 * 0.6 = 0.96
    uni = [[[1, 0], [0, 1]], [[1, 0.96], [0.96, 1]]]
    usa_text = sum(kl(teacher[i], uni[k][i], TAU_S, TAU_U) for k in range(2) for i in range(2)) / 4
    csa, usa = csa_text, usa_text
    if with_images:
        i2t = t2i  # both S_i2t matrices are symmetric
        csa_image = sum(kl(teacher[i], i2t[k][i], TAU_S, TAU_C) for k in range(2) for i in range(2)) / 4
        usa_image = sum(kl(teacher[i], [[1, 0], [0, 1]][i], TAU_S, TAU_U_IMAGE) for i in range(2)) / 2  # uni = images
        csa, usa = (csa_text + csa_image) / 2, (usa_text + usa_image) / 2
    clip = hand_clip() / 2  # "mean" mode: / B
    return {"loss": clip + ALPHA * csa + BETA * usa, "clip": clip, "csa": csa, "usa": usa}


@pytest.mark.parametrize("with_images", [False, True])
def test_cusa_matches_hand_computation(with_images):
    parts = cusa_loss(IMAGES, TEXTS, IMAGES if with_images else None, TEXTS,
                      TEACHER_IMAGES if with_images else None, TEACHER_TEXTS, torch.tensor(TAU),
                      torch.tensor(TAU_C), torch.tensor(TAU_U_IMAGE), torch.tensor(TAU_U), TAU_S, ALPHA, BETA)
    expected = hand_cusa(with_images)
    for name, value in expected.items():
        assert parts[name].item() == pytest.approx(value, abs=1e-6), name


def random_batch(batch: int = 4, languages: int = 3, dim: int = 8) -> tuple[Encoded, list[torch.Tensor]]:
    """A batch for towers of feature widths 6 (image) and 5 (text), and its leaf tensors (embeddings, features)."""
    generator = torch.Generator().manual_seed(0)
    leaves = [torch.randn(*shape, generator=generator).requires_grad_()
              for shape in ((batch, dim), (batch, languages, dim), (batch, 6), (batch, languages, 5))]

    def unit(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(x, dim=-1)

    encoded = Encoded(unit(leaves[0]), unit(leaves[1]), leaves[2], leaves[3],
                      unit(torch.randn(batch, 7, generator=generator)), unit(torch.randn(batch, 9, generator=generator)))
    return encoded, leaves


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_objective_has_finite_gradients(name):
    extra = {"image_teacher": "some/vision-model"} if name == "cusa" else {}
    objective = build_objective(name, extra, image_width=6, text_width=5)
    batch, leaves = random_batch()
    parts = objective(batch)
    parts["loss"].backward()
    assert torch.isfinite(parts["loss"])
    used = leaves if name == "cusa" else leaves[:2]  # only cusa's uni-modal heads read the towers' features
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in [*used, *objective.parameters()])
    assert objective.temperature.value.grad.abs() > 0


@pytest.mark.parametrize("kind", ["raw", "log"])
@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_temperature_clamps_are_respected(name, kind):
    objective = build_objective(name, {"temperature_parameterization": kind}, image_width=6, text_width=5)
    low, high = objective.params.temperature_range
    assert objective.temperature().item() == pytest.approx(objective.params.temperature)
    objective.temperature.set(high * 100)
    assert objective.temperature().item() == pytest.approx(high)
    objective.temperature.set(low / 100)
    assert objective.temperature().item() == pytest.approx(low)


def test_raw_temperature_moves_at_the_learning_rate_and_log_barely():
    """One Adam step of lr 3e-4 moves the parameter by lr (Adam's first step is lr · sign(g)): τ itself by 3e-4
    (0.43 % of 0.07) when raw, log τ by 3e-4 (τ by 0.07 · (e^{±3e-4} − 1) ≈ 2.1e-5) when log."""
    moved = {}
    for kind in ("raw", "log"):
        tau = Temperature(0.07, 0.001, 0.5, kind)
        optimizer = torch.optim.Adam(tau.parameters(), lr=3e-4)
        (1.0 / tau()).backward()  # dL/dτ < 0: τ grows
        optimizer.step()
        moved[kind] = tau().item() - 0.07
    assert moved["raw"] == pytest.approx(3e-4, rel=1e-3)
    assert moved["log"] == pytest.approx(0.07 * (math.exp(3e-4) - 1), rel=1e-3)


def test_paper_temperatures_are_the_defaults():
    one_to_k = OBJECTIVES.params("one_to_k", {})
    assert (one_to_k.temperature, one_to_k.temperature_range) == (0.07, (0.001, 0.5))
    cusa = OBJECTIVES.params("cusa", {})
    assert (cusa.alpha, cusa.beta, cusa.soft_temperature, cusa.teacher_temperature) == (0.1, 0.5, 0.45, 1.0)
    # the authors' configs/vitb32/flickr/cusa.yaml: cross τ_c in [0.10, 0.99], uni τ_u in [0.10, 1.00], "mean" mode
    assert (cusa.soft_temperature_range, cusa.uni_temperature_range) == ((0.10, 0.99), (0.10, 1.00))
    assert cusa.clip_reduction == "mean"
    soft = Temperature(0.45, 0.01, 1.0)
    assert soft().item() == pytest.approx(0.45)


def test_cusa_has_separate_image_and_text_uni_temperatures_and_layer_norm_heads():
    objective = build_objective("cusa", {"image_teacher": "some/vision-model"}, image_width=6, text_width=5)
    assert objective.soft_uni_image is not objective.soft_uni_text
    assert isinstance(objective.text_head[0], torch.nn.LayerNorm) and isinstance(objective.image_head[0],
                                                                                  torch.nn.LayerNorm)
    parts = objective(random_batch()[0])
    assert {"tau_c", "tau_u_text", "tau_u_image"} <= set(parts)


def test_cusa_without_image_teacher_leaves_image_labels_out_and_says_so():
    objective = build_objective("cusa", {}, image_width=6, text_width=5)
    assert objective.image_head is None
    assert any("no image teacher" in note for note in objective.notes)
    batch, _ = random_batch()
    batch.teacher_images = None
    assert torch.isfinite(objective(batch)["loss"])
    batch.teacher_texts = None
    with pytest.raises(ValueError, match="teachers"):
        objective(batch)


def test_unknown_objective_and_bad_parameters_are_one_line_errors():
    with pytest.raises(UserError, match="did you mean 'one_to_k'"):
        OBJECTIVES.get("one_to_kk")
    with pytest.raises(UserError, match="objective 'cusa': alpha"):
        OBJECTIVES.params("cusa", {"alpha": -1})
    with pytest.raises(UserError, match="temperature"):
        OBJECTIVES.params("clip", {"temperature": 0.9})
    with pytest.raises(UserError, match="Extra inputs|extra"):
        OBJECTIVES.params("clip", {"alpha": 0.1})
