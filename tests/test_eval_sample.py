"""The `sample` option of evaluation-task specs: cheaper tasks that keep what scoring needs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from conftest import DATA_ROOT
from embedlab.eval_tasks.loading import load_task, sample_data
from embedlab.eval_tasks.normalise import normalised_spec
from embedlab.eval_tasks.registry import builtin_specs, read_task_file
from embedlab.eval_tasks.spec import EvalTaskSpec


def builtin(name: str, **changes) -> EvalTaskSpec:
    spec = next(spec for spec in builtin_specs() if spec.name == name)
    return EvalTaskSpec.model_validate({**spec.model_dump(), **changes})


@pytest.fixture(scope="module")
def scifact():
    return load_task(builtin("SciFact"), DATA_ROOT)


def test_a_retrieval_sample_keeps_every_relevant_document_plus_seeded_others(scifact):
    full = scifact.data
    spec = builtin("SciFact", sample={"corpus": 100})
    data = sample_data(spec, full)
    relevant = {doc for docs in full["qrels"].values() for doc in docs}
    assert relevant <= set(data["corpus"]) and len(data["corpus"]) == len(relevant) + 100
    assert data["qrels"] == full["qrels"] and data["queries"] == full["queries"]
    assert list(data["corpus"]) == [doc for doc in full["corpus"] if doc in data["corpus"]]  # file order kept
    assert sample_data(spec, full) == data  # seeded
    assert sample_data(builtin("SciFact", sample={"corpus": 100}, sample_seed=7), full)["corpus"] != data["corpus"]
    assert sample_data(spec, data) == data  # sampling a sample keeps it: a prepared, sampled task reads back as is
    assert len(full["corpus"]) == 5183  # the input is not modified


def test_sampling_queries_keeps_their_documents_and_qrels(scifact):
    data = sample_data(builtin("SciFact", sample={"queries": 20, "corpus": 10}), scifact.data)
    assert len(data["queries"]) == 20 and set(data["qrels"]) == set(data["queries"])
    relevant = {doc for docs in data["qrels"].values() for doc in docs}
    assert relevant <= set(data["corpus"]) and len(data["corpus"]) == len(relevant) + 10


def test_load_task_applies_the_sample_to_rows_of_every_column():
    full = load_task(builtin("Banking77Classification"), DATA_ROOT).data
    task = load_task(builtin("Banking77Classification", sample={"train": 500, "test": 200}), DATA_ROOT)
    train, test = task.data["train"], task.data["test"]
    assert len(train["text"]) == len(train["label"]) == 500 and len(test["text"]) == 200
    pairs = set(zip(full["train"]["text"], full["train"]["label"]))
    assert set(zip(train["text"], train["label"])) <= pairs  # each text keeps its own label


def test_prepared_specs_drop_the_sample_their_files_already_hold():
    spec = builtin("STSBenchmark", sample={"test": 10})
    normalised = normalised_spec(spec, {"test": "STSBenchmark/test.jsonl"})
    assert normalised.sample == {} and normalised.name == "STSBenchmark"


@pytest.mark.parametrize("sample, message", [
    ({"qrels": 5}, "'qrels' is not a samplable file of a retrieval task"),
    ({"corpus": 0}, "sample.corpus must be a positive number of rows"),
    ({"train": 5}, "'train' is not a samplable file of a retrieval task; expected one of ['corpus', 'queries']"),
])
def test_bad_samples_are_rejected_naming_the_role(sample, message):
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        builtin("SciFact", sample=sample)


def test_a_task_file_can_sample(small_tasks, tmp_path):
    text = small_tasks.read_text().replace("  - name: TinyRetrieval\n    type: retrieval\n",
                                           "  - name: TinyRetrieval\n    type: retrieval\n    sample: {corpus: 1}\n")
    sampled = tmp_path / "sampled.yaml"
    sampled.write_text(text.replace("path: ", f"path: {small_tasks.parent}/"))
    spec = next(s for s in read_task_file(sampled) if s.name == "TinyRetrieval")
    corpus = load_task(spec, tmp_path).data["corpus"]
    assert {"d0", "d2"} <= set(corpus) and len(corpus) == 3  # the two relevant documents plus one other
