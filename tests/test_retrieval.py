"""The shared retrieval module: metrics by hand and against pytrec_eval, exact dense search against a numpy sort,
ranks with ties and a left-out item, mteb's search adapter against mteb's own faiss backend, mining."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytrec_eval
from mteb.models.model_meta import ScoringFunction
from mteb.models.search_encoder_index.search_indexes import FaissSearchIndex
from sentence_transformers import SentenceTransformer

from embedlab.models.mining import mine_hard_negatives
from embedlab.models.retrieval.dense import DenseRetriever
from embedlab.models.retrieval.metrics import mrr, ndcg_at_k, recall_at_k
from embedlab.models.retrieval.ranks import ranks_in_results, target_ranks
from embedlab.models.search import DenseSearchIndex

ROOT = Path(__file__).resolve().parents[1]


def unit_rows(generator: np.random.Generator, rows: int, dim: int = 16) -> np.ndarray:
    vectors = generator.standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def brute_force(queries: np.ndarray, documents: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the k best documents per query by a float64 numpy sort, and those scores; asserts no near-ties."""
    scores = queries.astype(np.float64) @ documents.astype(np.float64).T
    order = np.argsort(-scores, axis=1)
    ranked = np.take_along_axis(scores, order, axis=1)
    assert np.all(ranked[:, :k] - ranked[:, 1:k + 1] > 1e-5), "near-tie in the random data: pick another seed"
    return order[:, :k], ranked[:, :k]


def test_recall_and_mrr_by_hand():
    ranks = np.array([1, 3, 6])
    # Recall@1: only rank 1 -> 1/3; @5: ranks 1 and 3 -> 2/3; @10: all three -> 1
    assert recall_at_k(ranks, (1, 5, 10)) == {"recall_at_1": pytest.approx(1 / 3), "recall_at_5": pytest.approx(2 / 3),
                                              "recall_at_10": 1.0}
    # MRR = (1/1 + 1/3 + 1/6) / 3 = (6/6 + 2/6 + 1/6) / 3 = 0.5; MRR@5 drops rank 6: (1 + 1/3 + 0) / 3 = 4/9
    assert mrr(ranks) == pytest.approx(0.5)
    assert mrr(ranks, cutoff=5) == pytest.approx(4 / 9)


def test_ndcg_by_hand():
    ranked = [["d1", "d2", "d3", "d4"], ["e1", "e2", "e3"]]
    relevance = [{"d2": 2, "d4": 1}, {"e1": 1, "e3": 0}]
    # query a, k = 3: DCG = 0/log2(2) + 2/log2(3) + 0/log2(4); ideal grades (2, 1): IDCG = 2/log2(2) + 1/log2(3)
    query_a = (2 / math.log2(3)) / (2 + 1 / math.log2(3))
    # query b: its one relevant document first: DCG = IDCG = 1/log2(2) = 1
    assert ndcg_at_k(ranked, relevance, 3) == pytest.approx((query_a + 1.0) / 2)
    # k = 1: a's first document is unjudged (0 / 2), b's is right (1 / 1)
    assert ndcg_at_k(ranked, relevance, 1) == pytest.approx(0.5)
    assert ndcg_at_k([["x"]], [{}], 1) == 0.0  # nothing relevant: IDCG = 0 counts 0, as trec_eval


def test_metrics_equal_pytrec_eval_on_a_random_run():
    generator = np.random.default_rng(3)
    documents = [f"doc{j}" for j in range(30)]
    run, qrels, single, ranked, graded, target_ranks_ = {}, {}, {}, [], [], []
    for q in range(25):
        scores = generator.permutation(30) / 30 + 0.01  # distinct scores: no tie for trec_eval to break
        run[f"q{q}"] = {d: float(s) for d, s in zip(documents, scores)}
        grades = {d: int(g) for d, g in zip(documents, generator.integers(0, 4, size=30)) if generator.random() < 0.3}
        grades[documents[q]] = 3  # at least one relevant document per query
        qrels[f"q{q}"] = grades
        order = [documents[j] for j in np.argsort(-scores)]
        ranked.append(order)
        graded.append(grades)
        target = documents[int(generator.integers(30))]  # one relevant document: recall and MRR of its rank
        single[f"q{q}"] = {target: 1}
        target_ranks_.append(order.index(target) + 1)
    ndcg = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    assert ndcg_at_k(ranked, graded, 10) == pytest.approx(np.mean([v["ndcg_cut_10"] for v in ndcg.values()]), abs=1e-9)
    one = pytrec_eval.RelevanceEvaluator(single, {"recip_rank", "recall.5"}).evaluate(run)
    assert mrr(target_ranks_) == pytest.approx(np.mean([v["recip_rank"] for v in one.values()]), abs=1e-9)
    assert recall_at_k(target_ranks_, (5,))["recall_at_5"] == pytest.approx(np.mean([v["recall_5"] for v in one.values()]))


