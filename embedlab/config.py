"""params.yaml, validated: the one source of configuration, passed down as typed objects."""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from embedlab.errors import UserError
from embedlab.eval_tasks.spec import FileSpec
from embedlab.models.generation.backend import BackendSpec
from embedlab.train_tasks.spec import TrainTaskSpec

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
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="auto: bf16 on CUDA, fp32 on CPU")
    output: str = "results/evaluate"


class PrepareParams(Section):
    """`prepare` section: where the validated, normalised evaluation data is written."""

    out: str = "data/prepared"


class TrackingParams(Section):
    """`tracking` section: MLflow. `tracking_uri` null means a SQLite file in the project."""

    tracking_uri: str | None = None
    experiment: str = "embedlab"


class TrainParams(Section):
    """`train` section: fine-tuning with Lightning (`embedlab train`).

    `profile` names an entry of `profiles` whose values replace this section's (e.g. `full` for GPUs);
    `precision: auto` is bf16-mixed on a GPU that supports it, else 32-true.
    """

    base: str = "minilm"
    output: str = "results/train"
    seed: int = 42
    batch_size: int = Field(32, gt=0)
    max_steps: int = Field(100, gt=0)
    lr: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    max_seq_length: int | None = Field(128, gt=0)
    pooling: Literal["mean", "cls"] | None = Field(None, description="null keeps the base model's pooling")
    normalize: bool | None = Field(None, description="null keeps the base model's normalisation")
    sampling: Literal["proportional", "uniform", "temperature"] = "proportional"
    alpha: float = Field(0.5, gt=0, description="temperature sampling: p_i proportional to n_i ** alpha")
    joint_tasks: list[str] = Field(default_factory=list, description="tasks of the joint model; empty: all")
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "auto"
    checkpoint_every: int = Field(25, gt=0, description="steps between Lightning checkpoints")
    profile: str | None = None
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    tasks: dict[str, TrainTaskSpec] = Field(default_factory=dict)



class MergeParams(Section):
    """`merge` section: each merge method's parameters by method name (`embedlab merge -S key=value` sets one
    for the chosen method). Names and values are checked against `embedlab.models.merging` when a merge starts,
    so that reading params.yaml does not import torch."""

    methods: dict[str, dict[str, Any]] = Field(default_factory=dict)


MERGE_METHODS = ["average", "task_arithmetic", "ties", "dare", "self_positioning"]


class CompareParams(Section):
    """`compare` section: the comparison of Li et al. 2024 (arXiv 2410.15035) on our data (`embedlab compare`).

    The variants: the base (`train.base`), a model per training task (`<train.output>/<task>/model`), joint
    training with each of `samplings` for `joint_steps` steps (`<joint_output>/joint-<sampling>/model`; the
    default, 4 tasks × `train.max_steps`, sees as many samples as the per-task trainings) and each of `merges` of the
    per-task models (`<merge_output>/<method>`). They are scored on `tasks`, prepared evaluation tasks
    (`prepare.out`; empty: all of them), where `task_options` replaces fields of a task's spec (e.g.
    `{SciFact: {sample: {corpus: 500}}}`, see `EvalTaskSpec.sample`), every model reading at most
    `max_seq_length` tokens (null: each model's own). `profile` names an entry of `profiles` replacing values.
    """

    tasks: list[str] = Field(default_factory=list)
    task_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    samplings: list[Literal["proportional", "uniform", "temperature"]] = Field(
        default_factory=lambda: ["proportional", "temperature"])
    joint_steps: int = Field(80, gt=0, description="steps of each joint training (the DVC stage train_joint)")
    merges: list[str] = Field(default_factory=lambda: list(MERGE_METHODS))
    max_seq_length: int | None = Field(128, gt=0)
    joint_output: str = "results/joint"
    merge_output: str = "results/merge"
    output: str = "results/compare"
    profile: str | None = None
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)


