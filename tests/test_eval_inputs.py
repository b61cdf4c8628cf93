"""Bad input to `embedlab evaluate`: one line naming file/line/field, exit 2, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA_ROOT, write
from embedlab.errors import UserError
from embedlab.eval_tasks.loading import load_tasks


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env_python = Path(sys.executable).parent / "embedlab"
    return subprocess.run([str(env_python), *args], cwd=cwd, capture_output=True, text=True, timeout=3000,
                          env={**__import__("os").environ, "EMBEDLAB_DATA_ROOT": str(DATA_ROOT)})


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert result.stdout == ""


def sts_task_file(root: Path, body: str) -> Path:
    write(root / "sts.tsv", body)
    return write(root / "tasks.yaml", "tasks:\n  - name: MySTS\n    type: sts\n    files: {test: {path: sts.tsv, "
                                      "header: false, columns: {sentence1: 0, sentence2: 1, score: 2}}}\n")


def load_error(task_file: Path) -> str:
    """The one-line message the CLI prints after `error: ` for a task file's data, read in this process."""
    with pytest.raises(UserError) as caught:
        load_tasks([], [task_file], task_file.parent)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_malformed_data_file_ends_the_command_in_one_line_and_writes_nothing(tmp_path):
    task_file = sts_task_file(tmp_path, "a\tb\t1.0\nonly two\tcolumns\n")
    result = run_cli("evaluate", "--task-file", str(task_file), "--model", "minilm", "-o", "out", cwd=tmp_path)
    assert_one_line_error(result, "sts.tsv:2", "expected at least 3 columns, found 2")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("body, fragments", [
    ("a\tb\t1.0\nonly two\tcolumns\n", ["sts.tsv:2", "expected at least 3 columns, found 2"]),
    ("a\tb\t1.0\nc\td\thigh\n", ["sts.tsv:2", "'score' must be a number, got 'high'"]),
    ("", ["sts.tsv", "file is empty"]),
    ("a\tb\t7\n", ["sts.tsv:1", "outside score_range [0.0, 5.0]"]),
])
def test_malformed_sts_file(tmp_path, body, fragments):
    message = load_error(sts_task_file(tmp_path, body))
    assert all(fragment in message for fragment in fragments), message


def test_qrels_id_absent_from_corpus(small_tasks):
    qrels = small_tasks.parent / "qrels.tsv"
    qrels.write_text(qrels.read_text() + "q2\td99\t1\n")
    message = load_error(small_tasks)
    assert "qrels.tsv:4" in message and "corpus id 'd99' is not in the corpus" in message


def test_jsonl_missing_field_and_bad_json(tmp_path, small_tasks):
    corpus = small_tasks.parent / "corpus.jsonl"
    corpus.write_text(corpus.read_text() + "{not json\n")
    result = run_cli("evaluate", "--task-file", str(small_tasks), cwd=tmp_path)
    assert_one_line_error(result, "corpus.jsonl:5", "not valid JSON")
    corpus.write_text('{"_id": "d0", "body": "x"}\n')
    message = load_error(small_tasks)
    assert "corpus.jsonl:1" in message and "missing field 'text'" in message


def test_unknown_task_suggests_nearest(tmp_path):
    result = run_cli("evaluate", "--task", "STSBenchmak", cwd=tmp_path)
    assert_one_line_error(result, "unknown evaluation task 'STSBenchmak'", "did you mean 'STSBenchmark'")


def test_missing_model_path(tmp_path):
    result = run_cli("evaluate", "--task", "STSBenchmark", "--model", "./no/such/model", cwd=tmp_path)
    assert_one_line_error(result, "model path './no/such/model' does not exist")


def test_task_file_schema_errors_name_the_field(tmp_path):
    bad_type = write(tmp_path / "a.yaml", "tasks:\n  - {name: X, type: ranking, files: {}}\n")
    assert_one_line_error(run_cli("evaluate", "--task-file", str(bad_type), cwd=tmp_path), "a.yaml", "tasks.0.type")
    missing = write(tmp_path / "b.yaml", "tasks:\n  - {name: X, type: sts, files: {train: {path: x.tsv}}}\n")
    assert_one_line_error(run_cli("evaluate", "--task-file", str(missing), cwd=tmp_path), "missing ['test']")
    score = write(tmp_path / "c.yaml", "tasks:\n  - {name: X, type: sts, main_score: cosine_spearmen, "
                                       "files: {test: {path: x.tsv}}}\n")
    assert_one_line_error(run_cli("evaluate", "--task-file", str(score), cwd=tmp_path), "did you mean cosine_spearman")
    broken = write(tmp_path / "d.yaml", "tasks: [\n")
    assert_one_line_error(run_cli("evaluate", "--task-file", str(broken), cwd=tmp_path), "d.yaml", "not valid YAML")


def test_params_value_of_wrong_type(tmp_path):
    result = run_cli("evaluate", "--task", "STSBenchmark", "-S", "evaluate.batch_size=many", cwd=tmp_path)
    assert_one_line_error(result, "evaluate.batch_size", "valid integer")


def test_unknown_hub_task_fails_before_anything_runs(tmp_path):
    result = run_cli("evaluate", "--task", "NoSuchTask", "-S", "evaluate.source=hub", cwd=tmp_path)
    assert_one_line_error(result, "unknown mteb task 'NoSuchTask'")


def test_prefect_run_logs_drop_user_error_records():
    import logging

    from embedlab.errors import DataError, UserError, quiet_user_errors_in_run_logs

    quiet_user_errors_in_run_logs()
    logger = logging.getLogger("prefect.task_runs")
    kept = []
    handler = logging.Handler()
    handler.emit = kept.append
    logger.addHandler(handler)
    try:
        try:
            raise DataError("x.tsv", "bad", 3)
        except UserError:
            logger.error("Task run failed with exception", exc_info=True)
        logger.error("Finished in state Failed('Task run encountered an exception DataError: x.tsv:3: bad')")
        logger.error("Finished in state Failed('Task run encountered an exception ValueError: boom')")
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in kept] == ["Finished in state Failed('Task run encountered an exception ValueError: boom')"]
