"""The comparison table of cross-modal runs: recall per language, mean recall, MRV and wall time per objective."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embedlab.atomic import atomic_write_text
from embedlab.errors import UserError

COMPARISON = "comparison.md"


def read_runs(results_dir: Path) -> list[dict[str, Any]]:
    """Every `<results_dir>/<objective>/metrics.json`, in name order; UserError where there is none."""
    files = sorted(results_dir.glob("*/metrics.json"))
    if not files:
        raise UserError(f"no trained runs under {results_dir} (run `embedlab train-crossmodal --objective NAME`)")
    return [json.loads(path.read_text(encoding="utf-8")) for path in files]


def comparison_table(runs: list[dict[str, Any]]) -> str:
    """Markdown: a summary row per run (mean recall per language in %, MRV, seconds), then R@1/5/10 per direction."""
    languages = runs[0]["languages"]
    head = ["objective", "steps", *(f"mR {lang}" for lang in languages), "mean recall", "MRV i2t", "MRV t2i", "MRV",
            "train s", "eval s"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for run in runs:
        s = run["scores"]
        cells = [run["objective"], str(run["steps"]), *(f"{100 * s[f'{lang}.mean_recall']:.2f}" for lang in languages),
                 f"{100 * s['mean_recall']:.2f}", f"{s['mrv_i2t']:.2f}", f"{s['mrv_t2i']:.2f}", f"{s['mrv']:.2f}",
                 f"{run['train_seconds']:.0f}", f"{s['seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    detail = ["| objective | direction | " + " | ".join(f"{lang} R@1/5/10" for lang in languages) + " |",
              "|---|---|" + "---|" * len(languages)]
    for run in runs:
        for direction in ("i2t", "t2i"):
            cells = ["/".join(f"{100 * run['scores'][f'{direction}.{lang}.recall_at_{k}']:.1f}" for k in (1, 5, 10))
                     for lang in languages]
            detail.append(f"| {run['objective']} | {direction} | " + " | ".join(cells) + " |")
    first = runs[0]
    return (f"Split `{first['split']}` of dataset version `{first['dataset_version']}`: {first['images']} images, "
            f"captions in {', '.join(languages)}. Recall in %; mR = mean of R@1/5/10 over both directions; MRV = "
            "mean over images of the variance across languages of the correct item's rank (lower is better).\n\n"
            + "\n".join(lines) + "\n\n" + "\n".join(detail) + "\n")


def write_comparison(results_dir: Path) -> Path:
    """Write `<results_dir>/comparison.md` from every run's metrics.json; returns its path."""
    path = results_dir / COMPARISON
    table = comparison_table(read_runs(results_dir))
    atomic_write_text(path, "# Cross-modal retrieval: objectives compared\n\n" + table)
    return path