class SentencesParams(Section):
    """`generate.sentences`: ICL hierarchical sentences (paper 9, NGCSE). Paths: `source` under data_root,
    `prompt` and `output` under the project. The first `n` distinct source lines of at least `min_words`
    words are used; each reply must give `levels` samples, level 1 the most similar to the source."""

    source: str = "simcse/wiki1m_for_simcse_first11914.txt"
    n: int = Field(100, gt=0)
    min_words: int = Field(5, gt=0)
    levels: int = Field(3, ge=2, description="similarity levels per sentence [open in the paper]")
    prompt: str = "prompts/hierarchical_sentences.txt"
    output: str = "data/generated/sentences.jsonl"


TRIPLET_TEMPLATES = ["{c2} instead of {c1}", "Unlike {c1}, I want {c2}", "{c2}"]


class TripletsParams(Section):
    """`generate.triplets`: MLLM triplets (paper 6, SPN4CIR). `images` and a `captions` file lie under data_root;
    `captions: mllm` captions every image with `generate.mllm` instead. Each image is the reference of
    `pairs_per_image` triplets whose targets are drawn from its neighbours of similarity rank
    `rank_window[0]..rank_window[1]` (1 = most similar; the window is [open] in the paper)."""

    images: str = "image_text/flickr8k_1000/images"
    captions: str = "image_text/flickr8k_1000/captions.txt"
    caption_index: int = Field(0, ge=0, description="which of an image's captions in the file (0: the first)")
    caption_prompt: str = "Describe this image in one sentence."
    encoder: str = Field("pixels", description="'pixels' (colour/layout baseline) or a vision model folder/Hub id")
    batch_size: int = Field(32, gt=0)
    device: str = "auto"
    rank_window: tuple[int, int] = (2, 10)
    pairs_per_image: int = Field(1, gt=0)
    templates: list[str] = Field(default_factory=lambda: list(TRIPLET_TEMPLATES), min_length=1)
    seed: int = 42
    output: str = "data/generated/triplets.jsonl"

    @model_validator(mode="after")
    def _check(self) -> TripletsParams:
        low, high = self.rank_window
        if not 1 <= low <= high:
            raise ValueError(f"rank_window must be [low, high] with 1 <= low <= high, got {list(self.rank_window)}")
        if high - low + 1 < self.pairs_per_image:
            raise ValueError(f"rank_window {list(self.rank_window)} holds fewer than pairs_per_image "
                             f"({self.pairs_per_image}) neighbours")
        for template in self.templates:
            try:
                fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
            except ValueError as exc:
                raise ValueError(f"template {template!r}: {exc}") from None
            if "c2" not in fields or not fields <= {"c1", "c2"}:
                raise ValueError(f"template {template!r} must use {{c2}} (the target's caption) and may use {{c1}}")
        return self


class GenerateParams(Section):
    """`generate` section: data generation (`embedlab generate`). `llm` writes sentences, `mllm` captions images
    (used with `triplets.captions: mllm`); replies are cached under `<cache_dir>/generate`."""

    llm: BackendSpec = Field(default_factory=BackendSpec)
    mllm: BackendSpec = Field(default_factory=BackendSpec)
    sentences: SentencesParams = Field(default_factory=SentencesParams)
    triplets: TripletsParams = Field(default_factory=TripletsParams)


CROSSMODAL_LANGUAGES = ["en", "de", "fr", "cs"]
TINY_VIT = {"model_type": "vit", "image_size": 64, "patch_size": 8, "hidden_size": 128, "num_hidden_layers": 4,
            "num_attention_heads": 4, "intermediate_size": 256}


