"""The evaluation flow with a tiny model: every task type, outputs, MLflow record, faiss search, embedding cache."""

from __future__ import annotations

import json
import math

import mlflow
import mteb
import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from conftest import DATA_ROOT
from embedlab.eval_tasks.loading import EvalTask, load_task
from embedlab.eval_tasks.mteb_tasks import to_mteb_task
from embedlab.eval_tasks.registry import read_task_file
from embedlab.eval_tasks.spec import EvalTaskSpec
from embedlab.flows.evaluate import EvaluateRequest, evaluate
from embedlab.models.encoder import fingerprint, load_encoder
from embedlab.models.mteb_encoder import SentenceEncoder
from embedlab.models.search import faiss_search_model
from embedlab.tasks.evaluate import load_model, score_eval_task


def test_flow_scores_every_task_type_and_records_an_mlflow_run(project, tiny_model, small_tasks):
    results = evaluate(EvaluateRequest(model=str(tiny_model), task_files=[str(small_tasks)], output="out"))
    assert list(results) == ["TinySTS", "TinyRetrieval", "TinyClassification", "TinyClustering", "TinyPairs"]
    mains = {"TinySTS": "cosine_spearman", "TinyRetrieval": "ndcg_at_10", "TinyClassification": "accuracy",
             "TinyClustering": "v_measure", "TinyPairs": "max_ap"}
    for name, metric in mains.items():
        assert results[name]["main_score"] == results[name][metric]
    assert json.loads((project / "out" / "results.json").read_text()) == results
    assert (project / "out" / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert "| TinySTS | cosine_spearman |" in (project / "out" / "report.md").read_text()

    runs = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["model"] == str(tiny_model)
    assert run.data.params["data.TinyRetrieval.qrels"]  # data hashes
    assert run.data.metrics["TinyRetrieval/ndcg_at_10"] == pytest.approx(results["TinyRetrieval"]["ndcg_at_10"])
    assert not any("@" in name for name in run.data.metrics)
    assert run.data.tags["prefect_flow_run_id"] and run.data.tags["prefect_flow_name"] == "evaluate"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"results.json", "report.md", "chart.png"} <= artifacts


def tiny_retrieval(small_tasks):
    spec = next(s for s in read_task_file(small_tasks) if s.type == "retrieval")
    return load_task(spec, small_tasks.parent)


def test_ndcg_matches_a_hand_computation(tiny_model, small_tasks):
    task = tiny_retrieval(small_tasks)
    model = SentenceTransformer(str(tiny_model), device="cpu")
    encoder = SentenceEncoder(model, "tiny", show_progress_bar=False)
    result = mteb.evaluate(faiss_search_model(encoder), to_mteb_task(task), cache=None, co2_tracker=False,
                           show_progress_bar=False)
    got = result.task_results[0].scores["test"][0]["ndcg_at_10"]
    docs = list(task.data["corpus"])
    doc_vectors = model.encode([task.data["corpus"][d]["text"] for d in docs])
    gains = []
    for qid, relevant in task.data["qrels"].items():
        scores = doc_vectors @ model.encode([task.data["queries"][qid]])[0]
        ranking = [docs[i] for i in np.argsort(-scores)]
        dcg = sum(1 / math.log2(rank + 2) for rank, d in enumerate(ranking[:10]) if d in relevant)
        gains.append(dcg / 1.0)  # one relevant document each: the ideal DCG is 1
    assert got == pytest.approx(float(np.mean(gains)), abs=1e-5)


def test_faiss_search_gives_mtebs_own_scores(tiny_model):
    """SciFact with 200 queries through faiss and through mteb's brute-force search: identical metrics."""
    from embedlab.eval_tasks.registry import builtin_specs

    spec = next(s for s in builtin_specs() if s.name == "SciFact")
    task = load_task(spec, DATA_ROOT)
    keep = list(task.data["qrels"])[:50]
    wanted = {d for q in keep for d in task.data["qrels"][q]}
    others = [d for d in task.data["corpus"] if d not in wanted][:400]
    task.data = {"corpus": {d: task.data["corpus"][d] for d in [*wanted, *others]},
                 "queries": {q: task.data["queries"][q] for q in keep},
                 "qrels": {q: task.data["qrels"][q] for q in keep}}
    encoder = SentenceEncoder(load_encoder(str(tiny_model), "cpu"), "tiny", show_progress_bar=False)

    def scores(model):
        result = mteb.evaluate(model, to_mteb_task(task), cache=None, co2_tracker=False, show_progress_bar=False)
        return result.task_results[0].scores["test"][0]

    with_faiss, without = scores(faiss_search_model(encoder)), scores(encoder)
    for metric in ("ndcg_at_10", "map_at_100", "recall_at_100", "mrr_at_10"):
        assert with_faiss[metric] == pytest.approx(without[metric], abs=1e-6), metric


