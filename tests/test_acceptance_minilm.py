"""The published MTEB scores of all-MiniLM-L6-v2, reproduced through the CLI on the real data."""

from __future__ import annotations

import json

import pytest

from test_eval_inputs import run_cli


def evaluate_json(tmp_path, task):
    result = run_cli("evaluate", "--model", "minilm", "--task", task, "--json", "--no-track", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[task]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_stsbenchmark_matches_mteb(tmp_path):
    assert evaluate_json(tmp_path, "STSBenchmark")["main_score"] == pytest.approx(0.8203, abs=5e-4)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_scifact_matches_mteb(tmp_path):
    scores = evaluate_json(tmp_path, "SciFact")
    assert scores["main_score"] == scores["ndcg_at_10"] == pytest.approx(0.6451, abs=5e-4)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_banking77_matches_mteb(tmp_path):
    assert evaluate_json(tmp_path, "Banking77Classification")["main_score"] == pytest.approx(0.8004, abs=5e-4)
