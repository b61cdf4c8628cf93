"""The `llama_cpp` back-end: a GGUF model in process through llama-cpp-python (llama.cpp's CPU kernels).

The chat is rendered with the chat template stored in the GGUF (`tokenizer.chat_template`; llama-cpp-python's
Jinja formatter), so every instruct model speaks its own format. Temperature 0 is greedy decoding (llama.cpp's
greedy sampler); above 0, sampling with temperature and `top_p` only (llama.cpp's default top-k 40 and min-p
0.05 are switched off, so that all back-ends sample the same distribution). Prompts run one after another: one
llama.cpp context serves them (its threads use the cores). llama-cpp-python is the `llm` extra, built by
`make install` with the flags chosen in the Makefile.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from embedlab.models.generation.backend import (BackendError, BackendSpec, Completion, Prompt, Role,
                                                combine_samples, too_long)
from embedlab.models.local.install import file_sha256
from embedlab.models.model_source import gguf_file

_EXCEEDS = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


def default_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def load_llama(path: Path, n_ctx: int, threads: int | None) -> Any:
    """`llama_cpp.Llama` over the GGUF at `path`; one-line errors where llama-cpp-python is missing or the file
    cannot be loaded."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise BackendError("the llama_cpp back-end needs llama-cpp-python (the `llm` extra): run `make install`"
                           ) from None
    try:
        return Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads or default_threads(), n_gpu_layers=-1,
                     verbose=False)
    except ValueError as exc:
        raise BackendError(f"llama.cpp cannot load {path}: {exc} (not a GGUF model it supports, or damaged)"
                           ) from None


def build(spec: BackendSpec, role: Role) -> LlamaCppChat:
    """The `llama_cpp` back-end of `spec` (text only)."""
    if role == "caption":
        raise BackendError("the llama_cpp back-end takes no images; caption with kind openai or transformers")
    return LlamaCppChat(spec)


class LlamaCppChat:
    """Chat replies from a GGUF model (`spec.model`: a short name, a folder holding one .gguf, or a .gguf file)."""

    def __init__(self, spec: BackendSpec) -> None:
        self.path = gguf_file(spec.model)
        self.decoding, self.n_ctx = spec.decoding(), spec.n_ctx
        self.llama = load_llama(self.path, spec.n_ctx, spec.threads)
        self.sha256 = file_sha256(self.path)

    def identity(self) -> dict[str, Any]:
        return {"kind": "llama_cpp", "model": self.sha256, **self.decoding}

    def _sample(self, prompt: Prompt, seed: int) -> Completion:
        d = self.decoding
        messages = [{"role": role, "content": text} for role, text in prompt.messages]
        try:
            out = self.llama.create_chat_completion(
                messages=messages, temperature=d["temperature"], top_p=d["top_p"], top_k=0, min_p=0.0,
                max_tokens=d["max_tokens"], stop=d["stop"] or None, seed=seed)
        except ValueError as exc:
            found = _EXCEEDS.search(str(exc))
            if found:
                raise too_long(int(found.group(1)), int(found.group(2)), f"llama_cpp {self.path.name}") from None
            raise
        usage = out["usage"]
        return Completion(text=(out["choices"][0]["message"]["content"] or "").strip(),
                          prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"])

    def complete(self, prompts: Sequence[Prompt]) -> Iterator[tuple[int, Completion]]:
        if any(prompt.image is not None for prompt in prompts):
            raise BackendError("the llama_cpp back-end takes no images")
        for index, prompt in enumerate(prompts):
            yield index, combine_samples([self._sample(prompt, self.decoding["seed"] + i)
                                          for i in range(self.decoding["n"])])
