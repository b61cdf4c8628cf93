"""`embedlab llm serve|ask`: a local OpenAI-compatible server for a GGUF model, and one question to any back-end."""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer

from embedlab.cli.app import ParamsOption, SetOption, app, command_settings, user_errors

llm_app = typer.Typer(no_args_is_help=True, help="Local LLMs: serve a GGUF model, ask any back-end.")
app.add_typer(llm_app, name="llm")


@llm_app.command("serve")
def serve(
    model: Annotated[str, typer.Option("--model", "-m", help="short name (qwen-coder, smollm2), GGUF file or folder")] = "qwen-coder",
    host: Annotated[str, typer.Option("--host", help="listen address (loopback: only this machine)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="listen port; 0: a free one")] = 8000,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="context window in tokens")] = 4096,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads (default: the usable cores)")] = None,
) -> None:
    """Serve a GGUF model over the OpenAI API (llama-cpp-python's server) until Ctrl-C.

    Point the `openai` back-end at it: -S generate.llm.kind=openai -S generate.llm.base_url=<printed URL>
    -S generate.llm.model=<the model name given here>."""
    from embedlab.models.generation.server import check_port, free_port, server_command
    from embedlab.models.model_source import gguf_file

    with user_errors():
        gguf = gguf_file(model)
        if port == 0:
            port = free_port(host)
        check_port(host, port)
        command = server_command(gguf, model, host, port, n_ctx, threads)
    typer.echo(f"serving {gguf.name} as model {model!r} at http://{host}:{port}/v1 (Ctrl-C stops it)", err=True)
    sys.stderr.flush()
    os.execv(command[0], command)


@llm_app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="the user message")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="default: generate.llm.model")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="llama_cpp | openai | transformers (default: generate.llm.kind)")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="openai: the server, e.g. http://127.0.0.1:8000/v1")] = None,
    system: Annotated[str | None, typer.Option("--system", help="a system message first")] = None,
    params: ParamsOption = None,
    overrides: SetOption = None,
) -> None:
    """Ask one question (a smoke test of a back-end); the reply on stdout, tokens and seconds on stderr.

    Decoding comes from generate.llm (-S generate.llm.temperature=0.7 -S generate.llm.n=3 ...); no cache."""
    from pydantic import ValidationError

    from embedlab.errors import UserError
    from embedlab.models.generation.backend import BackendSpec, Prompt, build_backend

    with command_settings(params, overrides) as settings:
        merged = settings.params.generate.llm.model_dump()
        merged.update({k: v for k, v in {"model": model, "kind": kind, "base_url": base_url}.items() if v is not None})
        if merged["kind"] != "openai":
            merged["base_url"] = None  # params' server does not apply to an in-process back-end
        try:
            spec = BackendSpec.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UserError(f"generate.llm.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        start = time.perf_counter()
        backend = build_backend(spec, "text", "generate.llm")
        loaded = time.perf_counter()
        messages = ((("system", system),) if system else ()) + (("user", question),)
        [(_, reply)] = list(backend.complete([Prompt(messages)]))
    for text in reply.samples or (reply.text,):
        typer.echo(text)
    typer.echo(f"({spec.kind} {spec.model}: {reply.prompt_tokens} prompt + {reply.completion_tokens} completion "
               f"tokens; load {loaded - start:.1f} s, reply {time.perf_counter() - loaded:.1f} s)", err=True)
