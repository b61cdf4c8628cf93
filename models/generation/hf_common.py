"""Loading an in-process Hugging Face model (a folder, a Hub id, a short name, or a GGUF file, which transformers
dequantizes), and a cheap content fingerprint for the cache key."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from embedlab.errors import UserError
from embedlab.models.model_source import model_source


def load_pretrained(loader: Callable[..., Any], spec: str, **kwargs: Any) -> Any:
    """`loader.from_pretrained(spec)` (a local folder, a Hub id or a short name); one-line UserError where it
    cannot load. A `.gguf` file, or a folder holding one GGUF and no config.json, loads through `gguf_file=`
    (needs the `gguf` package)."""
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        spec, kwargs = str(path.parent), {"gguf_file": path.name, **kwargs}
    source = model_source(spec)
    ggufs = sorted(Path(source).glob("*.gguf")) if Path(source).is_dir() else []
    if len(ggufs) == 1 and not (Path(source) / "config.json").is_file():
        kwargs.setdefault("gguf_file", ggufs[0].name)
    try:
        return loader.from_pretrained(source, **kwargs)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
        why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else str(exc).splitlines()[0]
        raise UserError(f"cannot load generation model {spec!r}: {why}") from None


def weights_fingerprint(model: torch.nn.Module, sample: int = 4096) -> str:
    """16 hex digits over the config (not its folder) and, per tensor, its name, shape and first and last `sample` values.

    Sampled rather than full so that a multi-GB model fingerprints in milliseconds; any fine-tuning
    changes the sampled values of essentially every tensor.
    """
    config = {k: v for k, v in model.config.to_dict().items() if k not in ("_name_or_path", "transformers_version")}
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().reshape(-1)
        part = torch.cat([flat[:sample], flat[-sample:]]).cpu().float().contiguous()
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        digest.update(part.numpy().tobytes())
    return digest.hexdigest()[:16]
