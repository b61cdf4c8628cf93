"""KB-Coder (paper 10): answer a question file (`kbqa_run`) or evaluate each prompt style on a GrailQA-format file
with EM / F1 / FER (`kbqa_evaluate`), written as one results table and an MLflow run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow

from embedlab.atomic import atomic_write_text
from embedlab.config.request import SettingsRequest
from embedlab.tasks.kbqa.evaluate import evaluate_style, kbqa_table, summary_row
from embedlab.tasks.kbqa.run import ask, demo_pool, load_pool, make_kit, make_llm
from embedlab.tasks.results_table import write_table
from embedlab.tasks.tracking import log_run

NOTES = ("Demos come from the question file itself, leave-one-out, unless kbqa.demo_pool names a pool. Entities "
         "are linked through a surface-name map built from the same GrailQA file (oracle-like). Relation direction "
         "comes from the ontology's domain/range instead of the paper's Freebase check.")


class KbqaRequest(SettingsRequest):
    """Flow parameters; the rest comes from params.yaml's `kbqa` section."""

    questions: str | None = None
    dataset: str = "grailqa-sample"
    style: str = "code"
    output: str | None = None
    track: bool = True


def _setup(request: KbqaRequest):
    settings = request.resolve_settings()
    kbqa = settings.params.kbqa
    questions = Path(request.questions) if request.questions else settings.data_root / kbqa.questions
    return settings, questions


@flow(name="kbqa_run")
def kbqa_run(request: KbqaRequest = KbqaRequest()) -> dict[str, Any]:
    """Answers (voted S-expression, SPARQL, answers) for every question of a GrailQA-format file, as JSON lines."""
    settings, questions = _setup(request)
    examples, pool = load_pool(settings, questions)
    kit, llm = make_kit(settings), make_llm(settings.params.kbqa.llm, settings.cache_dir)
    trees = demo_pool(kit, pool)
    lines = []
    for example in examples:
        result = ask(kit, llm, request.style, example.question, [(e, t) for e, t in trees if e.qid != example.qid])
        lines.append(json.dumps({"qid": example.qid, **result.as_dict()}, ensure_ascii=False) + "\n")
    out = settings.path(request.output or Path(settings.params.kbqa.output) / f"run-{request.dataset}.jsonl")
    atomic_write_text(out, "".join(lines))
    return {"output": str(out), "questions": len(lines)}


@flow(name="kbqa_evaluate")
def kbqa_evaluate(request: KbqaRequest = KbqaRequest()) -> dict[str, Any]:
    """Returns {"rows": {style: summary}, "table": markdown, "outputs": {name: path}}."""
    settings, questions = _setup(request)
    kbqa = settings.params.kbqa
    examples, pool = load_pool(settings, questions)
    examples = examples[: kbqa.sample] if kbqa.sample else examples
    kit, llm = make_kit(settings), make_llm(kbqa.llm, settings.cache_dir)
    rows, records = {}, []
    for style in kbqa.styles:
        found = evaluate_style(kit, llm, style, examples, pool)
        rows[style] = summary_row(found)
        records += found
    table = kbqa_table(rows, kbqa.llm.model, request.dataset, NOTES)
    out = settings.path(request.output or Path(kbqa.output) / request.dataset)
    predictions = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
    outputs = write_table(table, out, {"predictions.jsonl": predictions})
    if request.track:
        metrics = {f"{style}.{key}": value for style, row in rows.items() for key, value in row.items()
                   if isinstance(value, (int, float))}
        params = {"dataset": request.dataset, "questions": str(questions), "llm": kbqa.llm.model, "n": kbqa.llm.n,
                  "temperature": kbqa.llm.temperature, "styles": ",".join(kbqa.styles), "demos": kbqa.demos,
                  "k": kbqa.k, "kb": kbqa.kb, "reference_relations": kbqa.reference_relations}
        log_run(settings.tracking_uri, "kbqa", settings.project_dir, f"kbqa-{request.dataset}", params, metrics,
                [outputs["report.md"]])
    return {"rows": rows, "table": table.markdown(),
            "outputs": {k: str(v) for k, v in outputs.items()}}
