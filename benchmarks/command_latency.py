"""Wall time of the commands a user waits on: `embedlab --help`, and `embedlab evaluate --model minilm --task
STSBenchmark` cold (a fresh, empty embedding cache) and warm (the same cache again: nothing is encoded), each
without a Prefect server (the command starts its private temporary one) and with a running `prefect server
start` (`PREFECT_API_URL` set; the benchmark starts that server on a free port and stops it after the round).

Three rounds, the order of the two set-ups alternating between rounds (load from other processes then falls on
both alike); each line shows the 1-minute load average beside the time, and the medians close the output. The
runs are tracked in a temporary MLflow SQLite store and use temporary Prefect homes, created before timing.

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
CASES = ("help", "cold", "warm")
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
            raise RuntimeError(f"prefect server start exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"prefect server start did not answer within {timeout_s:g} s")


def start_prefect_server(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`prefect server start` on a free port, in its own session; returns it and its API URL once it answers."""
    port = free_port()
    process = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    wait_healthy(url, process)
    return process, url


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def timed(args: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from start to exit of one command; its failure stops the benchmark with its stderr."""
    start = time.perf_counter()
    result = subprocess.run([EMBEDLAB, *args], env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"embedlab {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds


def run_setup(setup: str, round_no: int, root: Path, base_env: dict[str, str],
              times: dict[tuple[str, str], list[float]]) -> None:
    """--help, cold and warm evaluation in one set-up ("no server" or "server")."""
    env = {**base_env, "PREFECT_HOME": str(root / f"prefect-home-{setup.replace(' ', '-')}")}
    server = None
    if setup == "server":
        server, url = start_prefect_server(env)
        env["PREFECT_API_URL"] = url
    try:
        cache = root / f"cache-{setup.replace(' ', '-')}-{round_no}"
        evaluate = ["evaluate", "--model", "minilm", "--task", "STSBenchmark", "-S", f"cache_dir={cache}"]
        for case in CASES:
            out = root / f"out-{setup.replace(' ', '-')}-{round_no}-{case}"
            args = ["--help"] if case == "help" else [*evaluate, "-o", str(out)]
            seconds = timed(args, env, root)
            times[(setup, case)].append(seconds)
            print(f"round {round_no}  {setup:<9}  {case:<4}  {seconds:6.2f} s   load {os.getloadavg()[0]:5.2f}",
                  flush=True)
    finally:
        if server is not None:
            stop(server)


def prepare_stores(root: Path, base_env: dict[str, str]) -> None:
    """Create the MLflow store and both Prefect databases before timing (first use runs their migrations)."""
    subprocess.run([sys.executable, "-c", "import mlflow, sys; mlflow.MlflowClient(sys.argv[1]).search_experiments()",
                    base_env["MLFLOW_TRACKING_URI"]], env=base_env, check=True, capture_output=True)
    for setup in ("no-server", "server"):
        env = {**base_env, "PREFECT_HOME": str(root / f"prefect-home-{setup}")}
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
        base_env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
        base_env.update(QUIET)
        base_env.update(MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}", EMBEDLAB_DATA_ROOT=str(
            Path(os.environ.get("EMBEDLAB_DATA_ROOT", repo.parent / "shared" / "data"))))
        prepare_stores(root, base_env)
        times: dict[tuple[str, str], list[float]] = {(s, c): [] for s in ("no server", "server") for c in CASES}
        for round_no in range(1, rounds + 1):
            order = ("no server", "server") if round_no % 2 else ("server", "no server")
            for setup in order:
                run_setup(setup, round_no, root, base_env, times)
        print(f"\nmedians of {rounds} rounds (s)     help   cold   warm")
        for setup in ("no server", "server"):
            print(f"{setup:<28} " + " ".join(f"{statistics.median(times[(setup, c)]):6.2f}" for c in CASES))


if __name__ == "__main__":
    main()
