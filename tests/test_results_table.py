"""The one results-table writer: the four files of a small table, byte for byte against hand-written text; a
foreign folder refused; an error mid-write leaving the previous table whole; the committed CIR table's numbers
read back through the CIR report."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from matplotlib.image import imread

from conftest import REPO
from embedlab.atomic import OWNED_MARKER
from embedlab.errors import UserError
from embedlab.tasks.cir.report import cir_table, read_variants
from embedlab.tasks.crossmodal.report import crossmodal_table, read_runs
from embedlab.tasks.results_table import ResultsTable, mean_over_seeds, write_table

REPORT = """# Tiny comparison

Scores are made up.

| variant | kind | score | samples | wall s |
|---|---|---:|---:|---:|
| base | base | 0.5000 | 0 | 0.0 |
| tuned | task | **0.8125** | — | 12.3 |
| a\\|b | merge | 0.7000 | 1,200 | — |

Settings: none.
"""

METRICS = """{
  "base": {
    "score": 0.5,
    "samples": 0,
    "seconds": 0.0
  },
  "tuned": {
    "score": 0.8125,
    "seconds": 12.34
  },
  "a|b": {
    "score": 0.7,
    "samples": 1200
  }
}
"""

CSV = """variant,kind,score,samples,seconds
base,base,0.5,0,0.0
tuned,task,0.8125,,12.34
a|b,merge,0.7,1200,
"""


def tiny_table(score: float = 0.8125) -> ResultsTable:
    """Three rows: an int column with a missing value, a float column with one, a label with a `|` in it."""
    frame = pd.DataFrame({"kind": ["base", "task", "merge"], "score": [0.5, score, 0.7],
                          "samples": pd.array([0, None, 1200], dtype="Int64"), "seconds": [0.0, 12.34, None]},
                         index=pd.Index(["base", "tuned", "a|b"], name="variant"))
    return ResultsTable(frame, "Tiny comparison", "score", formats={"samples": ",d", "seconds": ".1f"},
                        headers={"seconds": "wall s"}, bold_max=["score"], intro="Scores are made up.",
                        notes="Settings: none.")


def test_the_writer_writes_the_four_files_and_the_extra_ones(tmp_path):
    out = tmp_path / "table"
    paths = write_table.fn(tiny_table(), out, {"results.json": '{"x": 1}\n'})
    assert paths == {name: out / name for name in ("report.md", "metrics.json", "table.csv", "chart.png",
                                                   "results.json")}
    assert {p.name for p in out.iterdir()} == {*paths, OWNED_MARKER}
    assert (out / "report.md").read_text(encoding="utf-8") == REPORT
    assert (out / "metrics.json").read_text() == METRICS
    assert isinstance(json.loads(METRICS)["base"]["samples"], int)  # ints stay ints
    assert (out / "table.csv").read_text() == CSV
    assert (out / "results.json").read_text() == '{"x": 1}\n'
    image = imread(out / "chart.png")
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.shape[1] == 8 * 110
    assert [p.name for p in tmp_path.iterdir()] == ["table"]  # no temp folder left beside it


def test_a_second_write_replaces_the_table_whole(tmp_path):
    out = tmp_path / "table"
    write_table.fn(tiny_table(), out, {"results.json": "{}\n"})
    write_table.fn(tiny_table(0.9), out)
    assert json.loads((out / "metrics.json").read_text())["tuned"]["score"] == 0.9
    assert not (out / "results.json").exists()  # an output of the earlier write only


def test_a_folder_embedlab_did_not_write_is_refused_and_kept(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(UserError, match=f"output folder {out} already exists and was not written by embedlab"):
        write_table.fn(tiny_table(), out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "my notes"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_an_error_mid_write_leaves_the_previous_table_untouched(tmp_path):
    """An infinite score cannot be written as strict JSON: metrics.json fails after report.md and table.csv were
    written into the temp folder; the previous table stays as it was and no temp folder is left."""
    out = tmp_path / "table"
    write_table.fn(tiny_table(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        write_table.fn(tiny_table(float("inf")), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["table"]


def test_the_committed_cir_table_keeps_its_numbers():
    """The variants' committed metrics (seed 42 in results/cir/<variant>/, seeds 43 and 44 in seed-<s>/) through
    the CIR report give the committed three-seed table's rows; the table's own folder is no variant."""
    table = cir_table(read_variants(REPO / "results" / "cir"))
    rows = table.markdown().splitlines()[2:]
    committed = (REPO / "results" / "cir" / "table" / "report.md").read_text(encoding="utf-8")
    assert rows and all(row in committed for row in rows)
    assert [row.split(" | ")[0] for row in rows] == ["| stage 1 only", "| stage 2 only", "| both stages"]
    assert rows[0].endswith(" | 3 |")  # three seeds
    assert "Chance: R@1 0.1%, R@5 0.5%, R@10 1.0%, R@50 5.0%." in table.intro
    runs = [json.loads((REPO / "results" / "cir" / folder / "1" / "metrics.json").read_text())
            for folder in (".", "seed-43", "seed-44")]
    mean = sum(run["scores"]["recall_at_10"] for run in runs) / 3
    assert table.metrics()["stage 1 only"]["recall_at_10"] == pytest.approx(mean)


def test_mean_over_seeds_gives_the_mean_and_sample_std_per_label_by_hand():
    """Two labels, three seeds of one and one of the other: means and n − 1 standard deviations by hand."""
    frame = pd.DataFrame({"recall": [0.10, 0.20, 0.60, 0.50], "steps": [100, 100, 100, 50]},
                         index=pd.Index(["clip", "clip", "clip", "cusa"], name="objective"))
    out, formats, headers = mean_over_seeds(frame, ["recall"], [42, 43, 44, 42], {"recall": ".1%"})
    # clip: mean (0.1 + 0.2 + 0.6) / 3 = 0.3; deviations -0.2, -0.1, 0.3 -> (0.04 + 0.01 + 0.09) / 2 = 0.07
    assert list(out.columns) == ["recall", "recall std", "steps", "seeds"]
    assert out.loc["clip", "recall"] == pytest.approx(0.3)
    assert out.loc["clip", "recall std"] == pytest.approx(0.07 ** 0.5)
    assert pd.isna(out.loc["cusa", "recall std"]) and out.loc["cusa", "seeds"] == 1
    assert formats == {"recall std": ".1%"} and headers == {"recall std": "± std"}
    single, _, _ = mean_over_seeds(frame.iloc[[0, 3]], ["recall"], [42, 42], {})
    assert single.equals(frame.iloc[[0, 3]])
    with pytest.raises(UserError, match="clip, seed 42"):
        mean_over_seeds(frame, ["recall"], [42, 42, 44, 42], {})


def test_cir_runs_of_further_seeds_are_read_from_seed_folders_and_averaged(tmp_path):
    """The default runs (seed 42) and seed-43/ beside them: one row per variant with its mean, std and 2 seeds."""
    def write(folder, seed, recall):
        scores = {f"recall_at_{k}": recall for k in (1, 5, 10, 50)} | {"median_rank": 10.0}
        run = {"variant": "1", "label": "stage 1 only", "seed": seed, "steps": {"stage1": 10}, "samples": 320,
               "train_seconds": 2.0, "bank_seconds": 0.0, "eval_seconds": 1.0, "scores": scores, "gallery": 101,
               "triplets": "t.jsonl", "format": "generated", "train_triplets": 80, "test_triplets": 20,
               "batch_size": 32}
        (folder / "1").mkdir(parents=True)
        (folder / "1" / "metrics.json").write_text(json.dumps(run))
    write(tmp_path, 42, 0.25)
    write(tmp_path / "seed-43", 43, 0.35)
    (tmp_path / "table").mkdir()
    (tmp_path / "table" / "metrics.json").write_text("{}")
    table = cir_table(read_variants(tmp_path))
    assert table.frame.loc["stage 1 only", "recall_at_10"] == pytest.approx(0.30)
    assert table.frame.loc["stage 1 only", "recall_at_10 std"] == pytest.approx(0.1 / 2 ** 0.5)
    assert table.frame.loc["stage 1 only", "seeds"] == 2
    assert "| stage 1 only | 10 | 0 | 320 | 30.0% | 7.1% |" in table.markdown()
    assert "training seeds [42, 43]" in table.intro


def test_crossmodal_runs_of_further_seeds_are_averaged_and_every_run_stays_in_the_detail(tmp_path):
    """clip at seeds 42 (default folder) and 43 (seed-43/): mean recall 0.2 and 0.3 -> 0.25 ± 0.0707, MRV 10 and
    20 -> 15 ± 7.07; the per-direction detail keeps both runs."""
    def write(folder, seed, recall, mrv):
        scores = {"en.mean_recall": recall, "mean_recall": recall, "mrv_i2t": mrv, "mrv_t2i": mrv, "mrv": mrv,
                  "seconds": 1.0} | {f"{d}.en.recall_at_{k}": recall for d in ("i2t", "t2i") for k in (1, 5, 10)}
        run = {"objective": "clip", "seed": seed, "steps": 200, "train_seconds": 5.0, "languages": ["en"],
               "split": "test", "dataset_version": "v", "images": 10, "scores": scores}
        (folder / "clip").mkdir(parents=True)
        (folder / "clip" / "metrics.json").write_text(json.dumps(run))
    write(tmp_path, 42, 0.2, 10.0)
    write(tmp_path / "seed-43", 43, 0.3, 20.0)
    table = crossmodal_table(read_runs(tmp_path))
    assert table.frame.loc["clip", "mean_recall"] == pytest.approx(0.25)
    assert table.frame.loc["clip", "mean_recall std"] == pytest.approx(0.1 / 2 ** 0.5)
    assert table.frame.loc["clip", "mrv std"] == pytest.approx(10 / 2 ** 0.5)
    assert "| clip | 200 | 25.00% | 25.00% | 7.07% | 15.00 | 15.00 | 15.00 | 7.07 | 5 | 1 | 2 |" in table.markdown()
    assert "| clip (seed 42) | i2t | 20.0/20.0/20.0 |" in table.notes
    assert "| clip (seed 43) | t2i | 30.0/30.0/30.0 |" in table.notes
