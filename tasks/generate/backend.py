"""Prefect tasks shared by the generation flows: open a back-end, get replies through the cache, write outputs.

Resuming: every reply is stored in the response cache (`embedlab.models.generation.cache`) the moment it
arrives, and outputs are written whole at the end (temp file, then rename). An interrupted run leaves the
previous output untouched; the rerun takes the finished replies from the cache and calls only for the rest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_write_text
from embedlab.models.generation.backend import Backend, BackendSpec, Completion, Prompt, Role, Usage, build_backend
from embedlab.models.generation.cache import ResponseCache, complete_cached

CHUNK = 64  # prompts per Prefect task run: progress shows in the Prefect UI chunk by chunk


@task(cache_policy=NO_CACHE)
def open_backend(spec: BackendSpec, role: Role, section: str) -> Backend:
    """The back-end of params section `section` (loads the model where it runs in process)."""
    return build_backend(spec, role, section)


@task(cache_policy=NO_CACHE)
def complete_chunk(backend: Backend, prompts: list[Prompt], cache_dir: Path) -> tuple[list[Completion], Usage]:
    """Replies to `prompts` in order, each from the cache or from one call (stored at once)."""
    return complete_cached(backend, prompts, ResponseCache(cache_dir))


def complete_all(backend: Backend, prompts: Sequence[Prompt], cache_dir: Path) -> tuple[list[Completion], Usage]:
    """Replies to all `prompts`, one `complete_chunk` task run per CHUNK prompts; the usage summed."""
    replies: list[Completion] = []
    usage = Usage()
    for start in range(0, len(prompts), CHUNK):
        chunk_replies, chunk_usage = complete_chunk(backend, list(prompts[start:start + CHUNK]), cache_dir)
        replies += chunk_replies
        usage.add(chunk_usage)
        get_run_logger().info(f"replies {len(replies)}/{len(prompts)}: {usage.calls} calls, "
                              f"{usage.cache_hits} from the cache")
    return replies, usage


@task(cache_policy=NO_CACHE)
def write_dataset(path: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """Write `rows` as JSON lines to `path` and `summary` (plus the rows' count and sha256) to
    `<path stem>.summary.json`, each atomically. Returns the summary as written."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    summary = {**summary, "rows": len(rows), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    atomic_write_text(path, text)
    atomic_write_text(summary_path(path), json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def summary_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.summary.json")
