"""BM25-Extract context compression (EasyRAG §5.4, `src/easyrag/custom/compressors.py`; optional, off by
default as in the released pipeline, which builds the compressor and never calls it).

A chunk is cut into sentences (breaks after 。！？?!. and after an ellipsis, a closing quote staying with its
sentence); a BM25 index over that chunk's sentences scores each against the query; sentences are taken by
descending score until the characters taken reach `rate` × the chunk's length (the sentence that crosses the
line is kept), then put back in their original order and joined.
"""

from __future__ import annotations

import re
from typing import Any

from embedlab.models.rag.bm25 import BM25Retriever

SENTENCE_END = re.compile(r"(?:\.{6}|…{2}|[。！？?!.])[”’\"']?")


def cut_sentences(text: str) -> list[str]:
    """`text` split after each sentence end (terminator, ellipsis, closing quote); pieces joined give `text`."""
    pieces, start = [], 0
    for match in SENTENCE_END.finditer(text):
        pieces.append(text[start:match.end()])
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return [p for p in pieces if p]


def bm25_extract(query: str, chunk: str, rate: float, tokenizer: Any) -> str:
    """The chunk's highest-scoring sentences for `query`, about `rate` of its characters, in original order."""
    sentences = cut_sentences(chunk)
    if len(sentences) < 2:
        return chunk
    index = BM25Retriever(tokenizer)
    index.index(list(range(len(sentences))), sentences)
    scores = index.scores(query)
    budget, taken, kept = rate * len(chunk), 0, []
    for i in sorted(range(len(sentences)), key=lambda i: -scores[i]):
        if taken >= budget:
            break
        kept.append(i)
        taken += len(sentences[i])
    return "".join(sentences[i] for i in sorted(kept))
