"""Exact dense top-k search through faiss `IndexFlatIP`, on the GPU where `faiss-gpu` sees one."""

from __future__ import annotations

from typing import Any

from embedlab.errors import UserError

try:
    import faiss
except ImportError:  # pragma: no cover - depends on the install
    raise UserError("faiss is not installed: pip install 'embedlab[cpu]' (or 'embedlab[gpu]' on CUDA machines)") from None

from mteb.models.search_encoder_index.search_indexes import FaissSearchIndex
from mteb.models.search_wrappers import SearchEncoderWrapper


def faiss_gpu_count() -> int:
    """GPUs usable by faiss: 0 with `faiss-cpu`, or with `faiss-gpu` on a machine without CUDA."""
    return faiss.get_num_gpus() if hasattr(faiss, "StandardGpuResources") else 0


class ExactFaissIndex(FaissSearchIndex):
    """mteb's faiss backend (IndexFlatIP on normalised vectors for cosine models), moved to all GPUs when present.

    Flat indexes are exact, so the scores equal mteb's brute-force search up to float rounding.
    """

    def add_documents(self, embeddings: Any, idxs: list[str]) -> None:
        super().add_documents(embeddings, idxs)
        if faiss_gpu_count() > 0 and not hasattr(self.index, "getDevice"):
            self.index = faiss.index_cpu_to_all_gpus(self.index)


def faiss_search_model(encoder: Any) -> SearchEncoderWrapper:
    """Wrap an mteb encoder so retrieval tasks index the corpus in faiss and search it there."""
    return SearchEncoderWrapper(encoder, index_backend=ExactFaissIndex(encoder))
