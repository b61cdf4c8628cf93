"""Reports of `embedlab tokens`: markdown tables and PNG plots (matplotlib, Agg) of alignment, sparse retrieval and
the spectral analysis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Draw = Callable[[Path], None]


def _figure(width: float = 6.4, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def decoded_lines(examples: list[dict[str, Any]]) -> list[str]:
    """`text` → tokens, one markdown bullet per decoded text."""
    return [f"- {e['text']!r} → {', '.join(t if isinstance(t, str) else t[0] for t in e['tokens'])}" for e in examples]


def align_report(model: str, head: str, data: str, result: dict[str, Any]) -> tuple[str, dict[str, Draw]]:
    """report.md and the histogram of per-text local alignment."""
    cut = "top-|T_s|" if result["truncate"] is None else f"top-min(|T_s|, {result['truncate']})"
    rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in result["metrics"].items())
    text = (f"# Token alignment: {model}, head `{head}`, {data} ({result['texts']} texts)\n\n"
            f"Pooling {result['pooling']}; cut {cut}; special tokens "
            f"{'kept' if result['special_tokens'] else 'removed'}.\n\n"
            f"| metric | value |\n|---|---:|\n{rows}\n\n## Decoded\n\n" + "\n".join(decoded_lines(result["examples"])) + "\n")

    def draw(path: Path) -> None:
        figure, axis = _figure()
        axis.hist(result["per_text_local"], bins=20, color="#4c72b0")
        axis.set(xlabel="local alignment per text", ylabel="texts",
                 title=f"{model} ({head}): mean {result['metrics']['local_alignment']:.3f}")
        _save(figure, path)

    return text, {"local_alignment.png": draw}


def sparse_report(model: str, task: str, dense: dict[str, Any], main: dict[str, Any], sweep: list[dict[str, Any]],
                  latency: dict[str, float], crossing: dict[str, Any] | None) -> tuple[str, dict[str, Draw]]:
    """report.md (dense, the chosen K/M, the sweep, latency) and nDCG@10 against non-zeros per document."""
    def row(name: str, r: dict[str, Any]) -> str:
        return (f"| {name} | {r['ndcg_at_10']:.4f} | {r['ndcg_at_10'] / dense['ndcg_at_10']:.2f} | "
                f"{r['recall_at_100']:.4f} | {r['nonzeros_per_doc']:.0f} | {r['nonzeros_per_query']:.1f} | "
                f"{r['index_bytes'] / 2**20:.1f} |")

    header = ("| variant | nDCG@10 | ratio to dense | Recall@100 | non-zeros / doc | non-zeros / query | index MiB |\n"
              "|---|---:|---:|---:|---:|---:|---:|")
    lines = [row("dense (cosine)", dense), row(f"sparse K={main['doc_k']}, M={main['query_m']}", main)]
    lines += [row(f"sweep K={r['doc_k']}, M={r['query_m']}", r) for r in sweep]
    cross = (f"Smallest sweep point at ≥ 80 % of dense (by non-zeros per document, then per query): K={crossing['doc_k']}, "
             f"M={crossing['query_m']} ({crossing['ndcg_at_10'] / dense['ndcg_at_10']:.2f})."
             if crossing else "No sweep point reaches 80 % of dense.")
    text = (f"# Sparse retrieval from aligned tokens: {model} on {task}\n\n{header}\n" + "\n".join(lines) +
            f"\n\n{cross}\n\nQuery latency (median of {latency['queries_timed']} queries, one at a time, top 100): "
            f"dense {latency['dense_ms']:.3f} ms, sparse {latency['sparse_ms']:.3f} ms "
            f"(ratio {latency['sparse_over_dense']:.2f}); the query's decoding g(h) + top-M adds "
            f"{latency['decode_ms']:.3f} ms (ratio with it {latency['sparse_with_decoding_over_dense']:.2f}).\n")

    def draw(path: Path) -> None:
        figure, axis = _figure()
        for m in sorted({r["query_m"] for r in sweep}):
            points = sorted((r["doc_k"], r["ndcg_at_10"]) for r in sweep if r["query_m"] == m)
            axis.plot(*zip(*points), "-o", label=f"M={m}", markersize=3)
        axis.axhline(dense["ndcg_at_10"], color="black", linestyle="--", label="dense")
        axis.axhline(0.8 * dense["ndcg_at_10"], color="grey", linestyle=":", label="80 % of dense")
        axis.set(xscale="log", xlabel="K (non-zeros per document)", ylabel="nDCG@10", title=f"{model} on {task}")
        axis.legend(fontsize=7)
        _save(figure, path)

    return text, {"sweep.png": draw}


def spectrum_report(backbone: str, embedder: str, data: str, result: dict[str, Any]) -> tuple[str, dict[str, Draw]]:
    """report.md (|v_j|, alignment before/after, decoded examples) and the bar plot of |v_j|."""
    shift = result["shift"]
    rows = "\n".join(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values.values()) + " |"
                     for name, values in result["alignment"].items())
    metric_names = " | ".join(next(iter(result["alignment"].values())))
    examples = []
    for e in result["examples"]:
        examples.append(f"**{e['text']!r}**\n")
        examples += [f"- {name}: {', '.join(tokens)}" for name, tokens in e.items() if name != "text"]
        examples.append("")
    text = (f"# Spectral analysis: {backbone} → {embedder} on {data} ({result['texts']} texts)\n\n"
            f"Both read with the embedder's pooling ({result['pooling']}). "
            f"Uncentered SVD of the backbone's embeddings; v_j = mean (ĥ − h)·u_j. "
            f"|v_1| = {abs(shift[0]):.4f}; largest |v_j| at j = {result['largest_component']}; "
            f"|v_1| / max_(j>1) |v_j| = {result['v1_over_next']:.2f}; |v_1| / Σ|v_j| = {result['first_share']:.3f}. "
            f"λ = {result['lambda']:.4f}.\n\n"
            f"|v_j| for j = 1..{len(shift)}: " + ", ".join(f"{abs(v):.4f}" for v in shift) + "\n\n"
            f"Alignment decoded through the backbone's head:\n\n| embeddings | {metric_names} |\n|---|"
            + "---:|" * len(next(iter(result["alignment"].values()))) + f"\n{rows}\n\n## Decoded\n\n" + "\n".join(examples))

    def draw(path: Path) -> None:
        figure, axis = _figure()
        axis.bar(range(1, len(shift) + 1), [abs(v) for v in shift], color="#c44e52")
        axis.set(xlabel="component j", ylabel="|v_j|", title=f"{backbone} → {embedder}: mean shift per component")
        _save(figure, path)

    return text, {"shift.png": draw}
