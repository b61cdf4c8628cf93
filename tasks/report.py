"""An evaluation's outputs: the results object (the `--json` output and results.json) and its results table
(a row per task: the main score's metric and value, then the headline metrics the task has)."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from embedlab.tasks.results_table import ResultsTable

# Per-task metrics shown in the table besides the main score.
HEADLINE_METRICS = ("cosine_spearman", "ndcg_at_10", "recall_at_10", "accuracy", "f1", "v_measure", "max_ap")


def results_object(scores: list[Any]) -> dict[str, dict[str, float | None]]:
    """`{task_name: {"main_score": float, ...all metrics}}`: the `--json` output and results.json.

    Metrics mteb could not compute (NaN, e.g. an AUC over a single query) become null, keeping the JSON strict.
    """
    def clean(value: float) -> float | None:
        return None if math.isnan(value) else value

    return {s.name: {"main_score": s.main_score, **{k: clean(v) for k, v in s.scores.items() if k != "main_score"}}
            for s in scores}


def results_json(scores: list[Any]) -> str:
    """results.json's text: `results_object`, indented."""
    return json.dumps(results_object(scores), indent=2, allow_nan=False) + "\n"


def evaluation_table(model: str, fingerprint: str, scores: list[Any]) -> ResultsTable:
    """| task | metric | main score | <headline metrics any task has> |; charted: the main score. The intro names the
    tasks whose scores were read from the score cache (their seconds are those of the run that computed them)."""
    headline = [k for k in HEADLINE_METRICS if any(k in s.scores for s in scores)]
    frame = pd.DataFrame([{"metric": s.main_score_name, "main_score": s.main_score,
                           **{k: s.scores.get(k, math.nan) for k in headline}} for s in scores],
                         index=pd.Index([s.name for s in scores], name="task"))
    seconds = sum(s.seconds for s in scores)
    cached = [s.name for s in scores if s.cached]
    from_cache = f" Read from the score cache: {', '.join(cached)}." if cached else ""
    return ResultsTable(frame, f"Evaluation of `{model}`", "main_score", headers={"main_score": "main score"},
                        intro=f"Model fingerprint `{fingerprint}`; {len(scores)} task(s), {seconds:.1f} s of scoring."
                              + from_cache)
