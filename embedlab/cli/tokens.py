"""`embedlab tokens decode | align | sparse | spectrum`: text embeddings decoded into aligned tokens (paper 5,
arXiv 2406.17378)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from embedlab.cli.app import NoTrackOption, ParamsOption, SetOption, app, cwd_path, running_flow, shown, tracking_on, user_errors
from embedlab.models.tokens import HEADS

tokens_app = typer.Typer(no_args_is_help=True, help="Decode embeddings into aligned tokens (paper 5): decode, align, "
                                                    "sparse retrieval, spectral analysis.")
app.add_typer(tokens_app, name="tokens")

ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="embedder: folder, Hugging Face id or 'minilm'")]
HeadOption = Annotated[str | None, typer.Option("--head", help=f"decoding head: {HEADS.choices()}")]
HeadSourceOption = Annotated[str | None, typer.Option(
    "--head-source", help="the model whose head decodes (tokens.head_options.source), e.g. the backbone smollm2 "
                          "for an embedder trained from it")]
PoolingOption = Annotated[str | None, typer.Option(
    "--pooling", help="pool the model this way (tokens.pooling: mean, weightedmean, ...; default: its own)")]
OutputOption = Annotated[str | None, typer.Option("--output", "-o", help="output folder")]
JsonOption = Annotated[bool, typer.Option("--json", help="print the summary as one JSON object on stdout")]


def _run(command: str, flow_name: str, chosen: dict[str, Any], output: str | None, no_track: bool,
         params: Any, overrides: list[str] | None, texts: list[str] | None = None) -> dict[str, Any]:
    """Check params, names and the output folder before Prefect starts, then run the flow `flow_name`."""
    from embedlab.atomic import check_output_dir
    from embedlab.config import load_settings
    from embedlab.flows import tokens as flows
    from embedlab.models.model_source import model_source

    output = cwd_path(output)
    with user_errors():
        settings = load_settings(params, overrides or []).with_values(chosen)
        section = settings.params.tokens
        HEADS.params(section.head, section.head_options, where="tokens.head_options")
        model_source(section.model)
        if section.head_options.get("source"):
            model_source(section.head_options["source"])
        if command in ("align", "spectrum"):
            name = section.align.data if command == "align" else section.spectrum.data
            if name not in section.texts:
                from embedlab.errors import unknown_name

                raise unknown_name("text set", name, section.texts)
        if command == "sparse":
            from embedlab.tasks.tokens.sparse import retrieval_task_ref

            retrieval_task_ref(settings, section.sparse.task)
        if command == "spectrum":
            model_source(section.spectrum.backbone)
            model_source(section.spectrum.embedder)
        default = {"decode": "results/tokens/decode", "align": section.align.output,
                   "sparse": section.sparse.output, "spectrum": section.spectrum.output}[command]
        check_output_dir(settings.path(output or default), [settings.data_root])
    request = flows.TokensRequest(texts=texts or [], output=output, settings=settings,
                                  track=tracking_on(settings, no_track))
    with running_flow():
        summary = getattr(flows, flow_name)(request)
    typer.echo(f"wrote {shown(settings.path(output or default))}", err=True)
    return summary


def _print(summary: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary, allow_nan=False) + "\n")
    else:
        typer.echo(text)


@tokens_app.command("decode")
def decode(
    text: Annotated[list[str], typer.Option("--text", "-t", help="a text to decode (repeatable)")],
    model: ModelOption = None, head: HeadOption = None, head_source: HeadSourceOption = None,
    pooling: PoolingOption = None,
    k: Annotated[int | None, typer.Option("--k", "-k", help="tokens per text")] = None,
    output: OutputOption = None, as_json: JsonOption = False, no_track: NoTrackOption = False,
    params: ParamsOption = None, overrides: SetOption = None,
) -> None:
    """The top-k vocabulary tokens each text's embedding aligns with (the embedding fed into the head)."""
    chosen = {"tokens.model": model, "tokens.head": head, "tokens.head_options.source": head_source,
              "tokens.pooling": pooling, "tokens.k": k}
    summary = _run("decode", "decode", chosen, output, no_track, params, overrides, text)
    _print(summary, as_json, "\n".join(f"{d['text']}\n  " + ", ".join(f"{t} ({v:.2f})" for t, v in d["tokens"])
                                       for d in summary["decoded"]))


