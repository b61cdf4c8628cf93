"""The one JSON-lines reader (`embedlab.jsonlines`) and the readers built on it: the same rows, and the same
one-line errors naming the file and the line, whichever command reads the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedlab.errors import DataError
from embedlab.eval_tasks.readers import read_rows
from embedlab.eval_tasks.spec import FileSpec
from embedlab.image_text.triplet_readers import read_generated_triplets
from embedlab.jsonlines import read_json_lines
from embedlab.models.rag.corpus import read_documents
from embedlab.train_tasks import load_train_task
from embedlab.train_tasks.spec import TrainTaskSpec


def test_rows_come_with_their_line_numbers_blank_lines_skipped(tmp_path):
    path = tmp_path / "rows.jsonl"
    # CRLF endings, a blank and a white-space line, and a U+2028 inside a string (one line, not two)
    path.write_bytes('{"a": 1}\r\n\r\n   \n{"b": "x\u2028y"}\n{"c": [1, 2]}'.encode())
    assert list(read_json_lines(path)) == [(1, {"a": 1}), (4, {"b": "x\u2028y"}), (5, {"c": [1, 2]})]


def test_rows_before_a_bad_line_are_read_first(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\nnot json\n', encoding="utf-8")
    rows = read_json_lines(path)
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(DataError, match=r"rows\.jsonl:2: not valid JSON \(Expecting value\)"):
        next(rows)


# One line every reader below accepts (each ignores the others' fields).
GOOD = {"_id": "d1", "text": "a text", "sentence": "a", "levels": ["b"], "reference": "a.jpg",
        "modification": "a dog instead", "target": "b.jpg"}
GOOD_LINE = json.dumps(GOOD).encode() + b"\n"


def _hierarchical(path: Path):
    spec = TrainTaskSpec(format="hierarchical", files={"train": FileSpec(path=str(path))}, loss="hierarchical")
    return load_train_task("generated", spec, path.parent, seed=0).examples


READERS = {
    "evaluation corpus": lambda path: list(read_rows(path, "corpus", FileSpec(path=str(path)), ("_id", "text"))),
    "hierarchical sentences": _hierarchical,
    "RAG documents": read_documents,
    "generated triplets": lambda path: read_generated_triplets(path, path.parent),
}
# Line 3 of a file: a good line, a blank one, then this; the bad byte's offset counts both lines and `{"t": "` (7).
BAD = {
    b'[1, 2]\n': "rows.jsonl:3: expected a JSON object per line",
    b'{"t": \n': "rows.jsonl:3: not valid JSON (Expecting value)",
    b'{"t": "\xff"}\n': f"rows.jsonl:3: not UTF-8 text (byte {len(GOOD_LINE) + 1 + 7})",
}


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_reads_the_good_lines(tmp_path, reader):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(GOOD_LINE + b"\n" + GOOD_LINE)
    assert len(READERS[reader](path)) == 2


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("bad", BAD)
def test_every_reader_names_the_bad_line_alike(tmp_path, reader, bad):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(GOOD_LINE + b"\n" + bad)  # line 2 blank, line 3 bad
    with pytest.raises(DataError) as error:
        READERS[reader](path)
    assert str(error.value) == f"{tmp_path}/{BAD[bad]}"
