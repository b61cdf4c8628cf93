"""The typer application, the options every command shares, and the one-line report of user errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from embedlab.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Reproducible, comparable, fast text-embedding and retrieval methods.")

ParamsOption = Annotated[Path | None, typer.Option("--params", help="params file (default: ./params.yaml)")]
SetOption = Annotated[list[str] | None, typer.Option("-S", "--set", help="override a params value: key.sub=value")]
NoTrackOption = Annotated[bool, typer.Option("--no-track", help="do not record an MLflow run")]


def shown(path: Path) -> str:
    """`path` relative to the working folder where it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def params_file(params: Path | None) -> str | None:
    """The --params option as a flow request carries it."""
    return str(params) if params else None


@contextmanager
def user_errors() -> Iterator[None]:
    """A `UserError` inside the block ends the command with `error: <message>` on stderr and exit status 2."""
    try:
        yield
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