@tokens_app.command("align")
def align(
    model: ModelOption = None, head: HeadOption = None, head_source: HeadSourceOption = None,
    pooling: PoolingOption = None,
    data: Annotated[str | None, typer.Option("--data", help="text set of tokens.texts (stsb, nli, wiki, ...)")] = None,
    truncate: Annotated[int | None, typer.Option("--truncate", help="cut at top-min(|T|, N) (the code's 10)")] = None,
    paper_cut: Annotated[bool, typer.Option("--paper-cut", help="the paper's top-|T| cut (no truncation)")] = False,
    output: OutputOption = None, as_json: JsonOption = False, no_track: NoTrackOption = False,
    params: ParamsOption = None, overrides: SetOption = None,
) -> None:
    """hit@k, local and global alignment of decoded tokens with each text's own tokens."""
    chosen = {"tokens.model": model, "tokens.head": head, "tokens.head_options.source": head_source,
              "tokens.pooling": pooling, "tokens.align.data": data,
              "tokens.align.truncate": "null" if paper_cut else truncate}
    summary = _run("align", "align", chosen, output, no_track, params, overrides)
    _print(summary, as_json, "\n".join(f"{name:<20} {value:.4f}" for name, value in summary["metrics"].items()))


@tokens_app.command("sparse")
def sparse(
    model: ModelOption = None, head: HeadOption = None, head_source: HeadSourceOption = None,
    pooling: PoolingOption = None,
    task: Annotated[str | None, typer.Option("--task", help="retrieval task (default SciFact)")] = None,
    doc_k: Annotated[int | None, typer.Option("--doc-k", "-K", help="aligned tokens kept per document")] = None,
    query_m: Annotated[int | None, typer.Option("--query-m", "-M", help="aligned tokens added per query")] = None,
    output: OutputOption = None, as_json: JsonOption = False, no_track: NoTrackOption = False,
    params: ParamsOption = None, overrides: SetOption = None,
) -> None:
    """Sparse retrieval from aligned tokens beside dense search: nDCG@10, Recall@100, non-zeros, latency."""
    chosen = {"tokens.model": model, "tokens.head": head, "tokens.head_options.source": head_source,
              "tokens.pooling": pooling, "tokens.sparse.task": task, "tokens.sparse.doc_k": doc_k,
              "tokens.sparse.query_m": query_m}
    summary = _run("sparse", "sparse", chosen, output, no_track, params, overrides)
    dense, main = summary["dense"], summary["sparse"]
    _print(summary, as_json, f"dense  nDCG@10 {dense['ndcg_at_10']:.4f}  Recall@100 {dense['recall_at_100']:.4f}\n"
                             f"sparse nDCG@10 {main['ndcg_at_10']:.4f}  Recall@100 {main['recall_at_100']:.4f}  "
                             f"(K={main['doc_k']}, M={main['query_m']}; ratio "
                             f"{main['ndcg_at_10'] / dense['ndcg_at_10']:.3f})\n"
                             f"latency sparse/dense {summary['latency']['sparse_over_dense']:.2f}")


@tokens_app.command("spectrum")
def spectrum(
    backbone: Annotated[str | None, typer.Option("--backbone", help="the model the embedder was trained from")] = None,
    embedder: Annotated[str | None, typer.Option("--embedder", help="the trained embedder")] = None,
    head: HeadOption = None, head_source: HeadSourceOption = None,
    data: Annotated[str | None, typer.Option("--data", help="text set of tokens.texts (default wiki)")] = None,
    lam: Annotated[float | None, typer.Option("--lambda", help="λ of h + λ u_1 (default: v_1)")] = None,
    output: OutputOption = None, as_json: JsonOption = False, no_track: NoTrackOption = False,
    params: ParamsOption = None, overrides: SetOption = None,
) -> None:
    """Uncentered SVD of the backbone's embeddings (pooled as the embedder pools), mean shift per component,
    h + λ u_1 decoded through the backbone's head (which also decodes the embedder unless --head-source names
    another)."""
    chosen = {"tokens.spectrum.backbone": backbone, "tokens.spectrum.embedder": embedder, "tokens.head": head,
              "tokens.head_options.source": head_source,
              "tokens.spectrum.data": data, "tokens.spectrum.lam": lam}
    summary = _run("spectrum", "spectrum", chosen, output, no_track, params, overrides)
    _print(summary, as_json, f"|v_j| {', '.join(f'{abs(v):.4f}' for v in summary['shift'])}\n"
                             f"|v_1| / max_(j>1) |v_j| = {summary['v1_over_next']:.2f}; "
                             + "; ".join(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items())
                                         for name, values in summary["alignment"].items()))
