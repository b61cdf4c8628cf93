"""Composed image retrieval (paper 6, SPN4CIR): the composed-query model on the dual encoder's towers, its two
training stages (in-batch negatives; a static bank of frozen image features), and Recall@K without the reference."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedlab.registry import Registry

if TYPE_CHECKING:
    from embedlab.models.cir.combiner import Combiner

# Combiners (`combiner.py`): name -> class; the names cost no torch import (params.yaml's `train_cir.combiner`).
COMBINERS: Registry[type[Combiner]] = Registry("combiner", {
    "sum": "embedlab.models.cir.combiner:SumCombiner",
    "mlp": "embedlab.models.cir.combiner:MlpCombiner",
})
