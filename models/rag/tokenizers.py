"""Pluggable BM25 tokenizers (EasyRAG §4): a text -> its list of index terms.

- `english`: lower-case, the regex words `(?u)\\b\\w\\w+\\b`, bm25s' English stop words, the Snowball English
  stemmer (PyStemmer), in that order: the same terms as `bm25s.tokenize(text, stopwords="en", stemmer=...)`.
- `chinese`: jieba's accurate mode (HMM on), minus the HIT stop words (the data root's
  `easyrag/hit_stopwords.txt`, one word a line) and whitespace tokens, as the paper's retriever does.

A tokenizer's `identity` is stored with an index, so that a query is never tokenized differently from the index.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedlab.errors import DataError
from embedlab.registry import Registry

WORD = re.compile(r"(?u)\b\w\w+\b")


@dataclass
class EnglishTokenizer:
    """Lower-case regex words, stop words removed, then Snowball-stemmed (bm25s' tokenizer with PyStemmer)."""

    name: str = "english"
    _stemmer: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        self._stemmer = Stemmer.Stemmer("english")
        self._stop = frozenset(STOPWORDS_EN)

    @property
    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "stemmer": "snowball-english", "stopwords": "bm25s-en"}

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        """Terms of each text: list (len(texts)) of lists of str."""
        words = [[w for w in WORD.findall(text.lower()) if w not in self._stop] for text in texts]
        return [self._stemmer.stemWords(ws) for ws in words]


@dataclass
class ChineseTokenizer:
    """jieba (accurate mode, HMM on) minus the stop words of `stopwords` (the HIT list) and whitespace."""

    stopwords: Path
    name: str = "chinese"

    def __post_init__(self) -> None:
        import jieba

        if not self.stopwords.is_file():
            raise DataError(self.stopwords, "stop-word file does not exist (rag.stopwords)")
        try:
            lines = self.stopwords.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DataError(self.stopwords, "not UTF-8 text") from None
        self._stop = frozenset(line.strip() for line in lines if line.strip())
        self._jieba = jieba.Tokenizer()
        jieba.setLogLevel(60)  # no "Building prefix dict" lines on stderr

    @property
    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "stopwords": len(self._stop)}

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        return [[t for t in self._jieba.cut(text) if t.strip() and t not in self._stop] for text in texts]


def _english(stopwords: Path | None) -> EnglishTokenizer:
    """Lower-case regex words, bm25s' English stop words, Snowball English stemmer (the SciFact stand-in)."""
    return EnglishTokenizer()


def _chinese(stopwords: Path | None) -> ChineseTokenizer:
    """jieba accurate mode minus the HIT stop words (`rag.stopwords`), as the paper's BM25 routes."""
    if stopwords is None:
        raise DataError("rag.stopwords", "the chinese tokenizer needs a stop-word file")
    return ChineseTokenizer(Path(stopwords))


TOKENIZERS: Registry[Any] = Registry("tokenizer", {"english": _english, "chinese": _chinese})


def build_tokenizer(name: str, stopwords: Path | None = None) -> EnglishTokenizer | ChineseTokenizer:
    """The tokenizer registered as `name` (UserError with a did-you-mean otherwise)."""
    return TOKENIZERS.get(name)(stopwords)
