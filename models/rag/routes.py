"""The dual-route coarse ranking of EasyRAG (§4), over one saved index of chunks.

- Route 1 (chunk route): BM25 over content variant 2, `"###\\n" + path + "\\n\\n" + chunk`. Candidates best first,
  the scan stops at the first score <= 0; with a product filter (the question's `document` field) only chunks
  whose product (first path component) matches are kept; at most `route1_top_k` (192).
- Route 2 (path route): BM25 over the path alone (content variant 5), top `route2_top_k` (6) with score > 0, no
  product filter (as in EasyRAG's code).
- Fusion of the two lists (fusion.py): `merge` (the paper's) or `rrf`.

Saved as a folder: `chunks.jsonl`, `route1/` and `route2/` (bm25s) and `index.json` (settings, counts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import DataError
from embedlab.models.rag.bm25 import BM25Retriever
from embedlab.models.rag.corpus import Chunk
from embedlab.models.rag.fusion import FUSIONS

INDEX_FILE = "index.json"


def route1_text(chunk: Chunk) -> str:
    """Content variant 2: the knowledge path, then the chunk."""
    return f"###\n{chunk.path}\n\n{chunk.text}"


def reranker_text(chunk: Chunk) -> str:
    """Content variant 1: the (file) path, then the chunk: what the reranker reads."""
    return f"###\n{chunk.path}\n\n{chunk.text}" if chunk.path else chunk.text


@dataclass
class RouteSettings:
    route1_top_k: int = 192
    route2_top_k: int = 6
    fusion: str = "merge"
    fusion_options: dict[str, Any] | None = None


class RagIndex:
    """Chunks plus the two BM25 routes over them (ids = chunk positions)."""

    def __init__(self, chunks: list[Chunk], route1: BM25Retriever, route2: BM25Retriever, meta: dict[str, Any]):
        self.chunks, self.route1, self.route2, self.meta = chunks, route1, route2, meta

    @classmethod
    def build(cls, chunks: list[Chunk], tokenizer: Any, bm25: dict[str, Any], meta: dict[str, Any]) -> RagIndex:
        ids = [c.chunk_id for c in chunks]
        route1, route2 = BM25Retriever(tokenizer, **bm25), BM25Retriever(tokenizer, **bm25)
        route1.index(ids, [route1_text(c) for c in chunks])
        route2.index(ids, [c.path for c in chunks])
        return cls(chunks, route1, route2, {**meta, "chunks": len(chunks), "documents": len({c.doc_id for c in chunks})})

    def save(self, folder: Path) -> None:
        """Write into the (empty, temp) `folder`."""
        (folder / "chunks.jsonl").write_text("".join(json.dumps(c.as_dict(), ensure_ascii=False) + "\n"
                                                     for c in self.chunks), encoding="utf-8")
        for name, route in (("route1", self.route1), ("route2", self.route2)):
            (folder / name).mkdir()
            route.save(folder / name)
        (folder / INDEX_FILE).write_text(json.dumps(self.meta, indent=1, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, tokenizer: Any) -> RagIndex:
        """The index in `folder`; UserError if it is missing or was built with another tokenizer."""
        if not (folder / INDEX_FILE).is_file():
            raise DataError(folder, f"no index here (no {INDEX_FILE}); build one with `embedlab rag index`")
        meta = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
        lines = (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
        chunks = [Chunk(**json.loads(line)) for line in lines]
        return cls(chunks, BM25Retriever.load(folder / "route1", tokenizer),
                   BM25Retriever.load(folder / "route2", tokenizer), meta)

    def route1_hits(self, query: str, top_k: int, product: str | None = None) -> list[tuple[int, float]]:
        """Route 1: best first, stopping at the first score <= 0, product-filtered, at most top_k."""
        depth = len(self.route1) if product else top_k
        ids, scores = self.route1.search([query], depth)
        hits = []
        for chunk, score in zip(ids[0].tolist(), scores[0].tolist(), strict=True):
            if score <= 0 or len(hits) == top_k:
                break
            if product is None or self.chunks[chunk].product == product:
                hits.append((chunk, score))
        return hits

    def route2_hits(self, query: str, top_k: int) -> list[tuple[int, float]]:
        """Route 2: the top_k chunks by path alone, score > 0."""
        ids, scores = self.route2.search([query], top_k)
        return [(c, s) for c, s in zip(ids[0].tolist(), scores[0].tolist(), strict=True) if s > 0]

    def retrieve(self, query: str, settings: RouteSettings, product: str | None = None) -> list[tuple[int, float]]:
        """Both routes fused: [(chunk id, fused score)], best first."""
        routes = [self.route1_hits(query, settings.route1_top_k, product)]
        if settings.route2_top_k > 0:
            routes.append(self.route2_hits(query, settings.route2_top_k))
        options = FUSIONS.params(settings.fusion, settings.fusion_options or {}, "rag.fusion_options")
        return FUSIONS.get(settings.fusion)(routes, lambda c: self.chunks[c].text, **options.model_dump())

    def ranked_documents(self, query_hits: Sequence[tuple[int, float]]) -> list[str]:
        """Document ids in the order of their first chunk in `query_hits` (chunks of one document collapse)."""
        seen: dict[str, None] = {}
        for chunk, _ in query_hits:
            seen.setdefault(self.chunks[chunk].doc_id, None)
        return list(seen)


def as_hits(ids: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    """One row of a search as [(id, score)] pairs."""
    return list(zip(ids.tolist(), scores.tolist(), strict=True))
