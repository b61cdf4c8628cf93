"""The Prefect API server a command's flows report to: the user's, or a private temporary one.

With `PREFECT_API_URL` set (a `prefect server start` or Prefect Cloud), flows report there and nothing is
started. Otherwise Prefect would start a temporary server on a port drawn from Python's global `random`,
which `import mteb` seeds with 42, so two commands started together picked the same port and the second
reported to the first's server until that one exited. Here the port comes from the operating system (bound
to port 0), and the server process
- runs in its own session, so a Ctrl-C sent to the terminal's process group reaches the command, which then
  reports the interrupted flow run to a server that still answers, and exits at once;
- receives SIGTERM when the command dies, even by `kill -9` (Linux `PR_SET_PDEATHSIG`), so no server outlives
  the command that started it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

# Run in the server's process before uvicorn: die with the parent (argv[1] is the parent's pid), then serve.
_CHILD = """
import ctypes, os, runpy, signal, sys
PR_SET_PDEATHSIG = 1
prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)  # Linux only
if prctl is not None:
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)
sys.argv = ["uvicorn", *sys.argv[2:]]
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""


def free_port() -> int:
    """A loopback port that the operating system reports free now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_class() -> type:
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    class PrivateServer(SubprocessASGIServer):
        """Prefect's temporary server, started in its own session and tied to this process's life."""

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            import prefect

            env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                   "PREFECT__SERVER_FINAL": "1", **get_current_settings().to_environment_variables(exclude_unset=True)}
            args = ["--app-dir", str(prefect.__module_path__.parent), "--factory",
                    "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
                    "--log-level", "error", "--lifespan", "on"]
            return subprocess.Popen([sys.executable, "-c", _CHILD, str(os.getpid()), *args], env=env,
                                    start_new_session=True)

    return PrivateServer


def start_flow_server() -> None:
    """Make this process's flows report to a private temporary server (see the module docstring), started now
    from the calling (main) thread; nothing when `PREFECT_API_URL` names a server or one is already started."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return
    current = SubprocessASGIServer._instances.get(None)
    if current is not None and current.running:
        return
    server = _server_class()(port=free_port())
    SubprocessASGIServer._instances[None] = server  # where Prefect's clients look for the temporary server
    server.start()
