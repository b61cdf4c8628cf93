"""Units of work of EasyRAG (paper 2): build and open the dual-route index (with the optional dense route), read
question files, rank a question's passages (retrieve -> rerank), answer a question (-> compress -> generate, with
the seconds of each stage), and the one LLM call site."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_dir
from embedlab.config.rag import RagParams
from embedlab.errors import DataError, UserError
from embedlab.jsonlines import read_json_lines
from embedlab.models.cached_encoder import CachedEncoder
from embedlab.models.generation.backend import Prompt, Usage, build_backend, require_model
from embedlab.models.generation.cache import ResponseCache, complete_cached
from embedlab.models.rag.answer import Chat, generate_answer
from embedlab.models.rag.chunking import SentenceSplitter
from embedlab.models.rag.compress import bm25_extract
from embedlab.models.rag.corpus import Chunk, chunk_documents, read_documents
from embedlab.models.rag.exit_rules import EXIT_RULES
from embedlab.models.rag.rerankers import load_reranker
from embedlab.models.rag.routes import RagIndex, RouteSettings, reranker_text
from embedlab.models.rag.tokenizers import build_tokenizer


def tokenizer_of(settings: Any) -> Any:
    rag = settings.params.rag
    return build_tokenizer(rag.tokenizer, settings.data_root / rag.stopwords)


def route_settings(rag: RagParams) -> RouteSettings:
    return RouteSettings(rag.route1_top_k, rag.route2_top_k, rag.fusion, rag.fusion_options,
                         rag.dense.top_k if rag.dense.enabled else 0)


def dense_encoder(settings: Any) -> CachedEncoder | None:
    """The encoder of the dense route (rag.dense.model through the embedding cache), None where it is off."""
    dense = settings.params.rag.dense
    return CachedEncoder(dense.model, settings.cache_dir, dense.batch_size) if dense.enabled else None


def build(rag: RagParams, tokenizer: Any, corpus: Path, encoder: CachedEncoder | None = None) -> RagIndex:
    """The index of the documents at `corpus` (a folder or JSON lines), in memory, chunked and tokenized as the
    `rag` section says (`tokenizer`: `tokenizer_of`; `encoder`: `dense_encoder`, None: no dense route)."""
    documents = read_documents(corpus)
    chunks = chunk_documents(documents, SentenceSplitter(rag.chunk_size, rag.chunk_overlap))
    meta = {"source": str(corpus), "tokenizer": tokenizer.identity, "chunk_size": rag.chunk_size,
            "chunk_overlap": rag.chunk_overlap, "bm25": rag.bm25.model_dump()}
    return RagIndex.build(chunks, tokenizer, rag.bm25.model_dump(), meta, encoder)


@task(cache_policy=NO_CACHE)
def build_index(rag: RagParams, tokenizer: Any, corpus: Path, out: Path,
                encoder: CachedEncoder | None = None) -> dict[str, Any]:
    """Index `corpus` (see `build`) and write it to `out` as one unit (temp folder, then rename)."""
    start = time.perf_counter()
    index = build(rag, tokenizer, corpus, encoder)
    with atomic_dir(out) as tmp:
        index.save(tmp)
    return {**index.meta, "index": str(out), "seconds": time.perf_counter() - start}


def open_index(settings: Any, folder: Path) -> RagIndex:
    """The saved index, with its dense route where rag.dense is enabled (checked against rag.dense.model)."""
    return RagIndex.load(folder, tokenizer_of(settings), dense_encoder(settings))


def make_chat(settings: Any, max_tokens: int | None = None) -> Chat:
    """The one place EasyRAG talks to an LLM: messages -> reply text through the back-end `rag.llm` names (its
    `max_tokens` replaced where given), every reply stored in the response cache (a rerun continues where it
    stopped and costs no calls twice). `chat.usage` counts the calls made and the replies taken from the cache."""
    spec = settings.params.rag.llm
    require_model(spec, "rag.llm")
    if max_tokens is not None:
        spec = spec.model_copy(update={"max_tokens": max_tokens})
    backend = build_backend(spec, "text", "rag.llm")
    cache = ResponseCache(settings.cache_dir / "generate")

    def chat(messages: list[tuple[str, str]]) -> str:
        [reply], usage = complete_cached(backend, [Prompt(tuple(messages))], cache)
        chat.usage.add(usage)  # type: ignore[attr-defined]
        return reply.text

    chat.usage = Usage()  # type: ignore[attr-defined]
    return chat


def read_prompt(settings: Any, key: str, fields: tuple[str, ...]) -> str:
    """The prompt file named by rag.<key> (dotted: `claims.prompt`); UserError where it is missing or lacks one of
    the `{field}`s."""
    section = settings.params.rag
    for name in key.split("."):
        section = getattr(section, name)
    path = settings.path(section)
    if not path.is_file():
        raise UserError(f"rag.{key}: prompt file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    for field in fields:
        if "{" + field + "}" not in text:
            raise UserError(f"{path}: the prompt must contain {{{field}}}")
    return text


def read_questions(path: Path) -> list[dict[str, Any]]:
    """Questions of a JSON-lines file or a JSON list: each a `query` (required), optional `id`, `document` (the
    product filter), `keywords` (for the keyword scorer). DataError naming the file, line and field."""
    if not path.is_file():
        raise DataError(path, "question file does not exist")
    if path.suffix == ".json":
        try:
            rows = list(enumerate(json.loads(path.read_text(encoding="utf-8")), start=1))
        except UnicodeDecodeError:
            raise DataError(path, "not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise DataError(path, f"not valid JSON ({exc.msg})", exc.lineno) from None
    else:
        rows = list(read_json_lines(path))
    questions = []
    for number, row in rows:
        where = "item" if path.suffix == ".json" else "line"
        if not isinstance(row, dict) or not isinstance(row.get("query"), str) or not row["query"].strip():
            raise DataError(path, f"{where} {number}: expected an object with a non-empty string field 'query'")
        questions.append({"id": row.get("id", number), "query": row["query"], "document": row.get("document"),
                          "keywords": row.get("keywords")})
    if not questions:
        raise DataError(path, "no questions")
    return questions


def exit_options(rag: RagParams) -> dict[str, Any]:
    """Keyword arguments of a reranker's `score` from rag.rerank (layer, batch, early-exit rule)."""
    rerank = rag.rerank
    options: dict[str, Any] = {"layer": rerank.layer, "batch_size": rerank.batch_size}
    if rerank.early_exit.enabled:
        exit = rerank.early_exit
        options |= {"check_layer": exit.check_layer,
                    "rule": EXIT_RULES.params(exit.rule, exit.options, "rag.rerank.early_exit.options")}
    return options


