"""The `openai` back-end: chat completions from any OpenAI-compatible server through the `openai` SDK.

Retries are the SDK's: `max_retries` attempts after the first, with exponential backoff (it honours the
server's Retry-After), on connection errors, timeouts, 408/409/429 and 5xx. `concurrency` requests are in
flight at once (a thread pool over the thread-safe sync client). An image travels as a base64 data URL
in the last user message, the form vision models behind vLLM and OpenAI accept. `n` samples are `n` requests
seeded `seed + i` (servers such as llama.cpp's answer one choice per request).
"""

from __future__ import annotations

import base64
import mimetypes
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import openai

from embedlab.models.generation.backend import BackendError, BackendSpec, Completion, Prompt, Role, combine_samples


def _short(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def chat_messages(prompt: Prompt) -> list[dict[str, Any]]:
    """The chat-completions `messages` of `prompt`; with an image, the last message's content is a list of parts."""
    messages: list[dict[str, Any]] = [{"role": role, "content": text} for role, text in prompt.messages]
    if prompt.image is not None:
        mime = mimetypes.guess_type(prompt.image.name)[0] or "image/jpeg"
        data = base64.b64encode(prompt.image.read_bytes()).decode("ascii")
        messages[-1]["content"] = [{"type": "text", "text": messages[-1]["content"]},
                                   {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}]
    return messages


def build(spec: BackendSpec, role: Role) -> OpenAIChat:
    """The `openai` back-end of `spec` (text and captions alike: the server's model reads the image)."""
    key = os.environ.get(spec.api_key_env) or "EMPTY"  # local servers (llm serve, vLLM, Ollama) need no key
    return OpenAIChat(spec, key)


class OpenAIChat:
    """Chat completions from `spec.model` at `spec.base_url` (None: $OPENAI_BASE_URL, else api.openai.com)."""

    def __init__(self, spec: BackendSpec, api_key: str) -> None:
        self.client = openai.OpenAI(api_key=api_key, base_url=spec.base_url, timeout=spec.timeout_s,
                                    max_retries=spec.max_retries)
        self.model, self.decoding = spec.model, spec.decoding()
        self.max_retries, self.concurrency = spec.max_retries, spec.concurrency
        self.where = str(self.client.base_url).rstrip("/")

    def identity(self) -> dict[str, Any]:
        return {"kind": "openai", "base_url": self.where, "model": self.model, **self.decoding}

    def _call(self, prompt: Prompt) -> Completion:
        """The prompt's `n` samples, one request each."""
        return combine_samples([self._request(prompt, self.decoding["seed"] + i) for i in range(self.decoding["n"])])

    def _request(self, prompt: Prompt, seed: int) -> Completion:
        after = f"after {self.max_retries} retries"
        d = self.decoding
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=chat_messages(prompt), temperature=d["temperature"], top_p=d["top_p"],
                max_tokens=d["max_tokens"], seed=seed, **({"stop": d["stop"]} if d["stop"] else {}))
        except openai.APIStatusError as exc:
            raise BackendError(f"openai back-end {self.where}: HTTP {exc.status_code} {after}: "
                               f"{_short(exc.message)}") from None
        except openai.APIConnectionError as exc:  # includes timeouts
            raise BackendError(f"openai back-end {self.where}: no answer {after} ({_short(exc)})") from None
        except ValueError as exc:  # the body is not JSON
            raise BackendError(f"openai back-end {self.where}: malformed reply, not JSON ({_short(exc)})") from None
        return self._completion(response)

    def _completion(self, response: Any) -> Completion:
        """Read `choices[0].message` and `usage`; the SDK builds the response without validating it."""
        try:
            message = response.choices[0].message
            text, refusal = message.content, getattr(message, "refusal", None)
        except (AttributeError, IndexError, KeyError, TypeError):
            raise BackendError(f"openai back-end {self.where}: malformed reply, no choices[0].message: "
                               f"{_short(repr(response))}") from None
        if not isinstance(text, str | None) or not isinstance(refusal, str | None):
            raise BackendError(f"openai back-end {self.where}: malformed reply, message content is "
                               f"{type(text).__name__}")
        usage = getattr(response, "usage", None)
        return Completion(text=text or refusal or "", refusal=bool(refusal) and not text,
                          prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                          completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0))

    def complete(self, prompts: Sequence[Prompt]) -> Iterator[tuple[int, Completion]]:
        """At most `concurrency` requests in flight; yields replies as they finish. On the first error the
        requests not yet sent are dropped and the error is raised."""
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai") as pool:
            pending: dict[Future[Completion], int] = {}
            queue = iter(enumerate(prompts))
            try:
                while True:
                    for index, prompt in queue:
                        pending[pool.submit(self._call, prompt)] = index
                        if len(pending) >= self.concurrency:
                            break
                    if not pending:
                        return
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield pending.pop(future), future.result()
            finally:
                for future in pending:
                    future.cancel()
