"""Tiny projects for the merging and comparison tests: perturbed copies of the tiny model as "trained" models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def perturbed_copy(model: Path, folder: Path, seed: int) -> Path:
    """A copy of `model` whose weights moved a little, as fine-tuning moves them."""
    shutil.copytree(model, folder)
    generator = torch.Generator().manual_seed(seed)
    weights = load_file(folder / "model.safetensors")
    save_file({key: w + 0.02 * torch.randn(w.shape, generator=generator) if w.is_floating_point() else w
               for key, w in weights.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def write_tiny_project(root: Path, tiny_model: Path, small: Path, **sections) -> Path:
    """A project whose params.yaml trains `sts` and `pairs` on the small task files, from the tiny model, with
    per-task models (perturbed copies) already under results/train/<task>/model; `sections` are added to
    params.yaml."""
    params = {
        "train": {"base": str(tiny_model), "batch_size": 2, "max_steps": 2, "max_seq_length": 32,
                  "accelerator": "cpu", "tasks": {
                      "sts": {"format": "scored_pairs", "loss": "cosent", "files": {"train": {
                          "path": str(small / "sts.tsv"), "header": False,
                          "columns": {"sentence1": 0, "sentence2": 1, "score": 2}}}},
                      "pairs": {"format": "pairs", "loss": "mnrl", "files": {"train": {
                          "path": str(small / "pairs.csv"), "columns": {"anchor": "s1", "positive": "s2"}}}}}},
        "merge": {"methods": {"self_positioning": {"steps": 3, "probe_size": 4, "batch_size": 2, "lr": 0.1},
                              "average": {}}},
    }
    (root / "params.yaml").write_text(json.dumps({**params, **sections}))  # JSON is YAML
    for seed, task in enumerate(("sts", "pairs"), start=1):
        folder = root / "results" / "train" / task
        folder.mkdir(parents=True)
        perturbed_copy(tiny_model, folder / "model", seed)
        (folder / "summary.json").write_text(json.dumps({"steps": 2, "batch_size": 2, "seconds": 1.5 * seed}))
    return root
