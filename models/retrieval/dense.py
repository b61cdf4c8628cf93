"""Exact dense retrieval: the inner product of a query with every indexed vector (faiss `IndexFlatIP`), on all
GPUs when `faiss-gpu` sees one. Cosine similarity is the inner product of L2-normalised vectors (`normalize`).

This module holds the project's one faiss import.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch

from embedlab.errors import UserError

try:
    import faiss
except ImportError:  # pragma: no cover - depends on the install
    raise UserError("faiss is not installed: pip install 'embedlab[cpu]' (or 'embedlab[gpu]' on CUDA machines)") from None

GPU_MAX_K = 2048  # faiss-gpu selects at most this many results per query; deeper searches run on the CPU index


def faiss_gpu_count() -> int:
    """GPUs usable by faiss: 0 with `faiss-cpu`, or with `faiss-gpu` on a machine without CUDA."""
    return faiss.get_num_gpus() if hasattr(faiss, "StandardGpuResources") else 0


def as_float32(vectors: Any) -> np.ndarray:
    """A C-contiguous float32 copy (N, D) of a tensor (any device or dtype) or array-like."""
    if isinstance(vectors, torch.Tensor):
        vectors = vectors.detach().to("cpu", torch.float32).numpy()
    return np.array(vectors, dtype=np.float32, order="C", copy=True)


class DenseRetriever:
    """`Retriever` over vectors by exact maximum inner product.

    Flat indexes compare the query with every vector, so results equal a brute-force sort up to float rounding.
    With `faiss-gpu` the index is copied to all GPUs (searches of k <= GPU_MAX_K run there).

    Args:
        normalize: L2-normalise documents and queries first (cosine similarity).
    """

    def __init__(self, normalize: bool = False) -> None:
        self.normalize = normalize
        self._ids = np.empty(0, dtype=np.int64)
        self._cpu: Any = None
        self._gpu: Any = None

    @classmethod
    def build(cls, vectors: Any, ids: Sequence[Hashable] | None = None, normalize: bool = False) -> DenseRetriever:
        """A retriever holding `vectors` (N, D) under `ids` (default: the row numbers 0..N-1)."""
        retriever = cls(normalize)
        retriever.index(range(len(vectors)) if ids is None else ids, vectors)
        return retriever

    def index(self, ids: Sequence[Hashable], vectors: Any) -> None:
        """Replace the corpus with `vectors` (N, D); row i has id `ids[i]`."""
        matrix = self.prepare(vectors)
        if len(ids) != matrix.shape[0]:
            raise ValueError(f"{len(ids)} ids for {matrix.shape[0]} vectors")
        self._ids = np.asarray(ids)
        self._cpu = faiss.IndexFlatIP(matrix.shape[1])
        self._cpu.add(matrix)
        self._gpu = faiss.index_cpu_to_all_gpus(self._cpu) if faiss_gpu_count() > 0 else None

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the min(k, N) best documents for each of `queries` (Q, D), best first.

        Scores are float32 inner products (Q, k'). Equal scores come in faiss's order (not guaranteed by it).
        """
        if self._cpu is None:
            raise RuntimeError("search before index")
        depth = min(k, len(self))
        index = self._gpu if self._gpu is not None and depth <= GPU_MAX_K else self._cpu
        scores, rows = index.search(self.prepare(queries), depth)
        return self._ids[rows], scores

    def rows(self, positions: Sequence[int]) -> np.ndarray:
        """(len(positions), D) float32: the indexed vectors at those positions (after normalisation)."""
        return self._cpu.reconstruct_batch(np.asarray(positions, dtype=np.int64))

    def prepare(self, vectors: Any) -> np.ndarray:
        """(N, D) float32 copy of `vectors` as this retriever indexes and searches them (normalised or not)."""
        matrix = as_float32(vectors)
        if self.normalize:
            faiss.normalize_L2(matrix)
        return matrix
