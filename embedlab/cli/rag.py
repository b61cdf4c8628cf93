"""`embedlab rag index|ask|run|evaluate|train-reranker`: EasyRAG (paper 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from embedlab.cli.app import (JsonOption, NoTrackOption, ParamsOption, SetOption, app, command_settings, cwd_path,
                              running_flow, shown, tracking_on)

if TYPE_CHECKING:
    from embedlab.config import Settings

rag_app = typer.Typer(no_args_is_help=True, help="EasyRAG: dual-route BM25, layer-wise reranking, LLM answers (paper 2).")
app.add_typer(rag_app, name="rag")

IndexOption = Annotated[str | None, typer.Option("--index", help="index folder (default: rag.index)")]
NoAnswerOption = Annotated[bool, typer.Option("--no-answer", help="retrieve and rerank only (no LLM)")]


@contextmanager
def rag_settings(params: Path | None, overrides: list[str] | None) -> Iterator[Settings]:
    """`command_settings` with rag's own pre-flight checks: an unknown tokenizer, a missing stop-word file or (with
    rag.dense on) a dense encoder that is not there fails before any work, in one line."""
    from embedlab.models.model_source import model_source
    from embedlab.tasks.rag.run import tokenizer_of

    with command_settings(params, overrides) as settings:
        tokenizer_of(settings)
        if settings.params.rag.dense.enabled:
            model_source(settings.params.rag.dense.model)
        yield settings


def check_query_side(settings: Settings, index: str | None, answer: bool) -> None:
    """The index exists and was built with the configured tokenizer, the prompts are there, and (`answer`) the LLM
    rag.llm names is available: checked before Prefect starts."""
    from embedlab.models.generation.backend import require_model
    from embedlab.tasks.rag.run import open_index, read_prompt

    open_index(settings, settings.path(index or settings.params.rag.index))
    read_prompt(settings, "prompt", ("context_str", "query_str"))
    read_prompt(settings, "merge_prompt", ("context_str", "query_str", "answer_str"))
    if answer:
        require_model(settings.params.rag.llm, "rag.llm")


def _print_record(record: dict) -> None:
    if record["answer"] is not None:
        typer.echo(record["answer"])
    for i, passage in enumerate(record["passages"]):
        text = " ".join(passage["text"].split())
        typer.echo(f"[{i}] {passage['score']:.3f}  {passage['path']}: {text[:160]}")
    typer.echo("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in record["seconds"].items()) +
               f" (reranker read at layer {record['exit_layer']})")


@rag_app.command("index")
def index(
    corpus: Annotated[Path, typer.Option("--corpus", help="a folder of .txt/.md files or a JSON-lines file (text, path/title)")],
    output: IndexOption = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Chunk the documents (token-counted) and build both BM25 routes; saved as one folder."""
    from embedlab.atomic import check_output_dir
    from embedlab.flows.rag import RagRequest, rag_index
    from embedlab.cli.checks import require_file
    from embedlab.models.rag.chunking import SentenceSplitter

    with rag_settings(params, overrides) as settings:
        rag = settings.params.rag
        SentenceSplitter(rag.chunk_size, rag.chunk_overlap)
        source = corpus.expanduser().absolute()
        require_file(source, "corpus", "--corpus")  # the flow reads the documents
        check_output_dir(settings.path(cwd_path(output) or rag.index), [source])
    request = RagRequest(settings=settings, corpus=str(source),
                         index=cwd_path(output), track=tracking_on(settings, no_track))
    with running_flow():
        summary = rag_index(request)
    typer.echo(f"{summary['documents']} documents, {summary['chunks']} chunks ({summary['seconds']:.1f} s) -> "
               f"{shown(Path(summary['index']))}")