def open_reranker(settings: Any) -> Any:
    spec = settings.params.rag.rerank.model
    path = settings.path(spec)
    if path.exists():
        return load_reranker(str(path))
    if "/" in spec and not spec.startswith((".", "/")) and not path.parent.exists():
        return load_reranker(spec, "cross-encoder")  # a Hub id, where online
    raise UserError(f"rag.rerank.model: {path} does not exist; train one with `embedlab rag train-reranker`")


def rank_passages(rag: RagParams, index: RagIndex, reranker: Any, query: str, top_k: int,
                  product: str | None = None) -> tuple[list[tuple[Chunk, float]], dict[str, float], int | None]:
    """A question's `top_k` passages as `rag ask` finds them: the routes fused, then reranked (reranker None: the
    fused order). Returns ([(chunk, score)] best first, seconds {"retrieve", "rerank"}, the reranker's layer)."""
    start = time.perf_counter()
    hits = index.retrieve(query, route_settings(rag), product)
    seconds = {"retrieve": time.perf_counter() - start}
    chunks = [index.chunks[c] for c, _ in hits]
    if reranker is None:
        return [(index.chunks[c], s) for c, s in hits[:top_k]], seconds, None
    start = time.perf_counter()
    reranked = reranker.score(query, [reranker_text(c) for c in chunks], **exit_options(rag))
    order = sorted(range(len(chunks)), key=lambda i: -reranked.scores[i])[:top_k]
    seconds["rerank"] = time.perf_counter() - start
    return [(chunks[i], reranked.scores[i]) for i in order], seconds, reranked.layer


@task(cache_policy=NO_CACHE)
def answer_question(rag: RagParams, index: RagIndex, reranker: Any, chat: Chat | None, question: dict[str, Any],
                    qa_template: str, merge_template: str) -> dict[str, Any]:
    """Retrieve (the routes, fused), rerank to the top k, optionally compress, answer (chat None: no answer).

    Returns {"id", "query", "answer", "passages": [{path, text, score}], "seconds": {stage: s}, "exit_layer"}."""
    top, seconds, layer = rank_passages(rag, index, reranker, question["query"], rag.rerank.top_k,
                                        question.get("document"))
    texts = [c.text for c, _ in top]
    if rag.compress_rate is not None:
        start = time.perf_counter()
        tokenizer = index.route1.tokenizer
        texts = [bm25_extract(question["query"], t, rag.compress_rate, tokenizer) for t in texts]
        seconds["compress"] = time.perf_counter() - start
    answer = None
    if chat is not None:
        start = time.perf_counter()
        answer = generate_answer(chat, qa_template, merge_template, question["query"], texts, rag.refine,
                                 rag.context_label)
        seconds["generate"] = time.perf_counter() - start
    passages = [{"path": c.path, "text": t, "score": s} for (c, s), t in zip(top, texts, strict=True)]
    return {"id": question.get("id"), "query": question["query"], "answer": answer, "passages": passages,
            "seconds": seconds, "exit_layer": layer}
