"""Model folders in and out of a merge: resolve a model spec to a local folder; write a complete merged folder."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from embedlab.errors import UserError
from embedlab.models.merging.base import TensorMerge
from embedlab.models.merging.weights import EXPORT_DIRS, merge_weights
from embedlab.models.model_source import model_source

# Weights in any format (the merged ones are written as safetensors), other runtimes' exports, and the base's
# model card, which would describe the wrong model.
OTHER_FORMATS = ("*.bin", "*.h5", "*.msgpack", "*.ot", "*.onnx")
NOT_COPIED = ("*.safetensors", *OTHER_FORMATS, *EXPORT_DIRS, "README.md", ".git")


def local_folder(spec: str) -> Path:
    """The folder of a model spec (see `model_source`); a Hub id is fetched, or read from the local cache when
    HF_HUB_OFFLINE is set, without the weight formats and exports a merge does not read."""
    source = model_source(spec)
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, ignore_patterns=[*OTHER_FORMATS, *(f"{d}/*" for d in EXPORT_DIRS)]))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot fetch model {spec!r} from the Hugging Face Hub: {str(exc).splitlines()[0]}") from None


def write_merged_folder(base: Path, models: Sequence[Path], merge: TensorMerge, out_dir: Path) -> int:
    """Fill `out_dir` with a complete model: the base's non-weight files (modules.json, Pooling/Normalize
    sub-folders, tokenizer, configs) and the merged weights. Returns the number of tensors written."""
    shutil.copytree(base, out_dir, ignore=shutil.ignore_patterns(*NOT_COPIED), dirs_exist_ok=True)
    return merge_weights(base, models, merge, out_dir)
