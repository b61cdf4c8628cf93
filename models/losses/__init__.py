"""Registry of training losses: name -> pure function of embeddings.

Every loss has the signature `loss(embeddings: list[Tensor], labels: Tensor | None, scale: float, **options)
-> Tensor`, with `embeddings` one (B, D) tensor per text column of a batch and `options` its own keyword
parameters (typed by its signature: `LOSSES.params(name, options)` validates them). Adding a loss is one file plus
one line here. Nothing is imported until a loss is used (`LOSSES.get`), so the names cost no torch import.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from embedlab.registry import Registry, signature_params

if TYPE_CHECKING:
    from torch import Tensor

Loss = Callable[..., "Tensor"]

# The arguments every loss takes from the training loop; the others are its own options. `components` are the
# paradigm's (`embedlab.models.losses.paradigm.Components`), set apart in `cse.paradigm`.
SHARED_ARGUMENTS = frozenset({"embeddings", "labels", "scale"})

LOSSES: Registry[Loss] = Registry("loss", {
    "mnrl": "embedlab.models.losses.mnrl:mnrl",
    "cosent": "embedlab.models.losses.cosent:cosent",
    "infonce": "embedlab.models.losses.infonce:infonce",
    "arccon": "embedlab.models.losses.arccon:arccon",
    "mpt": "embedlab.models.losses.mpt:mpt",
    "met": "embedlab.models.losses.met:met",
    "align_uniform": "embedlab.models.losses.align_uniform:align_uniform",
    "barlow_twins": "embedlab.models.losses.barlow_twins:barlow_twins",
    "vicreg": "embedlab.models.losses.vicreg:vicreg",
    "mhs": "embedlab.models.losses.mhs:mhs",
    "hierarchical": "embedlab.models.losses.hierarchical:hierarchical",
}, params=partial(signature_params, shared=SHARED_ARGUMENTS))

# The objectives of sentence-representation learning (`embedlab cse`): they take unlabelled pairs and accept
# the unified paradigm's components (`embedlab.models.losses.paradigm.Components`) as keyword options.
CSE_OBJECTIVES: Registry[Loss] = LOSSES.subset("objective", (
    "infonce", "arccon", "mpt", "met", "align_uniform", "barlow_twins", "vicreg", "mhs", "hierarchical"))
