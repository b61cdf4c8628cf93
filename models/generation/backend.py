"""The generation interface: a `Prompt` in, a `Completion` out, whichever model writes it.

A back-end is anything with `identity()` (what its replies depend on besides the prompt: the cache key) and
`complete(prompts)`, which yields `(index, completion)` as each reply arrives, in any order, so that a caller
can store every finished reply at once (see `cache.complete_cached`). `build_backend` picks the
implementation from a `BackendSpec` (the `generate.llm` / `generate.mllm` sections of params.yaml).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from embedlab.errors import UserError


class BackendError(UserError):
    """A back-end that cannot answer (server down, HTTP error after the retries, malformed reply): one line."""


@dataclass(frozen=True)
class Prompt:
    """A chat: `messages` are (role, text) pairs, role in system/user/assistant; `image` goes with the last one."""

    messages: tuple[tuple[str, str], ...]
    image: Path | None = None


@dataclass(frozen=True)
class Completion:
    """One reply. `refusal` is set where the server flags the reply as a refusal (OpenAI's `message.refusal`)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    refusal: bool = False


@runtime_checkable
class Backend(Protocol):
    def identity(self) -> dict[str, Any]:
        """Everything besides the prompt that the reply depends on (model, sampling settings); JSON-able."""

    def complete(self, prompts: Sequence[Prompt]) -> Iterator[tuple[int, Completion]]:
        """Yield `(index into prompts, completion)` as replies arrive; raise BackendError when one cannot."""


Role = Literal["text", "caption"]


class BackendSpec(BaseModel):
    """Which model writes: `openai` (any OpenAI-compatible chat-completions server: vLLM, Ollama, llama.cpp,
    OpenAI) or `transformers` (in process: a causal LM for text, an image-to-text model for captions).

    `concurrency` is the number of requests in flight (openai) or the batch size (transformers).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "transformers"] = "openai"
    model: str | None = Field(None, description="openai: the served model name; transformers: folder or Hub id")
    base_url: str | None = Field(None, description="openai only; null: $OPENAI_BASE_URL, else api.openai.com")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the key (unset: none)")
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(256, gt=0)
    seed: int = 0
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0, description="openai: the SDK's retries with backoff on 429/5xx/timeouts")
    concurrency: int = Field(4, gt=0)
    device: str = "auto"

    @model_validator(mode="after")
    def _base_url_is_for_openai(self) -> BackendSpec:
        if self.kind != "openai" and self.base_url:
            raise ValueError("base_url applies to kind 'openai' only")
        return self


def require_model(spec: BackendSpec, section: str) -> None:
    """UserError unless `spec` names a model (params.yaml leaves it unset: there is no sensible default)."""
    if not spec.model:
        raise UserError(f"{section}.model is not set: name the model to generate with (-S {section}.model=...)")


def build_backend(spec: BackendSpec, role: Role, section: str) -> Backend:
    """The back-end `spec` names, for writing text (`role="text"`) or captioning images (`"caption"`).

    `section` (e.g. "generate.llm") names the params section in errors. Loads the model where it is local.
    """
    require_model(spec, section)
    if spec.kind == "openai":
        from embedlab.models.generation.openai_chat import OpenAIChat

        key = os.environ.get(spec.api_key_env) or "EMPTY"  # local servers (vLLM, Ollama) need no key
        return OpenAIChat(spec.model, key, spec.base_url, temperature=spec.temperature, max_tokens=spec.max_tokens,
                          seed=spec.seed, timeout_s=spec.timeout_s, max_retries=spec.max_retries,
                          concurrency=spec.concurrency)
    if role == "caption":
        from embedlab.models.generation.hf_caption import TransformersCaptioner

        return TransformersCaptioner(spec.model, max_tokens=spec.max_tokens, batch_size=spec.concurrency,
                                     device=spec.device)
    from embedlab.models.generation.hf_text import TransformersChat

    return TransformersChat(spec.model, temperature=spec.temperature, max_tokens=spec.max_tokens, seed=spec.seed,
                            batch_size=spec.concurrency, device=spec.device)


@dataclass
class Usage:
    """What a generation cost: calls made, replies taken from the cache, tokens of the calls made."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.cache_hits += other.cache_hits
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
