"""What tests/test_cache_faults.py and its read-only child process share: a deterministic stand-in for a model
and a back-end that echoes (light imports, so that the child starts fast)."""

from __future__ import annotations

import hashlib

import numpy as np

from embedlab.models.generation.backend import Completion, Prompt


def vectors_of(texts: list[str]) -> np.ndarray:
    """[N, 8] float32: the first 8 bytes of each text's md5, scaled to [0, 1]."""
    return np.array([np.frombuffer(hashlib.md5(t.encode()).digest()[:8], np.uint8) / 255 for t in texts],
                    dtype=np.float32)


class Counting:
    """`vectors_of` that records the texts it is asked for."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return vectors_of(texts)


class EchoBackend:
    """A back-end that answers 're <last user text>' and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def identity(self) -> dict:
        return {"kind": "echo"}

    def complete(self, prompts):
        for i, prompt in enumerate(prompts):
            self.asked.append(prompt.messages[-1][1])
            yield i, Completion(text=f"re {prompt.messages[-1][1]}", prompt_tokens=3, completion_tokens=2)


def chats(*texts: str) -> list[Prompt]:
    return [Prompt((("user", text),)) for text in texts]
