"""The typer application, the options every command shares, and the one-line report of user errors."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from embedlab.errors import UserError

if TYPE_CHECKING:
    from embedlab.config import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Reproducible, comparable, fast text-embedding and retrieval methods.")

# Library warnings a user cannot act on (renamed APIs inside libraries, mteb recommending newer task versions):
# hidden unless --verbose.
QUIET_WARNINGS = ((FutureWarning, ""), (UserWarning, ".*is superseded by"), (DeprecationWarning, ""))
QUIET_LOGGERS = ("mteb",)


@app.callback()
def global_options(verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="also show library warnings and debug logs")] = False) -> None:
    """Reproducible, comparable, fast text-embedding and retrieval methods."""
    if verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "DEBUG")
        return
    for category, message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


ParamsOption = Annotated[Path | None, typer.Option("--params", help="params file (default: ./params.yaml)")]
SetOption = Annotated[list[str] | None, typer.Option("-S", "--set", help="override a params value: key.sub=value")]
NoTrackOption = Annotated[bool, typer.Option("--no-track", help="do not record an MLflow run")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")]
DatasetOption = Annotated[str, typer.Option("--dataset", help="its name in the table and the output folder")]


def shown(path: Path) -> str:
    """`path` relative to the working folder where it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def cwd_path(value: str | Path | None) -> str | None:
    """A path given on the command line, made absolute against the working folder, as every CLI reads it
    (paths inside params.yaml stay relative to params.yaml's folder)."""
    return None if value is None or str(value) == "" else str(Path(value).expanduser().absolute())


def echo_table(result: dict[str, Any]) -> None:
    """A flow's results table (`result["table"]`) and where its report lies (`-> <folder>/report.md`; the
    folder's metrics.json, table.csv and chart.png beside it): the output of every command that writes a table."""
    typer.echo(result["table"])
    typer.echo(f"-> {shown(Path(result['outputs']['report.md']))}")


def tracking_on(settings: Any, no_track: bool) -> bool:
    """Whether the command records an MLflow run: not with --no-track; not, after one warning line, when the
    tracking server does not answer within `tracking.connect_timeout_s` (an error instead with
    `tracking.strict`), so that the work's results are still written and printed."""
    if no_track:
        return False
    from embedlab.tasks.tracking import server_problem

    chosen = settings.params.tracking
    problem = server_problem(settings.tracking_uri, chosen.connect_timeout_s)
    if problem is None:
        return True
    message = (f"MLflow tracking server {settings.tracking_uri} did not answer within {chosen.connect_timeout_s:g} s "
               f"({problem})")
    if chosen.strict:
        typer.echo(f"error: {message}; tracking.strict is set", err=True)
        raise typer.Exit(2)
    typer.echo(f"warning: {message}; this run is not recorded (set tracking.strict: true to fail instead)", err=True)
    return False


# The commands that run Prefect flows (through `running_flow`): `main` starts their temporary Prefect server
# in the background before anything else, so that its start-up overlaps the command's imports and checks.
FLOW_COMMANDS = frozenset({
    ("evaluate",), ("prepare",), ("train",), ("merge",), ("compare",),
    ("generate", "sentences"), ("generate", "triplets"), ("cse", "run"), ("cse", "compare"),
    ("crossmodal", "prepare"), ("crossmodal", "train"), ("crossmodal", "compare"), ("crossmodal", "evaluate"),
    ("cir", "train"), ("cir", "compare"), ("tokens", "decode"), ("tokens", "align"), ("tokens", "sparse"),
    ("tokens", "spectrum"), ("sql", "evaluate"), ("sql", "build-mismatch"), ("kbqa", "run"), ("kbqa", "evaluate"),
    ("rag", "index"), ("rag", "ask"), ("rag", "run"), ("rag", "evaluate"), ("rag", "train-reranker"),
})


def runs_flows(argv: list[str]) -> bool:
    """Whether the command line (`sys.argv[1:]`) names a command of `FLOW_COMMANDS` and does not ask for --help.
    The root's only options are -v/--verbose, so a command's path is the first one or two other words."""
    if "--help" in argv:
        return False
    words = [arg for arg in argv if arg not in ("-v", "--verbose")]
    return tuple(words[:1]) in FLOW_COMMANDS or tuple(words[:2]) in FLOW_COMMANDS


@contextmanager
def running_flow() -> Iterator[None]:
    """Run a flow inside: it reports to the configured Prefect server or the command's temporary one
    (`embedlab.flow_server`, waited for here), user errors end in one line, and a Ctrl-C ends the command at once
    with `error: interrupted` and exit status 130 (see `main`)."""
    from embedlab.flow_server import use_flow_server

    use_flow_server()
    with user_errors():
        yield


@contextmanager
def command_settings(params: Path | None, overrides: list[str] | None,
                     values: dict[str, Any] | None = None) -> Iterator[Settings]:
    """The command's settings (params.yaml or --params, with the -S overrides, then the command's own options as
    `values` by dotted key, see `Settings.with_values`) for its pre-flight checks (or, in a command that runs no
    flow, its work): a UserError inside the block, reading the settings included, ends the command in one line
    (`user_errors`)."""
    from embedlab.config import load_settings

    with user_errors():
        yield load_settings(params, list(overrides or [])).with_values(values or {})


@contextmanager
def stdout_for_json(as_json: bool) -> Iterator[None]:
    """With --json, anything a library prints while the work runs goes to stderr: stdout carries the JSON alone."""
    if not as_json:
        yield
        return
    real, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout = real


@contextmanager
def user_errors() -> Iterator[None]:
    """A `UserError` inside the block ends the command with `error: <message>` on stderr and exit status 2."""
    try:
        yield
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
