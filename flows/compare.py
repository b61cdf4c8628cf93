"""The comparison flow: score every variant (base, per-task models, joint trainings, merges) on the evaluation
suite, write one table with the compute each cost, record a parent MLflow run with a child per variant.

The variants are produced beforehand: `dvc repro` runs the chain prepare → train (per task) → train_joint →
merge → compare; by hand, `embedlab train` and `embedlab merge --trained` (see the README). Several
`compare.seeds` compare every variant per seed (mean ± std): `dvc repro pipelines/seeds/dvc.yaml` trains each seed
into `<compare.seed_output>/seed-<s>/` and ends with this flow.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger

from embedlab.config.request import SettingsRequest
from embedlab.tasks.compare.report import comparison_row, comparison_seeds_table, comparison_table, results_json
from embedlab.tasks.compare.variants import compare_specs, list_variants, load_variant, read_compare_tasks, seed_folders
from embedlab.tasks.evaluate import score_eval_tasks
from embedlab.tasks.results_table import write_table
from embedlab.tasks.tracking import log_comparison


class CompareRequest(SettingsRequest):
    """Flow parameters; everything else comes from params.yaml's `compare` (and `train`, `evaluate`) sections."""

    output: str | None = None
    track: bool = True


def settings_record(settings: Any) -> dict[str, Any]:
    """What the table was made with: the compare section, the training and merge settings, the evaluation device."""
    train, compare = settings.params.train, settings.params.compare
    seeds = {} if len(compare.seeds) > 1 else {"seeds", "seed_output"}  # one seed: the record of before
    return {"compare": compare.model_dump(exclude={"profiles", *seeds}),
            "train": train.model_dump(exclude={"profiles", "tasks"}),
            "train_tasks": {name: spec.model_dump(exclude={"files", "description"}, exclude_defaults=True)
                            for name, spec in train.tasks.items()},
            "merge": {method: settings.params.merge.methods.get(method, {}) for method in compare.merges},
            "evaluate": settings.params.evaluate.model_dump(include={"batch_size", "device", "precision"})}


@flow(name="compare")
def compare(request: CompareRequest = CompareRequest()) -> dict[str, Any]:
    """Score every variant on the suite, once per seed of `compare.seeds` where there are several (each seed's
    models from its own folders); returns {"rows": [...], "table": markdown, "outputs": {name: path}}, every row
    of a several-seed comparison carrying its `seed`."""
    settings = request.resolve_settings()
    evaluate, compare_params = settings.params.evaluate, settings.params.compare
    several = len(compare_params.seeds) > 1
    variants = list_variants(settings.params.train, compare_params, seed_folders(settings), settings.project_dir)
    suite = read_compare_tasks(*compare_specs(settings))
    rows = []
    for seed, seed_variants in variants.items():
        for variant in seed_variants:
            start = time.perf_counter()
            model = load_variant(variant, evaluate.device, evaluate.batch_size, evaluate.precision,
                                 compare_params.max_seq_length)
            scores = score_eval_tasks(model, suite, settings.cache_dir)
            rows.append(comparison_row(variant, scores, time.perf_counter() - start)
                        | ({"seed": seed} if several else {}))
            get_run_logger().info(f"{variant.name}{f' (seed {seed})' if several else ''}: "
                                  + "  ".join(f"{s.name}={s.main_score:.4f}" for s in scores))
    record = settings_record(settings)
    table = (comparison_seeds_table if several else comparison_table)(rows, record)
    outputs = write_table(table, settings.path(request.output or compare_params.output),
                          {"results.json": results_json(rows, record)})
    if request.track:
        tracking = settings.params.tracking
        logged = [row | {"name": f"{row['name']}-seed{row['seed']}"} for row in rows] if several else rows
        log_comparison(settings.tracking_uri, tracking.experiment, settings.project_dir, logged, record, outputs)
    return {"rows": rows, "table": table.markdown(), "outputs": {name: str(path) for name, path in outputs.items()}}
