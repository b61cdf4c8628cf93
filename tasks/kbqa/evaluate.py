"""Evaluation of KB-Coder (paper 10) on a GrailQA-format file: each prompt style over the questions (leave-one-out
demos when the pool is the question file itself), EM by graph isomorphism, answer F1 (with a KB), the format error
rate, per level; relation-linking recall over the ontology; the surface-name map built from a GrailQA file."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_write_text
from embedlab.cache_store import load_json, save_json
from embedlab.models.intervals import wilson
from embedlab.models.kbqa.grailqa import Example, surface_map
from embedlab.models.kbqa.metrics import Grapher, answer_f1, same_logical_form
from embedlab.models.kbqa.ontology import read_json
from embedlab.tasks.kbqa.run import Kit, Llm, ask, demo_pool
from embedlab.tasks.results_table import ResultsTable

LEVELS = ("i.i.d.", "compositional", "zero-shot")


@task(cache_policy=NO_CACHE)
def evaluate_style(kit: Kit, llm: Llm, style: str, examples: list[Example], pool: list[Example]) -> list[dict]:
    """One record per question; each answer is stored once made (`<cache_dir>/kbqa_predictions`, keyed by what it
    depends on: the LLM's identity, style, question, demo pool and the kbqa settings), so an interrupted
    evaluation resumes. Leave-one-out: a question is never its own demo. `seconds` is the time of an answer
    whose replies were generated then (null when they all came from the response cache)."""
    grapher = Grapher(kit.ontology)
    trees = demo_pool(kit, pool)
    kbqa = kit.settings.params.kbqa
    records = []
    for example in examples:
        own_pool = [(e, t) for e, t in trees if e.qid != example.qid]
        payload = {"llm": llm.identity, "style": style, "question": example.question,  # type: ignore[attr-defined]
                   "pool": [e.qid for e, _ in own_pool],
                   "kbqa": kbqa.model_dump(exclude={"sample", "output", "styles", "llm"})}
        key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        entry = kit.settings.cache_dir / "kbqa_predictions" / key[:2] / f"{key}.entry"
        stored = load_json(entry)
        if stored is None:
            started, calls = time.perf_counter(), llm.usage.calls  # type: ignore[attr-defined]
            stored = ask(kit, llm, style, example.question, own_pool).as_dict()
            generated = llm.usage.calls > calls  # type: ignore[attr-defined]
            stored["seconds"] = time.perf_counter() - started if generated else None
            save_json(entry, stored)
        voted = stored["voted"] or {}
        attempts = stored["attempts"]
        records.append({
            "style": style, "qid": example.qid, "level": example.level, "question": example.question,
            "gold": example.s_expression, "predicted": voted.get("s_expression"),
            "em": same_logical_form(grapher, voted.get("s_expression"), example.s_expression),
            "f1": answer_f1(set(voted.get("answers", [])), set(example.answers)) if kit.store else None,
            "all_bad": all(a["format_error"] for a in attempts), "first_bad": bool(attempts[0]["format_error"]),
            "format_errors": stored["format_errors"], "samples": len(attempts),
            "errors": [a["format_error"] for a in attempts if a["format_error"]], "attempts": attempts,
            "seconds": stored.get("seconds")})
    return records


def summary_row(records: list[dict]) -> dict[str, Any]:
    """EM and FER (all n samples bad) with their 95 % Wilson intervals over the questions, F1, FER of the first
    completion, the share of bad samples, EM per level, and the mean seconds per question (prompt, n samples,
    interpretation, linking; over the answers timed when made, null when all came from an untimed cache)."""
    n = len(records)
    em = sum(r["em"] for r in records)
    low, high = wilson(em, n)
    f1 = [r["f1"] for r in records if r["f1"] is not None]
    bad = sum(r["all_bad"] for r in records)
    bad_low, bad_high = wilson(bad, n)
    row: dict[str, Any] = {"n": n, "EM": em / max(n, 1), "EM 95% low": low, "EM 95% high": high,
                           "F1": sum(f1) / len(f1) if f1 else None,
                           "FER": bad / max(n, 1), "FER 95% low": bad_low, "FER 95% high": bad_high,
                           "FER (first)": sum(r["first_bad"] for r in records) / max(n, 1),
                           "bad samples": sum(r["format_errors"] for r in records) / max(sum(r["samples"] for r in records), 1)}
    for level in LEVELS:
        chosen = [r for r in records if r["level"] == level]
        row[f"EM {level}"] = sum(r["em"] for r in chosen) / len(chosen) if chosen else None
    seconds = [r["seconds"] for r in records if r.get("seconds") is not None]
    row["s/question"] = sum(seconds) / len(seconds) if seconds else None
    return row


def kbqa_table(rows: dict[str, dict[str, Any]], llm: str, dataset: str, notes: str) -> ResultsTable:
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "prompt style"
    percent = {c: ".1%" for c in frame.columns if c.startswith(("EM", "FER", "bad"))}
    return ResultsTable(frame, f"KB-Coder on {dataset}", "EM", formats=percent | {"F1": ".1%", "s/question": ".1f"},
                        bold_max=["EM"], chart=["EM", "FER"],
                        intro=f"LLM: `{llm}`. EM by logical-form graph isomorphism (GrailQA); FER = questions whose "
                              "samples are all format errors.", notes=notes)


def linking_recall(kit: Kit, questions: Path, ks: tuple[int, ...] = (1, 10, 100)) -> dict[str, float]:
    """Recall@k of each gold relation over the ontology's relations, the gold edge's friendly name as mention."""
    pairs = [(edge["friendly_name"], edge["relation"]) for item in read_json(questions)
             for edge in (item.get("graph_query") or {}).get("edges", [])]
    found = kit.linker.relation_index.search([mention for mention, _ in pairs], max(ks))
    out = {f"recall@{k}": sum(gold in row[:k] for (_, gold), row in zip(pairs, found)) / len(pairs) for k in ks}
    return {"mentions": len(pairs), **out}


def write_surface_map(examples: list[Example], path: Path) -> int:
    """The surface-name map of `examples` (grailqa.surface_map) as TSV, written atomically; returns its rows."""
    rows = surface_map(examples)
    atomic_write_text(path, "# name\tmid\tclasses (built from GrailQA graph_query and answer names: oracle-like)\n"
                      + "".join("\t".join(row) + "\n" for row in rows))
    return len(rows)