class PrepareCrossModalParams(Section):
    """`prepare_crossmodal`: the versioned image–caption dataset (papers 4 and 7; `embedlab prepare-crossmodal`).

    `format`: `flickr8k_multi30k` joins the Flickr8k `captions` CSV with the Multi30K files under `multi30k`
    (`raw/<split>.<lang>`, `image_splits/<split>.txt`) for the same photos; `multi30k` reads Multi30K-style files
    alone (`images` then holds the Flickr30k photos); `caption_json` reads a COCO or Karpathy JSON `captions`.
    Paths lie under data_root (or are absolute). Val and test images are drawn (seeded) from the images with a
    caption in every one of `languages`.
    """

    format: Literal["flickr8k_multi30k", "multi30k", "caption_json"] = "flickr8k_multi30k"
    images: str = "image_text/flickr8k_1000/images"
    captions: str | None = "image_text/flickr8k_1000/captions.txt"
    caption_language: str = Field("en", description="language of the `captions` file")
    multi30k: str | None = "image_text/multi30k"
    multi30k_splits: list[str] = Field(default_factory=lambda: ["train", "val", "test_2016_flickr"], min_length=1)
    languages: list[str] = Field(default_factory=lambda: list(CROSSMODAL_LANGUAGES), min_length=1)
    val_images: int = Field(50, ge=0)
    test_images: int = Field(150, gt=0)
    seed: int = 42
    out: str = "data/crossmodal"

    @model_validator(mode="after")
    def _check_sources(self) -> PrepareCrossModalParams:
        needed = {"flickr8k_multi30k": ("captions", "multi30k"), "multi30k": ("multi30k",),
                  "caption_json": ("captions",)}[self.format]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"format {self.format!r} needs {', '.join(missing)}")
        return self


class TrainCrossModalParams(Section):
    """`train_crossmodal`: an image–text dual encoder (`embedlab train-crossmodal`, papers 4 and 7).

    `image_tower`: a Hugging Face vision model (folder or Hub id) or a config to build from scratch (a dict with
    `model_type`); `text_tower`: a sentence encoder ('minilm', folder or Hub id). `objectives` holds each
    objective's parameters by name (checked against `embedlab.models.objectives` when training starts). `lr` is
    for the weights trained from scratch (projection heads, objective parameters, a from-config image tower),
    `image_lr` (null: `lr`) and `text_lr` for the towers' backbones; `freeze_text` locks the text backbone
    (only its projection trains; its features are computed once). `batch_size` counts images; each brings
    one caption per language. `profile: full` selects the paper-scale towers of `profiles.full` for GPUs.
    """

    dataset: str = "data/crossmodal"
    languages: list[str] = Field(default_factory=lambda: list(CROSSMODAL_LANGUAGES), min_length=1)
    objective: str = "one_to_k"
    objectives: dict[str, dict[str, Any]] = Field(default_factory=dict)
    image_tower: str | dict[str, Any] = Field(default_factory=lambda: dict(TINY_VIT))
    text_tower: str = "minilm"
    embedding_dim: int = Field(256, gt=0)
    max_seq_length: int = Field(32, gt=0)
    batch_size: int = Field(32, gt=1)
    max_steps: int = Field(150, gt=0)
    lr: float = Field(3e-4, gt=0)
    image_lr: float | None = Field(None, gt=0)
    text_lr: float = Field(3e-5, gt=0)
    freeze_text: bool = Field(False, description="lock the text backbone (its features are computed once)")
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    seed: int = 42
    eval_split: Literal["val", "test"] = "test"
    eval_batch_size: int = Field(64, gt=0)
    output: str = "results/crossmodal"
    accelerator: str = "auto"
    devices: int | str = 1
    precision: str = "auto"
    checkpoint_every: int = Field(500, gt=0, description="steps between Lightning checkpoints")
    profile: str | None = None
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ParadigmParams(Section):
    """`cse.paradigm`: the unified gradient paradigm's components (paper 8, arXiv 2402.18281), applied to the
    objective; null keeps the objective's own. The paper's modified non-contrastive losses use margin 0.3,
    weight_temperature 0.05 and ratio 1.5 (1.75 for alignment + uniformity)."""

    margin: float | None = Field(None, description="GD: rows whose positive margin is at least this get no gradient")
    weight_temperature: float | None = Field(None, gt=0, description="W: softmax temperature over the negatives")
    weight_power: float | None = Field(None, gt=0, description="W: power of the similarity over the negatives")
    ratio: float | None = Field(None, gt=0, description="R: scale of the positive pull")

    @model_validator(mode="after")
    def _one_weight(self) -> ParadigmParams:
        if self.weight_temperature is not None and self.weight_power is not None:
            raise ValueError("give weight_temperature or weight_power, not both")
        return self


