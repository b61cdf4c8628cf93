"""The acceptance table of `embedlab cse` (papers 8 and 9): a row for the base model, then one per run of
`cse_table.runs` (an objective with its own gradient or with the unified paradigm's components): each evaluation
task's main score (STSBenchmark: Spearman correlation of cosine similarities), its difference to the base, FDI
(A_train − A_eval and U_train − U_eval, averaged over the run), the training's wall seconds and steps.

Written as the results table of <cse_table.output>/table/ (tasks/results_table.py), beside the runs' folders.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from embedlab.config import Settings
from embedlab.errors import UserError
from embedlab.tasks.cse.train import COMPONENT_TAGS
from embedlab.tasks.results_table import SEED_FOLDER, ResultsTable, mean_over_seeds


def read_runs(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """(name, cse.json) of each run of `cse_table.runs` under <cse_table.output>/runs/<name>, in that order, then
    the same runs of each further seed under <cse_table.output>/seed-<s>/runs/<name> (trained with `-S cse.seed=<s>
    -S cse_table.output=<cse_table.output>/seed-<s>`); UserError naming the runs of a folder that have not finished
    and the commands that make them."""
    table = settings.params.cse_table
    if not table.runs:
        raise UserError("cse_table.runs is empty: no run to put in the table")
    output = settings.path(table.output)
    runs = []
    for folder in [output / "runs", *sorted(output.glob(f"{SEED_FOLDER}*/runs"))]:
        missing = [name for name in table.runs if not (folder / name / "cse.json").is_file()]
        if missing:
            raise UserError(f"no cse.json under {folder} for run(s) {', '.join(missing)}: "
                            "`embedlab cse run --run NAME` each, or `dvc repro pipelines/cse/dvc.yaml`")
        runs += [(name, json.loads((folder / name / "cse.json").read_text(encoding="utf-8"))) for name in table.runs]
    return runs


def components_label(loss_options: dict[str, Any]) -> str:
    """`own` or the paradigm components set, e.g. `m=0.3 t=0.05 r=1.5`; the objective's own options follow."""
    tags = [f"{tag}={loss_options[key]:g}" for key, tag in COMPONENT_TAGS.items() if key in loss_options]
    options = [f"{key}={value}" for key, value in loss_options.items() if key not in COMPONENT_TAGS]
    return " ".join(tags or ["own"]) + (f" ({', '.join(options)})" if options else "")


def table_rows(base_model: str, base_scores: dict[str, float],
               runs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The base row (no training: no FDI, 0 steps), then a row per run (per seed, with its `seed`) with its scores'
    differences to the base."""
    rows = [{"name": "base", "objective": base_model, "components": "—", "scores": base_scores,
             "delta": None, "fdi_align": None, "fdi_uniform": None, "seconds": None, "steps": 0, "seed": None}]
    for name, run in runs:
        rows.append({"name": name, "objective": run["objective"], "components": components_label(run["loss_options"]),
                     "scores": run["scores"], "delta": {task: score - base_scores[task]
                                                        for task, score in run["scores"].items()},
                     "fdi_align": run["fdi"]["fdi_align"], "fdi_uniform": run["fdi"]["fdi_uniform"],
                     "seconds": run["seconds"], "steps": run["steps"], "seed": run.get("seed")})
    return rows


def cse_table(rows: list[dict[str, Any]], settings_record: dict[str, Any]) -> ResultsTable:
    """| run | objective | components | <task> | Δ vs base | FDI align | FDI uniform | wall s | steps |; with several
    evaluation tasks, a score and a Δ column per task (`delta_<task>` in the metrics). The legend comes before the
    table, the `cse` settings after it; charted: the first task's score."""
    tasks = list(rows[0]["scores"])
    frame = pd.DataFrame([{"objective": row["objective"], "components": row["components"], **row["scores"],
                           **{f"delta_{task}": (row["delta"] or {}).get(task) for task in tasks},
                           "fdi_align": row["fdi_align"], "fdi_uniform": row["fdi_uniform"], "seconds": row["seconds"],
                           "steps": row["steps"]} for row in rows], index=pd.Index([row["name"] for row in rows], name="run"))
    frame = frame.astype({f"delta_{task}": "float64" for task in tasks} | {"fdi_align": "float64",
                                                                          "fdi_uniform": "float64", "seconds": "float64"})
    deltas = {f"delta_{task}": "Δ vs base" if len(tasks) == 1 else f"Δ {task}" for task in tasks}
    signed = dict.fromkeys([*deltas, "fdi_align", "fdi_uniform"], "+.4f")
    formats = {**signed, "seconds": ".0f", "steps": ".0f"}
    seeds = [row["seed"] for row in rows]
    frame, std_formats, std_headers = mean_over_seeds(frame, [*tasks, "fdi_align", "fdi_uniform"], seeds, formats)
    over_seeds = (f" Mean over the training seeds {sorted({s for s in seeds if s is not None}, key=str)}, each "
                  "score and FDI followed by its sample standard deviation (n − 1)." if "seeds" in frame else "")
    return ResultsTable(
        frame, "Sentence representation learning: objectives with and without the unified paradigm's components",
        tasks[0], formats={**formats, **std_formats},
        headers={**deltas, "fdi_align": "FDI align", "fdi_uniform": "FDI uniform", "seconds": "wall s",
                 **std_headers},
        intro="Papers: Li et al. 2024, unified gradient paradigm (arXiv 2402.18281); Li et al. 2024, NGCSE / FDI "
              "(arXiv 2309.06453). Scores: each evaluation task's main score (STSBenchmark: Spearman of cosine "
              "similarities, test split). Components: `own` = the objective's own gradient; m = gradient-dissipation "
              "margin, t = softmax temperature of the negatives' weights (p: their power), r = ratio of the positive "
              "pull. FDI = mean over the run's measurements of A_train − A_eval and U_train − U_eval (held-out "
              "training pairs vs STS-B pairs scoring ≥ 4). Wall s: the training's wall seconds (diagnostics "
              f"included, evaluation not).{over_seeds}",
        notes="Settings (the `cse` section):\n\n```json\n" + json.dumps(settings_record, indent=2, default=str)
              + "\n```")
