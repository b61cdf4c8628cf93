"""Registry of training losses: name -> pure function of embeddings.

Every loss has the signature `loss(embeddings: list[Tensor], labels: Tensor | None, scale: float, **options)
-> Tensor`, with `embeddings` one (B, D) tensor per text column of a batch and `options` its own keyword
parameters. Adding a loss is one file plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from embedlab.errors import unknown_name
from embedlab.models.losses.align_uniform import align_uniform
from embedlab.models.losses.arccon import arccon
from embedlab.models.losses.barlow_twins import barlow_twins
from embedlab.models.losses.cosent import cosent
from embedlab.models.losses.hierarchical import hierarchical
from embedlab.models.losses.infonce import infonce
from embedlab.models.losses.met import met
from embedlab.models.losses.mnrl import mnrl
from embedlab.models.losses.mpt import mpt
from embedlab.models.losses.vicreg import vicreg

Loss = Callable[..., Tensor]

LOSSES: dict[str, Loss] = {
    "mnrl": mnrl,
    "cosent": cosent,
    "infonce": infonce,
    "arccon": arccon,
    "mpt": mpt,
    "met": met,
    "align_uniform": align_uniform,
    "barlow_twins": barlow_twins,
    "vicreg": vicreg,
    "hierarchical": hierarchical,
}

# The objectives of sentence-representation learning (`embedlab cse`): they take unlabelled pairs and accept
# the unified paradigm's components (`embedlab.models.losses.paradigm.Components`) as keyword options.
CSE_OBJECTIVES = ("infonce", "arccon", "mpt", "met", "align_uniform", "barlow_twins", "vicreg", "hierarchical")


def get_loss(name: str) -> Loss:
    """The loss registered as `name`; UserError with a "did you mean" for an unknown name."""
    if name not in LOSSES:
        raise unknown_name("loss", name, LOSSES)
    return LOSSES[name]
