"""The static bank of stage 2 (paper 6, SPN4CIR): the frozen image tower's raw (unnormalised) features of every
gallery image, computed once and reused while the tower is unchanged. The training module reads references from
the raw rows and scores against their L2-normalised copy, as the authors' `extract_bank_features` keeps a raw
`refer_bank` and a normalised `target_bank` (BUAADreamer/SPN4CIR, clip4cir/models.py).

`tower_fingerprint` keys the bank: it hashes every weight of the tower (backbone and projection) and its image
processor's settings, so a bank is rebuilt exactly when the image tower changes; with `backbone_only` it keys a
locked backbone's features, which the projection does not change.
"""

from __future__ import annotations

import hashlib

import torch

from embedlab.models.towers import ImageTower


def tower_fingerprint(tower: ImageTower, backbone_only: bool = False) -> str:
    """16 hex digits of the sha256 over the tower's processor settings and every tensor of its state dict (of its
    backbone alone with `backbone_only`)."""
    digest = hashlib.sha256(tower.processor.to_json_string().encode())
    for name, tensor in (tower.backbone if backbone_only else tower).state_dict().items():
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