class CountingEncoder(SentenceEncoder):
    """Counts the texts that actually reach the model."""

    encoded = 0

    def encode_uncached(self, texts, prompt=None):
        CountingEncoder.encoded += len(texts)
        return super().encode_uncached(texts, prompt)


def test_second_evaluation_of_an_unchanged_model_encodes_nothing(tmp_path, tiny_model, small_tasks):
    loaded = load_model.fn(str(tiny_model), "cpu", 16)
    loaded.encoder = CountingEncoder(loaded.encoder.model, "tiny", show_progress_bar=False)
    task = read_task_file(small_tasks)[0]
    data = load_task(task, small_tasks.parent)
    first = score_eval_task.fn(loaded, data, tmp_path)
    assert CountingEncoder.encoded > 0
    CountingEncoder.encoded = 0
    second = score_eval_task.fn(loaded, data, tmp_path)
    assert CountingEncoder.encoded == 0 and second.scores == first.scores
    assert list((tmp_path / "embeddings" / loaded.fingerprint).glob("*.entry"))  # the cache's checked blocks


def test_cached_retrieval_reads_each_document_once_with_its_title(tmp_path, tiny_model):
    """The text a document is encoded from is 'title text', exactly as mteb builds it, cached or not."""
    seen = []

    class Spy(SentenceEncoder):
        def encode_uncached(self, texts, prompt=None):
            seen.extend(texts)
            return super().encode_uncached(texts, prompt)

    spec = EvalTaskSpec(name="T", type="retrieval", files={r: {"path": "x.jsonl"} for r in ("corpus", "queries", "qrels")})
    task = EvalTask(spec, {"corpus": {"d1": {"title": "Title", "text": "body one"}, "d2": {"title": "", "text": "two"}},
                             "queries": {"q1": "query"}, "qrels": {"q1": {"d1": 1}}}, {})
    encoder = Spy(load_encoder(str(tiny_model), "cpu"), "tiny", show_progress_bar=False).cached(tmp_path)
    mteb.evaluate(faiss_search_model(encoder), to_mteb_task(task), cache=None, co2_tracker=False,
                  show_progress_bar=False)
    assert sorted(seen) == ["Title body one", "query", "two"]


def test_fingerprint_follows_weights_and_pooling(tiny_model):
    a, b = load_encoder(str(tiny_model), "cpu"), load_encoder(str(tiny_model), "cpu")
    assert fingerprint(a) == fingerprint(b)
    first = next(a.parameters())
    with __import__("torch").no_grad():
        first[0, 0] += 1e-3
    assert fingerprint(a) != fingerprint(b)
    b.max_seq_length = 32
    assert fingerprint(b) != fingerprint(load_encoder(str(tiny_model), "cpu"))


def test_bf16_weights_encode_to_float32(tiny_model):
    """The GPU path's precision (bf16), exercised on the CPU: weights cast, embeddings come back as float32."""
    import torch

    model = load_encoder(str(tiny_model), "cpu", "bf16")
    assert next(model.parameters()).dtype == torch.bfloat16
    vectors = SentenceEncoder(model, "tiny", show_progress_bar=False).encode_texts(["a cat", "a dog"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 32)
    assert fingerprint(model) != fingerprint(load_encoder(str(tiny_model), "cpu", "fp32"))


def test_model_prompts_are_applied_per_role_and_kept_apart_in_the_cache(tmp_path, tiny_model):
    model = load_encoder(str(tiny_model), "cpu")
    model.prompts = {"query": "query: ", "document": "passage: "}
    encoder = SentenceEncoder(model, "tiny", show_progress_bar=False).cached(tmp_path)
    plain = SentenceEncoder(model, "tiny", show_progress_bar=False)
    with_prompt = encoder.encode_texts(["a cat"], prompt="query: ")
    assert np.allclose(with_prompt, plain.encode_uncached(["query: a cat"]), atol=1e-6)
    assert not np.allclose(with_prompt, encoder.encode_texts(["a cat"]), atol=1e-4)
