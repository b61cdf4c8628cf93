"""The cross-modal DVC pipeline for real: `dvc repro pipelines/crossmodal/dvc.yaml` (prepare_crossmodal on the real Flickr8k +
Multi30K files -> train_crossmodal@<objective> -> crossmodal_table) in a copy of the checkout, with tiny towers."""

from __future__ import annotations

import pytest

from conftest import TINY_VIT
from test_dvc_pipeline import pipeline, set_params  # noqa: F401  (the fixture is used by name)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "pipelines/crossmodal/dvc.yaml"


def test_repro_builds_the_dataset_trains_every_objective_and_writes_the_table(pipeline, tiny_model):  # noqa: F811
    project, dvc = pipeline
    tiny_text = str(tiny_model)
    set_params(project, **{
        "prepare_crossmodal.languages": ["en", "de"], "prepare_crossmodal.val_images": 0,
        "prepare_crossmodal.test_images": 8, "train_crossmodal.languages": ["en", "de"],
        "train_crossmodal.image_tower": TINY_VIT, "train_crossmodal.text_tower": tiny_text,
        "train_crossmodal.objectives.cusa.text_teacher": tiny_text, "train_crossmodal.embedding_dim": 16,
        "train_crossmodal.max_seq_length": 16, "train_crossmodal.batch_size": 4, "train_crossmodal.max_steps": 2,
        "train_crossmodal.accelerator": "cpu"})
    log, _ = dvc("repro", PIPELINE)
    for stage in ["prepare_crossmodal", "train_crossmodal@clip", "train_crossmodal@one_to_k",
                  "train_crossmodal@cusa", "crossmodal_table"]:
        assert f"Running stage '{PIPELINE}:{stage}'" in log
    table = (project / "results" / "crossmodal" / "table" / "report.md").read_text()
    assert all(f"| {name} | 2 |" in table for name in ("clip", "one_to_k", "cusa")) and "mR de" in table
    log, _ = dvc("repro", PIPELINE)
    assert "Data and pipelines are up to date" in log and "Running stage" not in log
