"""params.yaml, validated: the one source of configuration, passed down as typed objects.

Each section's model lives in a module of this package; this one reads the file, applies profiles and `-S`
overrides, and validates the whole."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from embedlab.config.cir import TrainCirParams, TripletSourceParams
from embedlab.config.crossmodal import PrepareCrossModalParams, TrainCrossModalParams
from embedlab.config.cse import CseParams, CseTableParams, DiagnosticsParams, ParadigmParams
from embedlab.config.evaluation import EvaluateParams, PrepareParams, TrackingParams
from embedlab.config.generation import GenerateParams
from embedlab.config.kbqa import KbqaParams
from embedlab.config.rag import RagParams
from embedlab.config.section import Section
from embedlab.config.sql import SqlParams
from embedlab.config.tokens import TokensParams
from embedlab.config.training import CompareParams, MergeParams, TrainParams
from embedlab.errors import UserError

__all__ = ["CseParams", "DiagnosticsParams", "ParadigmParams", "Params", "PrepareCrossModalParams", "Settings",
           "TrainCirParams", "TrainCrossModalParams", "TrainParams", "TripletSourceParams", "load_settings",
           "parse_override"]

DATA_ROOT_ENV = "EMBEDLAB_DATA_ROOT"


class Params(Section):
    data_root: str = "../shared/data"
    cache_dir: str = ".cache"
    prepare: PrepareParams = Field(default_factory=PrepareParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    tracking: TrackingParams = Field(default_factory=TrackingParams)
    train: TrainParams = Field(default_factory=TrainParams)
    merge: MergeParams = Field(default_factory=MergeParams)
    generate: GenerateParams = Field(default_factory=GenerateParams)
    prepare_crossmodal: PrepareCrossModalParams = Field(default_factory=PrepareCrossModalParams)
    train_crossmodal: TrainCrossModalParams = Field(default_factory=TrainCrossModalParams)
    train_cir: TrainCirParams = Field(default_factory=TrainCirParams)
    cse: CseParams = Field(default_factory=CseParams)
    cse_table: CseTableParams = Field(default_factory=CseTableParams)
    compare: CompareParams = Field(default_factory=CompareParams)
    sql: SqlParams = Field(default_factory=SqlParams)
    tokens: TokensParams = Field(default_factory=TokensParams)
    kbqa: KbqaParams = Field(default_factory=KbqaParams)
    rag: RagParams = Field(default_factory=RagParams)


class Settings(BaseModel):
    """Validated params, the folder that relative paths in them start from, the params file read (None when
    there was none and the built-in defaults apply) and the data root, resolved once (`EMBEDLAB_DATA_ROOT`, else
    `data_root` from the project folder). A pydantic model, so a flow request carries it as the CLI validated it
    (`embedlab.config.request.SettingsRequest`) and the flow reads params.yaml no second time."""

    model_config = ConfigDict(frozen=True)

    params: Params
    project_dir: Path
    params_file: Path | None = None
    data_root: Path

    @classmethod
    def build(cls, params: Params, project_dir: Path, params_file: Path | None = None) -> Settings:
        """Settings with the data root resolved now."""
        root = (project_dir / Path(os.environ.get(DATA_ROOT_ENV) or params.data_root).expanduser()).resolve()
        return cls(params=params, project_dir=project_dir, params_file=params_file, data_root=root)

    def path(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.project_dir / path)

    def run_folder(self, base: str | Path, command: str) -> Path:
        """A new folder `<base>/<command>-<YYYYmmdd-HHMMSS>[-n]` for one ad-hoc run (never a DVC stage's output)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder, n = self.path(base) / f"{command}-{stamp}", 1
        while folder.exists():
            n += 1
            folder = self.path(base) / f"{command}-{stamp}-{n}"
        return folder

    @property
    def cache_dir(self) -> Path:
        return self.path(self.params.cache_dir)

    @property
    def tracking_uri(self) -> str:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or self.params.tracking.tracking_uri
        return uri or f"sqlite:///{self.path('mlflow.db').resolve()}"

    def with_values(self, values: dict[str, Any]) -> Settings:
        """These settings with typed values set by dotted key (a command's own options, e.g. `{"train.base":
        path}`; None leaves a value as it is), validated as params.yaml is: UserError naming the key. They win
        over params.yaml, its profiles and -S, as -S wins over params.yaml."""
        chosen = {key: value for key, value in values.items() if value is not None}
        if not chosen:
            return self
        raw = self.params.model_dump(exclude_unset=True)
        for key, value in chosen.items():
            _set_dotted(raw, key, value)
        return Settings.build(_validated(raw, None), self.project_dir, self.params_file)


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


def _apply_profiles(raw: dict[str, Any], overrides: list[tuple[str, Any]], path: Path) -> None:
    """A section's `profile` names an entry of its `profiles` whose values replace the section's own;
    `-S` overrides of that section still win. Precedence: params.yaml < profile < -S."""
    for name, section in raw.items():
        if not isinstance(section, dict) or not section.get("profile"):
            continue
        profiles = section.get("profiles") or {}
        if section["profile"] not in profiles:
            raise UserError(f"{path}: {name}.profile: profile {section['profile']!r} is not in {name}.profiles {sorted(profiles)}")
        section.update(profiles[section["profile"]])
        for key, value in overrides:
            if key.startswith(f"{name}.") and not key.startswith(f"{name}.profiles."):
                _set_dotted(raw, key, value)


def _yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """`file:line:column: not valid YAML: <problem>` from PyYAML's error marks."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = " ".join(filter(None, [getattr(exc, "context", None), getattr(exc, "problem", None)])) or str(exc)
    return f"{where}: not valid YAML: {' '.join(problem.split())}"


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
            raise UserError(_yaml_error(path, exc)) from None
        if not isinstance(raw, dict):
            raise UserError(f"{path}: expected a mapping of sections (e.g. `evaluate:`) at the top, "
                            f"got a {type(raw).__name__}")
    parsed = [parse_override(item) for item in overrides]
    for key, value in parsed:
        _set_dotted(raw, key, value)
    _apply_profiles(raw, parsed, path)
    params = _validated(raw, path)
    if path.is_file():
        return Settings.build(params, path.resolve().parent, path.resolve())
    return Settings.build(params, Path.cwd())


def _validated(raw: dict[str, Any], path: Path | None) -> Params:
    """`raw` as Params; UserError `<file>: <key>: <problem> (got <value>)` (without the file for a command's own
    option)."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        where = f"{path}: " if path else ""
        raise UserError(f"{where}{key}: {first['msg']} (got {first.get('input')!r})") from None
