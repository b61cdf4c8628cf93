"""The schema of an evaluation task: built-in tasks and a user's `--task-file` share it (a task is data)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TaskType = Literal["sts", "retrieval", "classification", "clustering", "pair_classification"]

# The files each task type reads, and the columns each file must provide (optional ones in OPTIONAL_COLUMNS).
ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    "sts": {"test": ("sentence1", "sentence2", "score")},
    "retrieval": {"corpus": ("id", "text"), "queries": ("id", "text"), "qrels": ("query_id", "doc_id")},
    "classification": {"train": ("text", "label"), "test": ("text", "label")},
    "clustering": {"test": ("text", "label")},
    "pair_classification": {"test": ("sentence1", "sentence2", "label")},
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {"corpus": ("title",), "qrels": ("score",)}

# Column names used when a file spec does not map a column (BEIR's for retrieval files).
DEFAULT_COLUMN_NAMES: dict[str, dict[str, str]] = {
    "corpus": {"id": "_id", "text": "text", "title": "title"},
    "queries": {"id": "_id", "text": "text"},
    "qrels": {"query_id": "query-id", "doc_id": "corpus-id", "score": "score"},
}

DEFAULT_MAIN_SCORE: dict[str, str] = {
    "sts": "cosine_spearman",
    "retrieval": "ndcg_at_10",
    "classification": "accuracy",
    "clustering": "v_measure",
    "pair_classification": "max_ap",
}


_RETRIEVAL_METRICS = [f"{m}_at_{k}" for m in ("ndcg", "map", "recall", "precision", "mrr", "hit_rate")
                      for k in (1, 3, 5, 10, 20, 100, 1000)]
_CORRELATIONS = [f"{p}{c}" for p in ("", "cosine_", "manhattan_", "euclidean_", "dot_") for c in ("pearson", "spearman")]
# The metrics mteb's evaluator of each type reports; `main_score` must be one of them.
METRICS: dict[str, list[str]] = {
    "sts": _CORRELATIONS,
    "retrieval": _RETRIEVAL_METRICS,
    "classification": ["accuracy", "f1", "f1_weighted", "precision", "precision_weighted", "recall",
                       "recall_weighted", "ap", "ap_weighted"],
    "clustering": ["v_measure"],
    "pair_classification": [f"{p}_{m}" for p in ("max", "similarity", "cosine", "manhattan", "euclidean", "dot")
                            for m in ("accuracy", "f1", "precision", "recall", "ap")],
}


class FileSpec(BaseModel):
    """One data file: where it is, how it is laid out, which rows to keep, and which column holds what.

    `columns` maps a role column (e.g. `score`) to a header name, a JSON key, a 0-based index for files without
    a header, or a template joining several of them (`"{title}. {description}"`; `"{0} {1}"` without a header).
    Unmapped columns use the role's default name (see DEFAULT_COLUMN_NAMES). `filter` keeps only the rows whose
    named column holds the given value (or one of the given values), e.g. `{split: TEST}`.
    """

    model_config = ConfigDict(extra="forbid")

    path: str
    format: Literal["csv", "tsv", "jsonl"] | None = Field(None, description="inferred from the suffix if absent")
    delimiter: str | None = Field(None, min_length=1, max_length=1,
                                  description="field separator of a delimited file (default: ',' csv, tab tsv)")
    header: bool = True
    columns: dict[str, str | int] = Field(default_factory=dict)
    filter: dict[str | int, str | int | list[str | int]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_layout(self) -> FileSpec:
        if self.delimiter and self.format == "jsonl":
            raise ValueError("delimiter applies to csv/tsv files, not jsonl")
        if self.format is None and self.delimiter is None and Path(self.path).suffix.lower() not in SUFFIX_FORMATS:
            raise ValueError(f"cannot tell how {self.path!r} is laid out from its suffix; set format "
                             "(csv, tsv or jsonl) or delimiter")
        return self

    def resolved_format(self) -> str:
        if self.format:
            return self.format
        return SUFFIX_FORMATS.get(Path(self.path).suffix.lower(), "csv")

    def resolved_delimiter(self) -> str:
        return self.delimiter or ("\t" if self.resolved_format() == "tsv" else ",")

    def filter_values(self) -> dict[str | int, set[str]]:
        """`filter` with every accepted value as text: column -> values."""
        return {key: {str(v) for v in (values if isinstance(values, list) else [values])}
                for key, values in self.filter.items()}


# File suffixes whose layout is known; any other needs `format` or `delimiter`.
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


class ProtocolParams(BaseModel):
    """mteb's evaluation protocol for classification and clustering tasks; unset values keep mteb's defaults
    for the task type (classification: `samples_per_label` 8, `n_experiments` 10; clustering: `n_clusters` 10
    experiments) or, with `mteb_task`, that task's own settings."""

    model_config = ConfigDict(extra="forbid")

    samples_per_label: int | None = Field(None, gt=0, description="classification: training examples per label")
    n_experiments: int | None = Field(None, gt=0, description="classification: repeated samplings averaged")
    n_clusters: int | None = Field(None, gt=0, description="clustering: experiments over subsets averaged")

    def attributes(self) -> dict[str, int]:
        return self.model_dump(exclude_none=True)


