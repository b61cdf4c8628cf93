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

    Outputs are written under temp paths and renamed, so an interrupted command leaves no half-written file."""
    import signal
    import sys

    from embedlab.errors import quiet_user_errors_in_run_logs

    quiet_user_errors_in_run_logs()
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except Interrupted:
        sys.stderr.write("\nerror: interrupted\n")
        sys.exit(130)
