"""The results table of composed-image-retrieval variants (paper 6): Recall@K and wall time per variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from embedlab.errors import UserError
from embedlab.models.cir.retrieval import K_VALUES
from embedlab.tasks.results_table import ResultsTable, mean_over_seeds, run_metric_files

ORDER = ("1", "2", "both")


def read_variants(results_dir: Path) -> list[dict[str, Any]]:
    """Every variant's metrics.json under `results_dir` (`run_metric_files`: the default runs and those of
    further seeds in `seed-<s>/`) in the order stage 1, stage 2, both; UserError if none."""
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in run_metric_files(results_dir, "metrics.json")]
    if not runs:
        raise UserError(f"no trained variants under {results_dir} (run `embedlab cir train --stage 1|2|both`)")
    return sorted(runs, key=lambda run: ORDER.index(run["variant"]) if run["variant"] in ORDER else len(ORDER))


def cir_table(runs: list[dict[str, Any]]) -> ResultsTable:
    """| variant | stage-1 steps | stage-2 steps | samples | R@K (in %)... | median rank | train s | bank s |
    train + bank s | eval s |; charted: R@10. Runs of several seeds (`seed-<s>/` folders): each value's mean over
    the seeds, R@K and the median rank each with its standard deviation, and the number of seeds
    (`mean_over_seeds`)."""
    recalls = [f"recall_at_{k}" for k in K_VALUES]
    frame = pd.DataFrame([{"stage1_steps": run["steps"].get("stage1", 0), "stage2_steps": run["steps"].get("stage2", 0),
                           "samples": run["samples"], **{key: run["scores"][key] for key in recalls},
                           "median_rank": run["scores"]["median_rank"], "train_seconds": run["train_seconds"],
                           "bank_seconds": run["bank_seconds"],
                           "train_bank_seconds": run["train_seconds"] + run["bank_seconds"],
                           "eval_seconds": run["eval_seconds"]}
                          for run in runs], index=pd.Index([run["label"] for run in runs], name="variant"))
    seconds = ("train_seconds", "bank_seconds", "train_bank_seconds", "eval_seconds")
    formats = {**dict.fromkeys(recalls, ".1%"),
               **dict.fromkeys(("stage1_steps", "stage2_steps", "samples", "median_rank", *seconds), ".0f")}
    seeds = [run.get("seed") for run in runs]
    frame, std_formats, std_headers = mean_over_seeds(frame, [*recalls, "median_rank"], seeds, formats)
    first = runs[0]
    chance = ", ".join(f"R@{k} {k / (first['gallery'] - 1):.1%}" for k in K_VALUES)
    over_seeds = (f" Mean over the training seeds {sorted(set(seeds), key=str)}, R@K and the median rank each "
                  "followed by its sample standard deviation (n − 1)." if "seeds" in frame else "")
    return ResultsTable(
        frame, "Composed image retrieval: training stages compared (SPN4CIR)", "recall_at_10",
        formats={**formats, **std_formats},
        headers={"stage1_steps": "stage-1 steps", "stage2_steps": "stage-2 steps",
                 **{f"recall_at_{k}": f"R@{k}" for k in K_VALUES}, "median_rank": "median rank",
                 "train_seconds": "train s", "bank_seconds": "bank s", "train_bank_seconds": "train + bank s",
                 "eval_seconds": "eval s", **std_headers},
        intro=f"Triplets `{first['triplets']}` ({first['format']}): {first['train_triplets']} training and "
              f"{first['test_triplets']} held-out triplets (split by reference image), gallery of {first['gallery']} "
              f"images with each query's reference left out. Chance: {chance}. Every variant trains the same number "
              f"of steps of {first['batch_size']} triplets; bank s = building stage 2's static bank (0 where it was "
              f"read from the cache: the same image tower's bank of an earlier run).{over_seeds}")
