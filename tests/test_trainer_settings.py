"""The one trainer-settings base of the training sections: every section inherits it, keeps its own defaults
(the values below are the sections' documented defaults, written out by hand), and hands models/ the same plain
options through one conversion."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedlab.config import CseParams, TrainCirParams, TrainCrossModalParams, TrainParams, load_settings
from embedlab.config.trainer import EncoderTrainerSettings, TrainerSettings
from embedlab.errors import UserError
from embedlab.models.trainer_options import OptimizerOptions, TrainerOptions

REPO = Path(__file__).resolve().parents[1]

# section -> (seed, batch_size, max_steps, lr, warmup_ratio, weight_decay, accelerator, devices, strategy,
#             precision, checkpoint_every): each section's defaults before the base existed
DEFAULTS = {
    TrainParams: (42, 32, 100, 2e-5, 0.1, 0.01, "auto", 1, "auto", "auto", 25),
    CseParams: (42, 32, 100, 2e-5, 0.0, 0.0, "auto", 1, "auto", "auto", 50),
    TrainCrossModalParams: (42, 32, 150, 3e-4, 0.1, 0.01, "auto", 1, "auto", "auto", 500),
    TrainCirParams: (42, 32, 200, 3e-4, 0.1, 0.01, "auto", 1, "auto", "auto", 100),
}
FIELDS = ("seed", "batch_size", "max_steps", "lr", "warmup_ratio", "weight_decay", "accelerator", "devices",
          "strategy", "precision", "checkpoint_every")


@pytest.mark.parametrize("section", list(DEFAULTS), ids=lambda cls: cls.__name__)
def test_every_training_section_inherits_the_base_and_keeps_its_defaults(section):
    assert issubclass(section, TrainerSettings)
    assert set(FIELDS) <= set(section.model_fields)
    assert tuple(getattr(section(), name) for name in FIELDS) == DEFAULTS[section]


def test_the_sentence_encoder_sections_share_the_encoder_fields():
    assert issubclass(TrainParams, EncoderTrainerSettings) and issubclass(CseParams, EncoderTrainerSettings)
    assert (TrainParams().max_seq_length, CseParams().max_seq_length) == (128, 32)
    assert (TrainParams().output, CseParams().output) == ("results/train", "results/cse")


@pytest.mark.parametrize("section, key, value", [
    ("cse", "batch_size", 1),               # contrastive: a batch needs two sentences
    ("train_crossmodal", "batch_size", 1),
    ("train_cir", "max_steps", 1),           # `both` splits the steps over two stages
    ("train", "batch_size", 0),
])
def test_a_section_keeps_its_own_bounds(section, key, value):
    with pytest.raises(UserError, match=rf"{section}\.{key}: Input should be greater than"):
        load_settings(REPO / "params.yaml", [f"{section}.{key}={value}"])


def test_params_yaml_trainer_values_read_as_before():
    """The committed params.yaml gives each section the trainer values written in it (read off the file)."""
    params = load_settings(REPO / "params.yaml").params
    assert (params.train.batch_size, params.train.max_steps, params.train.checkpoint_every) == (32, 20, 25)
    assert (params.cse.max_steps, params.cse.lr, params.cse.checkpoint_every) == (10, 6e-5, 50)
    assert params.train_cir.stage_steps("both") == {1: 500, 2: 500}


def test_one_conversion_gives_models_its_plain_options():
    section = TrainCirParams(max_steps=40, lr=1e-3, warmup_ratio=0.25, weight_decay=0.5, accelerator="cpu",
                             devices=2, strategy="ddp", precision="32-true", checkpoint_every=7)
    assert section.trainer_options() == TrainerOptions(40, 7, "cpu", 2, "ddp", "32-true")
    assert section.trainer_options(15).as_kwargs() == {"max_steps": 15, "checkpoint_every": 7, "accelerator": "cpu",
                                                       "devices": 2, "strategy": "ddp", "precision": "32-true"}
    assert section.optimizer_options() == OptimizerOptions(1e-3, 0.25, 0.5)
    assert section.optimizer_options(2e-5).as_kwargs() == {"lr": 2e-5, "warmup_ratio": 0.25, "weight_decay": 0.5}
