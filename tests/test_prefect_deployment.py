"""Integration: the deployments of prefect.yaml on a real Prefect server, deployed and run by a process worker.

Nothing is mocked: a `prefect server` with its own PREFECT_HOME, `prefect deploy` on the project's
prefect.yaml, `prefect deployment run`, and `prefect worker start --run-once` running the flow from the
repository root. The run evaluates a tiny model on tiny tasks so that it takes seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import DATA_ROOT, REPO

pytestmark = pytest.mark.integration

PREFECT = str(Path(sys.executable).with_name("prefect"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(api_url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    """Poll /api/health until the server answers; fail early if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "prefect server exited during start-up"
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {timeout:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    """Terminate a process started in its own session, with its children; kill if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture
def prefect_server(tmp_path):
    """A Prefect server on a free port with an isolated PREFECT_HOME; yields the env for CLI calls."""
    port = str(_free_port())
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect_home"), "PREFECT_API_URL": api_url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true", "HF_HUB_OFFLINE": "1",
           "EMBEDLAB_DATA_ROOT": str(DATA_ROOT), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           # no UI to serve, and no nightly runs generated that a worker could pick up instead of ours
           "PREFECT_SERVER_UI_ENABLED": "false", "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(api_url, server)
        yield env
    finally:
        _stop(server)


def _prefect(env: dict[str, str], *args: str, timeout: float = 90) -> str:
    """Run a `prefect` CLI command in the repository root; return its output, failing with it on error."""
    done = subprocess.run([PREFECT, "--no-prompt", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _read_back(api_url: str, flow_run_id: str):
    """The flow run's state and the `benchmark` deployment, read through Prefect's client."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state, client.read_deployment_by_name("evaluate/benchmark")


def test_deployments_from_prefect_yaml_run_on_a_process_worker(prefect_server, tiny_model, small_tasks, tmp_path):
    env = prefect_server
    out = tmp_path / "out"
    _prefect(env, "work-pool", "create", "embedlab", "--type", "process")
    _prefect(env, "deploy", "--all")

    request = {"model": str(tiny_model), "task_files": [str(small_tasks)], "tasks": [], "output": str(out),
               "overrides": [f"cache_dir={tmp_path / 'cache'}"], "track": False}
    created = _prefect(env, "deployment", "run", "evaluate/evaluate", "--params", json.dumps({"request": request}))
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", created).group(1)

    # --run-once: one poll picks up the run scheduled above; the worker exits when the run has finished.
    worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "embedlab", "--run-once", "--limit", "1"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        worker_log, _ = worker.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker did not finish the flow run within 120 s")
    finally:
        _stop(worker)

    state, benchmark = _read_back(env["PREFECT_API_URL"], flow_run_id)
    assert state.is_completed(), f"flow run ended {state.type}: {state.message}\n{worker_log}"
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"TinySTS", "TinyRetrieval", "TinyClassification", "TinyClustering", "TinyPairs"}
    assert all("main_score" in values for values in results.values())

    [schedule] = benchmark.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == ("0 2 * * *", "UTC", True)
    assert benchmark.work_pool_name == "embedlab"
    assert benchmark.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]
