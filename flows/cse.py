"""Sentence-representation flows (papers 8, 9): `cse` reads the data, holds out pairs, trains an objective of the
unified paradigm with the FDI diagnostics, evaluates on STSBenchmark through the evaluation suite and records it in
MLflow; `compare_cse` scores the base model, reads every finished run of `cse_table.runs` and writes the acceptance
table to <cse_table.output>/table/ (the runs come first: `embedlab cse run --run NAME` each, or
`dvc repro pipelines/cse/dvc.yaml`)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from embedlab.config.request import SettingsRequest
from embedlab.tasks.cse.report import cse_table, read_runs, table_rows
from embedlab.tasks.cse.train import (check_objective, generated_file, hold_out, loss_options, plot_diagnostics,
                                      read_cse_data, read_eval_pairs, read_eval_sentences, run_dir, run_name,
                                      table_run, train_cse, write_outputs)
from embedlab.tasks.evaluate import load_model, read_eval_tasks, score_eval_tasks
from embedlab.tasks.results_table import TABLE_FOLDER, write_table
from embedlab.tasks.tracking import log_results, log_training, tracked_training


class CseRequest(SettingsRequest):
    """Flow parameters; `objective` and `data` default to params.yaml's `cse` section. `run` names an entry of
    `cse_table.runs` whose objective, options and paradigm replace the section's (output: its table folder)."""

    objective: str | None = None
    run: str | None = None
    data: str | None = None
    track: bool = True


class CompareCseRequest(SettingsRequest):
    """Flow parameters; everything else comes from params.yaml's `cse_table`, `cse` and `evaluate` sections."""


@flow(name="cse")
def cse(request: CseRequest) -> dict[str, Any]:
    """Train sentence embeddings in the SimCSE setting and score them. Returns the summary written to cse.json.

    Writes <cse.output>/<run name>/{model, checkpoints, summary.json, cse.json, metrics.json, diagnostics.png}
    (with `run`: <cse_table.output>/runs/<run>/...).
    """
    settings = request.resolve_settings({"cse.objective": request.objective, "cse.data": request.data})
    params = table_run(settings, request.run) if request.run else settings.params.cse
    check_objective(params)
    data = read_cse_data(params, settings.data_root, generated_file(settings))
    train_task, held_out = hold_out(data, params.diagnostics.holdout, params.diagnostics.max_pairs, params.seed)
    eval_pairs = read_eval_pairs(settings.data_root, params.diagnostics, params.seed)
    eval_sentences = read_eval_sentences(settings.data_root, params.diagnostics)
    name = run_name(params)
    out_dir = run_dir(settings, params, request.run)
    experiment = settings.params.tracking.experiment
    logged = {**params.model_dump(exclude={"profiles", "options", "paradigm"}), "loss_options": loss_options(params)}
    with tracked_training(settings.tracking_uri, experiment, settings.project_dir, f"cse {name}", logged, out_dir,
                          request.track) as (run_id, logger):
        summary = train_cse(train_task, held_out, eval_pairs, params, out_dir, logger, eval_sentences)
        if not summary["is_global_zero"]:
            return summary
        evaluate = settings.params.evaluate
        model = load_model(summary["model"], evaluate.device, evaluate.batch_size, evaluate.precision,
                           params.eval_max_seq_length)
        tasks = read_eval_tasks(params.evaluate, [], settings.data_root, "local")
        summary["scores"] = {s.name: s.main_score for s in score_eval_tasks(model, tasks, settings.cache_dir)}
        summary.update(objective=params.objective, data=params.data, loss_options=loss_options(params),
                       seed=params.seed, held_out_pairs=len(held_out), eval_pairs=len(eval_pairs))
        outputs = [*write_outputs(summary, out_dir),
                   plot_diagnostics(summary["diagnostics"], out_dir / "diagnostics.png", f"cse {name}")]
        if run_id:
            log_training(settings.tracking_uri, run_id, summary, [out_dir / "summary.json", *outputs])
            metrics = {**{f"cse/{key}": value for key, value in summary["fdi"].items()},
                       **{f"{task}/main_score": score for task, score in summary["scores"].items()}}
            log_results(settings.tracking_uri, run_id, metrics, {})
        return summary


@flow(name="compare_cse")
def compare_cse(request: CompareCseRequest = CompareCseRequest()) -> dict[str, Any]:
    """Returns {"rows": [...], "table": markdown, "outputs": {name: path}}."""
    settings = request.resolve_settings()
    params, evaluate = settings.params.cse, settings.params.evaluate
    runs = read_runs(settings)
    model = load_model(params.base, evaluate.device, evaluate.batch_size, evaluate.precision,
                       params.eval_max_seq_length)
    tasks = read_eval_tasks(params.evaluate, [], settings.data_root, "local")
    base = {s.name: s.main_score for s in score_eval_tasks(model, tasks, settings.cache_dir)}
    rows = table_rows(params.base, base, runs)
    record = params.model_dump(exclude={"profiles", "objective", "options", "paradigm"})
    table = cse_table(rows, record)
    outputs = write_table(table, settings.path(settings.params.cse_table.output) / TABLE_FOLDER)
    return {"rows": rows, "table": table.markdown(), "outputs": {name: str(path) for name, path in outputs.items()}}
