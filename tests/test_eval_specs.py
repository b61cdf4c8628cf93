"""Task specs and readers on the real data root: row counts and parsing rules of the built-in tasks."""

from __future__ import annotations

import pytest

from conftest import DATA_ROOT
from embedlab.errors import UserError
from embedlab.eval_tasks.loading import load_task
from embedlab.eval_tasks.registry import builtin_specs, read_task_file, resolve_tasks


def builtin(name):
    return next(spec for spec in builtin_specs() if spec.name == name)


def test_stsb_test_split_reads_all_rows_with_quotes_intact():
    task = load_task(builtin("STSBenchmark"), DATA_ROOT)
    test = task.data["test"]
    assert len(test["score"]) == 1379  # SOURCES.md: test 1,379
    assert all(0 <= s <= 5 for s in test["score"])
    assert any('"' in s for s in test["sentence1"] + test["sentence2"])  # QUOTE_NONE keeps stray quotes


def test_scifact_keeps_test_queries_and_all_documents():
    task = load_task(builtin("SciFact"), DATA_ROOT)
    assert len(task.data["corpus"]) == 5183
    assert len(task.data["qrels"]) == 300 and set(task.data["queries"]) == set(task.data["qrels"])
    assert sum(len(docs) for docs in task.data["qrels"].values()) == 339


def test_banking77_has_77_intents():
    task = load_task(builtin("Banking77Classification"), DATA_ROOT)
    assert len(task.data["train"]["text"]) == 10003 and len(task.data["test"]["text"]) == 3080
    assert len(set(task.data["test"]["label"])) == 77


def test_file_hashes_identify_content():
    task = load_task(builtin("STSBenchmark"), DATA_ROOT)
    assert set(task.file_hashes) == {"test"} and len(task.file_hashes["test"]) == 64  # the full sha256


def test_task_file_adds_user_tasks_and_names_select(small_tasks):
    refs = resolve_tasks([], [small_tasks], DATA_ROOT)
    assert [r.spec.name for r in refs] == ["TinySTS", "TinyRetrieval", "TinyClassification", "TinyClustering",
                                           "TinyPairs"]
    refs = resolve_tasks(["STSBenchmark", "TinySTS"], [small_tasks], DATA_ROOT)
    assert [r.spec.name for r in refs][:2] == ["STSBenchmark", "TinySTS"]
    assert refs[0].base_dir == DATA_ROOT and refs[1].base_dir == small_tasks.parent


def test_every_small_task_loads(small_tasks):
    for spec in read_task_file(small_tasks):
        assert load_task(spec, small_tasks.parent).data


def test_duplicate_task_names_rejected(small_tasks, tmp_path):
    copy = tmp_path / "again.yaml"
    copy.write_text(small_tasks.read_text().replace("path: ", f"path: {small_tasks.parent}/"))
    with pytest.raises(UserError, match="defined more than once"):
        resolve_tasks([], [small_tasks, copy], DATA_ROOT)
