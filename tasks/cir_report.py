"""The comparison table of composed-image-retrieval variants (paper 6): Recall@K and wall time per variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embedlab.atomic import atomic_write_text
from embedlab.errors import UserError
from embedlab.models.cir.retrieval import K_VALUES

COMPARISON = "comparison.md"
ORDER = ("1", "2", "both")


def read_variants(results_dir: Path) -> list[dict[str, Any]]:
    """Every `<results_dir>/<variant>/metrics.json` in the order stage 1, stage 2, both; UserError if none."""
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(results_dir.glob("*/metrics.json"))]
    if not runs:
        raise UserError(f"no trained variants under {results_dir} (run `embedlab train-cir --stage 1|2|both`)")
    return sorted(runs, key=lambda run: ORDER.index(run["variant"]) if run["variant"] in ORDER else len(ORDER))


def comparison_table(runs: list[dict[str, Any]]) -> str:
    """Markdown: a row per variant — steps per stage, samples, Recall@K in %, median rank, seconds."""
    head = ["variant", "stage-1 steps", "stage-2 steps", "samples", *(f"R@{k}" for k in K_VALUES), "median rank",
            "train s", "bank s", "train + bank s", "eval s"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for run in runs:
        s = run["scores"]
        cells = [run["label"], str(run["steps"].get("stage1", 0)), str(run["steps"].get("stage2", 0)),
                 str(run["samples"]), *(f"{100 * s[f'recall_at_{k}']:.1f}" for k in K_VALUES),
                 f"{s['median_rank']:.0f}", f"{run['train_seconds']:.0f}", f"{run['bank_seconds']:.0f}",
                 f"{run['train_seconds'] + run['bank_seconds']:.0f}", f"{run['eval_seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    first = runs[0]
    chance = ", ".join(f"R@{k} {100 * k / (first['gallery'] - 1):.1f}" for k in K_VALUES)
    return (f"Triplets `{first['triplets']}` ({first['format']}): {first['train_triplets']} training and "
            f"{first['test_triplets']} held-out triplets (split by reference image), gallery of {first['gallery']} "
            f"images with each query's reference left out. Recall in %; chance: {chance}. Every variant trains the "
            f"same number of steps of {first['batch_size']} triplets; bank s = building stage 2's static bank (0 where it "
            "was read from the cache: the same image tower's bank of an earlier run).\n\n"
            + "\n".join(lines) + "\n")


def write_comparison(results_dir: Path) -> Path:
    """Write `<results_dir>/comparison.md` from every variant's metrics.json; returns its path."""
    path = results_dir / COMPARISON
    table = comparison_table(read_variants(results_dir))
    atomic_write_text(path, "# Composed image retrieval: training stages compared (SPN4CIR)\n\n" + table)
    return path
