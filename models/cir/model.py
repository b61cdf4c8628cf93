"""The composed-query model: the dual encoder's two towers (shared with cross-modal retrieval, papers 4 and 7)
plus a combiner (paper 6, SPN4CIR, arXiv 2404.11317).

query = combiner(f_img(reference), f_txt(modification text)) and target = normalise(f_img(target image)), both
(B, D) and L2-normalised, so a dot product is the cosine similarity. The combiner's inputs are the towers' raw
(unnormalised) projections (`combiner_inputs: raw`), as in the authors' code (BUAADreamer/SPN4CIR,
clip4cir/models.py: `CIRPlus.forward` and `bank_large_step` combine raw features, then normalise the query; the
targets, `target_bank` and validate.py's index features, are normalised); `normalized` L2-normalises both first.
The folder it saves to: `cir.json` (combiner, its inputs, D and the training notes), `combiner.safetensors` (a
learned combiner's weights) and `towers/`, a dual-encoder folder (`embedlab.models.dual_encoder`) that `embedlab
crossmodal evaluate` can also read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from embedlab.atomic import atomic_dir
from embedlab.errors import UserError
from embedlab.models.cir.combiner import Combiner, build_combiner
from embedlab.models.dual_encoder import DualEncoder

MODEL_FILE = "cir.json"
COMBINER_FILE = "combiner.safetensors"
COMBINER_INPUTS = ("raw", "normalized")
LEGACY_INPUTS = "normalized"  # folders saved before `combiner_inputs` existed combined normalised embeddings


class ComposedQueryModel(nn.Module):
    """`towers` (a `DualEncoder`) and a `combiner` of its D-dimensional embeddings, fed the towers' raw projections
    (`inputs="raw"`) or their L2-normalised embeddings (`inputs="normalized"`)."""

    def __init__(self, towers: DualEncoder, combiner: Combiner, inputs: str = "raw") -> None:
        super().__init__()
        if inputs not in COMBINER_INPUTS:
            raise ValueError(f"combiner inputs must be one of {COMBINER_INPUTS}, got {inputs!r}")
        self.towers, self.combiner, self.inputs = towers, combiner, inputs

    @classmethod
    def build(cls, image_tower: str | dict[str, Any], text_tower: str, dim: int, max_seq_length: int | None,
              combiner: str, inputs: str = "raw") -> ComposedQueryModel:
        return cls(DualEncoder.build(image_tower, text_tower, dim, max_seq_length), build_combiner(combiner, dim),
                   inputs)

    def compose(self, references: Tensor, texts: Tensor) -> Tensor:
        """(B, D) raw reference-image and (B, D) raw text projections -> (B, D) normalised queries."""
        if self.inputs == "normalized":
            references, texts = F.normalize(references, dim=-1), F.normalize(texts, dim=-1)
        return self.combiner(references, texts)

    @torch.no_grad()
    def embed_queries(self, references: Tensor, texts: Sequence[str], batch_size: int = 64) -> Tensor:
        """(Q, D) composed queries, on the CPU, from the references' raw image embeddings (Q, D; `embed_images(...,
        normalize=False)`) and the Q modification texts (embedded `batch_size` at a time)."""
        device = next(self.parameters()).device
        texts = self.towers.embed_texts(texts, batch_size, normalize=False)  # (Q, D), on the CPU
        return self.compose(references.to(device), texts.to(device)).float().cpu()

    def save(self, folder: Path, info: dict[str, Any] | None = None) -> None:
        """Write the folder whole or not at all; `info` (e.g. the training stages) goes into cir.json."""
        with atomic_dir(folder) as tmp:
            self.towers.save(tmp / "towers")
            weights = {key: value.detach().contiguous().cpu() for key, value in self.combiner.state_dict().items()}
            if weights:
                save_file(weights, tmp / COMBINER_FILE)
            meta = {"combiner": self.combiner.name, "combiner_inputs": self.inputs, "dim": self.combiner.dim,
                    **(info or {})}
            (tmp / MODEL_FILE).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> ComposedQueryModel:
        if not (folder / MODEL_FILE).is_file():
            raise UserError(f"{folder} is not a composed-query model folder (no {MODEL_FILE}); train one with "
                            "`embedlab cir train`")
        meta = json.loads((folder / MODEL_FILE).read_text())
        combiner = build_combiner(meta["combiner"], meta["dim"])
        if (folder / COMBINER_FILE).is_file():
            combiner.load_state_dict(load_file(folder / COMBINER_FILE))
        return cls(DualEncoder.load(folder / "towers"), combiner, meta.get("combiner_inputs", LEGACY_INPUTS)).eval()
