"""Self Positioning (Li et al. 2024, "Improving General Text Embedding Model: Tackling Task Conflict and Data
Imbalance through Model Merging", arXiv 2410.15035): learn the coefficients of

    θ(λ) = θ0 + Σ_i λ_i τ_i,    τ_i = θ_i − θ0

by gradient descent on a small task-balanced probe set, minimising the tasks' own training losses, with θ0 and
every τ_i frozen: only λ is trained, through `torch.func.functional_call`.

The paper leaves open [open] the granularity (one λ per task, or per task and layer), the initialisation, the
optimiser settings and any regulariser: they are parameters here (Adam; init 1/N by default; optional L2 pull
of λ towards its init). `self_position` is the pure core (the probe batches and the loss over a batch are the
caller's); `search` is the registered method: it loads sentence-transformers folders, takes the task vectors by
parameter name and searches on a `ProbeSet` (a task-balanced sample of the training tasks, each scored by its
own training loss; see `embedlab.models.merging.probe`). The probe model runs in eval mode (no dropout).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field, field_validator, model_validator
from torch import Tensor, nn
from torch.func import functional_call

from embedlab.errors import UserError
from embedlab.models.merging.base import MergeMethod, MethodParams

if TYPE_CHECKING:
    from embedlab.models.merging.probe import ProbeSet

_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")

ProbeLoss = Callable[[Callable[..., Any], Any], Tensor]
"""`loss(forward, batch) -> scalar`: `forward(*args, **kwargs)` runs the merged model θ(λ) (the module's own
forward), so a contrastive loss calls it once per text column of the batch."""


def layer_group(name: str) -> str:
    """The layer of a parameter: `layer.<n>` inside transformer blocks (BERT's `encoder.layer.3.…`, GPT's
    `h.3.…`), `embeddings` for embedding tables and their norm, `other` for the rest (e.g. the pooler)."""
    match = _LAYER.search(name)
    if match:
        return f"layer.{match.group(1)}"
    return "embeddings" if "embeddings" in name else "other"


def _group_fn(granularity: str) -> Callable[[str], str]:
    return layer_group if granularity == "task_layer" else (lambda name: "all")


class SelfPositioningParams(MethodParams):
    """How λ is searched: one per task (`task`) or per task and layer (`task_layer`; `layer` is accepted for
    it); init (null: 1/N), Adam's learning rate and steps, and the weight of the L2 penalty ‖λ − init‖².

    The probe: `probe_size` examples per training task (seeded by `seed`), in batches of `batch_size` (one
    batch of every task per step), drawn from the training tasks named in `tasks` (empty: those the models were
    trained on, i.e. the `train` section's joint tasks). `search` alone reads the first five fields.
    """

    granularity: Literal["task", "task_layer"] = "task"
    init: float | None = Field(None, description="initial λ; null: 1/N for N task vectors")
    lr: float = Field(0.01, gt=0)
    steps: int = Field(50, gt=0)
    l2: float = Field(0.0, ge=0, description="weight of ||λ - init||^2")
    probe_size: int = Field(64, ge=2, description="probe examples per training task")
    batch_size: int = Field(16, ge=2, description="probe examples per task in one step")
    seed: int = Field(0, description="seed of the probe sample")
    tasks: list[str] = Field(default_factory=list, description="training tasks of the probe; empty: the joint tasks")

    @field_validator("granularity", mode="before")
    @classmethod
    def _layer_alias(cls, value: Any) -> Any:
        return "task_layer" if value == "layer" else value

    @model_validator(mode="after")
    def _batch_fits(self) -> SelfPositioningParams:
        if self.batch_size > self.probe_size:
            raise ValueError(f"batch_size ({self.batch_size}) exceeds probe_size ({self.probe_size}), the examples "
                             "per task")
        return self


@dataclass(frozen=True)
class Positioning:
    """Learned coefficients `lambdas` of shape (N tasks, G groups) over `groups`, and one `history` entry per
    step (`step`, `loss`, `lambdas`). `merge` is a `TensorMerge` applying them to any tensor by name."""

    lambdas: Tensor
    groups: tuple[str, ...]
    granularity: str
    history: list[dict[str, Any]] = field(default_factory=list)
    samples: int = 0
    seconds: float = 0.0

    def merge(self, base: Tensor, tuned: Sequence[Tensor], key: str) -> Tensor:
        """θ0 + Σ_i λ[i, group(key)] (θ_i − θ0) for one tensor, in float32, returned in the base's dtype."""
        if not base.is_floating_point():
            return base.clone()
        group = _group_fn(self.granularity)(key)
        if group not in self.groups:
            raise UserError(f"tensor {key!r} belongs to layer group {group!r}, for which no λ was learned "
                            f"(groups: {', '.join(self.groups)})")
        column = self.groups.index(group)
        theta0 = base.float()
        delta = sum(float(self.lambdas[i, column]) * (t.float() - theta0) for i, t in enumerate(tuned))
        return (theta0 + delta).to(base.dtype)

    def record(self) -> dict[str, Any]:
        """JSON-ready: granularity, groups, the final λ (one row per model, one column per group), the probe
        examples seen and seconds spent, and the trajectory (`step`, `loss`, `lambdas` per step)."""
        return {"granularity": self.granularity, "groups": list(self.groups), "lambdas": self.lambdas.tolist(),
                "samples": self.samples, "seconds": self.seconds, "history": self.history}


def merged_parameters(base: Mapping[str, Tensor], task_vectors: Sequence[Mapping[str, Tensor]], lambdas: Tensor,
                      columns: Mapping[str, int]) -> dict[str, Tensor]:
    """θ(λ) by name: θ0[name] + Σ_i lambdas[i, columns[name]] · τ_i[name]; lambdas (N, G)."""
    return {name: theta0 + sum(lambdas[i, columns[name]] * vector[name] for i, vector in enumerate(task_vectors))
            for name, theta0 in base.items()}


def probe_loss(module: nn.Module, base: Mapping[str, Tensor], task_vectors: Sequence[Mapping[str, Tensor]],
               lambdas: Tensor, columns: Mapping[str, int], loss: ProbeLoss, batch: Any) -> Tensor:
    """The loss of θ(λ) on one batch, differentiable in `lambdas` (the module's own weights are not used)."""
    params = merged_parameters(base, task_vectors, lambdas, columns)

    def forward(*args: Any, **kwargs: Any) -> Any:
        return functional_call(module, params, args, kwargs)

    return loss(forward, batch)


def self_position(module: nn.Module, base: Mapping[str, Tensor], task_vectors: Sequence[Mapping[str, Tensor]],
                  loss: ProbeLoss, batches: Iterable[Any], params: SelfPositioningParams) -> Positioning:
    """Learn λ with Adam over `params.steps` probe batches (`batches` is cycled).

    `base`: θ0 for every parameter of `module` by name; `task_vectors`: one τ_i per fine-tuned model, same names
    and shapes. Neither is modified nor receives gradients.
    """
    base = {name: tensor.detach() for name, tensor in base.items()}
    task_vectors = [{name: tensor.detach() for name, tensor in vector.items()} for vector in task_vectors]
    group = _group_fn(params.granularity)
    groups = tuple(dict.fromkeys(group(name) for name in base))
    columns = {name: groups.index(group(name)) for name in base}
    init = params.init if params.init is not None else 1 / len(task_vectors)
    first = next(iter(base.values()))
    start = torch.full((len(task_vectors), len(groups)), init, dtype=first.dtype, device=first.device)
    lambdas = start.clone().requires_grad_()
    optimizer = torch.optim.Adam([lambdas], lr=params.lr)
    history = []
    for step, batch in zip(range(1, params.steps + 1), itertools.cycle(batches)):
        optimizer.zero_grad()
        value = probe_loss(module, base, task_vectors, lambdas, columns, loss, batch)
        (value + params.l2 * (lambdas - start).pow(2).sum()).backward()
        optimizer.step()
        history.append({"step": step, "loss": value.item(), "lambdas": lambdas.detach().tolist()})
    return Positioning(lambdas.detach().clone(), groups, params.granularity, history)


def _to_device(step: list[dict[str, Any]], device: torch.device) -> list[dict[str, Any]]:
    def move(value: Any) -> Any:
        return value.to(device) if isinstance(value, Tensor) else value

    return [{**batch, "features": [{k: move(v) for k, v in f.items()} for f in batch["features"]],
             "labels": move(batch["labels"])} for batch in step]


def task_vectors(module: nn.Module, models: Sequence[Path],
                 device: str) -> tuple[dict[str, Tensor], list[dict[str, Tensor]]]:
    """θ0 (the module's parameters by name) and τ_i = θ_i − θ0 for each model folder, loaded one at a time."""
    from embedlab.models.encoder import load_encoder

    base = {name: p.detach().clone() for name, p in module.named_parameters()}
    vectors = []
    for folder in models:
        tuned = {name: p.detach() for name, p in load_encoder(str(folder), device).named_parameters()}
        for name, theta0 in base.items():
            if name not in tuned or tuned[name].shape != theta0.shape:
                got = list(tuned[name].shape) if name in tuned else "missing"
                raise UserError(f"architectures differ: parameter {name!r} has shape {list(theta0.shape)} in the "
                                f"base but {got} in {folder}")
        vectors.append({name: tuned[name] - theta0 for name, theta0 in base.items()})
    return base, vectors


def search(params: SelfPositioningParams, base: Path, models: Sequence[Path], probe: ProbeSet) -> Positioning:
    """Self Positioning on sentence-transformers folders: λ learned on `probe` (see the module docstring).

    The base and the models are read, never written. Returns the `Positioning`, with `samples` (probe examples
    run through the model, all steps together) and `seconds` (wall time of loading and searching).
    """
    from embedlab.models.device import resolve_device
    from embedlab.models.encoder import load_encoder
    from embedlab.models.merging.probe import probe_loss as task_probe_loss
    from embedlab.models.merging.probe import probe_steps

    start = time.perf_counter()
    device = resolve_device("auto")
    module = load_encoder(str(base), device).eval()
    if probe.max_seq_length is not None:
        module.max_seq_length = probe.max_seq_length
    module.requires_grad_(False)
    theta0, vectors = task_vectors(module, models, device)
    steps = [_to_device(step, torch.device(device))
             for step in probe_steps(probe, module.preprocess, params.batch_size)]
    sizes = [sum(batch["features"][0]["input_ids"].size(0) for batch in step) for step in steps]
    positioning = self_position(module, theta0, vectors, task_probe_loss(probe), steps, params)
    samples = sum(sizes[k % len(sizes)] for k in range(params.steps))
    return replace(positioning, lambdas=positioning.lambdas.cpu(), samples=samples,
                   seconds=round(time.perf_counter() - start, 3))


METHOD = MergeMethod("self_positioning", SelfPositioningParams, search=search)