class DiagnosticsParams(Section):
    """`cse.diagnostics`: alignment, uniformity and FDI (paper 9) every `every` steps, on `holdout` of the training
    data (held out of training) and on evaluation pairs: rows of `eval_files` (STS-B layout, under data_root)
    scoring at least `min_score`. Each set is a seeded sample of at most `max_pairs` pairs."""

    every: int = Field(25, gt=0)
    holdout: float = Field(0.1, gt=0, lt=1)
    max_pairs: int = Field(256, gt=1)
    min_score: float = 4.0
    eval_files: list[str] = Field(default_factory=lambda: ["stsb/sts-dev.csv", "stsb/sts-train.csv"], min_length=1)
    batch_size: int = Field(64, gt=0)


class CseParams(Section):
    """`cse` section: sentence-representation learning in the SimCSE setting (`embedlab cse`, papers 8 and 9).

    `data`: `wiki` (unsupervised: two dropout views of each line of `wiki`), `nli` ((premise, entailment,
    contradiction) triples of `nli`) or `generated` (the hierarchical sentences of `generate.sentences.output`).
    `objective` names a loss of `embedlab.models.losses.CSE_OBJECTIVES`; `options` are its own keyword
    parameters (e.g. `angular_margin` of arccon) and `paradigm` the components applied to it. `max_steps` null
    trains one epoch. `temperature` τ is the contrastive objectives' (scale 1/τ). The trained model is evaluated
    on `evaluate` (built-in evaluation tasks) with the `evaluate` section's device and batch size.
    """

    objective: str = "infonce"
    data: Literal["wiki", "nli", "generated"] = "wiki"
    wiki: FileSpec = Field(default_factory=lambda: FileSpec(
        path="simcse/wiki1m_for_simcse_first11914.txt", format="tsv", header=False, columns={"text": 0}))
    nli: FileSpec = Field(default_factory=lambda: FileSpec(
        path="nli/nli_triples_for_simcse_from_dev.csv",
        columns={"anchor": "sent0", "positive": "sent1", "negative": "hard_neg"}))
    options: dict[str, Any] = Field(default_factory=dict)
    paradigm: ParadigmParams = Field(default_factory=ParadigmParams)
    base: str = "minilm"
    output: str = "results/cse"
    seed: int = 42
    batch_size: int = Field(32, gt=1)
    max_steps: int | None = Field(100, gt=0)
    lr: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.0, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    max_seq_length: int = Field(32, gt=0)
    temperature: float = Field(0.05, gt=0)
    pooling: Literal["mean", "cls"] | None = None
    normalize: bool | None = None
    accelerator: str = "auto"
    precision: str = "auto"
    checkpoint_every: int = Field(50, gt=0)
    evaluate: list[str] = Field(default_factory=lambda: ["STSBenchmark"], min_length=1)
    diagnostics: DiagnosticsParams = Field(default_factory=DiagnosticsParams)
    profile: str | None = None
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)


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
    cse: CseParams = Field(default_factory=CseParams)
    compare: CompareParams = Field(default_factory=CompareParams)


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
    parsed = [parse_override(item) for item in overrides]
    for key, value in parsed:
        _set_dotted(raw, key, value)
    _apply_profiles(raw, parsed, path)
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise UserError(f"{path}: {key}: {first['msg']} (got {first.get('input')!r})") from None
    return Settings(params, path.resolve().parent if path.is_file() else Path.cwd())
