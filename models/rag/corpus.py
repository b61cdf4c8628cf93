"""Ingestion (EasyRAG §3): a user's documents -> `Document`s -> token-counted `Chunk`s.

Readers: a folder of `.txt` / `.md` files (recursively, sorted; each file's path relative to the folder is its
knowledge path, its id), or a JSON-lines file with `text` and optional `_id`, `path`, `title` (BEIR's
corpus.jsonl is one: the knowledge path is `path`, else `title`). A chunk keeps its document's id and path; its
`product` is the first component of the path (EasyRAG's `dir`, the question's `document` filter).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from embedlab.errors import DataError
from embedlab.jsonlines import read_json_lines
from embedlab.models.rag.chunking import SentenceSplitter

SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Document:
    doc_id: str
    path: str  # the knowledge path (EasyRAG's know_path); "" where there is none
    text: str


@dataclass(frozen=True)
class Chunk:
    chunk_id: int  # position in the index
    doc_id: str
    path: str
    text: str

    @property
    def product(self) -> str:
        """The first component of the path (EasyRAG's `dir`: director / emsplus / rcp / umac)."""
        return self.path.split("/", 1)[0]

    def as_dict(self) -> dict:
        return asdict(self)


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise DataError(path, "empty document")
    return text


def _from_folder(folder: Path) -> Iterator[Document]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise DataError(folder, f"no readable documents (expected {' or '.join(SUFFIXES)} files)")
    for file in files:
        relative = file.relative_to(folder).as_posix()
        yield Document(relative, relative, _read_text(file))


def _from_jsonl(path: Path) -> Iterator[Document]:
    seen = 0
    for number, row in read_json_lines(path):
        if not isinstance(row.get("text"), str):
            raise DataError(path, "expected a JSON object with a string field 'text'", number)
        if not row["text"].strip() and not str(row.get("title") or "").strip():
            raise DataError(path, "field 'text' is empty", number)
        seen += 1
        yield Document(str(row.get("_id", row.get("id", number))), str(row.get("path") or row.get("title") or ""),
                       row["text"])
    if not seen:
        raise DataError(path, "no documents (expected JSON lines with a 'text' field)")


def read_documents(source: Path) -> list[Document]:
    """The documents of a folder or a JSON-lines file; DataError (file, line, field) for anything unreadable."""
    if source.is_dir():
        return list(_from_folder(source))
    if not source.is_file():
        raise DataError(source, "does not exist (expected a folder of .txt/.md files or a .jsonl file)")
    if source.suffix.lower() not in (".jsonl", ".json"):
        raise DataError(source, "expected a folder of .txt/.md files or a .jsonl file")
    return list(_from_jsonl(source))


def chunk_documents(documents: list[Document], splitter: SentenceSplitter) -> list[Chunk]:
    """Every document's chunks, numbered 0.. in document order (a document too short to split is one chunk)."""
    chunks: list[Chunk] = []
    for document in documents:
        for text in splitter.split(document.text) or [""]:
            chunks.append(Chunk(len(chunks), document.doc_id, document.path, text))
    return chunks
