"""The optional dense route of an EasyRAG index (issue 14: "an optional dense index through the shared retrieval
module"): every chunk encoded as `path + " " + text` (BEIR's title + text) by a sentence encoder, searched by
cosine similarity with the one retrieval module (`embedlab.models.retrieval.dense.DenseRetriever`, exact
inner product of L2-normalised vectors). It joins the BM25 routes in fusion (fusion.py): with `rrf` its ranks
count like theirs; `merge` sorts raw scores, so cosine scores (at most 1) fall behind BM25's.

Saved in the index folder as `dense/vectors.npy` (N, D) float32 and `dense/dense.json` (the encoder's spec and
fingerprint, the dimension): an index is only searched with the encoder it was built with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import UserError
from embedlab.models.rag.corpus import Chunk
from embedlab.models.retrieval.dense import DenseRetriever

FOLDER, VECTORS, META = "dense", "vectors.npy", "dense.json"


def dense_text(chunk: Chunk) -> str:
    """What the encoder reads of a chunk: its knowledge path (a title) then its text."""
    return f"{chunk.path} {chunk.text}" if chunk.path else chunk.text


class DenseRoute:
    """Chunk vectors (N, D) under the chunk ids, and the encoder that made them (it encodes the queries)."""

    def __init__(self, ids: list[int], vectors: np.ndarray, encoder: Any) -> None:
        """`encoder`: texts -> (N, D) vectors, with `spec` and `fingerprint` (`embedlab.models.cached_encoder`)."""
        self.ids, self.vectors, self.encoder = ids, vectors, encoder
        self.retriever = DenseRetriever.build(vectors, ids, normalize=True)

    @classmethod
    def build(cls, chunks: list[Chunk], encoder: Any) -> DenseRoute:
        return cls([c.chunk_id for c in chunks], encoder([dense_text(c) for c in chunks]), encoder)

    def identity(self) -> dict[str, Any]:
        return {"model": self.encoder.spec, "fingerprint": self.encoder.fingerprint,
                "dimension": int(self.vectors.shape[1])}

    def hits(self, query: str, top_k: int) -> list[tuple[int, float]]:
        """The top_k chunks by cosine similarity to `query`, best first: [(chunk id, cosine)]."""
        ids, scores = self.search([query], top_k)
        return list(zip(ids[0].tolist(), scores[0].tolist(), strict=True))

    def search(self, queries: list[str], top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, cosines), both (Q, min(top_k, N)), best first."""
        return self.retriever.search(self.encoder(queries), top_k)

    def save(self, index_folder: Path) -> None:
        folder = index_folder / FOLDER
        folder.mkdir()
        np.save(folder / VECTORS, self.vectors)
        (folder / META).write_text(json.dumps({**self.identity(), "ids": self.ids}), encoding="utf-8")

    @classmethod
    def load(cls, index_folder: Path, encoder: Any) -> DenseRoute:
        """The saved route; UserError if the index has none or was encoded by another model than `encoder`."""
        folder = index_folder / FOLDER
        if not (folder / META).is_file():
            raise UserError(f"{index_folder}: the index has no dense route (rag.dense.enabled was false when it "
                            "was built); rebuild it with `embedlab rag index -S rag.dense.enabled=true` or set "
                            "rag.dense.enabled=false")
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        if meta["fingerprint"] != encoder.fingerprint:
            raise UserError(f"{index_folder}: dense route encoded with {meta['model']!r} (fingerprint "
                            f"{meta['fingerprint']}), but rag.dense.model is {encoder.spec!r} (fingerprint "
                            f"{encoder.fingerprint}); rebuild the index or set rag.dense.model={meta['model']}")
        return cls(meta["ids"], np.load(folder / VECTORS), encoder)
