"""The `tokens` section of params.yaml: decoding embeddings into aligned tokens, their alignment, the spectral
analysis and sparse retrieval from aligned tokens (paper 5, arXiv 2406.17378; `embedlab tokens ...`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from embedlab.config.section import Section
from embedlab.eval_tasks.spec import FileSpec
from embedlab.models.tokens import HEADS
from embedlab.registry import name_check


class TextSetParams(Section):
    """A named text set: the `text` column of `file` (under data_root), its first `limit` rows (null: all)."""

    file: FileSpec
    limit: int | None = Field(None, gt=0)


def _default_texts() -> dict[str, TextSetParams]:
    return {
        # sentence 1 of the STS-B test pairs (genre, file, year, id, score, s1, s2; TAB-separated)
        "stsb": TextSetParams(file=FileSpec(path="stsb/sts-test.csv", format="tsv", header=False,
                                            columns={"text": 5}), limit=500),
        "nli": TextSetParams(file=FileSpec(path="nli/nli_triples_for_simcse_from_dev.csv", columns={"text": "sent0"}),
                             limit=500),
        "wiki": TextSetParams(file=FileSpec(path="simcse/wiki1m_for_simcse_first11914.txt", format="tsv",
                                            header=False, columns={"text": 0}), limit=1000),
    }


class TokensAlignParams(Section):
    """`tokens.align`: hit@k, local and global alignment over the text set `data` (a name of `tokens.texts`).
    `truncate`: the released code's top-10 cut (null: the paper's top-|T_s|); `special_tokens`: count [CLS]/[SEP]
    (the paper's code does)."""

    data: str = "stsb"
    truncate: int | None = Field(10, gt=0)
    special_tokens: bool = True
    output: str = "results/tokens/align"


class TokensSparseParams(Section):
    """`tokens.sparse`: sparse retrieval from aligned tokens on the retrieval task `task` (built-in or of
    `evaluate.task_files`). Documents keep their top `doc_k` tokens (K), queries their literal tokens (`literal`)
    plus their top `query_m` aligned tokens (M), weighted `binary` or by `logit`. K and M are open in the paper.
    The sweep scores every `sweep_doc_k` × `sweep_query_m` pair from one decoding of the corpus; `latency_queries`
    queries (null: all) are timed one by one against exact dense search."""

    task: str = "SciFact"
    doc_k: int = Field(256, gt=0)
    query_m: int = Field(64, gt=0)
    literal: bool = True
    query_weights: Literal["binary", "logit"] = "binary"
    sweep_doc_k: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [64, 128, 256, 512, 1024])
    sweep_query_m: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [16, 64, 128, 256])
    latency_queries: int | None = Field(None, gt=0)
    output: str = "results/tokens/sparse"


class TokensSpectrumParams(Section):
    """`tokens.spectrum`: the uncentered SVD of `backbone`'s embeddings of the text set `data`, the mean shift v_j
    of `embedder`'s along each component, and h + λ u_1 decoded through the backbone's head (λ = `lam`; null: v_1).
    The backbone is pooled as the embedder pools (its Pooling mode), as the paper embeds the backbone; a head with
    a `source` (lm_head, mlm) decodes the embedder through the backbone's head unless `tokens.head_options.source`
    names another. `components` |v_j| are plotted; `examples` texts are decoded before and after."""

    backbone: str = "minilm"
    embedder: str = "results/train/nli/model"
    data: str = "wiki"
    components: int = Field(20, gt=1)
    lam: float | None = None
    examples: int = Field(3, gt=0)
    output: str = "results/tokens/spectrum"


Pooling = Literal["mean", "weightedmean", "cls", "lasttoken", "max"]


class TokensParams(Section):
    """`tokens` section. `model` is decoded through the head `head` (tied | lm_head | mlm, with `head_options`,
    e.g. `source`: the model holding the head, such as the backbone `smollm2` for an embedder trained from it),
    top `k` tokens, embedded `batch_size` texts at a time on `device` reading at most `max_seq_length` tokens
    (null: the model's own), pooled by `pooling` (null: the model's own; e.g. `weightedmean` to read a backbone as
    its embedder pools)."""

    model: str = "minilm"
    head: Annotated[str, AfterValidator(name_check(HEADS))] = "tied"
    head_options: dict[str, Any] = Field(default_factory=dict)
    pooling: Pooling | None = None
    k: int = Field(10, gt=0)
    batch_size: int = Field(64, gt=0)
    device: str = "auto"
    max_seq_length: int | None = Field(None, gt=0)
    texts: dict[str, TextSetParams] = Field(default_factory=_default_texts)
    align: TokensAlignParams = Field(default_factory=TokensAlignParams)
    sparse: TokensSparseParams = Field(default_factory=TokensSparseParams)
    spectrum: TokensSpectrumParams = Field(default_factory=TokensSpectrumParams)
