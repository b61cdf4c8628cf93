"""The composed-image-retrieval DVC pipeline for real: `dvc repro pipelines/cir/dvc.yaml` (the main job's
generate_triplets on the real Flickr8k images -> train_cir@{1,2,both} -> cir_table) in a copy of the checkout, with
tiny towers."""

from __future__ import annotations

import pytest

from conftest import TINY_VIT
from test_dvc_pipeline import pipeline, set_params  # noqa: F401  (the fixture is used by name)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "pipelines/cir/dvc.yaml"


def test_repro_generates_triplets_trains_every_variant_and_writes_the_table(pipeline, tiny_model):  # noqa: F811
    project, dvc = pipeline
    tiny_text = str(tiny_model)
    set_params(project, **{
        "train_cir.image_tower": TINY_VIT, "train_cir.text_tower": tiny_text, "train_cir.embedding_dim": 16,
        "train_cir.max_seq_length": 16, "train_cir.batch_size": 8, "train_cir.max_steps": 2,
        "train_cir.accelerator": "cpu"})
    log, _ = dvc("repro", PIPELINE)
    assert "Running stage 'generate_triplets'" in log
    for stage in ["train_cir@1", "train_cir@2", "train_cir@both", "cir_table"]:
        assert f"Running stage '{PIPELINE}:{stage}'" in log
    table = (project / "results" / "cir" / "table" / "report.md").read_text()
    for row in ("| stage 1 only | 2 | 0 | 16 |", "| stage 2 only | 0 | 2 | 16 |", "| both stages | 1 | 1 | 16 |"):
        assert row in table
    assert "800 training and 200 held-out triplets" in table and "gallery of 1000 images" in table
    log, _ = dvc("repro", PIPELINE)
    assert "Data and pipelines are up to date" in log and "Running stage" not in log
