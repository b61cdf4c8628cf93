"""mteb's retrieval search on the shared exact dense retriever (`embedlab.models.retrieval.dense`): the corpus is
indexed once per task split and searched there (faiss `IndexFlatIP`, on all GPUs with `faiss-gpu`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mteb.models.model_meta import ScoringFunction
from mteb.models.search_wrappers import SearchEncoderWrapper

from embedlab.models.retrieval.dense import DenseRetriever


class DenseSearchIndex:
    """mteb's `IndexEncoderSearchProtocol` on `DenseRetriever`, the same computation as mteb's own faiss backend
    (float32, `faiss.normalize_L2` for cosine models, one flat inner-product search for all queries).

    Args:
        normalize: L2-normalise documents and queries (cosine models).
    """

    def __init__(self, normalize: bool) -> None:
        self.normalize = normalize
        self.retriever: DenseRetriever | None = None
        self.corpus_ids: list[str] = []

    def add_documents(self, embeddings: Any, idxs: list[str]) -> None:
        """Index the corpus (N, D); mteb adds it once per `index` call and clears it after the search."""
        if self.retriever is not None:
            raise RuntimeError("add_documents called twice without clear")
        self.retriever = DenseRetriever.build(embeddings, normalize=self.normalize)  # ids: corpus positions
        self.corpus_ids = list(idxs)

    def search(self, embeddings: Any, top_k: int, similarity_fn: Callable[[Any, Any], Any],
               top_ranked: dict[str, list[str]] | None = None,
               query_idx_to_id: dict[int, str] | None = None) -> tuple[list[list[float]], list[list[int]]]:
        """(scores, corpus positions) of the best `top_k` per query (Q, D), best first.

        Reranking (`top_ranked`: query id -> candidate ids in corpus order) searches each query's candidates
        only and returns positions within its candidate list, as mteb expects.
        """
        if self.retriever is None:
            raise RuntimeError("search before add_documents")
        if top_ranked is None:
            positions, scores = self.retriever.search(embeddings, top_k)
            return scores.tolist(), positions.tolist()
        return self._rerank(embeddings, top_k, top_ranked, query_idx_to_id or {})

    def _rerank(self, embeddings: Any, top_k: int, top_ranked: dict[str, list[str]],
                query_idx_to_id: dict[int, str]) -> tuple[list[list[float]], list[list[int]]]:
        queries = self.retriever.prepare(embeddings)  # (Q, D), normalised as the corpus was
        corpus_row = {doc: row for row, doc in enumerate(self.corpus_ids)}
        all_scores, all_positions = [], []
        for row, query in enumerate(queries):
            candidates = top_ranked.get(query_idx_to_id[row]) or []
            if not candidates:
                all_scores.append([])
                all_positions.append([])
                continue
            local = DenseRetriever.build(self.retriever.rows([corpus_row[d] for d in candidates]))
            positions, scores = local.search(query[None], top_k)  # positions within `candidates`
            all_scores.append(scores[0].tolist())
            all_positions.append(positions[0].tolist())
        return all_scores, all_positions

    def clear(self) -> None:
        """Forget the corpus."""
        self.retriever, self.corpus_ids = None, []


def faiss_search_model(encoder: Any) -> SearchEncoderWrapper:
    """Wrap an mteb encoder so retrieval tasks index the corpus in the dense retriever and search it there.

    Only inner-product similarities (cosine, dot) have an index; a euclidean model keeps mteb's own search.
    """
    similarity = encoder.mteb_model_meta.similarity_fn_name
    if similarity not in (ScoringFunction.COSINE, ScoringFunction.DOT_PRODUCT):
        return SearchEncoderWrapper(encoder)
    return SearchEncoderWrapper(encoder, index_backend=DenseSearchIndex(normalize=similarity is ScoringFunction.COSINE))
