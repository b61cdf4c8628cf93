"""The generation interface: a `Prompt` in, a `Completion` out, whichever model writes it.

A back-end is anything with `identity()` (what its replies depend on besides the prompt: the cache key) and
`complete(prompts)`, which yields `(index, completion)` as each reply arrives, in any order, so that a caller
can store every finished reply at once (see `cache.complete_cached`). The back-ends are one registry,
`BACKENDS` (`llama_cpp`, `openai`, `transformers`; each module's `build(spec, role)`); `build_backend` picks one
from a `BackendSpec` (the `generate.llm` / `generate.mllm` sections of params.yaml). All of them decode the same
way: temperature 0 is greedy, above it sampling with `top_p`; `n` samples per prompt are `n` draws seeded
`seed, seed + 1, …` (so a sample never depends on the back-end's batching); a reply ends before the first `stop`
sequence; a prompt longer than the context is a one-line error naming both lengths (`too_long`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from embedlab.errors import UserError
from embedlab.registry import Registry, module_doc, name_check


class BackendError(UserError):
    """A back-end that cannot answer (server down, HTTP error after the retries, malformed reply): one line."""


@dataclass(frozen=True)
class Prompt:
    """A chat: `messages` are (role, text) pairs, role in system/user/assistant; `image` goes with the last one."""

    messages: tuple[tuple[str, str], ...]
    image: Path | None = None


@dataclass(frozen=True)
class Completion:
    """One reply. `refusal` is set where the server flags the reply as a refusal (OpenAI's `message.refusal`).
    With `n` > 1 samples, `samples` holds all n texts (`text` is the first) and the token counts are their sums."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    refusal: bool = False
    samples: tuple[str, ...] = ()


def combine_samples(replies: Sequence[Completion]) -> Completion:
    """The n replies to one prompt as one Completion: the first's text, all texts, summed tokens."""
    if len(replies) == 1:
        return replies[0]
    return Completion(text=replies[0].text, prompt_tokens=sum(r.prompt_tokens for r in replies),
                      completion_tokens=sum(r.completion_tokens for r in replies),
                      refusal=all(r.refusal for r in replies), samples=tuple(r.text for r in replies))


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to (not including) the earliest of the `stop` sequences, as OpenAI's `stop` returns it."""
    ends = [text.find(s) for s in stop if s and s in text]
    return text[:min(ends)] if ends else text


def too_long(prompt_tokens: int, context: int, where: str) -> BackendError:
    """The one-line error for a prompt that does not fit the model's context."""
    return BackendError(f"{where}: the prompt is {prompt_tokens} tokens, longer than the model's context of "
                        f"{context} tokens (shorten it, or raise n_ctx where the model allows)")


@runtime_checkable
class Backend(Protocol):
    def identity(self) -> dict[str, Any]:
        """Everything besides the prompt that the reply depends on (model, sampling settings); JSON-able."""

    def complete(self, prompts: Sequence[Prompt]) -> Iterator[tuple[int, Completion]]:
        """Yield `(index into prompts, completion)` as replies arrive; raise BackendError when one cannot."""


Role = Literal["text", "caption"]

BACKENDS: Registry[Any] = Registry("LLM back-end", {
    "llama_cpp": "embedlab.models.generation.llama_cpp:build",
    "openai": "embedlab.models.generation.openai_chat:build",
    "transformers": "embedlab.models.generation.hf_text:build",
}, doc=module_doc)


class BackendSpec(BaseModel):
    """Which model writes (`kind`, a name of `BACKENDS`): `llama_cpp` (a GGUF in process through llama-cpp-python),
    `openai` (any OpenAI-compatible chat-completions server: `embedlab llm serve`, vLLM, Ollama, OpenAI) or
    `transformers` (in process: a causal LM folder or GGUF for text, an image-to-text model for captions).

    `concurrency` is the number of requests in flight (openai) or the batch size (transformers).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Annotated[str, AfterValidator(name_check(BACKENDS))] = "openai"
    model: str | None = Field(None, description="openai: the served model name; else a short name, folder, GGUF "
                                                "file or Hub id")
    base_url: str | None = Field(None, description="openai only; null: $OPENAI_BASE_URL, else api.openai.com")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the key (unset: none)")
    temperature: float = Field(0.0, ge=0, description="0: greedy decoding")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling (temperature > 0)")
    max_tokens: int = Field(256, gt=0)
    n: int = Field(1, gt=0, description="samples per prompt, seeded seed, seed + 1, ...")
    stop: list[str] = Field(default_factory=list, description="a reply ends before the first of these")
    seed: int = 0
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0, description="openai: the SDK's retries with backoff on 429/5xx/timeouts")
    concurrency: int = Field(4, gt=0)
    device: str = "auto"
    n_ctx: int = Field(4096, gt=0, description="llama_cpp: the context window in tokens")
    threads: int | None = Field(None, gt=0, description="llama_cpp: CPU threads (null: the cores this process may use)")

    def decoding(self) -> dict[str, Any]:
        """The settings every reply depends on (part of each back-end's cache identity)."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, "n": self.n,
                "stop": list(self.stop), "seed": self.seed}

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
    return BACKENDS.get(spec.kind)(spec, role)


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
