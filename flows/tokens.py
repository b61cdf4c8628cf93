"""The flows of `embedlab tokens` (paper 5, arXiv 2406.17378): decode embeddings into aligned tokens, measure
alignment, retrieve with aligned tokens (sparse) beside dense search, and the spectral analysis. Each writes its
output folder (summary.json, metrics.json, report.md, PNG plots) and records one MLflow run."""

from __future__ import annotations

from typing import Any

from prefect import flow
from pydantic import Field

from embedlab.config import Settings
from embedlab.config.request import SettingsRequest
from embedlab.models.tokens import HEADS
from embedlab.tasks.tokens.common import decode_texts, load_token_model, measure_alignment, read_texts, write_output
from embedlab.tasks.tokens.report import align_report, decoded_lines, sparse_report, spectrum_report
from embedlab.tasks.tokens.sparse import (check_depths, decode_retrieval_task, measure_query_latency,
                                          read_retrieval_task, retrieval_task_ref, score_dense, score_sparse)
from embedlab.tasks.tokens.spectrum import analyse_spectrum
from embedlab.tasks.tracking import log_run


class TokensRequest(SettingsRequest):
    """Flow parameters; empty fields come from params.yaml's `tokens` section (`overrides` are -S key=value)."""

    texts: list[str] = Field(default_factory=list, description="decode: the texts")
    output: str | None = None
    track: bool = True


def _model(settings: Settings, spec: str | None = None, pooling: str | None = None,
           backbone: str | None = None) -> Any:
    """The token model of `spec` (default `tokens.model`) pooled by `pooling` (None: its own). `backbone`: the
    model whose head decodes it where the head reads a `source` and `tokens.head_options` names none (the paper
    decodes an embedder through its backbone's head)."""
    chosen = settings.params.tokens
    options = dict(chosen.head_options)
    if backbone is not None and "source" in HEADS.get(chosen.head).params.model_fields:
        options.setdefault("source", backbone)
    return load_token_model(spec or chosen.model, chosen.head, options, chosen.device, chosen.batch_size,
                            chosen.max_seq_length, pooling)


def _head_label(settings: Settings) -> str:
    """The head as reports name it: `lm_head` or `lm_head of smollm2`."""
    chosen = settings.params.tokens
    source = chosen.head_options.get("source")
    return f"{chosen.head} of {source}" if source else chosen.head