PROTOCOL_TYPES = {"samples_per_label": "classification", "n_experiments": "classification",
                  "n_clusters": "clustering"}


class EvalTaskSpec(BaseModel):
    """An evaluation task defined by files.

    `mteb_task` names the mteb task whose metadata and protocol (splits, classifier, k values) are
    used with these files; without it, mteb's evaluator of `type` runs with metadata built here.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    type: TaskType
    files: dict[str, FileSpec]
    main_score: str | None = None
    score_range: tuple[float, float] = (0.0, 5.0)
    language: str = "eng-Latn"
    description: str = ""
    mteb_task: str | None = None
    sample: dict[str, int] = Field(default_factory=dict, description=(
        "role -> n: keep a seeded random sample of n rows of that file (a cheaper task; scores are not comparable "
        "with the full task's). Retrieval: `queries` keeps n queries, `corpus` every relevant document of the "
        "kept queries plus n others"))
    sample_seed: int = Field(42, description="seed of `sample`")
    protocol: ProtocolParams = Field(default_factory=ProtocolParams)

    @model_validator(mode="after")
    def _check_files(self) -> EvalTaskSpec:
        expected = set(ROLES[self.type])
        given = set(self.files)
        if given != expected:
            missing, extra = sorted(expected - given), sorted(given - expected)
            parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
            raise ValueError(f"files of a {self.type} task must be {sorted(expected)}: {', '.join(parts)}")
        for role, file in self.files.items():
            allowed = set(ROLES[self.type][role]) | set(OPTIONAL_COLUMNS.get(role, ()))
            unknown = sorted(set(file.columns) - allowed)
            if unknown:
                raise ValueError(f"files.{role}.columns: unknown column role(s) {unknown}; expected {sorted(allowed)}")
        samplable = set(self.files) - ({"qrels"} if self.type == "retrieval" else set())
        for role, size in self.sample.items():
            if role not in samplable:
                raise ValueError(f"sample: {role!r} is not a samplable file of a {self.type} task; "
                                 f"expected one of {sorted(samplable)}")
            if size <= 0:
                raise ValueError(f"sample.{role} must be a positive number of rows, got {size}")
        if self.main_score and self.main_score not in METRICS[self.type]:
            close = difflib.get_close_matches(self.main_score, METRICS[self.type], n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; expected one of {METRICS[self.type]}"
            raise ValueError(f"main_score {self.main_score!r} is not a metric of {self.type} tasks{hint}")
        for key in self.protocol.attributes():
            if PROTOCOL_TYPES[key] != self.type:
                raise ValueError(f"protocol.{key} applies to {PROTOCOL_TYPES[key]} tasks, not {self.type}")
        if self.score_range[0] >= self.score_range[1]:
            raise ValueError(f"score_range must be [low, high] with low < high, got {list(self.score_range)}")
        return self

    @property
    def resolved_main_score(self) -> str:
        return self.main_score or DEFAULT_MAIN_SCORE[self.type]


class TaskFile(BaseModel):
    """A YAML task file: `tasks: [EvalTaskSpec, ...]`."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[EvalTaskSpec]
