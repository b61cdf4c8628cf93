"""The score cache (issue 20): a repeated evaluation reads its scores back through Prefect's task caching, without
loading the model or importing torch, sentence-transformers or mteb; any change to what decides a score is scored
again. Real flows, a real Prefect server (the test harness's), real MLflow SQLite stores, real files."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
from prefect.serializers import JSONSerializer
from prefect.settings import get_current_settings

from embedlab.flows.evaluate import EvaluateRequest, evaluate
from embedlab.tasks.evaluate import EvalTaskScore, ScoringModel

HEAVY = ("torch", "mteb", "sentence_transformers")

# Run in a fresh interpreter: the `embedlab` command, then which heavy libraries it imported (argv[1]: where to say).
DRIVER = """
import json, sys
out, sys.argv = sys.argv[1], ["embedlab", *sys.argv[2:]]
from embedlab.cli import main
try:
    main()
finally:
    with open(out, "w") as handle:
        json.dump([name for name in %r if name in sys.modules], handle)
""" % (HEAVY,)


def runs_by_start():
    return sorted(mlflow.search_runs(experiment_names=["embedlab"], output_format="list"),
                  key=lambda run: run.info.start_time)


def test_second_evaluation_is_read_from_the_cache_with_the_same_scores_and_no_heavy_import(project, tiny_model,
                                                                                          small_tasks):
    request = dict(model=str(tiny_model), task_files=[str(small_tasks)])
    first = evaluate(EvaluateRequest(**request, output="first"))
    records = sorted((project / ".cache" / "prefect-results").iterdir())
    assert len(records) == len(first)  # one JSON record per task, no pickled code
    record = json.loads(records[0].read_text())
    assert record["metadata"]["serializer"]["type"] == "json"

    second = evaluate(EvaluateRequest(**request, output="second"))
    assert second == first
    assert (project / "second" / "results.json").read_text() == (project / "first" / "results.json").read_text()
    assert "Read from the score cache: TinySTS, TinyRetrieval" in (project / "second" / "report.md").read_text()
    runs = runs_by_start()
    assert [run.data.tags["embedlab.cached_tasks"] for run in runs] == ["", ",".join(first)]
    assert runs[1].data.metrics == runs[0].data.metrics
    assert runs[1].data.params["model_fingerprint"] == runs[0].data.params["model_fingerprint"]

    # The same cached evaluation as a command in a fresh interpreter, reporting to the harness's Prefect server.
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
    (project / "driver.py").write_text(DRIVER)
    command = [sys.executable, "driver.py", "imported.json", "evaluate", "--model", str(tiny_model),
               "--task-file", str(small_tasks), "-o", "third", "--json"]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == first
    assert json.loads((project / "imported.json").read_text()) == []
    assert runs_by_start()[2].data.tags["embedlab.cached_tasks"] == ",".join(first)


def test_a_changed_data_file_or_model_file_is_scored_again(project, tiny_model, small_tasks, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    request = dict(model=str(model), task_files=[str(small_tasks)])
    evaluate(EvaluateRequest(**request, output="a"))
    sts = small_tasks.parent / "sts.tsv"
    sts.write_text(sts.read_text().replace("\t0.5\n", "\t4.9\n"))  # "a dog runs / a cat sleeps" now similar
    evaluate(EvaluateRequest(**request, output="b"))
    config = model / "sentence_bert_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "max_seq_length": 8}))
    evaluate(EvaluateRequest(**request, output="c"))
    evaluate(EvaluateRequest(**request, output="d"))
    cached = [run.data.tags["embedlab.cached_tasks"].split(",") for run in runs_by_start()]
    assert cached == [[""], ["TinyRetrieval", "TinyClassification", "TinyClustering", "TinyPairs"], [""],
                      ["TinySTS", "TinyRetrieval", "TinyClassification", "TinyClustering", "TinyPairs"]]
    scores = [json.loads((project / name / "results.json").read_text())["TinySTS"] for name in "abcd"]
    assert scores[1]["main_score"] != scores[0]["main_score"] and scores[3] == scores[2]


def test_model_identity_follows_the_files_and_loading_settings_without_loading(tiny_model, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    (copy / ".hidden-note").write_text("not part of the model")
    same = ScoringModel(str(copy), "cpu", 16)
    assert same.identity() == ScoringModel(str(tiny_model), "auto", 64).identity()  # device, batch: no effect
    assert ScoringModel(str(tiny_model), "cpu", 16, max_seq_length=32).identity() != same.identity()
    assert ScoringModel(str(tiny_model), "cpu", 16, precision="bf16").identity() != same.identity()
    pooling = copy / "1_Pooling" / "config.json"  # a module's configuration, one folder down
    pooling.write_text(json.dumps({**json.loads(pooling.read_text()), "pooling_mode_mean_tokens": False,
                                   "pooling_mode_cls_token": True}))
    assert ScoringModel(str(copy), "cpu", 16).identity() != same.identity()
    assert same._loaded is None  # naming a model never loaded it


def test_a_score_round_trips_through_prefects_json_serializer_with_nan_metrics():
    score = EvalTaskScore(name="T", main_score_name="max_ap", main_score=0.5, scores={"max_ap": 0.5, "auc": math.nan},
                          seconds=1.25, file_hashes={"test": hashlib.sha256(b"x").hexdigest()}, model_fingerprint="ab")
    serializer = JSONSerializer()
    back = serializer.loads(serializer.dumps(score))
    assert isinstance(back, EvalTaskScore) and math.isnan(back.scores["auc"])
    assert back.model_dump(exclude={"scores"}) == score.model_dump(exclude={"scores"})
    assert back.scores["max_ap"] == 0.5 and b"pickle" not in serializer.dumps(score)
