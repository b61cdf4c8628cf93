"""Loading a sentence encoder (see `model_source` for what a model spec may name), fingerprinting it, and naming it
by the content of its files without loading it (`model_files_sha256`, `precision_name`).

torch and sentence-transformers are imported by the functions that load or fingerprint a model only, so that code
which merely names a model (a cached evaluation) never imports them.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from embedlab.errors import UserError
from embedlab.models.device import resolve_device
from embedlab.models.model_source import model_source

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer


def precision_name(precision: str, device: str) -> str:
    """The precision `load_encoder(spec, device, precision)` loads weights in: `auto` is bf16 on CUDA and fp32
    elsewhere; `fp32`, `bf16`, `fp16`, `int8` are taken as given.

    Without importing torch where the answer is known without it: an explicit device, or `auto` with a CPU-only
    torch build (its version ends in `+cpu`). Otherwise torch says whether CUDA is there (`resolve_device`).
    """
    if precision != "auto":
        return precision
    if device == "auto" and metadata.version("torch").endswith("+cpu"):
        return "fp32"
    return "bf16" if resolve_device(device).startswith("cuda") else "fp32"


def resolve_precision(precision: str, device: str) -> torch.dtype:
    """The torch dtype of `precision_name(precision, device)` (`fp32`, `bf16` or `fp16`)."""
    import torch

    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    return dtypes[precision_name(precision, device)]


def model_folder(spec: str) -> Path | None:
    """The local folder `spec` loads from (see `model_source`): a catalogue model's or a given folder, or a Hub id's
    snapshot in the local Hugging Face cache; None for a Hub id not downloaded yet."""
    source = model_source(spec)
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(source, local_files_only=True))
    except LocalEntryNotFoundError:
        return None


def model_files_sha256(folder: Path) -> str:
    """sha256 over every file below `folder` (weights, configurations, tokenizer; hidden files and folders left
    out), each as its relative path then its content's sha256, in sorted path order. 64 hex digits.

    Names a model by what it loads from, before and without loading it: any changed weight or configuration
    gives another digest. A catalogue model's files are not re-read: their sha256 comes from the folder's
    `sha256.json` where size and mtime still match (`embedlab.models.local.install.file_sha256`).
    """
    from embedlab.models.local.install import file_sha256  # a catalogue model's hashes come from its manifest

    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(f"{relative.as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


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
    import torch
    from sentence_transformers import SentenceTransformer

    device = resolve_device(device)
    try:
        model = plain_text(SentenceTransformer(source, device=device))
    except OSError as exc:  # a Hub id that cannot be fetched (offline, typo, private repo)
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
        why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else str(exc).splitlines()[0]
        raise UserError(f"cannot load model {spec!r} from the Hugging Face Hub: {why}") from None
    if precision == "int8":
        from embedlab.models.quantize import quantize_int8

        return quantize_int8(model)
    dtype = resolve_precision(precision, device)
    return model if dtype == torch.float32 else model.to(dtype)


def plain_text(model: SentenceTransformer) -> SentenceTransformer:
    """`model` reading each text as it is (in place). sentence-transformers 6 turns every text into a chat message
    when the tokenizer has a chat template (SmolLM2-Instruct's prepends a 20-token system prompt to each text);
    an embedder encodes the text alone, as SGPT does and as the token-alignment metrics count its tokens."""
    for module in model:
        config = getattr(module, "modality_config", None)
        if isinstance(config, dict) and "message" in config and "text" in config:
            del config["message"]
            module.input_formatter.supported_modalities = list(config)
    return model


def with_pooling(model: SentenceTransformer, mode: str | None) -> SentenceTransformer:
    """`model` with its Pooling module set to `mode` (None: unchanged), the other modules kept: a
    sentence-transformers pooling mode, e.g. `mean`, `cls`, `lasttoken` or `weightedmean` (SGPT's position-weighted
    mean, Muennighoff 2022, arXiv 2202.08904: token i of the L non-padding tokens weighs i / Σ_j j)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    if mode is None:
        return model
    dim = model.get_embedding_dimension()
    modules = [Pooling(dim, mode) if isinstance(m, Pooling) else m for m in model]
    return SentenceTransformer(modules=modules, device=str(model.device))


def fingerprint(model: SentenceTransformer) -> str:
    """A stable content hash of a model: every weight tensor plus each module's configuration.

    Two folders holding the same weights and pooling share a fingerprint; any change to a weight,
    the pooling, normalisation or max_seq_length gives a new one. Returns 16 hex digits.
    """
    import torch

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
