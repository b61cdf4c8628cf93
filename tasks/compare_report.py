"""The comparison's results table: a row per variant, a column per evaluation task's main score, their average
and the compute spent (training samples, wall seconds); results.json keeps every row and the settings."""

from __future__ import annotations

import json
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


def results_json(rows: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """results.json's text: the settings and every row as the flow made it."""
    return json.dumps({"settings": settings, "rows": rows}, indent=2, allow_nan=False, default=str) + "\n"