@pytest.mark.parametrize("normalize", [False, True])
def test_dense_search_equals_a_numpy_sort(normalize):
    generator = np.random.default_rng(0)
    documents = generator.standard_normal((200, 16)).astype(np.float32)
    queries = generator.standard_normal((30, 16)).astype(np.float32)
    ids = [f"doc{j}" for j in range(200)]
    retriever = DenseRetriever.build(documents, ids, normalize=normalize)
    found, scores = retriever.search(queries, 10)
    if normalize:
        documents = documents / np.linalg.norm(documents, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    rows, expected = brute_force(queries, documents, 10)
    assert found.tolist() == [[ids[r] for r in row] for row in rows]
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert retriever.search(queries, 500)[0].shape == (30, 200)  # k beyond the corpus: all of it


def test_ranks_count_ties_towards_the_smaller_id_and_leave_out_one_item():
    ids = np.array([[5, 3, 9, 1]])
    scores = np.array([[0.9, 0.7, 0.7, 0.2]], dtype=np.float32)
    # target 9: behind 5 (0.9) and 3 (same 0.7, smaller id) -> rank 3; with 5 left out -> rank 2
    assert ranks_in_results(ids, scores, [9]).tolist() == [3]
    assert ranks_in_results(ids, scores, [9], exclude=[5]).tolist() == [2]
    # target 3 ties with 9 but has the smaller id: only 5 is ahead -> rank 2, whatever order the list has
    assert ranks_in_results(ids[:, [0, 2, 1, 3]], scores, [3]).tolist() == [2]
    # target 7 is not among the 4 results: rank 5 (beyond them); with 5 left out, 3 results remain -> rank 4
    assert ranks_in_results(ids, scores, [7]).tolist() == [5]
    assert ranks_in_results(ids, scores, [7], exclude=[5]).tolist() == [4]


def test_target_ranks_with_a_left_out_item_equal_brute_force_in_any_block():
    generator = np.random.default_rng(1)
    gallery, queries = unit_rows(generator, 120), unit_rows(generator, 40)
    targets, left_out = generator.integers(0, 120, 40), generator.integers(0, 120, 40)
    left_out = np.where(left_out == targets, (targets + 1) % 120, left_out)
    scores = queries.astype(np.float64) @ gallery.astype(np.float64).T
    own = scores[np.arange(40), targets][:, None]
    ahead = scores > own
    ahead[np.arange(40), left_out] = False
    expected = (ahead.sum(axis=1) + 1).tolist()
    retriever = DenseRetriever.build(gallery)
    for block in (None, 7, 40, 1000):
        assert target_ranks(retriever, queries, targets, left_out, block).tolist() == expected, block


def fake_encoder(similarity: ScoringFunction) -> SimpleNamespace:
    """What mteb's FaissSearchIndex reads of an encoder: its similarity function."""
    return SimpleNamespace(mteb_model_meta=SimpleNamespace(similarity_fn_name=similarity))


@pytest.mark.parametrize("similarity", [ScoringFunction.COSINE, ScoringFunction.DOT_PRODUCT])
def test_mteb_adapter_returns_exactly_mtebs_own_faiss_results(similarity):
    generator = np.random.default_rng(2)
    corpus = generator.standard_normal((50, 8)).astype(np.float32)
    queries = generator.standard_normal((6, 8)).astype(np.float32)
    ids = [f"d{j}" for j in range(50)]
    top_ranked = {f"q{q}": [ids[j] for j in generator.choice(50, 9, replace=False)] for q in range(5)}
    top_ranked["q5"] = []
    query_ids = {q: f"q{q}" for q in range(6)}
    ours = DenseSearchIndex(normalize=similarity is ScoringFunction.COSINE)
    theirs = FaissSearchIndex(fake_encoder(similarity))
    with pytest.warns(UserWarning, match="No top-ranked documents for query q5"):  # mteb warns of q5, we do not
        for index in (ours, theirs):
            index.add_documents(corpus.copy(), ids)
        assert ours.search(queries, 10, None) == theirs.search(queries, 10, None)
        assert (ours.search(queries, 4, None, top_ranked, query_ids)
                == theirs.search(queries, 4, None, top_ranked, query_ids))


def test_mining_equals_a_brute_force_ranking(tiny_model):
    model = SentenceTransformer(str(tiny_model), device="cpu")
    corpus = {f"d{j}": f"document number {j} about topic {j % 5}" for j in range(24)}
    queries = {f"q{i}": f"which topic is {i}" for i in range(4)}
    relevant = {"q0": {"d0"}, "q1": {"d1", "d6"}, "q2": {"d2"}, "q3": {"d3"}}
    mined = mine_hard_negatives(model, queries, corpus, relevant, count=3, skip=1)
    docs = model.encode(list(corpus.values()), normalize_embeddings=True)
    asked = model.encode([queries[q] for q in relevant], normalize_embeddings=True)
    rows, _ = brute_force(asked, docs, 6)
    for query, row in zip(relevant, rows):
        negatives = [d for d in (list(corpus)[j] for j in row) if d not in relevant[query]]
        assert mined[query] == negatives[1:4], query


def test_faiss_is_imported_in_one_place_with_a_one_line_error():
    statement = re.compile(r"^\s*(import faiss|from faiss[ .])", re.MULTILINE)
    importers = [path.relative_to(ROOT).as_posix() for folder in ("embedlab", "flows", "tasks", "models")
                 for path in (ROOT / folder).rglob("*.py") if statement.search(path.read_text(encoding="utf-8"))]
    assert importers == ["models/retrieval/dense.py"]
    blocked = "import sys; sys.modules['faiss'] = None; import embedlab.models.retrieval.dense"
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True)
    assert result.returncode != 0
    assert "embedlab.errors.UserError: faiss is not installed: pip install 'embedlab[cpu]'" in result.stderr
