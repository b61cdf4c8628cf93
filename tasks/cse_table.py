"""The acceptance table of `embedlab cse` (papers 8 and 9): a row for the base model, then one per run of
`cse_table.runs` (an objective with its own gradient or with the unified paradigm's components): each evaluation
task's main score (STSBenchmark: Spearman correlation of cosine similarities), its difference to the base, FDI
(A_train − A_eval and U_train − U_eval, averaged over the run), the training's wall seconds and steps.

Written as <cse_table.output>/report.md (markdown) and metrics.json (DVC metrics).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embedlab.atomic import atomic_write_text
from embedlab.config import Settings
from embedlab.errors import UserError
from embedlab.tasks.cse import COMPONENT_TAGS

REPORT, METRICS = "report.md", "metrics.json"


def read_runs(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each run's cse.json (under <cse_table.output>/runs/<name>), in the order of `cse_table.runs`; UserError
    naming the runs that have not finished and the commands that make them."""
    table = settings.params.cse_table
    if not table.runs:
        raise UserError("cse_table.runs is empty: no run to put in the table")
    folder = settings.path(table.output) / "runs"
    missing = [name for name in table.runs if not (folder / name / "cse.json").is_file()]
    if missing:
        raise UserError(f"no cse.json under {folder} for run(s) {', '.join(missing)}: "
                        "`embedlab cse --run NAME` each, or `dvc repro pipelines/cse/dvc.yaml`")
    return {name: json.loads((folder / name / "cse.json").read_text(encoding="utf-8")) for name in table.runs}


def components_label(loss_options: dict[str, Any]) -> str:
    """`own` or the paradigm components set, e.g. `m=0.3 t=0.05 r=1.5`; the objective's own options follow."""
    tags = [f"{tag}={loss_options[key]:g}" for key, tag in COMPONENT_TAGS.items() if key in loss_options]
    options = [f"{key}={value}" for key, value in loss_options.items() if key not in COMPONENT_TAGS]
    return " ".join(tags or ["own"]) + (f" ({', '.join(options)})" if options else "")


def table_rows(base_model: str, base_scores: dict[str, float], runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The base row (no training: no FDI, 0 steps), then a row per run with its scores' differences to the base."""
    rows = [{"name": "base", "objective": base_model, "components": "—", "scores": base_scores,
             "delta": None, "fdi_align": None, "fdi_uniform": None, "seconds": None, "steps": 0}]
    for name, run in runs.items():
        rows.append({"name": name, "objective": run["objective"], "components": components_label(run["loss_options"]),
                     "scores": run["scores"], "delta": {task: score - base_scores[task]
                                                        for task, score in run["scores"].items()},
                     "fdi_align": run["fdi"]["fdi_align"], "fdi_uniform": run["fdi"]["fdi_uniform"],
                     "seconds": run["seconds"], "steps": run["steps"]})
    return rows


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """| run | objective | components | <task> | Δ vs base | FDI align | FDI uniform | wall s | steps |; with several
    evaluation tasks, a score and a Δ column per task."""
    tasks = list(rows[0]["scores"])
    deltas = ["Δ vs base"] if len(tasks) == 1 else [f"Δ {task}" for task in tasks]
    head = ["run", "objective", "components", *tasks, *deltas, "FDI align", "FDI uniform", "wall s", "steps"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
    for row in rows:
        delta = row["delta"] or {}
        cells = [row["name"], row["objective"], row["components"], *(f"{row['scores'][task]:.4f}" for task in tasks),
                 *(_number(delta.get(task), "+.4f") for task in tasks), _number(row["fdi_align"], "+.4f"),
                 _number(row["fdi_uniform"], "+.4f"), _number(row["seconds"], ".0f"), str(row["steps"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_report(rows: list[dict[str, Any]], settings_record: dict[str, Any]) -> str:
    """The table, its legend, and the `cse` settings the runs were made with."""
    return "\n".join([
        "# Sentence representation learning: objectives with and without the unified paradigm's components", "",
        "Papers: Li et al. 2024, unified gradient paradigm (arXiv 2402.18281); Li et al. 2024, NGCSE / FDI "
        "(arXiv 2309.06453). Scores: each evaluation task's main score (STSBenchmark: Spearman of cosine "
        "similarities, test split). Components: `own` = the objective's own gradient; m = gradient-dissipation "
        "margin, t = softmax temperature of the negatives' weights (p: their power), r = ratio of the positive "
        "pull. FDI = mean over the run's measurements of A_train − A_eval and U_train − U_eval (held-out training "
        "pairs vs STS-B pairs scoring ≥ 4). Wall s: the training's wall seconds (diagnostics included, "
        "evaluation not).", "",
        markdown_table(rows), "Settings (the `cse` section):", "", "```json",
        json.dumps(settings_record, indent=2, default=str), "```", ""])


def metrics(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """DVC metrics: per row, its scores and, for runs, Δ per task, FDI, wall seconds and steps."""
    result = {}
    for row in rows:
        numbers = dict(row["scores"])
        if row["delta"] is not None:
            numbers.update({f"delta_{task}": value for task, value in row["delta"].items()},
                           fdi_align=row["fdi_align"], fdi_uniform=row["fdi_uniform"], seconds=row["seconds"],
                           steps=row["steps"])
        result[row["name"]] = numbers
    return result


def write_table(output: Path, rows: list[dict[str, Any]], settings_record: dict[str, Any]) -> list[Path]:
    """<output>/report.md and <output>/metrics.json; returns their paths."""
    paths = [output / REPORT, output / METRICS]
    atomic_write_text(paths[0], markdown_report(rows, settings_record))
    atomic_write_text(paths[1], json.dumps(metrics(rows), indent=2) + "\n")
    return paths
