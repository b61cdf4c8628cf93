"""A local OpenAI-compatible server for a GGUF model: llama-cpp-python's `python -m llama_cpp.server` (the `[server]`
extra) on a loopback address, so that several commands or a Prefect worker share one loaded model through the
`openai` back-end (`base_url` = the printed URL). The same pipeline points at vLLM on a GPU machine by changing
`base_url` only.
"""

from __future__ import annotations

import importlib
import socket
import sys
from pathlib import Path

from embedlab.errors import UserError
from embedlab.models.generation.llama_cpp import default_threads


def free_port(host: str) -> int:
    """A port on `host` that nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def check_port(host: str, port: int) -> None:
    """UserError (one line) unless `port` on `host` can be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(f"port {port} on {host} is taken ({exc.strerror}); choose another --port, or --port 0 "
                            "for a free one") from None


def server_command(gguf: Path, alias: str, host: str, port: int, n_ctx: int, threads: int | None) -> list[str]:
    """The command line that serves `gguf` as model `alias` at http://host:port/v1 (chat template from the GGUF)."""
    try:  # the `[server]` extra: fastapi, uvicorn, sse-starlette
        importlib.import_module("llama_cpp.server.app")
    except ImportError as exc:
        raise UserError(f"llm serve needs llama-cpp-python[server] (the `llm` extra; run `make install`): {exc}"
                        ) from None
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
            "--host", host, "--port", str(port), "--n_ctx", str(n_ctx),
            "--n_threads", str(threads or default_threads()), "--n_threads_batch", str(threads or default_threads()),
            "--verbose", "False"]
