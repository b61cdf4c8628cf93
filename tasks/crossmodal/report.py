"""Cross-modal runs' outputs: each run's metrics.json, and their results table (recall per language, mean
recall, MRV and wall time per objective; R@1/5/10 per direction and language after it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_write_text
from embedlab.errors import UserError
from embedlab.tasks.results_table import ResultsTable, mean_over_seeds, run_metric_files

RUN_METRICS = "metrics.json"


@task(cache_policy=NO_CACHE)
def write_run_metrics(out_dir: Path, result: dict[str, Any]) -> Path:
    """`<out_dir>/metrics.json`: one trained objective's scores and what they were made with; returns its path."""
    path = out_dir / RUN_METRICS
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path


def read_runs(results_dir: Path) -> list[dict[str, Any]]:
    """Every objective's metrics.json under `results_dir` (`run_metric_files`: the default runs and those of
    further seeds in `seed-<s>/`), in path order; UserError where there is none."""
    files = run_metric_files(results_dir, RUN_METRICS)
    if not files:
        raise UserError(f"no trained runs under {results_dir} (run `embedlab crossmodal train --objective NAME`)")
    return [json.loads(path.read_text(encoding="utf-8")) for path in files]


def detail_table(runs: list[dict[str, Any]]) -> str:
    """Markdown: R@1/5/10 in % per objective, direction and language; each run named with its seed where the runs
    have several."""
    languages = runs[0]["languages"]
    rows = [{"direction": direction, **{f"{lang} R@1/5/10": "/".join(
        f"{100 * run['scores'][f'{direction}.{lang}.recall_at_{k}']:.1f}" for k in (1, 5, 10)) for lang in languages}}
        for run in runs for direction in ("i2t", "t2i")]
    several_seeds = len({run.get("seed") for run in runs}) > 1
    names = [f"{run['objective']} (seed {run.get('seed')})" if several_seeds else run["objective"] for run in runs]
    index = pd.Index([name for name in names for _ in ("i2t", "t2i")], name="objective")
    return ResultsTable(pd.DataFrame(rows, index=index), "", "").markdown()


def crossmodal_table(runs: list[dict[str, Any]]) -> ResultsTable:
    """| objective | steps | mR <lang>... | mean recall | MRV i2t | MRV t2i | MRV | train s | eval s | (recall in %,
    mR = mean of R@1/5/10 over both directions); charted: the mean recall. Runs of several seeds (`seed-<s>/`
    folders): each value's mean over the seeds, the mean recall and MRV each with its standard deviation, and the
    number of seeds (`mean_over_seeds`); the per-direction detail then lists every run."""
    languages = runs[0]["languages"]
    recalls = [f"{lang}.mean_recall" for lang in languages] + ["mean_recall"]
    frame = pd.DataFrame([{"steps": run["steps"], **{key: run["scores"][key] for key in recalls},
                           **{key: run["scores"][key] for key in ("mrv_i2t", "mrv_t2i", "mrv")},
                           "train_seconds": run["train_seconds"], "eval_seconds": run["scores"]["seconds"]}
                          for run in runs], index=pd.Index([run["objective"] for run in runs], name="objective"))
    formats = {**dict.fromkeys(recalls, ".2%"), **dict.fromkeys(("mrv_i2t", "mrv_t2i", "mrv"), ".2f"),
               "steps": ".0f", "train_seconds": ".0f", "eval_seconds": ".0f"}
    seeds = [run.get("seed") for run in runs]
    frame, std_formats, std_headers = mean_over_seeds(frame, ["mean_recall", "mrv"], seeds, formats)
    over_seeds = (f" Mean over the training seeds {sorted(set(seeds), key=str)}, the mean recall and MRV each "
                  "followed by its sample standard deviation (n − 1)." if "seeds" in frame else "")
    first = runs[0]
    return ResultsTable(
        frame, "Cross-modal retrieval: objectives compared", "mean_recall",
        formats={**formats, **std_formats},
        headers={**{f"{lang}.mean_recall": f"mR {lang}" for lang in languages}, "mean_recall": "mean recall",
                 "mrv_i2t": "MRV i2t", "mrv_t2i": "MRV t2i", "mrv": "MRV", "train_seconds": "train s",
                 "eval_seconds": "eval s", **std_headers},
        intro=f"Split `{first['split']}` of dataset version `{first['dataset_version']}`: {first['images']} images, "
              f"captions in {', '.join(languages)}. mR = mean of R@1/5/10 over both directions; MRV = mean over "
              f"images of the variance across languages of the correct item's rank (lower is better).{over_seeds}",
        notes="Recall in % per direction (every run):\n\n" + detail_table(runs))
