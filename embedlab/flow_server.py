"""The Prefect API server a command's flows report to: the user's, or a private temporary one.

With `PREFECT_API_URL` set (a `prefect server start`, Prefect Cloud; in the environment, the Prefect profile or
`prefect.toml`), flows report there. That is the fast path for frequent use: a command then starts no server.

Otherwise a command that runs flows starts its private temporary server as its very first step
(`start_in_background`, from `embedlab.cli.main`): uvicorn serving Prefect's API app in a subprocess, whose
start-up (about 5 s of CPU) overlaps the command's own imports and input checks on another core. The command
waits for it only when its first flow starts (`use_flow_server`), then points Prefect at it through
`PREFECT_API_URL`, so Prefect's own clients never start, nor import, a server of their own. The server process
- listens on a port the operating system reports free (bound to port 0), so two commands started in the same
  second never share one (Prefect draws ports from Python's global `random`, which `import mteb` seeds with 42);
- runs in its own session, so a Ctrl-C sent to the terminal's process group reaches the command, which then
  reports the interrupted flow run to a server that still answers, and exits at once;
- receives SIGTERM when the command dies, even by `kill -9` (Linux `PR_SET_PDEATHSIG`), so no server outlives
  the command that started it;
- is stopped at exit after Prefect has flushed its logs and events to it: SIGTERM, and SIGKILL after
  `STOP_GRACE_S` instead of waiting for uvicorn's graceful shutdown (the server's state is Prefect's SQLite
  database, which a killed writer leaves consistent).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

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

STARTUP_FAILURE = 3  # uvicorn's exit status when it cannot start, e.g. the port was taken since it was drawn
START_ATTEMPTS = 3
STOP_GRACE_S = 0.5

_private: PrivateServer | None = None  # this process's temporary server, once started


def free_port() -> int:
    """A loopback port that the operating system reports free now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateServer:
    """Prefect's API app under uvicorn in a subprocess, on a free loopback port, tied to this process's life.

    Starting it does not import Prefect here (the app's folder is found with `importlib.util.find_spec`);
    it is stopped by an exit handler registered at start, which runs after the handlers Prefect registers
    later to flush its logs and events (exit handlers run in reverse order).
    """

    def __init__(self) -> None:
        self.attempts = 0
        self.process = self._spawn()
        atexit.register(self.stop)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.address}/api"

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start uvicorn on a newly drawn free port (the server's settings are Prefect's, from the same
        environment and profile as this process; only the UI is off and the ephemeral-server flags on)."""
        self.attempts += 1
        self.port = free_port()
        site = Path(importlib.util.find_spec("prefect").origin).parents[1]  # the folder holding `prefect/`
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        args = ["--app-dir", str(site), "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        return subprocess.Popen([sys.executable, "-c", _CHILD, str(os.getpid()), *args], env=env,
                                start_new_session=True)

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the API answers `/health` (a port taken meanwhile: start again on another one).

        Raises RuntimeError when the server exits or does not answer within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.process.poll()
            if status == STARTUP_FAILURE and self.attempts < START_ATTEMPTS:
                self.process = self._spawn()
            elif status is not None:
                raise RuntimeError(f"the temporary Prefect server exited with status {status} before it answered")
            elif self._healthy():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the temporary Prefect server on {self.address} did not answer within "
                                   f"{timeout_s:g} s (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
            time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as reply:
                return reply.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `STOP_GRACE_S`; reaped either way."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_in_background() -> None:
    """Start this process's temporary server now, without waiting for it; nothing when `PREFECT_API_URL` is in
    the environment or one is started already. Call it first thing in a command that will run flows."""
    global _private
    if os.environ.get("PREFECT_API_URL") or _private is not None:
        return
    _private = PrivateServer()


def use_flow_server() -> None:
    """Make this process's flows report to the configured server, or else to the private temporary one (started
    now if `start_in_background` was not called), waiting until it answers. Call it before the first flow."""
    from prefect.context import refresh_global_settings_context
    from prefect.logging import get_logger
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    global _private
    configured = PREFECT_API_URL.value()
    if configured:  # the user's server (environment, profile, prefect.toml), or ours already in use
        if _private is not None and configured != _private.api_url:
            _private.stop()
            _private = None
        return
    if _private is None:
        _private = PrivateServer()
    get_logger().info(f"Starting temporary server on {_private.address}")
    _private.wait_ready(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    os.environ["PREFECT_API_URL"] = _private.api_url
    os.environ.setdefault("PREFECT_UI_URL", "")  # no "View at <url>" line: this server has no UI and ends with us
    refresh_global_settings_context()  # Prefect's documented way to pick up a changed environment variable
