"""Streaming a merge through safetensors files: one tensor name at a time, never a whole model in memory.

A model folder's tensors are keyed `<sub-folder>/<name>` (plain `<name>` for files at the top, where a
sentence-transformers Transformer keeps its weights), so Dense layers in sub-folders merge too. A merged file
reuses its base file's header verbatim (same names, dtypes, shapes and offsets) and its tensors are written
one after another, so the output's memory is one merged tensor.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from torch import Tensor

from embedlab.errors import UserError
from embedlab.models.merging.base import TensorMerge

EXPORT_DIRS = ("onnx", "openvino")  # other runtimes' copies of the weights: not merged, not copied
_LENGTH = struct.Struct("<Q")  # a safetensors file starts with its header's length, little-endian u64


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies: its file, its name there, safetensors dtype (e.g. "F32"), shape, byte range."""

    file: Path
    name: str
    dtype: str
    shape: tuple[int, ...]
    offsets: tuple[int, int]

    @property
    def is_float(self) -> bool:
        """Floating-point tensors are merged; others (integer buffers such as position ids) are the base's."""
        return self.dtype.startswith(("F", "BF"))


def read_header(path: Path) -> tuple[bytes, dict]:
    """A safetensors file's header as raw bytes (length prefix included) and as parsed JSON."""
    with path.open("rb") as handle:
        prefix = handle.read(_LENGTH.size)
        body = handle.read(_LENGTH.unpack(prefix)[0])
    return prefix + body, json.loads(body)


def weight_files(folder: Path) -> list[Path]:
    """The folder's safetensors files, top-level first; UserError where a folder holds weights in pickles only."""
    files, legacy = [], set()
    for path in folder.rglob("*"):
        if set(path.relative_to(folder).parts) & set(EXPORT_DIRS):
            continue
        if path.suffix == ".safetensors":
            files.append(path)
        elif path.name.startswith("pytorch_model") and path.suffix == ".bin":
            legacy.add(path.parent)
    missing = legacy - {path.parent for path in files}
    if missing:
        raise UserError(f"{min(missing)} holds its weights in pytorch_model.bin only; merging reads safetensors "
                        "(save the model again with SentenceTransformer(...).save(folder))")
    if not files:
        raise UserError(f"{folder}: no .safetensors weights found")
    return sorted(files, key=lambda path: (len(path.relative_to(folder).parts), path))  # top-level files first


def tensor_index(folder: Path) -> dict[str, TensorEntry]:
    """Every tensor of a model folder by key, in file order then byte order (headers only, no tensor data)."""
    index = {}
    for path in weight_files(folder):
        prefix = path.parent.relative_to(folder).as_posix()
        _, header = read_header(path)
        tensors = sorted((info["data_offsets"], name, info) for name, info in header.items() if name != "__metadata__")
        for offsets, name, info in tensors:
            key = name if prefix == "." else f"{prefix}/{name}"
            index[key] = TensorEntry(path, name, info["dtype"], tuple(info["shape"]), tuple(offsets))
    return index


def check_same_architecture(base: Mapping[str, TensorEntry], others: Mapping[str, Mapping[str, TensorEntry]]) -> None:
    """UserError naming the first floating-point tensor, in the base's order, that a model lacks, adds or shapes
    differently. Integer tensors are not merged (recent transformers no longer save BERT's position ids, which
    older checkpoints hold), so they may differ.

    `others` maps a label for the message (e.g. the model's folder) to that model's index.
    """
    for label, index in others.items():
        for key, entry in base.items():
            if not entry.is_float:
                continue
            if key not in index:
                raise UserError(f"architectures differ: tensor {key!r} of the base is missing from {label}")
            if index[key].shape != entry.shape:
                raise UserError(f"architectures differ: tensor {key!r} has shape {list(entry.shape)} in the base "
                                f"but {list(index[key].shape)} in {label}")
        extra = next((key for key, entry in index.items() if entry.is_float and key not in base), None)
        if extra is not None:
            raise UserError(f"architectures differ: {label} has tensor {extra!r}, which the base lacks")


def index_models(base: Path, models: Sequence[Path]) -> tuple[dict[str, TensorEntry], list[dict[str, TensorEntry]]]:
    """The tensor indexes of the base and of each model (headers only); UserError if an architecture differs."""
    base_index = tensor_index(base)
    indexes = [tensor_index(folder) for folder in models]
    check_same_architecture(base_index, {str(folder): index for folder, index in zip(models, indexes)})
    return base_index, indexes


class _Reader:
    """Loads single tensors through safetensors' memory-mapped `safe_open`, one handle per file."""

    def __init__(self, stack: ExitStack):
        self._stack, self._handles = stack, {}

    def load(self, entry: TensorEntry) -> Tensor:
        if entry.file not in self._handles:
            self._handles[entry.file] = self._stack.enter_context(safe_open(str(entry.file), "pt", device="cpu"))
        return self._handles[entry.file].get_tensor(entry.name)


def merge_blockers(folder: Path) -> list[str]:
    """Why `merge_weights` could not take this model folder as a base or a model (empty: it can): weights in
    pickles only, no weights, or no floating-point tensor to merge (a quantised checkpoint)."""
    try:
        index = tensor_index(folder)
    except UserError as exc:
        return [str(exc)]
    if not any(entry.is_float for entry in index.values()):
        return [f"{folder}: no floating-point weights (quantised?); merging combines floating-point tensors"]
    return []


def _keys_by_file(index: Mapping[str, TensorEntry]) -> dict[Path, list[str]]:
    files: dict[Path, list[str]] = {}
    for key, entry in index.items():
        files.setdefault(entry.file, []).append(key)
    return files


def merge_weights(base: Path, models: Sequence[Path], merge: TensorMerge, out_dir: Path) -> int:
    """Write the merge of each of the base's safetensors files to the same relative path under `out_dir`.

    Checks the architectures first (UserError, see `index_models`). For each floating-point tensor key, loads
    the base's and each model's tensor, merges them and writes the result before the next key; other tensors are
    copied from the base. Returns the number of tensors written.
    """
    base_index, indexes = index_models(base, models)
    with ExitStack() as stack:
        reader = _Reader(stack)
        for path, keys in _keys_by_file(base_index).items():
            target = out_dir / path.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                handle.write(read_header(path)[0])
                position = 0
                for key in keys:
                    entry = base_index[key]
                    merged = reader.load(entry)
                    if entry.is_float:
                        merged = merge(merged, [reader.load(index[key]) for index in indexes], key)
                    data = merged.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
                    if (position, position + data.nbytes) != entry.offsets:
                        raise RuntimeError(f"merged {key!r} does not fit its base's byte range {entry.offsets}")
                    handle.write(data)
                    position += data.nbytes
    return len(base_index)
