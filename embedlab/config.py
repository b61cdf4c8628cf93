"""params.yaml, validated: the one source of configuration, passed down as typed objects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from embedlab.errors import UserError

DATA_ROOT_ENV = "EMBEDLAB_DATA_ROOT"
DEFAULT_TASKS = ["STSBenchmark", "SciFact", "Banking77Classification"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvaluateParams(Section):
    """`evaluate` section: what to evaluate and how."""

    model: str = "minilm"
    tasks: list[str] = Field(default_factory=lambda: list(DEFAULT_TASKS))
    task_files: list[str] = Field(default_factory=list)
    source: Literal["local", "hub"] = Field("local", description="local files under data_root, or mteb's Hub datasets")
    batch_size: int = Field(64, gt=0)
    device: str = "auto"
    output: str = "results/evaluate"


class PrepareParams(Section):
    """`prepare` section: where the validated, normalised evaluation data is written."""

    out: str = "data/prepared"


class TrackingParams(Section):
    """`tracking` section: MLflow. `tracking_uri` null means a SQLite file in the project."""

    tracking_uri: str | None = None
    experiment: str = "embedlab"


class Params(Section):
    data_root: str = "../shared/data"
    cache_dir: str = ".cache"
    prepare: PrepareParams = Field(default_factory=PrepareParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    tracking: TrackingParams = Field(default_factory=TrackingParams)


class Settings:
    """Validated params plus the folder that relative paths in them start from."""

    def __init__(self, params: Params, project_dir: Path):
        self.params = params
        self.project_dir = project_dir

    def path(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.project_dir / path)

    @property
    def data_root(self) -> Path:
        return self.path(os.environ.get(DATA_ROOT_ENV) or self.params.data_root).resolve()

    @property
    def cache_dir(self) -> Path:
        return self.path(self.params.cache_dir)

    @property
    def tracking_uri(self) -> str:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or self.params.tracking.tracking_uri
        return uri or f"sqlite:///{self.path('mlflow.db').resolve()}"


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"-S {dotted}: {part!r} is not a section")
    node[leaf] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`key.sub=value` with the value read as YAML (numbers, booleans, lists)."""
    if "=" not in text:
        raise UserError(f"-S {text!r}: expected key=value, e.g. -S evaluate.batch_size=32")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        return key.strip(), raw


def load_settings(params_file: Path | None = None, overrides: list[str] = ()) -> Settings:
    """Read params.yaml (default: ./params.yaml if present, else built-in defaults) and apply -S overrides.

    Raises UserError naming the file and the key for a value of the wrong type or an unknown key.
    """
    path = params_file or Path("params.yaml")
    if params_file and not path.is_file():
        raise UserError(f"params file {path} does not exist")
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise UserError(f"{path}: not valid YAML ({exc})".splitlines()[0]) from None
    for item in overrides:
        _set_dotted(raw, *parse_override(item))
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise UserError(f"{path}: {key}: {first['msg']} (got {first.get('input')!r})") from None
    return Settings(params, path.resolve().parent if path.is_file() else Path.cwd())
