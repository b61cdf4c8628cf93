"""EasyRAG (paper 2) flows, one per command: index a corpus, answer questions (ask / run), evaluate retrieval
and reranking on BEIR-format data (with the early-exit table, the dense and fused routes where the dense route is
on, and SciFact claim verification with the LLM), train the layer-wise reranker. Each records one MLflow run with
per-stage metrics and seconds (unless `track` is off)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import Field

from embedlab.config.request import SettingsRequest
from embedlab.models.rag.keywords import keyword_score
from embedlab.tasks.rag.claims import MODES, claim_prompt_key, claims_table, evaluate_claims, read_claim_items
from embedlab.tasks.rag.evaluate import (documents_of, load_beir, measure_early_exit, metrics, rerank_run, run_bm25,
                                         run_dense, run_fused, sample_queries, train_layerwise_reranker)
from embedlab.tasks.rag.run import (answer_question, build, build_index, dense_encoder, exit_options, make_chat,
                                    open_index, open_reranker, read_prompt, route_settings, tokenizer_of)
from embedlab.tasks.results_table import ResultsTable, write_table
from embedlab.tasks.tracking import log_run


class RagRequest(SettingsRequest):
    """Flow parameters; everything else comes from params.yaml's `rag` section."""

    corpus: str | None = None
    index: str | None = None
    questions: list[dict[str, Any]] = Field(default_factory=list)
    output: str | None = None
    generate: bool = True
    rerank: bool = True
    early_exit_table: bool = False
    claims: bool = False
    track: bool = True


def _track(settings, request: RagRequest, name: str, params: dict, metrics_: dict, artifacts: list[Path]) -> None:
    if request.track:
        log_run(settings.tracking_uri, "rag", settings.project_dir, name, params, metrics_, artifacts)


@flow(name="rag_index")
def rag_index(request: RagRequest) -> dict[str, Any]:
    settings = request.resolve_settings()
    out = settings.path(request.index or settings.params.rag.index)
    summary = build_index(settings.params.rag, tokenizer_of(settings), Path(request.corpus), out,
                          dense_encoder(settings))
    _track(settings, request, "rag-index", {"corpus": request.corpus, "tokenizer": settings.params.rag.tokenizer,
                                            "chunk_size": settings.params.rag.chunk_size,
                                            "dense": settings.params.rag.dense.model_dump_json()},
           {"chunks": summary["chunks"], "documents": summary["documents"], "seconds.index": summary["seconds"]}, [])
    return summary


