"""Turning an EvalTask into an mteb task whose evaluator scores it, so scores are mteb's by construction."""

from __future__ import annotations

from typing import Any

import mteb
from datasets import Dataset, DatasetDict
from mteb.abstasks.classification import AbsTaskClassification
from mteb.abstasks.clustering import AbsTaskClustering
from mteb.abstasks.pair_classification import AbsTaskPairClassification
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata

from embedlab.eval_tasks.loading import EvalTask

_ABSTASK = {
    "sts": (AbsTaskSTS, "STS", "t2t"),
    "retrieval": (AbsTaskRetrieval, "Retrieval", "t2t"),
    "classification": (AbsTaskClassification, "Classification", "t2c"),
    "clustering": (AbsTaskClustering, "Clustering", "t2c"),
    "pair_classification": (AbsTaskPairClassification, "PairClassification", "t2t"),
}


def _label_ids(splits: dict[str, dict[str, list]]) -> dict[str, dict[str, list]]:
    """Labels as integers (sorted label names -> 0..n-1): mteb's binary metrics expect pos_label=1."""
    names = sorted({label for columns in splits.values() for label in columns["label"]})
    index = {name: i for i, name in enumerate(names)}
    return {split: {**columns, "label": [index[x] for x in columns["label"]]} for split, columns in splits.items()}


def to_mteb_dataset(task: EvalTask) -> Any:
    """The in-memory dataset in the layout mteb's evaluator of this task type reads."""
    kind, data = task.spec.type, task.data
    if kind == "retrieval":
        corpus = Dataset.from_dict({
            "id": list(data["corpus"]),
            "title": [doc["title"] for doc in data["corpus"].values()],
            "text": [doc["text"] for doc in data["corpus"].values()],
        })
        queries = Dataset.from_dict({"id": list(data["queries"]), "text": list(data["queries"].values())})
        split = {"corpus": corpus, "queries": queries, "relevant_docs": data["qrels"], "top_ranked": None}
        return {"default": {"test": split}}
    if kind == "sts":
        return DatasetDict({"test": Dataset.from_dict(data["test"])})
    if kind == "pair_classification":
        test = data["test"]
        # mteb stores pair-classification data as one row holding whole lists.
        row = {"sentence1": [test["sentence1"]], "sentence2": [test["sentence2"]], "labels": [test["label"]]}
        return DatasetDict({"test": Dataset.from_dict(row)})
    if kind == "clustering":
        test = _label_ids(data)["test"]
        return DatasetDict({"test": Dataset.from_dict({"sentences": test["text"], "labels": test["label"]})})
    return DatasetDict({split: Dataset.from_dict(columns) for split, columns in _label_ids(data).items()})


def _metadata(task: EvalTask) -> TaskMetadata:
    spec = task.spec
    _, mteb_type, category = _ABSTASK[spec.type]
    return TaskMetadata(
        name=spec.name,
        description=spec.description or f"User task {spec.name} from local files",
        dataset={"path": f"local/{spec.name}", "revision": "-".join(task.file_hashes.values())},
        type=mteb_type,
        category=category,
        modalities=["text"],
        eval_splits=["test"],
        eval_langs=[spec.language],
        main_score=spec.resolved_main_score,
    )


def to_mteb_task(task: EvalTask) -> mteb.AbsTask:
    """An mteb task instance with `task`'s data in place of the Hub download.

    Tasks with `mteb_task` set keep mteb's own class: its metadata and protocol (for example the classifier
    and sampling of Banking77Classification) apply, under the task's own name. `protocol` values set in the
    spec override the protocol either way. `load_data` is overridden to
    hand over the in-memory data, then mteb's own `dataset_transform` runs as after a Hub load.
    """
    spec = task.spec
    if spec.mteb_task:
        base = type(mteb.get_task(spec.mteb_task))
        attributes: dict[str, Any] = {}
        if spec.name != base.metadata.name:  # the user's name, so that two tasks of one mteb task stay apart
            attributes["metadata"] = base.metadata.model_copy(update={"name": spec.name})
    else:
        base = _ABSTASK[spec.type][0]
        attributes = {"metadata": _metadata(task)}
        if spec.type == "sts":
            attributes.update(min_score=spec.score_range[0], max_score=spec.score_range[1])
        if spec.type == "clustering":  # evaluate every document, not mteb's 4% sample for huge corpora
            attributes.update(max_fraction_of_documents_to_embed=None)
    attributes.update(spec.protocol.attributes())
    dataset = to_mteb_dataset(task)

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        self.dataset = dataset
        self.dataset_transform(num_proc=num_proc)
        self.data_loaded = True

    attributes["load_data"] = load_data
    cls = type(f"Local{base.__name__}", (base,), attributes)
    return cls()
