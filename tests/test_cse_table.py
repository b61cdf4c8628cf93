"""The acceptance table of `embedlab cse`: the grid in params.yaml, hand-built runs -> markdown rows and DVC
metrics, unfinished runs, and `embedlab cse compare` scoring a tiny base model for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, write
from embedlab.cli import app
from embedlab.config import load_settings
from embedlab.errors import UserError
from embedlab.models.losses import CSE_OBJECTIVES
from embedlab.tasks.cse.report import components_label, cse_table, read_runs, table_rows
from embedlab.tasks.cse.train import run_dir, table_run

PAPER = {"margin": 0.3, "weight_temperature": 0.05, "ratio": 1.5}


def run_summary(objective: str, loss_options: dict, score: float, fdi: tuple[float, float], seconds: float,
                steps: int) -> dict:
    """The fields of a cse.json that the table reads."""
    return {"objective": objective, "loss_options": loss_options, "scores": {"STSBenchmark": score},
            "fdi": {"fdi_align": fdi[0], "fdi_uniform": fdi[1]}, "seconds": seconds, "steps": steps}


def two_runs(output: Path) -> list[str]:
    """cse.json of `vicreg` (own) and `vicreg-paradigm` under <output>/runs; returns the -S overrides naming them."""
    write(output / "runs" / "vicreg" / "cse.json",
          json.dumps(run_summary("vicreg", {}, 0.75, (-0.1234, 0.05), 101.4, 30)))
    write(output / "runs" / "vicreg-paradigm" / "cse.json",
          json.dumps(run_summary("vicreg", PAPER, 0.8312, (-0.2, -0.01), 99.5, 30)))
    return [f"cse_table.output={output}",
            "cse_table.runs={vicreg: {objective: vicreg}, vicreg-paradigm: {objective: vicreg, paradigm: "
            "{margin: 0.3, weight_temperature: 0.05, ratio: 1.5}}}"]


def test_hand_built_runs_give_the_rows_and_metrics(tmp_path):
    settings = load_settings(REPO / "params.yaml", two_runs(tmp_path))
    rows = table_rows("minilm", {"STSBenchmark": 0.8}, read_runs(settings))
    table = cse_table(rows, {})
    assert table.markdown().splitlines() == [
        "| run | objective | components | STSBenchmark | Δ vs base | FDI align | FDI uniform | wall s | steps |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
        "| base | minilm | — | 0.8000 | — | — | — | — | 0 |",
        "| vicreg | vicreg | own | 0.7500 | -0.0500 | -0.1234 | +0.0500 | 101 | 30 |",
        "| vicreg-paradigm | vicreg | m=0.3 t=0.05 r=1.5 | 0.8312 | +0.0312 | -0.2000 | -0.0100 | 100 | 30 |",
    ]
    assert table.metrics()["base"] == {"STSBenchmark": 0.8, "steps": 0}
    assert table.metrics()["vicreg"] == pytest.approx({"STSBenchmark": 0.75, "delta_STSBenchmark": -0.05,
                                                     "fdi_align": -0.1234, "fdi_uniform": 0.05, "seconds": 101.4,
                                                     "steps": 30})


def test_runs_of_further_seeds_are_averaged_with_their_spread(tmp_path):
    """The default runs (seed 42) and seed-43/runs/ beside them: vicreg 0.75 and 0.95 -> 0.8500 ± 0.1414 (by hand:
    deviations ±0.1, sqrt((0.01 + 0.01) / 1)), FDI align -0.1234 and -0.1 -> -0.1117; the base row stays one seedless
    row; a seed folder missing a run is named."""
    overrides = two_runs(tmp_path)
    for name in ("vicreg", "vicreg-paradigm"):
        path = tmp_path / "runs" / name / "cse.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "seed": 42}))
    write(tmp_path / "seed-43" / "runs" / "vicreg" / "cse.json",
          json.dumps({**run_summary("vicreg", {}, 0.95, (-0.1, 0.05), 99.4, 30), "seed": 43}))
    settings = load_settings(REPO / "params.yaml", overrides)
    with pytest.raises(UserError, match=r"seed-43/runs for run\(s\) vicreg-paradigm"):
        read_runs(settings)
    write(tmp_path / "seed-43" / "runs" / "vicreg-paradigm" / "cse.json",
          json.dumps({**run_summary("vicreg", PAPER, 0.8312, (-0.2, -0.01), 99.5, 30), "seed": 43}))
    table = cse_table(table_rows("minilm", {"STSBenchmark": 0.8}, read_runs(settings)), {})
    lines = table.markdown().splitlines()
    assert lines[0] == ("| run | objective | components | STSBenchmark | ± std | Δ vs base | FDI align | ± std "
                        "| FDI uniform | ± std | wall s | steps | seeds |")
    assert lines[2] == "| base | minilm | — | 0.8000 | — | — | — | — | — | — | — | 0 | 1 |"
    assert lines[3] == ("| vicreg | vicreg | own | 0.8500 | 0.1414 | +0.0500 | -0.1117 | 0.0165 | +0.0500 "
                        "| 0.0000 | 100 | 30 | 2 |")
    assert "training seeds [42, 43]" in table.intro


def test_several_tasks_get_a_delta_column_each():
    runs = [("a", {**run_summary("infonce", {}, 0.0, (0.0, 0.0), 1.0, 2), "scores": {"X": 0.5, "Y": 0.25}})]
    table = cse_table(table_rows("minilm", {"X": 0.4, "Y": 0.5}, runs), {}).markdown().splitlines()
    assert table[0].startswith("| run | objective | components | X | Y | Δ X | Δ Y | FDI align")
    assert table[3].startswith("| a | infonce | own | 0.5000 | 0.2500 | +0.1000 | -0.2500 |")


@pytest.mark.parametrize("options, label", [
    ({}, "own"),
    (PAPER, "m=0.3 t=0.05 r=1.5"),
    ({"weight_power": 4.0, "ratio": 1.75}, "p=4 r=1.75"),
    ({"angular_margin": 0.2, "margin": 0.3}, "m=0.3 (angular_margin=0.2)"),
])
def test_components_label(options, label):
    assert components_label(options) == label


def test_unfinished_runs_are_named_with_the_command(tmp_path):
    overrides = two_runs(tmp_path)
    (tmp_path / "runs" / "vicreg" / "cse.json").unlink()
    message = r"run\(s\) vicreg: `embedlab cse run --run NAME` each, or `dvc repro pipelines/cse/dvc.yaml`"
    with pytest.raises(UserError, match=message):
        read_runs(load_settings(REPO / "params.yaml", overrides))
    with pytest.raises(UserError, match="cse_table.runs is empty"):
        read_runs(load_settings(REPO / "params.yaml", ["cse_table.runs={}"]))


def test_the_grid_in_params_yaml_is_every_objective_with_and_without_the_paper_components():
    settings = load_settings(REPO / "params.yaml")
    runs = settings.params.cse_table.runs
    assert {run.objective for run in runs.values()} == set(CSE_OBJECTIVES) - {"hierarchical"}
    for name, run in runs.items():
        components = run.paradigm.model_dump(exclude_none=True)
        expected = {**PAPER, "ratio": 1.75} if run.objective == "align_uniform" else PAPER
        assert components == ({} if name == run.objective else expected) and name in (run.objective,
                                                                                         f"{run.objective}-paradigm")
    params = table_run(settings, "align_uniform-paradigm")
    assert (params.objective, params.paradigm.ratio, params.batch_size) == ("align_uniform", 1.75,
                                                                           settings.params.cse.batch_size)
    assert run_dir(settings, params, "align_uniform-paradigm") == REPO / "results/cse_table/runs/align_uniform-paradigm"
    assert run_dir(settings, params) == REPO / "results/cse/wiki-align_uniform-m0.3-t0.05-r1.75"


def test_compare_cse_scores_the_base_and_writes_the_table(tiny_model, project, tmp_path):
    overrides = [*two_runs(tmp_path / "table"), f"cse.base={tiny_model}", f"cache_dir={tmp_path / 'cache'}",
                 "evaluate.device=cpu"]
    result = CliRunner().invoke(app, ["cse", "compare", "--params", str(REPO / "params.yaml"),
                                      *(arg for item in overrides for arg in ("-S", item))])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "table" / "table" / "report.md").read_text()
    base = json.loads((tmp_path / "table" / "table" / "metrics.json").read_text())["base"]["STSBenchmark"]
    assert -1 <= base <= 1 and f"| base | {tiny_model} | — | {base:.4f} | — |" in report
    assert f"| vicreg | vicreg | own | 0.7500 | {0.75 - base:+.4f} | -0.1234 |" in report
    assert '"eval_max_seq_length": 128' in report
