"""Fault injection with real processes and real files: output folders that are not ours, odd paths.

Each case is one the faults issue reported; the command runs as a user runs it (a subprocess of the installed
`embedlab`), and the test checks the exit status, the one-line error and that no file was lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embedlab.atomic import OWNED_MARKER, atomic_dir, atomic_write_text
from embedlab.errors import UserError

REPO = Path(__file__).resolve().parents[1]
EMBEDLAB = [str(Path(sys.executable).parent / "embedlab")]


def run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([*EMBEDLAB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line of a refused command (no traceback)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- 1. an output folder is never replaced unless embedlab wrote it --------------------------------------------

def test_evaluate_refuses_a_folder_holding_a_users_file(tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    error = one_error_line(run_cli(["evaluate", "--model", "minilm", "--task", "STSBenchmark", "-o", str(out)],
                                   cwd=REPO))
    assert "already exists and was not written by embedlab" in error and str(out) in error
    assert (out / "notes.txt").read_text() == "mine" and sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_merge_refuses_an_output_that_contains_an_input_model(tmp_path, tiny_model):
    parent = tmp_path / "p"
    model = shutil.copytree(tiny_model, parent / "sts" / "model")
    before = sorted(str(p.relative_to(parent)) for p in parent.rglob("*"))
    error = one_error_line(run_cli(["merge", "--base", str(tiny_model), "--model", str(model), "--method", "average",
                                    "--out", str(parent)], cwd=tmp_path))
    assert "contains the input" in error
    assert sorted(str(p.relative_to(parent)) for p in parent.rglob("*")) == before


def test_relative_output_resolves_against_the_working_folder_and_never_replaces_the_project(tmp_path):
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    (project / "uncommitted.py").write_text("work in progress")
    (project / "params.yaml").write_text(f"data_root: {REPO.parent / 'shared' / 'data'}\n")
    results = project / "results"
    (results / "old").mkdir(parents=True)
    (results / "old" / "keep.txt").write_text("keep")
    for out in (".", ".."):
        error = one_error_line(run_cli(["evaluate", "--params", "../params.yaml", "--model", "minilm",
                                        "--task", "STSBenchmark", "-o", out], cwd=results))
        assert "contains the working folder" in error
    (results / "sub").mkdir()
    (results / "sub" / "a.txt").write_text("a")
    error = one_error_line(run_cli(["evaluate", "--params", "../params.yaml", "--model", "minilm",
                                    "--task", "STSBenchmark", "-o", "sub"], cwd=results))
    assert str(results / "sub") in error  # `sub` of the working folder, not of params.yaml's folder
    assert (project / "uncommitted.py").read_text() == "work in progress" and (project / ".git").is_dir()
    assert (results / "old" / "keep.txt").read_text() == "keep" and (results / "sub" / "a.txt").exists()


def test_atomic_dir_replaces_only_its_own_folder(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (target / OWNED_MARKER).is_file() and (target / "a.txt").read_text() == "1"
    with atomic_dir(target) as tmp:  # ours: replaced whole
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == sorted([OWNED_MARKER, "b.txt"])
    (tmp_path / "empty").mkdir()
    with atomic_dir(tmp_path / "empty") as tmp:  # an empty folder holds nothing to lose
        (tmp / "c.txt").write_text("3")
    assert (tmp_path / "empty" / "c.txt").exists()


def test_atomic_dir_refuses_before_the_work_and_again_before_the_rename(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "user.txt").write_text("u")
    ran = []
    with pytest.raises(UserError, match="not written by embedlab"):
        with atomic_dir(foreign):
            ran.append(1)
    assert not ran and (foreign / "user.txt").exists()
    late = tmp_path / "late"
    with pytest.raises(UserError, match="not written by embedlab"):
        with atomic_dir(late) as tmp:
            (tmp / "result.txt").write_text("r")
            late.mkdir()
            (late / "user.txt").write_text("written meanwhile")
    assert sorted(p.name for p in late.iterdir()) == ["user.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind
    (tmp_path / "file").write_text("f")
    with pytest.raises(UserError, match="is a file"):
        with atomic_dir(tmp_path / "file"):
            pass
    (tmp_path / "link").symlink_to(foreign)
    with pytest.raises(UserError, match="symbolic link"):
        with atomic_dir(tmp_path / "link"):
            pass


def test_stale_temp_paths_of_dead_processes_are_removed_on_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale_dir = tmp_path / f".out.{dead}.abc123de.tmp"
    stale_dir.mkdir()
    (stale_dir / "weights.bin").write_bytes(b"0" * 1024)
    stale_file = tmp_path / f".report.md.{dead}.xyz45678.tmp"
    stale_file.write_text("half")
    live = tmp_path / f".out.{os.getppid()}.other123.tmp"  # a temp of a process that still runs: kept
    live.mkdir()
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a").write_text("a")
    atomic_write_text(tmp_path / "report.md", "done")
    assert not stale_dir.exists() and not stale_file.exists()
    assert (tmp_path / "report.md").read_text() == "done"
    assert live.is_dir()


def test_outputs_follow_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "a").write_text("a")
        atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


# --- 2 and 3. concurrent commands, Ctrl-C, kill -9, an unreachable tracking server -----------------------------

def small_sts_task(root: Path) -> Path:
    """A task file with one small STS task (cheap to score with the tiny model)."""
    write_file(root / "sts.tsv", "a man plays a guitar\ta man is playing guitar\t4.8\n"
                                  "a dog runs\ta cat sleeps\t0.5\nthe sky is blue\tthe sky is clear\t3.2\n"
                                  "kids play football\tchildren play soccer\t4.1\n")
    return write_file(root / "tasks.yaml", "tasks:\n  - name: TinySTS\n    type: sts\n    mteb_task: STSBenchmark\n"
                                           "    files: {test: {path: sts.tsv, header: false, "
                                           "columns: {sentence1: 0, sentence2: 1, score: 2}}}\n")


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def start_cli(args: list[str], cwd: Path, **env: str) -> subprocess.Popen:
    """The command in its own process group, as a terminal runs a foreground job."""
    return subprocess.Popen([*EMBEDLAB, *args], cwd=cwd, env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_child(process: subprocess.Popen, timeout: float = 240) -> int:
    """The pid of the first child process (the Prefect server) once it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        if children:
            return int(children[0])
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("the command started no server")


def gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    return False


def test_two_commands_started_together_use_their_own_servers_and_both_succeed(tmp_path, tiny_model):
    tasks = small_sts_task(tmp_path / "data")
    runs = [start_cli(["evaluate", "--model", str(tiny_model), "--task-file", str(tasks), "--no-track", "--json",
                       "-o", str(tmp_path / f"out{i}")], cwd=tmp_path, PREFECT_LOGGING_LEVEL="INFO")
            for i in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err
    assert json.loads(outputs[0][0]) == json.loads(outputs[1][0])
    ports = [re.search(r"Starting temporary server on http://127.0.0.1:(\d+)", err).group(1) for _, err in outputs]
    assert ports[0] != ports[1]
    for _, err in outputs:  # logs show progress, not library internals (bytecode dumps, FutureWarnings, mteb's
        assert "LOAD_GLOBAL" not in err and "Warning" not in err and "superseded" not in err  # "superseded")


def test_ctrl_c_ends_the_command_at_once_with_exit_130_and_writes_nothing(tmp_path):
    write_file(tmp_path / "params.yaml", f"data_root: {REPO.parent / 'shared' / 'data'}\ncache_dir: cache\n")
    run = start_cli(["evaluate", "--model", "minilm", "--task", "STSBenchmark", "--no-track", "-o", "out"],
                    cwd=tmp_path)
    server = wait_for_child(run)
    time.sleep(5)  # into the work: the model loads and encodes
    os.killpg(run.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
    sent = time.monotonic()
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert time.monotonic() - sent < 30
    assert err.rstrip().splitlines()[-1] == "error: interrupted" and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    assert gone(server, within=10)


def test_kill_9_of_the_command_takes_its_server_down_too(tmp_path, tiny_model):
    tasks = small_sts_task(tmp_path / "data")
    run = start_cli(["evaluate", "--model", str(tiny_model), "--task-file", str(tasks), "--no-track",
                     "-o", str(tmp_path / "out")], cwd=tmp_path)
    server = wait_for_child(run)
    run.kill()
    run.wait()
    assert gone(server, within=10)


def test_an_unreachable_tracking_server_costs_one_warning_and_the_result_is_still_printed(tmp_path, tiny_model):
    tasks = small_sts_task(tmp_path / "data")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    args = ["evaluate", "--model", str(tiny_model), "--task-file", str(tasks), "--json", "-o", str(tmp_path / "out")]
    result = subprocess.run([*EMBEDLAB, *args], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "MLFLOW_TRACKING_URI": dead})
    assert result.returncode == 0, result.stderr
    assert "TinySTS" in json.loads(result.stdout) and (tmp_path / "out" / "results.json").is_file()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: MLflow")]
    assert len(warnings) == 1 and dead in warnings[0] and "Traceback" not in result.stderr
    strict = subprocess.run([*EMBEDLAB, *args, "-S", "tracking.strict=true"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1",
                                                         "MLFLOW_TRACKING_URI": dead})
    assert "tracking.strict is set" in one_error_line(strict)


# --- 6. bad input: one line, before Prefect starts -------------------------------------------------------------

def bad_inputs(root: Path, tiny_model: Path) -> list[tuple[str, list[str], str]]:
    """(case, arguments, expected part of the error line); files are made under `root`."""
    tasks = small_sts_task(root / "data")
    evaluate = ["evaluate", "--task-file", str(tasks), "--no-track", "-o", str(root / "out")]
    (root / "empty_model").mkdir()
    write_file(root / "no_weights" / "config.json", "{}")
    write_file(root / "scalar.yaml", "42\n")
    write_file(root / "list.yaml", "- evaluate\n- train\n")
    write_file(root / "broken.yaml", "evaluate:\n  batch_size: 8\n   model: minilm\n")
    write_file(root / "empty.tsv", "")
    train_task = ("{{train: {{tasks: {{mine: {{format: scored_pairs, loss: cosent, files: {{train: {{path: {path}, "
                  "header: false, columns: {{sentence1: 0, sentence2: 1, score: 2}}}}}}}}}}}}}}\n")
    write_file(root / "missing_file.yaml", train_task.format(path=root / "nowhere.tsv"))
    write_file(root / "empty_file.yaml", train_task.format(path=root / "empty.tsv"))
    (root / "elsewhere").mkdir()
    model = ["--model", str(tiny_model)]
    return [
        ("empty model folder", [*evaluate, "--model", str(root / "empty_model")], "is empty"),
        ("config.json but no weights", [*evaluate, "--model", str(root / "no_weights")], "holds no weights"),
        ("--model ''", [*evaluate, "--model", ""], "model name is empty"),
        ("-S evaluate.model=", [*evaluate, "-S", "evaluate.model="], "model name is empty"),
        ("params file is a scalar", [*evaluate, *model, "--params", str(root / "scalar.yaml")], "got a int"),
        ("params file is a list", [*evaluate, *model, "--params", str(root / "list.yaml")], "got a list"),
        ("YAML syntax error", [*evaluate, *model, "--params", str(root / "broken.yaml")], "broken.yaml:3:"),
        ("device that does not exist", [*evaluate, *model, "-S", "evaluate.device=cuda:7"], "'cuda:7' does not exist"),
        ("unwritable output", ["evaluate", "--task-file", str(tasks), *model, "-o", "/proc/embedlab-out"],
         "cannot be written"),
        ("missing training file", ["train", "--task", "mine", "--params", str(root / "missing_file.yaml")],
         "nowhere.tsv: training task 'mine': the train file does not exist"),
        ("empty training file", ["train", "--task", "mine", "--params", str(root / "empty_file.yaml")],
         "empty.tsv: training task 'mine': the train file is empty"),
        ("outside a project", ["train", "--task", "sts"], "no params.yaml in"),
    ]


def test_bad_input_is_one_line_before_prefect_starts(tmp_path, tiny_model):
    cwd = tmp_path / "elsewhere"
    for case, args, expected in bad_inputs(tmp_path, tiny_model):
        result = run_cli(args, cwd=cwd)
        assert expected in one_error_line(result), (case, result.stderr)
        assert "temporary server" not in result.stderr, case
    assert not (tmp_path / "out").exists()


def test_an_ad_hoc_evaluation_writes_its_own_run_folder_never_a_dvc_output(project, tiny_model):
    from embedlab.flows.evaluate import EvaluateRequest, evaluate

    tasks = small_sts_task(project / "data")
    for _ in range(2):
        evaluate(EvaluateRequest(model=str(tiny_model), task_files=[str(tasks)], track=False))
    runs = sorted((project / "results" / "runs").iterdir())
    assert len(runs) == 2 and all(re.fullmatch(r"evaluate-\d{8}-\d{6}(-\d+)?", run.name) for run in runs)
    assert all((run / "results.json").is_file() for run in runs)
    assert not (project / "results" / "evaluate").exists()


@pytest.mark.parametrize("raised, status", [(None, "FINISHED"), (RuntimeError, "FAILED"), (KeyboardInterrupt, "KILLED")])
def test_every_training_flow_ends_its_mlflow_run_with_how_it_ended(tmp_path, raised, status):
    """train, cse run, crossmodal train and cir train all open their run through `tracked_training`."""
    import mlflow

    from embedlab.tasks.tracking import tracked_training

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with contextlib.suppress(BaseException):
        with tracked_training(uri, "embedlab", tmp_path, "cse demo", {"lr": 0.1}, tmp_path / "out", True) as (run_id, _):
            if raised:
                raise raised()
    run = mlflow.MlflowClient(uri).get_run(run_id)
    assert run.info.status == status and run.data.params == {"lr": "0.1"}


def test_an_output_left_aside_by_a_swap_killed_midway_is_put_back(tmp_path):
    from embedlab.atomic import remove_stale_temps

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    aside = tmp_path / f".out.{dead}.old"  # the old output, renamed away; the new one never renamed in
    aside.mkdir()
    (aside / "results.json").write_text("{}")
    (aside / OWNED_MARKER).write_text("written by embedlab")  # a swap only sets aside a folder embedlab may replace
    (tmp_path / ".out.12.notes.tmp").write_text("a user's file, not one of ours")
    remove_stale_temps(tmp_path / "out")
    assert (tmp_path / "out" / "results.json").read_text() == "{}" and not aside.exists()
    assert (tmp_path / ".out.12.notes.tmp").exists()


def test_a_users_folder_named_like_a_set_aside_output_is_left_alone(tmp_path):
    from embedlab.atomic import remove_stale_temps

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    users = tmp_path / f".out.{dead}.old"  # the name a swap uses, but no embedlab marker: not ours
    users.mkdir()
    (users / "thesis.tex").write_text("mine")
    remove_stale_temps(tmp_path / "out")
    assert (users / "thesis.tex").read_text() == "mine" and not (tmp_path / "out").exists()
