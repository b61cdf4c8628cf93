"""The `rag` section of params.yaml: EasyRAG (paper 2): `embedlab rag index|ask|run|evaluate|train-reranker`.

Defaults are the paper's (EasyRAG `src/configs/easyrag.yaml`: chunks 1024/200 tokens, route 1 top 192, route 2
top 6, merge fusion, reranker top 6 at batch 32, early exit at the check layer with θ = 0.4) except where the
offline stand-ins need others: the English tokenizer (SciFact), the trained 6-layer MiniLM reranker (checked at
layer 3 of 6 instead of 12 of 40). Added here: the optional dense route (`dense`) and claim verification on
SciFact (`claims`). Data paths lie under data_root; `index`, `reranker`, `output` and the prompts under the
project.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from embedlab.config.section import ProfiledSection, Section
from embedlab.models.generation.backend import BackendSpec
from embedlab.models.rag.exit_rules import EXIT_RULES
from embedlab.models.rag.fusion import FUSIONS
from embedlab.models.rag.tokenizers import TOKENIZERS
from embedlab.registry import name_check


class Bm25Params(Section):
    k1: float = Field(1.5, gt=0)
    b: float = Field(0.75, ge=0, le=1)
    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    idf_method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] | None = None


class EarlyExitParams(Section):
    enabled: bool = False
    check_layer: int = Field(3, ge=1, description="the layer the first batch runs to before the decision")
    rule: Annotated[str, AfterValidator(name_check(EXIT_RULES))] = "max"
    options: dict[str, Any] = Field(default_factory=lambda: {"theta": 0.4})


class RerankParams(Section):
    model: str = "results/rag/reranker"
    top_k: int = Field(6, ge=1)
    batch_size: int = Field(32, ge=1)
    layer: int | None = Field(None, ge=1, description="the layer scores are read at (null: the last)")
    early_exit: EarlyExitParams = Field(default_factory=EarlyExitParams)


class TrainRerankerParams(Section):
    base: str = "minilm"
    qrels: str = "scifact/qrels/train.tsv"
    negatives: int = Field(4, ge=1, description="BM25-mined hard negatives per positive")
    mine_depth: int = Field(30, ge=1, description="negatives are drawn from the BM25 top this many")
    max_length: int = Field(192, ge=16)
    groups_per_step: int = Field(8, ge=1)
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(60, ge=1, description="null: every group once per epoch")
    lr: float = Field(5e-5, gt=0, description="the encoder's learning rate")
    head_lr: float | None = Field(1e-3, gt=0, description="the new per-layer heads' learning rate (null: lr)")
    seed: int = 0


class DenseParams(Section):
    """The optional dense route (not in the paper): `rag index` encodes the chunks, queries search them by cosine."""

    enabled: bool = False
    model: str = Field("minilm", description="a sentence encoder: short name, folder or Hub id")
    top_k: int = Field(192, ge=1, description="dense candidates per question, fused with the BM25 routes")
    batch_size: int = Field(64, ge=1)


class ClaimsParams(Section):
    """Claim verification on SciFact (`rag evaluate --claims`): retrieve, then ask rag.llm for SUPPORT/CONTRADICT."""

    file: str = Field("scifact/hf_claims/claims_validation.csv",
                      description="SciFact claims CSV under data_root (validation: BEIR's test queries)")
    modes: list[Literal["retrieved", "gold", "none"]] = Field(default_factory=lambda: ["retrieved", "gold", "none"],
                                                              min_length=1)
    sample: int | None = Field(60, ge=1, description="claims verified (plain seeded random sample); null: all")
    seed: int = 0
    passages: int = Field(3, ge=1, description="retrieved mode: the top passages given as evidence")
    max_tokens: int = Field(16, ge=1, description="the reply's length limit (the verdict is its first label)")
    prompt: str = "prompts/claim_verify_en.txt"
    prompt_no_evidence: str = "prompts/claim_verify_none_en.txt"


class RagEvaluateParams(Section):
    corpus: str = "scifact/corpus.jsonl"
    queries: str = "scifact/queries.jsonl"
    qrels: str = "scifact/qrels/test.tsv"
    depth: int = Field(100, ge=1, description="BM25 candidates per query (reranked where a reranker is asked)")
    rerank_depth: int = Field(100, ge=1)
    sample: int | None = Field(None, ge=1, description="queries evaluated (seeded sample); null: all")
    exit_layers: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    thetas: list[float] = Field(default_factory=lambda: [0.1, 0.2, 0.4])
    seed: int = 0


class RagParams(ProfiledSection):
    tokenizer: Annotated[str, AfterValidator(name_check(TOKENIZERS))] = "english"
    stopwords: str = "easyrag/hit_stopwords.txt"
    chunk_size: int = Field(1024, gt=0, description="tokens (cl100k), metadata length not subtracted")
    chunk_overlap: int = Field(200, ge=0)
    bm25: Bm25Params = Field(default_factory=Bm25Params)
    index: str = "results/rag/index"
    route1_top_k: int = Field(192, ge=1)
    route2_top_k: int = Field(6, ge=0)
    dense: DenseParams = Field(default_factory=DenseParams)
    fusion: Annotated[str, AfterValidator(name_check(FUSIONS))] = "merge"
    fusion_options: dict[str, Any] = Field(default_factory=dict)
    rerank: RerankParams = Field(default_factory=RerankParams)
    llm: BackendSpec = Field(default_factory=lambda: BackendSpec(max_tokens=512, concurrency=1))
    prompt: str = "prompts/rag_qa_zh.txt"
    merge_prompt: str = "prompts/rag_merge_zh.txt"
    context_label: str = "文档"
    refine: Literal["none", "integrate", "append_top1"] = "none"
    compress_rate: float | None = Field(None, gt=0, le=1, description="BM25-Extract rate; null: off")
    train_reranker: TrainRerankerParams = Field(default_factory=TrainRerankerParams)
    evaluate: RagEvaluateParams = Field(default_factory=RagEvaluateParams)
    claims: ClaimsParams = Field(default_factory=ClaimsParams)
    output: str = "results/rag"

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RagParams:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap {self.chunk_overlap} must be smaller than chunk_size {self.chunk_size}")
        return self
