"""The comparison's results table: a row per variant, a column per evaluation task's main score, their average
and the compute spent (training samples, wall seconds); with several seeds, each score's mean and standard
deviation over the seeds. results.json keeps every row (every seed's) and the settings."""

from __future__ import annotations

import json
import statistics
from typing import Any

import pandas as pd

from embedlab.tasks.results_table import ResultsTable


def comparison_row(variant: Any, scores: list[Any], eval_seconds: float) -> dict[str, Any]:
    """One row: the variant (`name`, `kind`, `model`, `seconds`, `samples`, `details`), each task's main score,
    their unweighted average, and the seconds its evaluation took (not part of the compute)."""
    main = {s.name: s.main_score for s in scores}
    return {**variant.as_dict(), "scores": main, "average": sum(main.values()) / len(main),
            "main_scores": {s.name: s.main_score_name for s in scores}, "eval_seconds": round(eval_seconds, 3)}


def comparison_table(rows: list[dict[str, Any]], settings: dict[str, Any]) -> ResultsTable:
    """| variant | kind | <task main score>... | average | training samples | wall s |; the best score of each
    column in bold; charted: every task's score and the average. The settings follow the table."""
    tasks = list(rows[0]["scores"])
    frame = pd.DataFrame([{"kind": row["kind"], **row["scores"], "average": row["average"],
                           "samples": row["samples"], "seconds": row["seconds"]} for row in rows],
                         index=pd.Index([row["name"] for row in rows], name="variant"))
    frame = frame.astype({"samples": "Int64", "seconds": "float64"})
    metrics = ", ".join(f"{t} {m}" for t, m in rows[0]["main_scores"].items())
    return ResultsTable(
        frame, "Comparison: per-task models, joint training, merging (Li et al. 2024, arXiv 2410.15035)", "average",
        formats={"samples": ",d", "seconds": ",.1f"}, headers={"samples": "training samples", "seconds": "wall s"},
        bold_max=[*tasks, "average"], chart=[*tasks, "average"],
        intro=f"Main scores ({metrics}); average unweighted over tasks. Compute: training samples seen (steps × "
              "batch size) and wall seconds of training; a merge counts the per-task trainings it merged, its own "
              "merge and, for Self Positioning, the probe examples of its λ search.",
        notes="Settings:\n\n```json\n" + json.dumps(settings, indent=2, default=str) + "\n```")


def seed_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of several seeds (each with its `seed`) -> one row per variant, in first-seen order: `scores` and
    `average` as the mean over its seeds, `scores_std` and `average_std` the sample standard deviation (n − 1;
    0 for a variant that does not depend on the seed, such as the base), the mean compute, and its `seeds`."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["name"], []).append(row)
    merged = []
    for name, runs in groups.items():
        tasks = list(runs[0]["scores"])
        per_task = {task: [run["scores"][task] for run in runs] for task in tasks}
        averages = [run["average"] for run in runs]
        compute = {key: (None if any(run[key] is None for run in runs) else statistics.mean(run[key] for run in runs))
                   for key in ("samples", "seconds")}
        merged.append({"name": name, "kind": runs[0]["kind"], "seeds": [run["seed"] for run in runs],
                       "scores": {task: statistics.mean(v) for task, v in per_task.items()},
                       "scores_std": {task: _std(v) for task, v in per_task.items()},
                       "average": statistics.mean(averages), "average_std": _std(averages),
                       "samples": None if compute["samples"] is None else round(compute["samples"]),
                       "seconds": compute["seconds"], "main_scores": runs[0]["main_scores"]})
    return merged


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def comparison_seeds_table(rows: list[dict[str, Any]], settings: dict[str, Any]) -> ResultsTable:
    """| variant | kind | <task> | ± std | ... | average | ± std | seeds | training samples | wall s |: each score's
    mean over the seeds (`seed_means`) with its standard deviation beside it; compute is the mean per seed."""
    merged = seed_means(rows)
    tasks = list(merged[0]["scores"])
    frame = pd.DataFrame([{"kind": row["kind"],
                           **{key: value for task in tasks for key, value in
                              ((task, row["scores"][task]), (f"{task} std", row["scores_std"][task]))},
                           "average": row["average"], "average std": row["average_std"], "seeds": len(row["seeds"]),
                           "samples": row["samples"], "seconds": row["seconds"]} for row in merged],
                         index=pd.Index([row["name"] for row in merged], name="variant"))
    frame = frame.astype({"samples": "Int64", "seconds": "float64"})
    metrics = ", ".join(f"{t} {m}" for t, m in merged[0]["main_scores"].items())
    seeds = sorted({seed for row in merged for seed in row["seeds"]})
    return ResultsTable(
        frame, "Comparison over seeds: per-task models, joint training, merging (Li et al. 2024, arXiv 2410.15035)",
        "average", formats={"samples": ",d", "seconds": ",.1f"},
        headers={"samples": "training samples", "seconds": "wall s",
                 **{f"{column} std": "± std" for column in [*tasks, "average"]}},
        bold_max=[*tasks, "average"], chart=[*tasks, "average"],
        intro=f"Mean over the training seeds {seeds} of the main scores ({metrics}), each followed by its sample "
              "standard deviation (n − 1) over the seeds; average unweighted over tasks, per seed, then averaged. "
              "Compute: training samples and wall seconds per seed (mean); a merge counts the per-task trainings it "
              "merged, its own merge and, for Self Positioning, the probe examples of its λ search.",
        notes="Settings:\n\n```json\n" + json.dumps(settings, indent=2, default=str) + "\n```")


def results_json(rows: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """results.json's text: the settings and every row as the flow made it."""
    return json.dumps({"settings": settings, "rows": rows}, indent=2, allow_nan=False, default=str) + "\n"
