"""Writing the comparison's outputs: one table (a row per variant, a column per evaluation task, the average and
the compute spent) as markdown, DVC metrics, plot data, JSON, and a PNG chart."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from prefect import task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from embedlab.atomic import atomic_dir  # noqa: E402

OUTPUTS = ("results.json", "metrics.json", "scores.csv", "report.md", "chart.png")


def comparison_row(variant: Any, scores: list[Any], eval_seconds: float) -> dict[str, Any]:
    """One row: the variant (`name`, `kind`, `model`, `seconds`, `samples`, `details`), each task's main score,
    their unweighted average, and the seconds its evaluation took (not part of the compute)."""
    main = {s.name: s.main_score for s in scores}
    return {**variant.as_dict(), "scores": main, "average": sum(main.values()) / len(main),
            "main_scores": {s.name: s.main_score_name for s in scores}, "eval_seconds": round(eval_seconds, 3)}


def _number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """| variant | kind | <task main score>... | average | training samples | wall s |; the best score of each
    column in bold."""
    tasks = list(rows[0]["scores"])
    best = {t: max(r["scores"][t] for r in rows) for t in tasks}
    best["average"] = max(r["average"] for r in rows)
    head = ["variant", "kind", *tasks, "average", "training samples", "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for row in rows:
        cells = [f"**{row['scores'][t]:.4f}**" if row["scores"][t] == best[t] else f"{row['scores'][t]:.4f}"
                 for t in tasks]
        average = f"**{row['average']:.4f}**" if row["average"] == best["average"] else f"{row['average']:.4f}"
        lines.append("| " + " | ".join([row["name"], row["kind"], *cells, average, _number(row["samples"]),
                                         _number(row["seconds"], 1)]) + " |")
    return "\n".join(lines)


def markdown_report(rows: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """The table with the main score of each task and the settings it was made with."""
    metrics = ", ".join(f"{t} {m}" for t, m in rows[0]["main_scores"].items())
    lines = ["# Comparison: per-task models, joint training, merging (Li et al. 2024, arXiv 2410.15035)", "",
             f"Main scores ({metrics}); average unweighted over tasks. Compute: training samples seen (steps × batch "
             "size) and wall seconds of training; a merge counts the per-task trainings it merged, its own merge "
             "and, for Self Positioning, the probe examples of its λ search.", "", markdown_table(rows), "",
             "Settings:", "", "```json", json.dumps(settings, indent=2, default=str), "```", ""]
    return "\n".join(lines)


KIND_COLOURS = {"base": "#8C8C8C", "task": "#4C72B0", "joint": "#DD8452", "merge": "#55A868"}


def chart(path: Path, rows: list[dict[str, Any]]) -> None:
    """PNG: left, each variant's score per task and average (grouped bars); right, average against training samples."""
    tasks = [*rows[0]["scores"], "average"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13.0, 0.42 * len(rows) * len(tasks) / 2 + 2.5),
                                      gridspec_kw={"width_ratios": [3, 2]})
    height = 0.8 / len(tasks)
    colours = plt.get_cmap("tab10")
    for j, name in enumerate(tasks):
        values = [row["average"] if name == "average" else row["scores"][name] for row in rows]
        positions = [i + (j - (len(tasks) - 1) / 2) * height for i in range(len(rows))]
        left.barh(positions, values, height=height, label=name, color="black" if name == "average" else colours(j))
    left.set_yticks(range(len(rows)), [row["name"] for row in rows], fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("main score")
    left.legend(fontsize=7, loc="lower right")
    left.set_title("score per evaluation task", fontsize=10)
    for row in rows:
        samples = row["samples"] if row["samples"] is not None else float("nan")
        right.scatter([max(samples, 1)], [row["average"]], color=KIND_COLOURS.get(row["kind"], "black"), s=30)
        right.annotate(row["name"], (max(samples, 1), row["average"]), fontsize=7, xytext=(3, 3),
                       textcoords="offset points")
    right.set_xscale("log")
    right.set_xlabel("training samples (log; base shown at 1)")
    right.set_ylabel("average main score")
    right.set_title("average against compute", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@task(cache_policy=NO_CACHE)
def write_comparison(out_dir: Path, rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Path]:
    """Write results.json (every row), metrics.json (DVC metrics: per variant each task's score, average,
    samples, seconds), scores.csv (DVC plot data), report.md and chart.png as one unit."""
    with atomic_dir(out_dir) as tmp:
        (tmp / "results.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=2,
                                                     allow_nan=False, default=str) + "\n")
        metrics = {row["name"]: {**{t: round(v, 6) for t, v in row["scores"].items()},
                                 "average": round(row["average"], 6), "samples": row["samples"],
                                 "seconds": None if row["seconds"] is None else round(row["seconds"], 1)}
                   for row in rows}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        with (tmp / "scores.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["variant", "kind", "average", "samples", "seconds"])
            writer.writerows([r["name"], r["kind"], round(r["average"], 6), r["samples"], r["seconds"]] for r in rows)
        (tmp / "report.md").write_text(markdown_report(rows, settings))
        chart(tmp / "chart.png", rows)
    return {name: out_dir / name for name in OUTPUTS}
