"""Writing an evaluation's outputs: results JSON, DVC metrics and plot data, a markdown report, a bar chart."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from prefect import task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from embedlab.atomic import atomic_dir  # noqa: E402

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


def markdown_table(scores: list[Any]) -> str:
    lines = ["| task | main score | value | other metrics |", "|---|---|---:|---|"]
    for s in scores:
        others = ", ".join(f"{k} {s.scores[k]:.4f}" for k in HEADLINE_METRICS if k in s.scores and k != s.main_score_name)
        lines.append(f"| {s.name} | {s.main_score_name} | {s.main_score:.4f} | {others} |")
    return "\n".join(lines)


def markdown_report(model: str, fingerprint: str, scores: list[Any]) -> str:
    seconds = sum(s.seconds for s in scores)
    return (f"# Evaluation of `{model}`\n\nModel fingerprint `{fingerprint}`; {len(scores)} task(s), "
            f"{seconds:.1f} s of scoring.\n\n{markdown_table(scores)}\n")


def bar_chart(path: Path, model: str, scores: list[Any]) -> None:
    """PNG bar chart of each task's main score."""
    fig, ax = plt.subplots(figsize=(max(4.0, 1.4 * len(scores) + 1.5), 3.6))
    names = [s.name for s in scores]
    values = [s.main_score for s in scores]
    bars = ax.bar(names, values, color="#4C72B0")
    ax.bar_label(bars, labels=[f"{v:.4f}" for v in values], fontsize=8)
    ax.set_ylim(0, max(1.0, max(values) * 1.1))
    ax.set_ylabel("main score")
    ax.set_title(f"{model}: main score per task", fontsize=10)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@task(cache_policy=NO_CACHE)
def write_outputs(out_dir: Path, model: str, fingerprint: str, scores: list[Any]) -> dict[str, Path]:
    """Write results.json, metrics.json (DVC metrics), scores.csv (DVC plot), report.md and chart.png as one unit."""
    with atomic_dir(out_dir) as tmp:
        (tmp / "results.json").write_text(json.dumps(results_object(scores), indent=2, allow_nan=False) + "\n")
        metrics = {s.name: {s.main_score_name: round(s.main_score, 6)} for s in scores}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        with (tmp / "scores.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["task", "main_score"])
            writer.writerows([s.name, round(s.main_score, 6)] for s in scores)
        (tmp / "report.md").write_text(markdown_report(model, fingerprint, scores))
        bar_chart(tmp / "chart.png", model, scores)
    return {name: out_dir / name for name in ("results.json", "metrics.json", "scores.csv", "report.md", "chart.png")}
