"""Sparse retrieval from aligned tokens (paper 5, arXiv 2406.17378, applications — a reconstruction: only a
third-party note of the method was available, so K, M and the query weights are parameters, not the paper's).

  document d: its top-K aligned tokens with their logits: w_d(t) = g(h_d)_t for t in topK(g(h_d)), else 0;
  query q:    its literal tokens (the tokenizer's ids, no special tokens) ∪ its top-M aligned tokens;
              `binary` weights w_q(t) = 1 (aligned tokens only where their logit is positive), or `logit`
              weights w_q(t) = g(h_q)_t (literal tokens too);
  score(q, d) = Σ_t w_q(t) w_d(t)  — over the tokens the two share.
The score is one sparse matrix product with the inverted index: the (V, N) CSR matrix whose row t is token t's
posting list (documents and weights), so a query touches only its own tokens' postings; no dense dot product.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np
from scipy import sparse

QueryWeights = Literal["binary", "logit"]


def document_matrix(ids: np.ndarray, logits: np.ndarray, vocab_size: int) -> sparse.csr_matrix:
    """(N, V) float32 CSR: row n holds document n's top-K tokens `ids[n]` (N, K) with weights `logits[n]`."""
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    return sparse.csr_matrix((logits.reshape(-1).astype(np.float32), (rows, ids.reshape(-1))),
                             shape=(len(ids), vocab_size))


def query_matrix(ids: np.ndarray, logits: np.ndarray, literal: Sequence[Sequence[int]] | None, vocab_size: int,
                 weights: QueryWeights = "binary", full_logits: np.ndarray | None = None) -> sparse.csr_matrix:
    """(Q, V) float32 CSR of the queries' token sets: top-M aligned `ids` (Q, M) with their `logits`, plus the
    `literal` ids of each query (None: aligned tokens only).

    binary: weight 1 on each aligned token with a positive logit and on each literal token. logit: each token's
    own logit, read from `full_logits` (Q, V) for literal tokens outside the top M (needed then).
    """
    rows, cols, values = [], [], []
    for q in range(len(ids)):
        chosen = {int(t): float(v) for t, v in zip(ids[q], logits[q]) if weights == "logit" or v > 0}
        for t in (literal[q] if literal is not None else ()):
            if t not in chosen:
                if weights == "logit" and full_logits is None:
                    raise ValueError("logit weights on literal tokens need full_logits")
                chosen[int(t)] = 1.0 if weights == "binary" else float(full_logits[q, t])
        tokens = sorted(chosen)
        rows += [q] * len(tokens)
        cols += tokens
        values += [1.0 if weights == "binary" else chosen[t] for t in tokens]
    return sparse.csr_matrix((np.asarray(values, dtype=np.float32), (rows, cols)), shape=(len(ids), vocab_size))


def index_bytes(matrix: sparse.csr_matrix) -> int:
    """Bytes of a CSR matrix's arrays (weights, token or document ids, row pointers)."""
    return int(matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes)


class SparseTokenRetriever:
    """`Retriever` over sparse token vectors: `index(ids, D)` with D (N, V) CSR, `search(Q, k)` with Q (Q, V) CSR.

    Documents are stored as the inverted index P = Dᵀ (V, N) in CSR form (one posting list per token); scores are
    Q P (sparse × sparse). Ties, and documents sharing no token with the query (score 0), go to the lower
    position, as in `embedlab.models.retrieval.ranks`.
    """

    def __init__(self) -> None:
        self._ids = np.empty(0, dtype=object)
        self.postings: sparse.csr_matrix | None = None

    def index(self, ids: Sequence[Hashable], documents: sparse.spmatrix) -> None:
        """Replace the corpus: row i of `documents` (N, V) is the document with id `ids[i]`."""
        if len(ids) != documents.shape[0]:
            raise ValueError(f"{len(ids)} ids for {documents.shape[0]} documents")
        self._ids = np.asarray(ids)
        self.postings = sparse.csr_matrix(documents, dtype=np.float32).T.tocsr()
        self.postings.sort_indices()

    def __len__(self) -> int:
        return len(self._ids)

    def scores(self, queries: sparse.spmatrix) -> np.ndarray:
        """(Q, N) float32 scores Σ_t w_q(t) w_d(t): the sparse product with the posting lists, then densified."""
        if self.postings is None:
            raise RuntimeError("search before index")
        return np.asarray((sparse.csr_matrix(queries, dtype=np.float32) @ self.postings).todense(), dtype=np.float32)

    def search(self, queries: sparse.spmatrix, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), both (Q, min(k, N)): each query's best documents, best first (ties: lower position)."""
        scores = self.scores(queries)
        depth = min(k, len(self))
        order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
        return self._ids[order], np.take_along_axis(scores, order, axis=1)