@flow(name="rag_run")
def rag_run(request: RagRequest) -> dict[str, Any]:
    """Answer every question of the request: records with the answer, six passages and per-stage seconds."""
    settings = request.resolve_settings()
    index = open_index(settings, settings.path(request.index or settings.params.rag.index))
    reranker = open_reranker(settings)
    chat = make_chat(settings) if request.generate else None
    qa = read_prompt(settings, "prompt", ("context_str", "query_str"))
    merge = read_prompt(settings, "merge_prompt", ("context_str", "query_str", "answer_str"))
    records = [answer_question(settings.params.rag, index, reranker, chat, q, qa, merge) for q in request.questions]
    stages = sorted({s for r in records for s in r["seconds"]})
    summary = {f"seconds.{s}": sum(r["seconds"].get(s, 0.0) for r in records) / len(records) for s in stages}
    scored = [r for r, q in zip(records, request.questions, strict=True) if q.get("keywords")]
    if chat is not None and scored:
        keywords = [q["keywords"] for q in request.questions if q.get("keywords")]
        summary["keyword_score"] = keyword_score([r["answer"] for r in scored], keywords)
    outputs: list[Path] = []
    if request.output:
        out = settings.path(request.output)
        table = ResultsTable(frame=_frame([{"stage": s, "seconds": summary[f"seconds.{s}"]} for s in stages], "stage"),
                             title="EasyRAG: mean seconds per question and stage", main_metric="seconds")
        files = write_table(table, out, {"answers.jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                                  for r in records)})
        outputs = [files["report.md"]]
    _track(settings, request, "rag-run", {"questions": len(records), "fusion": settings.params.rag.fusion,
                                          "refine": settings.params.rag.refine,
                                          "llm": settings.params.rag.llm.model}, summary, outputs)
    return {"records": records, "summary": summary}


def _frame(rows: list[dict[str, Any]], key: str):
    """Rows as a DataFrame indexed (and named) by their `key` column."""
    import pandas as pd

    return pd.DataFrame(rows).set_index(key)


@flow(name="rag_evaluate")
def rag_evaluate(request: RagRequest) -> dict[str, Any]:
    """BM25 route 1 on BEIR data (and the dense and fused routes where rag.dense is on); with a reranker, the
    reranked metrics and (asked) the early-exit table; asked, SciFact claim verification (`<output>/claims/`)."""
    settings = request.resolve_settings()
    rag, ev = settings.params.rag, settings.params.rag.evaluate
    data = load_beir(settings.data_root / ev.corpus, settings.data_root / ev.queries, settings.data_root / ev.qrels)
    start = time.perf_counter()
    index = open_index(settings, settings.path(request.index)) if request.index else \
        build(settings.params.rag, tokenizer_of(settings), settings.data_root / ev.corpus, dense_encoder(settings))
    seconds_index = time.perf_counter() - start
    qids = sample_queries(data, ev.sample, ev.seed)
    queries = [data["queries"][q] for q in qids]
    relevance = [data["qrels"][q] for q in qids]
    run = run_bm25(index, queries, ev.depth)
    rows = [{"method": f"BM25 route 1 ({rag.bm25.method})", **metrics(documents_of(index, run["chunks"]), relevance),
             "seconds": run["seconds"]}]
    if rag.dense.enabled:
        dense = run_dense(index, queries, ev.depth)
        fused = run_fused(index, queries, route_settings(rag))
        rows += [{"method": f"dense route ({rag.dense.model})", **metrics(dense["documents"], relevance),
                  "seconds": dense["seconds"]},
                 {"method": f"routes fused ({rag.fusion}: BM25 1 + 2 + dense)",
                  **metrics(fused["documents"], relevance), "seconds": fused["seconds"]}]
    found: dict[str, Any] = {"queries": len(qids), "seconds.index": seconds_index}
    exit_rows = []
    reranker = None
    if request.rerank:
        reranker = open_reranker(settings)
        options = exit_options(settings.params.rag)
        reranked = rerank_run(reranker, index, queries, run["chunks"], ev.rerank_depth, options)
        name = "+ layer-wise rerank" + (" (early exit)" if "rule" in options else "")
        rows.append({"method": f"BM25 top {ev.rerank_depth} {name}",
                     **metrics(documents_of(index, reranked["chunks"]), relevance), "seconds": reranked["seconds"]})
        if request.early_exit_table:
            exit_rows = measure_early_exit(reranker, index, queries, run["chunks"], relevance, ev.rerank_depth,
                                           rag.rerank.batch_size, ev.exit_layers, rag.rerank.early_exit.check_layer,
                                           ev.thetas)
    table = ResultsTable(frame=_frame(rows, "method"), main_metric="ndcg_at_10",
                         title=f"EasyRAG retrieval on {ev.qrels} ({len(qids)} queries)")
    extra = {}
    if exit_rows:
        extra["early_exit.md"] = ResultsTable(frame=_frame(exit_rows, "method"), main_metric="ndcg_at_10",
                                              title="Early exit (paper Table 7)").markdown()
    out = settings.path(request.output or Path(rag.output) / "evaluate")
    files = write_table(table, out, extra)
    for row in rows + exit_rows:
        found |= {f"{row['method']}.{k}": v for k, v in row.items() if isinstance(v, float)}
    artifacts, claims = [files["report.md"]], None
    if request.claims:
        claims = _verify_claims(settings, rag, index, reranker, data["corpus"], out / "claims")
        found |= claims["metrics"]
        artifacts.append(Path(claims["outputs"]["report.md"]))
    _track(settings, request, "rag-evaluate", {"qrels": ev.qrels, "depth": ev.depth, "tokenizer": rag.tokenizer,
                                               "bm25": json.dumps(rag.bm25.model_dump()),
                                               "dense": rag.dense.model_dump_json(),
                                               **({"claims": rag.claims.model_dump_json(),
                                                   "llm": rag.llm.model_dump_json()} if request.claims else {})},
           found, artifacts)
    return {"rows": rows, "early_exit": exit_rows, "table": table.markdown(),
            "early_exit_table": extra.get("early_exit.md"), "outputs": {k: str(v) for k, v in files.items()},
            "claims": claims}


def _verify_claims(settings, rag, index, reranker, corpus: dict, out: Path) -> dict[str, Any]:
    """Every configured evidence mode over the sampled claims; the table written to `out` (with claims.jsonl).
    Returns {"records", "table" (markdown), "metrics" (MLflow names: claims.<mode>.<column>), "outputs"}."""
    claims = rag.claims
    read = read_claim_items(settings.data_root / claims.file, corpus, claims.sample, claims.seed)
    chat = make_chat(settings, claims.max_tokens)
    records = {}
    for mode in claims.modes:
        template = read_prompt(settings, *claim_prompt_key(mode))
        records[mode] = evaluate_claims(mode, read["items"], rag, index, reranker, chat, template, corpus)
    table = claims_table(records, read, claims.file, rag.llm.model)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for found in records.values() for r in found)
    files = write_table(table, out, {"claims.jsonl": lines})
    scores = table.metrics()
    found = {f"claims.{mode}.{column}": float(value) for mode in records
             for column, value in scores[MODES[mode]].items()}
    return {"records": records, "table": table.markdown(), "outputs": {k: str(v) for k, v in files.items()},
            "metrics": found | {"claims.skipped": float(len(read["skipped"]))}}


@flow(name="rag_train_reranker")
def rag_train_reranker(request: RagRequest) -> dict[str, Any]:
    """The layer-wise MiniLM cross-encoder on the train qrels (rag.train_reranker.qrels) with BM25 negatives."""
    settings = request.resolve_settings()
    rag, ev = settings.params.rag, settings.params.rag.evaluate
    data = load_beir(settings.data_root / ev.corpus, settings.data_root / ev.queries,
                     settings.data_root / rag.train_reranker.qrels)
    index = build(settings.params.rag, tokenizer_of(settings), settings.data_root / ev.corpus)
    out = settings.path(request.output or rag.rerank.model)
    summary = train_layerwise_reranker(settings.params.rag.train_reranker, index, data, out)
    _track(settings, request, "rag-train-reranker", rag.train_reranker.model_dump(),
           {k: float(v) for k, v in summary.items() if isinstance(v, (int, float))}, [])
    return summary
