"""`embedlab tokens` end to end on tiny models: decode, align, sparse and spectrum flows write their folders and
record MLflow runs; bad input ends in one line before any work."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import write, write_small_tasks
from embedlab.cli import app
from embedlab.config import TrainParams
from embedlab.eval_tasks.spec import FileSpec
from embedlab.flows.tokens import TokensRequest, align, decode, sparse, spectrum
from embedlab.tasks.train import train_model
from embedlab.train_tasks import load_train_task
from embedlab.train_tasks.spec import TrainTaskSpec

runner = CliRunner()
LINES = ["A girl is styling her hair.", "A man plays the guitar.", "Two dogs run in the park.",
         "The stock market fell on Monday.", "She cooked pasta for dinner."]


def base(tiny_model: Path, tmp_path: Path) -> list[str]:
    """Overrides: the tiny model, the CPU, a cache in tmp_path and a text set `mine` of LINES."""
    texts = write(tmp_path / "texts.txt", "\n".join(LINES) + "\n")
    return [f"tokens.model={tiny_model}", "tokens.device=cpu", f"cache_dir={tmp_path / 'cache'}",
            f"tokens.texts={{mine: {{file: {{path: {texts}, format: tsv, header: false, columns: {{text: 0}}}}}}}}"]


def runs(project: Path, name: str) -> list:
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=["embedlab"], filter_string=f"attributes.run_name = '{name}'",
                              output_format="list")


def test_decode_and_align_write_outputs_and_record_runs(tiny_model, project, tmp_path):
    overrides = base(tiny_model, tmp_path)
    out = decode(TokensRequest(texts=LINES[:2], output=str(tmp_path / "dec"), overrides=overrides + ["tokens.k=4"]))
    assert [d["text"] for d in out["decoded"]] == LINES[:2]
    assert all(len(d["tokens"]) == 4 for d in out["decoded"])
    assert json.loads((tmp_path / "dec" / "summary.json").read_text())["decoded"] == out["decoded"]

    result = align(TokensRequest(output=str(tmp_path / "al"), overrides=overrides + ["tokens.align.data=mine"]))
    assert result["texts"] == 5
    metrics = json.loads((tmp_path / "al" / "metrics.json").read_text())
    assert set(metrics) == {"hit_at_10", "local_alignment", "global_alignment"}
    assert all(0 <= v <= 1 for v in metrics.values())
    assert (tmp_path / "al" / "local_alignment.png").stat().st_size > 1000
    [run] = runs(project, "tokens align")
    assert run.data.metrics["local_alignment"] == pytest.approx(metrics["local_alignment"])
    assert run.data.params["head"] == "tied"
    assert {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)} >= {"report.md",
                                                                                        "local_alignment.png"}


def test_sparse_flow_scores_dense_and_sparse_on_a_small_task(tiny_model, project, tmp_path):
    task_file = write_small_tasks(tmp_path / "small")
    overrides = base(tiny_model, tmp_path) + [
        f"evaluate.task_files=[{task_file}]", "tokens.sparse.task=TinyRetrieval", "tokens.sparse.doc_k=30522",
        "tokens.sparse.query_m=8", "tokens.sparse.sweep_doc_k=[4, 30522]", "tokens.sparse.sweep_query_m=[8]"]
    result = sparse(TokensRequest(output=str(tmp_path / "sp"), overrides=overrides))
    # 4 documents, 2 queries. With every token kept (K = V) and logit-free binary queries the sparse score of a
    # document is the sum of its logits over the query's tokens; the run must give each query 2 judged scores.
    assert result["sparse"]["nonzeros_per_doc"] == 30522
    assert [r["doc_k"] for r in result["sweep"]] == [4, 30522]
    assert result["sweep"][0]["nonzeros_per_doc"] == 4
    assert 0 <= result["dense"]["ndcg_at_10"] <= 1 and result["dense"]["recall_at_100"] == 1.0
    assert result["latency"]["queries_timed"] == 2 and result["latency"]["dense_ms"] > 0
    assert (tmp_path / "sp" / "sweep.png").is_file()
    assert "sweep K=4, M=8" in (tmp_path / "sp" / "report.md").read_text()
    [run] = runs(project, "tokens sparse")
    assert run.data.metrics["sparse.ndcg_at_10"] == pytest.approx(result["sparse"]["ndcg_at_10"])


def _fine_tune(tiny_model: Path, tmp_path: Path) -> Path:
    """The tiny model trained 3 steps with InfoNCE on NLI-style triples (a real fine-tune, seconds)."""
    rows = "sent0,sent1,hard_neg\n" + "".join(f"{a},{a.lower()} indeed,{b}\n" for a, b in zip(LINES, LINES[1:] + LINES[:1]))
    data = write(tmp_path / "nli.csv", rows)
    spec = TrainTaskSpec(format="pairs", files={"train": FileSpec(path=str(data), columns={
        "anchor": "sent0", "positive": "sent1", "negative": "hard_neg"})}, loss="infonce", loss_scale=20)
    task = load_train_task("nli", spec, tmp_path, 0)
    params = TrainParams(base=str(tiny_model), output=str(tmp_path / "ft"), batch_size=4, max_steps=3, lr=1e-3,
                         accelerator="cpu", precision="32-true")
    train_model.fn([task], params, tmp_path / "ft")
    return tmp_path / "ft" / "model"


def test_spectrum_between_a_model_and_its_fine_tune(tiny_model, project, tmp_path):
    tuned = _fine_tune(tiny_model, tmp_path)
    overrides = base(tiny_model, tmp_path) + [f"tokens.spectrum.backbone={tiny_model}",
                                              f"tokens.spectrum.embedder={tuned}", "tokens.spectrum.data=mine",
                                              "tokens.spectrum.components=4", "tokens.spectrum.examples=2"]
    result = spectrum(TokensRequest(output=str(tmp_path / "spec"), overrides=overrides))
    assert len(result["shift"]) == 4 and result["texts"] == 5
    assert result["lambda"] == pytest.approx(result["shift"][0])
    # v1_over_next divides by the largest |v_j| over all 32 components, at least the largest of the 3 reported.
    assert 0 < result["v1_over_next"] <= abs(result["shift"][0]) / max(abs(v) for v in result["shift"][1:]) + 1e-9
    assert set(result["examples"][0]) == {"text", "backbone h", "first component (h·u1)u1", "rest h − (h·u1)u1",
                                          "adjusted h + λu1", "embedder ĥ"}
    assert np.all(np.diff(result["singular_values"]) <= 0)
    assert (tmp_path / "spec" / "shift.png").is_file()
    assert runs(project, "tokens spectrum")


@pytest.mark.parametrize("args, message", [
    (["decode", "-t", "x", "--head", "tide"], "error: tokens.head: Value error, unknown decoding head "
                                              "'tide'; did you mean 'tied'?"),
    (["align", "--data", "stbs"], "error: unknown text set 'stbs'; did you mean 'stsb'?"),
    (["decode", "-t", "x", "-S", "tokens.head_options={source: x}"], "error: tokens.head_options: decoding head "
                                                                     "'tied': source: Extra inputs are not permitted"),
    (["sparse", "-K", "0"], "error: tokens.sparse.doc_k: Input should be greater than 0"),
])
def test_bad_input_fails_in_one_line_before_any_work(args, message, project):
    result = runner.invoke(app, ["tokens", *args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message), result.output
    assert len(result.output.strip().splitlines()) == 1


def test_k_beyond_the_vocabulary_is_refused(tiny_model, project, tmp_path):
    result = runner.invoke(app, ["tokens", "decode", "-t", "x", "--model", str(tiny_model), "-k", "40000",
                                 "--no-track", "-S", "tokens.device=cpu", "-S", f"cache_dir={tmp_path / 'c'}"])
    assert result.exit_code == 2, result.output
    assert "error: k = 40000: expected 1 to 30522 (the decoding head's vocabulary size)" in result.output
