"""A content-addressed cache of replies: the key is the sha256 of (back-end identity, prompt, image bytes).

One entry per reply, `<folder>/<key[:2]>/<key>.entry` (embedlab's checked format, `embedlab.cache_store`: the
reply's JSON with a sha256), written atomically as soon as the reply arrives, so an interrupted generation loses
at most the calls in flight and a rerun makes no call twice; a damaged entry is moved aside with one warning and
its prompt asked again. The cache also makes generation reproducible: the same prompt to the same model gives
back the stored reply.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embedlab.cache_store import load_json, save_json
from embedlab.hashing import file_sha256
from embedlab.models.generation.backend import Backend, BackendError, Completion, Prompt, Usage


def cache_key(identity: dict[str, Any], prompt: Prompt) -> str:
    """sha256 hex of the canonical JSON of the back-end identity, the messages and the image's content."""
    image = file_sha256(prompt.image) if prompt.image else None
    payload = {"backend": identity, "messages": prompt.messages, "image_sha256": image}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """Replies stored by `cache_key` under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writable = True  # False after a reply could not be stored (read-only): one warning, then none

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.entry"

    def get(self, key: str) -> Completion | None:
        """The stored reply, or None where there is none or the entry is damaged (moved aside: it is redone)."""
        return load_json(self._path(key), lambda fields: Completion(**{**fields,
                                                                        "samples": tuple(fields.get("samples", ()))}))

    def put(self, key: str, completion: Completion) -> None:
        """Store the reply; in a cache that cannot be written (read-only) none is stored, with one warning."""
        if self.writable:
            self.writable = save_json(self._path(key), asdict(completion))


def complete_cached(backend: Backend, prompts: Sequence[Prompt], cache: ResponseCache) -> tuple[list[Completion], Usage]:
    """Every prompt's reply, from the cache where it is there, else from `backend` (stored at once).

    Returns the replies in prompt order, and the usage: calls made, cache hits, tokens of the calls made.
    """
    identity = backend.identity()
    keys = [cache_key(identity, prompt) for prompt in prompts]
    replies: list[Completion | None] = [cache.get(key) for key in keys]
    missing = [i for i, reply in enumerate(replies) if reply is None]
    usage = Usage(cache_hits=len(prompts) - len(missing))
    for j, completion in backend.complete([prompts[i] for i in missing]):
        i = missing[j]
        cache.put(keys[i], completion)
        replies[i] = completion
        usage.calls += 1
        usage.prompt_tokens += completion.prompt_tokens
        usage.completion_tokens += completion.completion_tokens
    unanswered = [i for i, reply in enumerate(replies) if reply is None]
    if unanswered:
        raise BackendError(f"the back-end gave no reply to {len(unanswered)} of {len(prompts)} prompts")
    return replies, usage
