"""Wall time of the commands a user waits on: `embedlab --help`, and `embedlab evaluate --model minilm --task
STSBenchmark` cold (a fresh, empty embedding cache) and warm (the same cache again: nothing is encoded), beside
the floor that the engines set: a Python process that imports Prefect and MLflow and runs a flow of three no-op
tasks and a task that records one MLflow run with one metric (no embedlab code). Three set-ups: no server (each
command starts Prefect's temporary server; MLflow writes the SQLite file itself), a running `prefect server start`
(`PREFECT_API_URL` set), and a running Prefect server plus a running `mlflow server` on the same kind of SQLite
store (`MLFLOW_TRACKING_URI` its URL; its job runner off, `MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`: it would keep
seven huey consumers busy). The benchmark starts the servers on free ports and stops them after the
round.

Rounds alternate the order of the set-ups (load from other processes then falls on all alike); each line shows
the 1-minute load average beside the time; the medians, and warm / floor as a ratio, close the output. The runs
are tracked in temporary MLflow SQLite stores and use temporary Prefect homes, created before timing.

    python benchmarks/command_latency.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
EMBEDLAB = str(BIN / "embedlab")
CASES = ("help", "cold", "warm", "floor")
SETUPS = ("no server", "prefect server", "both servers")
FLOOR = """
import mlflow
from prefect import flow, task

@task
def noop(i):
    return i

@task
def record():
    with mlflow.start_run(run_name="floor"):
        mlflow.log_metric("x", 1.0)

@flow
def floor():
    for i in range(3):
        noop(i)
    record()

floor()
"""
QUIET = {"HF_HUB_OFFLINE": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
         "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(process.args[:3])} exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{' '.join(process.args[:3])} did not answer within {timeout_s:g} s")


def start_server(command: list[str], health: str, env: dict[str, str]) -> subprocess.Popen:
    """A server command (its port already in it) in its own session; returns once `health` answers."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    wait_healthy(health, process)
    return process


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from start to exit of one command; its failure stops the benchmark with its stderr."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)[:200]} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds


def run_setup(setup: str, round_no: int, root: Path, base_env: dict[str, str],
              times: dict[tuple[str, str], list[float]]) -> None:
    """--help, cold and warm evaluation and the floor in one set-up (one of SETUPS)."""
    slug = setup.replace(" ", "-")
    env = {**base_env, "PREFECT_HOME": str(root / f"prefect-home-{slug}"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{root / f'mlflow-{slug}.db'}"}
    servers = []
    try:
        if setup != "no server":
            port = free_port()
            servers.append(start_server([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                         str(port)], f"http://127.0.0.1:{port}/api", env))
            env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        if setup == "both servers":
            port = free_port()
            servers.append(start_server([str(BIN / "mlflow"), "server", "--backend-store-uri",
                                         env["MLFLOW_TRACKING_URI"], "--artifacts-destination",
                                         str(root / "mlflow-artifacts"), "--host", "127.0.0.1", "--port", str(port),
                                         "--workers", "1"], f"http://127.0.0.1:{port}",
                                        {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}))
            env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{port}"
        cache = root / f"cache-{slug}-{round_no}"
        evaluate = [EMBEDLAB, "evaluate", "--model", "minilm", "--task", "STSBenchmark", "-S", f"cache_dir={cache}"]
        for case in CASES:
            out = root / f"out-{slug}-{round_no}-{case}"
            command = {"help": [EMBEDLAB, "--help"], "floor": [sys.executable, "-c", FLOOR]}.get(
                case, [*evaluate, "-o", str(out)])
            seconds = timed(command, env, root)
            times[(setup, case)].append(seconds)
            print(f"round {round_no}  {setup:<14}  {case:<5}  {seconds:6.2f} s   load {os.getloadavg()[0]:5.2f}",
                  flush=True)
    finally:
        for server in servers:
            stop(server)


def prepare_stores(root: Path, base_env: dict[str, str]) -> None:
    """Create each set-up's MLflow store and Prefect database before timing (first use runs their migrations)."""
    for setup in SETUPS:
        slug = setup.replace(" ", "-")
        subprocess.run([sys.executable, "-c",
                        "import mlflow, sys; mlflow.MlflowClient(sys.argv[1]).search_experiments()",
                        f"sqlite:///{root / f'mlflow-{slug}.db'}"], env=base_env, check=True, capture_output=True)
        env = {**base_env, "PREFECT_HOME": str(root / f"prefect-home-{slug}")}
        subprocess.run([str(BIN / "prefect"), "server", "database", "upgrade", "-y"], env=env, check=True,
                       capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="embedlab-latency-") as tmp:
        root = Path(tmp)
        (root / "params.yaml").write_text(f"data_root: {repo.parent / 'shared' / 'data'}\n")
        base_env = {key: value for key, value in os.environ.items()
                    if key not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
        base_env.update(QUIET)
        base_env["EMBEDLAB_DATA_ROOT"] = str(Path(os.environ.get("EMBEDLAB_DATA_ROOT",
                                                                 repo.parent / "shared" / "data")))
        prepare_stores(root, base_env)
        times: dict[tuple[str, str], list[float]] = {(s, c): [] for s in SETUPS for c in CASES}
        for round_no in range(1, rounds + 1):
            order = SETUPS if round_no % 2 else SETUPS[::-1]
            for setup in order:
                run_setup(setup, round_no, root, base_env, times)
        print(f"\nmedians of {rounds} rounds (s)   help   cold   warm  floor  warm/floor")
        for setup in SETUPS:
            medians = {c: statistics.median(times[(setup, c)]) for c in CASES}
            print(f"{setup:<26} " + " ".join(f"{medians[c]:6.2f}" for c in CASES)
                  + f"  {medians['warm'] / medians['floor']:10.2f}")


if __name__ == "__main__":
    main()
