"""Which torch device a run uses: `auto`, or a named device checked against what this machine has."""

from __future__ import annotations

from embedlab.errors import UserError


def resolve_device(device: str = "auto") -> str:
    """`auto` picks CUDA where torch sees a GPU, else the CPU; `cpu`, `mps`, `cuda` and `cuda:N` are checked
    against what this machine has (UserError naming the device otherwise)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and not index.isdigit()):
        raise UserError(f"device {device!r}: expected auto, cpu, mps, cuda or cuda:N")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(index or 0) >= count:
            raise UserError(f"device {device!r} does not exist: this machine has {count} CUDA device(s)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device {device!r} does not exist: MPS is not available on this machine")
    return device
