"""Loading a sentence encoder (see `model_source` for what a model spec may name) and fingerprinting it."""

from __future__ import annotations

import hashlib
import json
import os

import torch
from sentence_transformers import SentenceTransformer

from embedlab.errors import UserError
from embedlab.models.device import resolve_device
from embedlab.models.model_source import model_source


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: str, device: str) -> torch.dtype:
    """`auto` is bf16 on CUDA and fp32 elsewhere; `fp32`, `bf16`, `fp16` are taken as given."""
    if precision == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return DTYPES[precision]


def load_encoder(spec: str, device: str = "auto", precision: str = "fp32") -> SentenceTransformer:
    """Load `spec` (see `model_source`) as a SentenceTransformer on `device` with weights in `precision`.

    `int8`: the Linear layers dynamically quantised to int8 (`embedlab.models.quantize`); CPU only.

    A plain Hugging Face encoder folder without sentence-transformers files gets mean pooling, as
    sentence-transformers does by default.
    """
    source = model_source(spec)
    if precision == "int8" and (device not in ("auto", "cpu") or resolve_device(device) != "cpu"):
        raise UserError(f"precision int8 (dynamic quantisation) runs on the CPU only; the device is {device!r} "
                        "(set it to 'cpu')")
    device = resolve_device(device)
    try:
        model = SentenceTransformer(source, device=device)
    except OSError as exc:  # a Hub id that cannot be fetched (offline, typo, private repo)
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
        why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else str(exc).splitlines()[0]
        raise UserError(f"cannot load model {spec!r} from the Hugging Face Hub: {why}") from None
    if precision == "int8":
        from embedlab.models.quantize import quantize_int8

        return quantize_int8(model)
    dtype = resolve_precision(precision, device)
    return model if dtype == torch.float32 else model.to(dtype)


def fingerprint(model: SentenceTransformer) -> str:
    """A stable content hash of a model: every weight tensor plus each module's configuration.

    Two folders holding the same weights and pooling share a fingerprint; any change to a weight,
    the pooling, normalisation or max_seq_length gives a new one. Returns 16 hex digits.
    """
    digest = hashlib.sha256()
    for index, module in enumerate(model):
        config = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
        digest.update(json.dumps([index, type(module).__name__, config], sort_keys=True, default=str).encode())
    digest.update(str(model.max_seq_length).encode())
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        # A quantised Linear keeps (int8 weight, bias) packed in a tuple beside its dtype; a quantised tensor
        # counts by its dequantised values (integers, scale and zero point together).
        stack = [value]
        while stack:
            item = stack.pop(0)
            if isinstance(item, tuple | list):
                stack[:0] = item
            elif isinstance(item, torch.Tensor):
                tensor = item.dequantize() if item.is_quantized else item
                digest.update(str(item.dtype).encode())
                digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
            else:
                digest.update(repr(item).encode())
    return digest.hexdigest()[:16]
