"""`embedlab models`: the local-model catalogue, what is installed, its size, sha256 state and folder."""

from __future__ import annotations

from typing import Annotated

import typer

from embedlab.cli.app import app, user_errors


def _size(folder) -> str:
    if not folder.is_dir():
        return "-"
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return f"{total / 1e6:,.0f} MB"


@app.command("models")
def models(
    install: Annotated[bool, typer.Option("--install", help="install the named models (all without names), as `make models`")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="re-hash every file instead of comparing size and mtime")] = False,
    names: Annotated[list[str] | None, typer.Argument(help="short names (default: all)")] = None,
) -> None:
    """List the local models (short name, kind, size, sha256 state, folder); --install installs them offline."""
    from embedlab.models.local.catalog import MODELS
    from embedlab.models.local.install import check, main

    with user_errors():
        chosen = [MODELS.check(name) for name in names or MODELS.names]
        if install:
            main(chosen)
            return
        rows = [(name, MODELS.get(name)) for name in chosen]
        states = [check(model, rehash=verify) for _, model in rows]
    typer.echo(f"{'name':<13} {'kind':<9} {'size':>9}  {'sha256':<14} folder")
    for (name, model), state in zip(rows, states, strict=True):
        typer.echo(f"{name:<13} {model.kind:<9} {_size(model.folder):>9}  {state:<14} {model.folder}")
        typer.echo(f"{'':<13} {model.what}")
    if any(state != "verified" for state in states):
        typer.echo("run `make models` (or `embedlab models --install`) to install the missing ones", err=True)
