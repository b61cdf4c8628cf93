"""`embedlab compare` on tiny models: the table's structure, the compute accounting, MLflow's parent and child
runs, bad input."""

from __future__ import annotations

import csv
import json

import mlflow
import pytest
from typer.testing import CliRunner

from embedlab.cli import app
from embedlab.config import load_settings
from embedlab.errors import UserError
from embedlab.tasks.compare.report import comparison_table
from embedlab.tasks.compare.variants import compare_specs, list_variants, seed_folders
from conftest import write_small_tasks
from merging_helpers import perturbed_copy, write_tiny_project

runner = CliRunner()
TASKS = ["TinySTS", "TinyRetrieval", "TinyClassification"]


def compare_section(**changes):
    return {"tasks": TASKS, "task_options": {"TinyRetrieval": {"sample": {"corpus": 1}}},
            "samplings": ["proportional"], "merges": ["average", "self_positioning"], "max_seq_length": 32, **changes}


@pytest.fixture(scope="module")
def tiny_compare(tmp_path_factory, tiny_model):
    """A tiny project as cwd with every variant built (fake trainings, real merges); `embedlab compare` run once.
    Yields the project folder and the command's result."""
    root = tmp_path_factory.mktemp("compare")
    small = write_small_tasks(root / "small").parent
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        write_tiny_project(root, tiny_model, small, compare=compare_section(), prepare={"out": str(small)})
        joint = root / "results" / "joint" / "joint-proportional"
        joint.mkdir(parents=True)
        perturbed_copy(tiny_model, joint / "model", seed=3)
        (joint / "summary.json").write_text(json.dumps({"steps": 4, "batch_size": 2, "seconds": 5.0}))
        for method in ("average", "self_positioning"):
            merged = runner.invoke(app, ["merge", "--trained", "--method", method, "--out", f"results/merge/{method}",
                                         "--no-track"])
            assert merged.exit_code == 0, merged.output
        yield root, runner.invoke(app, ["compare"])


def test_compare_writes_one_table_with_the_compute_of_every_variant(tiny_compare):
    root, result = tiny_compare
    assert result.exit_code == 0, result.output
    out = root / "results" / "compare"
    saved = json.loads((out / "results.json").read_text())
    rows = saved["rows"]
    names = [row["name"] for row in rows]
    assert names == ["base", "sts", "pairs", "joint-proportional", "merge-average", "merge-self_positioning"]
    assert [row["kind"] for row in rows] == ["base", "task", "task", "joint", "merge", "merge"]
    for row in rows:
        assert list(row["scores"]) == TASKS
        assert row["average"] == pytest.approx(sum(row["scores"].values()) / 3)

    by_name = {row["name"]: row for row in rows}
    assert (by_name["base"]["seconds"], by_name["base"]["samples"]) == (0.0, 0)
    assert (by_name["sts"]["seconds"], by_name["sts"]["samples"]) == (1.5, 4)  # summary: 2 steps of batch 2
    assert (by_name["joint-proportional"]["seconds"], by_name["joint-proportional"]["samples"]) == (5.0, 8)
    for method in ("average", "self_positioning"):
        merge = json.loads((root / "results" / "merge" / method / "summary.json").read_text())
        row = by_name[f"merge-{method}"]
        assert row["seconds"] == pytest.approx(1.5 + 3.0 + merge["seconds"])  # both trainings, then the merge
        search = merge.get("search", {}).get("samples", 0)
        assert row["samples"] == 4 + 4 + search and row["details"]["merged"] == ["sts", "pairs"]
    assert by_name["merge-self_positioning"]["details"]["search_samples"] == 12  # 3 steps x 2 tasks x 2 examples
    assert by_name["merge-average"]["details"]["search_samples"] == 0

    table = (out / "report.md").read_text()
    header = "| variant | kind | TinySTS | TinyRetrieval | TinyClassification | average | training samples | wall s |"
    assert header in table
    assert table.count("\n| ") == 1 + 6 and "| merge-self_positioning | merge |" in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == names and set(metrics["sts"]) == {*TASKS, "average", "samples", "seconds"}
    with (out / "table.csv").open() as handle:
        assert [row["variant"] for row in csv.DictReader(handle)] == names
    assert (out / "chart.png").stat().st_size > 5000
    assert comparison_table(rows, saved["settings"]).markdown() in result.output

    runs = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")
    parent = next(run for run in runs if run.info.run_name == "compare")
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(run.data.params["variant"] for run in children) == sorted(names)
    child = next(run for run in children if run.data.params["variant"] == "merge-self_positioning")
    assert child.data.metrics["compute/samples"] == by_name["merge-self_positioning"]["samples"]
    assert child.data.metrics["TinySTS/main_score"] == by_name["merge-self_positioning"]["scores"]["TinySTS"]
    assert parent.data.metrics["merge-average/average"] == pytest.approx(by_name["merge-average"]["average"])
    assert parent.data.tags["prefect_flow_name"] == "compare"


