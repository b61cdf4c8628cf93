"""The `embedlab` command: a thin shell over the Prefect flows in `embedlab.flows`.

One module per group of commands; importing them registers their commands on `app` (in this order in --help)."""

from embedlab.cli import evaluation, training, merging, generation, crossmodal, cir  # noqa: F401, I001
from embedlab.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    from embedlab.errors import quiet_user_errors_in_run_logs

    quiet_user_errors_in_run_logs()
    app()
