"""The comparison's results table: a row per variant, a column per evaluation task's main score, their average
and the compute spent (training samples, wall seconds); with several seeds, each score's mean and standard
deviation over the seeds. results.json keeps every row (every seed's) and the settings."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from embedlab.tasks.results_table import ResultsTable, mean_over_seeds

FORMATS = {"samples": ",d", "seconds": ",.1f"}
HEADERS = {"samples": "training samples", "seconds": "wall s"}
COMPUTE = ("training samples seen (steps × batch size) and wall seconds of training; a merge counts the per-task "
           "trainings it merged, its own merge and, for Self Positioning, the probe examples of its λ search.")


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
    return ResultsTable(
        _frame(rows), "Comparison: per-task models, joint training, merging (Li et al. 2024, arXiv 2410.15035)",
        "average", formats=FORMATS, headers=HEADERS, bold_max=[*tasks, "average"], chart=[*tasks, "average"],
        intro=f"Main scores ({_metrics(rows)}); average unweighted over tasks. Compute: {COMPUTE}",
        notes=_settings_note(settings))


def comparison_seeds_table(rows: list[dict[str, Any]], settings: dict[str, Any]) -> ResultsTable:
    """Rows of several seeds (each with its `seed`) -> | variant | kind | <task> | ± std | ... | average | ± std |
    training samples | wall s | seeds |: per variant, in first-seen order, each score's mean over its seeds with the
    sample standard deviation (n − 1) beside it (`mean_over_seeds`, the one place seeds are averaged; 0 for a
    variant that does not depend on the seed, such as the base), the mean compute per seed, and how many seeds."""
    tasks = list(rows[0]["scores"])
    frame, formats, headers = mean_over_seeds(_frame(rows), [*tasks, "average"], [row["seed"] for row in rows],
                                              FORMATS)
    frame["samples"] = frame["samples"].round().astype("Int64")
    seeds = sorted({row["seed"] for row in rows})
    return ResultsTable(
        frame, "Comparison over seeds: per-task models, joint training, merging (Li et al. 2024, arXiv 2410.15035)",
        "average", formats=FORMATS | formats, headers=HEADERS | headers, bold_max=[*tasks, "average"],
        chart=[*tasks, "average"],
        intro=f"Mean over the training seeds {seeds} of the main scores ({_metrics(rows)}), each followed by its "
              "sample standard deviation (n − 1) over the seeds; average unweighted over tasks, per seed, then "
              f"averaged. Compute, per seed (mean): {COMPUTE}",
        notes=_settings_note(settings))


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A row per entry, indexed by variant name: kind, each task's main score, average, samples, seconds."""
    frame = pd.DataFrame([{"kind": row["kind"], **row["scores"], "average": row["average"],
                           "samples": row["samples"], "seconds": row["seconds"]} for row in rows],
                         index=pd.Index([row["name"] for row in rows], name="variant"))
    return frame.astype({"samples": "Int64", "seconds": "float64"})


def _metrics(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{t} {m}" for t, m in rows[0]["main_scores"].items())


def _settings_note(settings: dict[str, Any]) -> str:
    return "Settings:\n\n```json\n" + json.dumps(settings, indent=2, default=str) + "\n```"


def results_json(rows: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """results.json's text: the settings and every row as the flow made it."""
    return json.dumps({"settings": settings, "rows": rows}, indent=2, allow_nan=False, default=str) + "\n"