def test_the_suite_applies_task_options_and_names_unknown_tasks(tiny_compare):
    settings = load_settings()
    specs, _ = compare_specs(settings)
    assert [s.name for s in specs] == TASKS and specs[1].sample == {"corpus": 1}
    bad = [("compare.tasks=[TinySTSS]", "unknown prepared evaluation task (compare.tasks, compare.task_options) "
                                        "'TinySTSS'; did you mean 'TinySTS'"),
           ("compare.task_options={TinyRetrieval: {sample: {qrels: 1}}}",
            "compare.task_options.TinyRetrieval: Value error, sample: 'qrels' is not a samplable file"),
           ("compare.task_options={TinySTS: {colour: red}}", "compare.task_options.TinySTS: colour: Extra inputs")]
    for override, message in bad:
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            compare_specs(load_settings(overrides=[override]))


def test_missing_variants_and_bad_params_fail_in_one_line(tiny_compare):
    root, _ = tiny_compare
    result = runner.invoke(app, ["compare", "-S", "compare.samplings=[proportional, temperature]"])
    assert result.exit_code == 2 and result.stderr.startswith(
        "error: joint variant 'joint-temperature': ") and "joint-temperature/model or its summary.json is missing" \
        in result.stderr
    result = runner.invoke(app, ["compare", "-S", "compare.merges=[ties]"])
    assert result.exit_code == 2 and "merge variant 'ties'" in result.stderr and "--method ties" in result.stderr
    result = runner.invoke(app, ["compare", "-S", "compare.merges=[tie]"])
    assert result.exit_code == 2 and "unknown merge method 'tie'; did you mean 'ties'" in result.stderr
    result = runner.invoke(app, ["compare", "-S", "compare.max_seq_length=0"])
    assert result.exit_code == 2 and "compare.max_seq_length: Input should be greater than 0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    settings = load_settings()
    variants = list_variants.fn(settings.params.train, settings.params.compare, seed_folders(settings),
                                settings.project_dir)
    assert [v.name for v in variants[None]][:3] == ["base", "sts", "pairs"]


def test_several_seeds_score_each_seeds_folders_and_report_mean_and_std(tiny_compare, tiny_model):
    """`compare.seeds=[1, 2]`: each seed's variants from results/seeds/seed-<s>/ (seed 2's `sts` model differs),
    every row of every seed in results.json, and per variant the mean and the sample standard deviation, checked
    by hand: for two values a, b the mean is (a + b) / 2 and the std |a − b| / √2. A missing seed folder is one
    line naming it and the seeds pipeline."""
    root, _ = tiny_compare
    seeds = ["-S", "compare.seeds=[1, 2]", "-S", "compare.merges=[average]", "-S", "compare.seed_output=results/seeds"]
    missing = runner.invoke(app, ["compare", "--no-track", "-o", "results/compare_seeds", *seeds])
    assert missing.exit_code == 2 and "seed-1" in missing.stderr and "pipelines/seeds/dvc.yaml" in missing.stderr
    for seed in (1, 2):
        folder = root / "results" / "seeds" / f"seed-{seed}"
        for task in ("sts", "pairs"):
            perturbed_copy(tiny_model, folder / "train" / task / "model", seed=7 if (seed, task) == (2, "sts") else 1)
            (folder / "train" / task / "summary.json").write_text(json.dumps(
                {"steps": 2, "batch_size": 2, "seconds": float(seed)}))
        joint = folder / "joint" / "joint-proportional"
        perturbed_copy(tiny_model, joint / "model", seed=3)
        (joint / "summary.json").write_text(json.dumps({"steps": 4, "batch_size": 2, "seconds": 5.0}))
        merged = runner.invoke(app, ["merge", "--trained", "--method", "average", "--out",
                                     f"results/seeds/seed-{seed}/merge/average", "--no-track",
                                     "-S", f"train.output=results/seeds/seed-{seed}/train"])
        assert merged.exit_code == 0, merged.output
    result = runner.invoke(app, ["compare", "--no-track", "-o", "results/compare_seeds", *seeds])
    assert result.exit_code == 0, result.output
    out = root / "results" / "compare_seeds"
    rows = json.loads((out / "results.json").read_text())["rows"]
    names = ["base", "sts", "pairs", "joint-proportional", "merge-average"]
    assert [(row["name"], row["seed"]) for row in rows] == [(name, seed) for seed in (1, 2) for name in names]
    runs = {(row["name"], row["seed"]): row for row in rows}
    assert runs["sts", 1]["scores"] != runs["sts", 2]["scores"]
    assert runs["pairs", 1]["scores"] == runs["pairs", 2]["scores"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == names
    for name in names:
        for column in [*TASKS, "average"]:
            a, b = ((runs[name, s]["scores"][column] if column != "average" else runs[name, s]["average"])
                    for s in (1, 2))
            assert metrics[name][column] == pytest.approx((a + b) / 2)
            assert metrics[name][f"{column} std"] == pytest.approx(abs(a - b) / 2 ** 0.5, abs=1e-12)
    assert metrics["base"]["average std"] == 0 and metrics["sts"]["average std"] > 0
    assert metrics["sts"]["seconds"] == pytest.approx(1.5) and metrics["sts"]["seeds"] == 2  # mean of 1 s and 2 s
    table = (out / "report.md").read_text()
    header = "| variant | kind | TinySTS | ± std | TinyRetrieval | ± std | TinyClassification | ± std | average | ± std |"
    assert header in table and "training seeds [1, 2]" in table
    default = json.loads((root / "results" / "compare" / "results.json").read_text())
    assert "seeds" not in default["settings"]["compare"]  # one seed: the record, and the table, as before
