"""Self Positioning (Li et al. 2024, "Improving General Text Embedding Model: Tackling Task Conflict and Data
Imbalance through Model Merging", arXiv 2410.15035): learn the coefficients of

    θ(λ) = θ0 + Σ_i λ_i τ_i,    τ_i = θ_i − θ0

by gradient descent on a small task-balanced probe set, minimising the tasks' own training losses, with θ0 and
every τ_i frozen: only λ is trained, through `torch.func.functional_call`.

The paper leaves open [open] the granularity (one λ per task, or per task and layer), the initialisation, the
optimiser settings and any regulariser: they are parameters here (Adam; init 1/N by default; optional L2 pull
of λ towards its init). The probe batches and the loss over a batch are the caller's.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import Field
from torch import Tensor, nn
from torch.func import functional_call

from embedlab.models.merging.base import MethodParams

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
    return layer_group if granularity == "layer" else (lambda name: "all")


class SelfPositioningParams(MethodParams):
    """How λ is searched: one per task (`task`) or per task and layer (`layer`); init (null: 1/N), Adam's
    learning rate and steps, and the weight of the L2 penalty ‖λ − init‖²."""

    granularity: Literal["task", "layer"] = "task"
    init: float | None = Field(None, description="initial λ; null: 1/N for N task vectors")
    lr: float = Field(0.01, gt=0)
    steps: int = Field(50, gt=0)
    l2: float = Field(0.0, ge=0, description="weight of ||λ - init||^2")


@dataclass(frozen=True)
class Positioning:
    """Learned coefficients `lambdas` of shape (N tasks, G groups) over `groups`, and one `history` entry per
    step (`step`, `loss`, `lambdas`). `merge` is a `TensorMerge` applying them to any tensor by name."""

    lambdas: Tensor
    groups: tuple[str, ...]
    granularity: str
    history: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, base: Tensor, tuned: Sequence[Tensor], key: str) -> Tensor:
        """θ0 + Σ_i λ[i, group(key)] (θ_i − θ0) for one tensor, in float32, returned in the base's dtype."""
        if not base.is_floating_point():
            return base.clone()
        column = self.groups.index(_group_fn(self.granularity)(key))
        theta0 = base.float()
        delta = sum(float(self.lambdas[i, column]) * (t.float() - theta0) for i, t in enumerate(tuned))
        return (theta0 + delta).to(base.dtype)


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
    start = torch.full((len(task_vectors), len(groups)), init, dtype=next(iter(base.values())).dtype)
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
