"""The Prefect server a command reports to (`embedlab.flow_server`) and which commands start one early.

Real processes: the private server is uvicorn serving Prefect's API; its answers are read over HTTP."""

from __future__ import annotations

import inspect
import os
import time
import urllib.request

import pytest
import typer

from embedlab import flow_server
from embedlab.cli import app
from embedlab.cli.app import FLOW_COMMANDS, runs_flows


def leaf_commands() -> dict[tuple[str, ...], object]:
    """Every command of `embedlab` by its path, e.g. ("cse", "run")."""
    found = {}

    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found[path] = command

    walk(typer.main.get_command(app), ())
    return found


def test_flow_commands_are_real_commands_and_include_every_command_that_runs_a_flow():
    leaves = leaf_commands()
    assert FLOW_COMMANDS <= set(leaves), FLOW_COMMANDS - set(leaves)
    calling = {path for path, command in leaves.items() if "running_flow(" in inspect.getsource(command.callback)}
    assert calling <= FLOW_COMMANDS, calling - FLOW_COMMANDS
    assert {("tasks",), ("models",), ("llm", "serve"), ("kbqa", "ask")}.isdisjoint(FLOW_COMMANDS)


@pytest.mark.parametrize("argv, expected", [
    (["evaluate", "--model", "minilm", "--task", "STSBenchmark"], True),
    (["-v", "cse", "run", "--run", "x"], True),
    (["--verbose", "tokens", "spectrum"], True),
    (["kbqa", "ask", "--question", "who"], False),
    (["evaluate", "--help"], False),
    (["--help"], False),
    (["tasks"], False),
    ([], False),
])
def test_runs_flows_reads_the_command_path(argv, expected):
    assert runs_flows(argv) is expected


def health(server: flow_server.PrivateServer) -> int:
    with urllib.request.urlopen(f"{server.api_url}/health", timeout=10) as reply:
        return reply.status


@pytest.mark.integration
def test_two_private_servers_answer_on_their_own_ports_and_stop_within_the_grace():
    servers = [flow_server.PrivateServer(), flow_server.PrivateServer()]  # started in the same second
    try:
        for server in servers:
            server.wait_ready(timeout_s=240)
        assert servers[0].port != servers[1].port
        assert [health(server) for server in servers] == [200, 200]
        for server in servers:
            start = time.monotonic()
            server.stop()
            assert server.process.poll() is not None  # reaped
            assert time.monotonic() - start < flow_server.STOP_GRACE_S + 2
    finally:
        for server in servers:
            server.stop()


@pytest.mark.integration
def test_a_configured_server_is_used_and_the_private_one_stopped(monkeypatch):
    """The session's test harness has set PREFECT_API_URL (as a user's `prefect config set` does): a private
    server started early is stopped, and the environment is left as it was."""
    from prefect.settings import PREFECT_API_URL

    assert PREFECT_API_URL.value()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(flow_server, "_private", None)
    flow_server.start_in_background()
    started = flow_server._private
    assert started is not None and started.process.poll() is None
    flow_server.use_flow_server()
    assert started.process.poll() is not None
    assert flow_server._private is None and "PREFECT_API_URL" not in os.environ
