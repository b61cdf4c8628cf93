"""The `embedlab` command: a thin shell over the Prefect flows in `embedlab.flows`.

One module per group of commands; importing them registers their commands on `app` (in this order in --help)."""

from embedlab.cli import evaluation, training, merging, generation, cse, crossmodal, cir  # noqa: F401, I001
from embedlab.cli import models  # noqa: F401, I001
from embedlab.cli import llm  # noqa: F401, I001
from embedlab.cli import tokens  # noqa: F401, I001
from embedlab.cli import sql  # noqa: F401, I001
from embedlab.cli import kbqa  # noqa: F401, I001
from embedlab.cli import rag  # noqa: F401, I001
from embedlab.cli.app import app

__all__ = ["app", "main"]


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM. Not a KeyboardInterrupt, which click turns into "Aborted!" and exit status 1."""


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def main() -> None:
    """Run the command; a Ctrl-C or SIGTERM ends it with `error: interrupted` and exit status 130, no traceback.

    Outputs are written under temp paths and renamed, so an interrupted command leaves no half-written file.
    A command that runs flows starts its temporary Prefect server first (`embedlab.flow_server`). At the end,
    `gc.freeze()` spares the exit CPython's full garbage collections over every object the libraries created
    (torch, transformers, mteb's task registry, Prefect's and pydantic's models): seconds on 2 cores, for memory
    the operating system takes back anyway. By then every output is written and every file closed; the exit
    handlers (Prefect flushing its logs, MLflow, the server's stop) still run."""
    import gc
    import signal
    import sys

    from embedlab.cli.app import runs_flows
    from embedlab.errors import quiet_user_errors_in_run_logs
    from embedlab.flow_server import start_in_background

    if runs_flows(sys.argv[1:]):
        start_in_background()
    quiet_user_errors_in_run_logs()
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except Interrupted:
        sys.stderr.write("\nerror: interrupted\n")
        sys.exit(130)
    finally:
        gc.freeze()