def _finish(settings: Settings, request: TokensRequest, name: str, default_out: str, summary: dict[str, Any],
            metrics: dict[str, float], report: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    out_dir = settings.path(request.output or default_out)
    outputs = write_output(out_dir, summary, metrics, *report)
    if request.track:
        chosen = settings.params.tokens
        params = {"command": name, "model": chosen.model, "head": chosen.head, "head_options": chosen.head_options,
                  "pooling": chosen.pooling, "k": chosen.k,
                  **{f"{name}.{key}": value for key, value in summary.get("settings", {}).items()}}
        summary["run_id"] = log_run(settings.tracking_uri, settings.params.tracking.experiment, settings.project_dir,
                                    f"tokens {name}", params, metrics, outputs)
    return summary


@flow(name="tokens-decode")
def decode(request: TokensRequest) -> dict[str, Any]:
    """The top-k aligned tokens of each text (summary.json `decoded`)."""
    settings = request.resolve_settings()
    chosen = settings.params.tokens
    model = _model(settings, pooling=chosen.pooling)
    decoded = decode_texts(model, request.texts, chosen.k, settings.cache_dir)
    summary = {"model": chosen.model, "head": chosen.head, "decoded": decoded}
    report = (f"# Aligned tokens: {chosen.model}, head `{_head_label(settings)}`\n\n"
              + "\n".join(decoded_lines(decoded)) + "\n")
    return _finish(settings, request, "decode", "results/tokens/decode", summary, {"texts": len(decoded)},
                   (report, {}))


@flow(name="tokens-align")
def align(request: TokensRequest) -> dict[str, Any]:
    """hit@k, local and global alignment over `tokens.align.data`."""
    settings = request.resolve_settings()
    chosen = settings.params.tokens
    texts = read_texts(chosen.texts, chosen.align.data, settings.data_root)
    model = _model(settings, pooling=chosen.pooling)
    result = measure_alignment(model, texts, chosen.k, chosen.align.truncate, chosen.align.special_tokens,
                               settings.cache_dir)
    summary = {"model": chosen.model, "head": chosen.head, "head_options": chosen.head_options,
               "data": chosen.align.data,
               "settings": chosen.align.model_dump(exclude={"output"}), **result}
    return _finish(settings, request, "align", chosen.align.output, summary, result["metrics"],
                   align_report(chosen.model, _head_label(settings), chosen.align.data, result))


@flow(name="tokens-sparse")
def sparse(request: TokensRequest) -> dict[str, Any]:
    """Aligned-token sparse retrieval at (doc_k, query_m) and over the sweep, beside exact dense search."""
    settings = request.resolve_settings()
    chosen, params = settings.params.tokens.sparse, settings.params.tokens
    loaded = read_retrieval_task(retrieval_task_ref(settings, chosen.task))
    model = _model(settings, pooling=params.pooling)
    check_depths(params, model.decoder.vocab_size)
    decoded = decode_retrieval_task(model, loaded, max([chosen.doc_k, *chosen.sweep_doc_k]),
                                    max([chosen.query_m, *chosen.sweep_query_m]), settings.cache_dir)
    dense = score_dense(decoded)
    options = (chosen.literal, chosen.query_weights)
    main = score_sparse(decoded, chosen.doc_k, chosen.query_m, *options)
    sweep = [score_sparse(decoded, k, m, *options) for k in chosen.sweep_doc_k for m in chosen.sweep_query_m]
    latency = measure_query_latency(model, decoded, chosen.doc_k, chosen.query_m, *options, chosen.latency_queries)
    above = [r for r in sweep if r["ndcg_at_10"] >= 0.8 * dense["ndcg_at_10"]]
    crossing = min(above, key=lambda r: (r["nonzeros_per_doc"], r["nonzeros_per_query"]), default=None)
    summary = {"model": params.model, "head": params.head, "head_options": params.head_options, "task": chosen.task,
               "settings": chosen.model_dump(exclude={"output"}), "dense": dense, "sparse": main, "sweep": sweep,
               "latency": latency, "crossing_80": crossing}
    metrics = {"dense.ndcg_at_10": dense["ndcg_at_10"], "dense.recall_at_100": dense["recall_at_100"],
               **{f"sparse.{key}": float(value) for key, value in main.items()},
               "sparse.ratio_to_dense": main["ndcg_at_10"] / dense["ndcg_at_10"],
               **{f"latency.{key}": float(value) for key, value in latency.items()},
               **{f"sweep.K{r['doc_k']}_M{r['query_m']}.ndcg_at_10": r["ndcg_at_10"] for r in sweep}}
    return _finish(settings, request, "sparse", chosen.output, summary, metrics,
                   sparse_report(params.model, chosen.task, dense, main, sweep, latency, crossing))


@flow(name="tokens-spectrum")
def spectrum(request: TokensRequest) -> dict[str, Any]:
    """Spectral analysis between `tokens.spectrum.backbone` and `.embedder` on `.data`: the backbone pooled as the
    embedder pools, the embedder decoded through the backbone's head where the head reads a `source`."""
    settings = request.resolve_settings()
    params, chosen = settings.params.tokens, settings.params.tokens.spectrum
    texts = read_texts(settings.params.tokens.texts, chosen.data, settings.data_root)
    embedder = _model(settings, chosen.embedder, backbone=chosen.backbone)
    backbone = _model(settings, chosen.backbone, pooling=embedder.pooling)
    result = analyse_spectrum(backbone, embedder, texts, chosen.lam, params.k, params.align.truncate,
                              chosen.components, chosen.examples, settings.cache_dir)
    summary = {"backbone": chosen.backbone, "embedder": chosen.embedder, "data": chosen.data, "head": params.head,
               "settings": chosen.model_dump(exclude={"output"}), **result}
    metrics = {"abs_v1": abs(result["shift"][0]), "v1_over_next": result["v1_over_next"],
               "first_share": result["first_share"], "lambda": result["lambda"],
               **{f"{name}.{key}": value for name, values in result["alignment"].items()
                  for key, value in values.items()}}
    return _finish(settings, request, "spectrum", chosen.output, summary, metrics,
                   spectrum_report(chosen.backbone, chosen.embedder, chosen.data, result))