@rag_app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="the question")],
    document: Annotated[str | None, typer.Option("--document", help="product filter of route 1 (first path component)")] = None,
    index_: IndexOption = None,
    no_answer: NoAnswerOption = False,
    as_json: JsonOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Answer one question: the answer, the six passages with scores, the seconds of each stage."""
    from embedlab.flows.rag import RagRequest, rag_run

    with rag_settings(params, overrides) as settings:
        check_query_side(settings, cwd_path(index_), answer=not no_answer)
    request = RagRequest(settings=settings, index=cwd_path(index_),
                         questions=[{"id": 1, "query": question, "document": document}], generate=not no_answer,
                         track=False)
    with running_flow():
        [record] = rag_run(request)["records"]
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False))
        return
    _print_record(record)


@rag_app.command("run")
def run(
    questions: Annotated[Path, typer.Option("--questions", help="JSON lines (or a JSON list) with `query`, optional `document`, `keywords`")],
    index_: IndexOption = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="output folder (default: rag.output/run)")] = None,
    no_answer: NoAnswerOption = False,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Answer every question of a file; answers.jsonl, the per-stage seconds and (with keywords) the keyword score."""
    from embedlab.flows.rag import RagRequest, rag_run
    from embedlab.tasks.rag.run import read_questions

    with rag_settings(params, overrides) as settings:
        items = read_questions(questions.expanduser().absolute())
        check_query_side(settings, cwd_path(index_), answer=not no_answer)
    out = cwd_path(output) or str(Path(settings.params.rag.output) / "run")
    request = RagRequest(settings=settings, index=cwd_path(index_),
                         questions=items, output=out, generate=not no_answer, track=tracking_on(settings, no_track))
    with running_flow():
        result = rag_run(request)
    for name, value in result["summary"].items():
        typer.echo(f"{name}: {value:.4f}")
    typer.echo(f"-> {shown(settings.path(out))}")


@rag_app.command("evaluate")
def evaluate(
    index_: IndexOption = None,
    rerank: Annotated[bool, typer.Option("--rerank/--no-rerank", help="also rerank with rag.rerank.model")] = False,
    early_exit_table: Annotated[bool, typer.Option("--early-exit-table", help="the exit-layer / θ table (paper Table 7)")] = False,
    claims: Annotated[bool, typer.Option("--claims", help="also SciFact claim verification with rag.llm (rag.claims)")] = False,
    output: Annotated[str | None, typer.Option("--output", "-o", help="output folder (default: rag.output/evaluate)")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """nDCG@10, Recall@10/100, MRR@10 of BM25 route 1 (and reranked; dense and fused where rag.dense is on) on
    BEIR-format corpus, queries, qrels; with --claims, SciFact claim verification by the LLM (<output>/claims/)."""
    from embedlab.cli.checks import require_file
    from embedlab.flows.rag import RagRequest, rag_evaluate
    from embedlab.models.generation.backend import require_model
    from embedlab.tasks.rag.claims import claim_prompt_key
    from embedlab.tasks.rag.run import open_reranker, read_prompt

    with rag_settings(params, overrides) as settings:
        ev = settings.params.rag.evaluate
        for role in ("corpus", "queries", "qrels"):
            require_file(settings.data_root / getattr(ev, role), f"{role} file", f"rag.evaluate.{role}")
        if index_:
            check_query_side(settings, cwd_path(index_), answer=False)
        if rerank:
            open_reranker(settings)
        if claims:
            require_model(settings.params.rag.llm, "rag.llm")
            require_file(settings.data_root / settings.params.rag.claims.file, "claims file", "rag.claims.file")
            for mode in settings.params.rag.claims.modes:
                read_prompt(settings, *claim_prompt_key(mode))
    request = RagRequest(settings=settings, index=cwd_path(index_),
                         output=cwd_path(output), rerank=rerank, early_exit_table=early_exit_table, claims=claims,
                         track=tracking_on(settings, no_track))
    with running_flow():
        result = rag_evaluate(request)
    typer.echo(result["table"])
    if result["early_exit_table"]:
        typer.echo(result["early_exit_table"])
    if result["claims"]:
        typer.echo(result["claims"]["table"])
    typer.echo(f"-> {shown(Path(result['outputs']['report.md']).parent)}")


@rag_app.command("train-reranker")
def train_reranker(
    output: Annotated[str | None, typer.Option("--output", "-o", help="model folder (default: rag.rerank.model)")] = None,
    no_track: NoTrackOption = False,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Train the layer-wise MiniLM cross-encoder on the train qrels with BM25-mined hard negatives."""
    from embedlab.atomic import check_output_dir
    from embedlab.flows.rag import RagRequest, rag_train_reranker
    from embedlab.models.model_source import model_source

    with rag_settings(params, overrides) as settings:
        rag = settings.params.rag
        model_source(rag.train_reranker.base)
        check_output_dir(settings.path(cwd_path(output) or rag.rerank.model))
    request = RagRequest(settings=settings, output=cwd_path(output),
                         track=tracking_on(settings, no_track))
    with running_flow():
        summary = rag_train_reranker(request)
    typer.echo(f"{summary['groups']} groups, {summary['steps']} steps, loss {summary['first_loss']:.3f} -> "
               f"{summary['last_loss']:.3f} ({summary['seconds']:.0f} s) -> {shown(Path(summary['model']))}")
