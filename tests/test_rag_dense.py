"""EasyRAG's optional dense route on a tiny corpus with the tiny encoder built from config (conftest): hits against
a brute-force cosine computed with numpy, three-route RRF by hand, the saved route reloaded and refused for
another encoder, and `rag index` / `ask` / `evaluate` with `rag.dense.enabled`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import REPO, build_tiny_model
from embedlab.cli import app
from embedlab.errors import UserError
from embedlab.models.cached_encoder import CachedEncoder
from embedlab.models.rag.chunking import SentenceSplitter
from embedlab.models.rag.corpus import chunk_documents, read_documents
from embedlab.models.rag.dense import dense_text
from embedlab.models.rag.routes import RagIndex, RouteSettings
from embedlab.models.rag.tokenizers import build_tokenizer
from test_rag_pipeline import shop  # noqa: F401  (fixture: three documents and a tiny layer-wise reranker)


def test_dense_route_searches_fuses_saves_and_checks_its_encoder(shop, tiny_model, tmp_path):  # noqa: F811
    from sentence_transformers import SentenceTransformer

    chunks = chunk_documents(read_documents(shop / "docs"), SentenceSplitter(1024, 200))
    encoder = CachedEncoder(str(tiny_model), tmp_path / "cache")
    index = RagIndex.build(chunks, build_tokenizer("english"), {}, {}, encoder)
    query = "how to restart the service after adding a board"
    # the reference: the model's own normalised embeddings, every cosine computed with numpy, sorted
    model = SentenceTransformer(str(tiny_model), device="cpu")
    vectors = model.encode([dense_text(c) for c in chunks], normalize_embeddings=True)
    cosines = vectors @ model.encode([query], normalize_embeddings=True)[0]
    hits = index.dense.hits(query, 2)
    assert [c for c, _ in hits] == list(np.argsort(-cosines, kind="stable")[:2])
    assert [s for _, s in hits] == pytest.approx(sorted(cosines, reverse=True)[:2], abs=1e-5)
    # three routes fused by RRF (k = 60), by hand from each route's ranks
    settings = RouteSettings(192, 6, "rrf", {"k": 60}, dense_top_k=2)
    routes = [index.route1_hits(query, 192), index.route2_hits(query, 6), hits]
    expected: dict[int, float] = {}
    for route in routes:
        for rank, (chunk, _) in enumerate(route, 1):
            expected[chunk] = expected.get(chunk, 0.0) + 1 / (60 + rank)
    assert dict(index.retrieve(query, settings)) == pytest.approx(expected)
    assert {c for c, _ in index.retrieve(query, settings, "rcp")} <= {c.chunk_id for c in chunks if c.product == "rcp"}
    (tmp_path / "saved").mkdir()
    index.save(tmp_path / "saved")
    again = RagIndex.load(tmp_path / "saved", build_tokenizer("english"), encoder)
    assert again.retrieve(query, settings) == index.retrieve(query, settings)
    other = CachedEncoder(str(build_tiny_model(tmp_path / "other", seed=1)), tmp_path / "cache")
    with pytest.raises(UserError, match=r"dense route encoded with .* \(fingerprint [0-9a-f]{16}\), but "
                                        r"rag.dense.model is .*; rebuild the index"):
        RagIndex.load(tmp_path / "saved", build_tokenizer("english"), other)
    (tmp_path / "plain").mkdir()
    RagIndex.build(chunks, build_tokenizer("english"), {}, {}).save(tmp_path / "plain")
    with pytest.raises(UserError, match="the index has no dense route"):
        RagIndex.load(tmp_path / "plain", build_tokenizer("english"), encoder)


def test_index_ask_and_evaluate_with_the_dense_route(shop, tiny_model, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data" / "beir"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, t, x in (
        ("a", "Scaling the CDU", "Add a CDU board."), ("b", "Alarm codes", "Alarm 1001: link down."),
        ("c", "Backups", "A nightly backup copies the database."))), encoding="utf-8")
    (data / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "CDU board"}) + "\n", encoding="utf-8")
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t1\n", encoding="utf-8")
    monkeypatch.setenv("EMBEDLAB_DATA_ROOT", str(tmp_path / "data"))
    dense = ["-S", "rag.dense.enabled=true", "-S", f"rag.dense.model={tiny_model}", "-S", "rag.dense.top_k=1",
             "-S", "rag.fusion=rrf", "-S", f"cache_dir={tmp_path / 'cache'}", "-S", f"rag.rerank.model={shop / 'reranker'}",
             "-S", "rag.evaluate.corpus=beir/corpus.jsonl", "-S", "rag.evaluate.queries=beir/queries.jsonl",
             "-S", "rag.evaluate.qrels=beir/qrels/test.tsv", "-S", f"rag.prompt={REPO / 'prompts' / 'rag_qa_en.txt'}",
             "-S", f"rag.merge_prompt={REPO / 'prompts' / 'rag_merge_en.txt'}"]
    run = CliRunner()
    built = run.invoke(app, ["rag", "index", "--corpus", str(shop / "docs"), "--index", "idx", "--no-track", *dense])
    assert built.exit_code == 0, built.output
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert meta["dense"]["model"] == str(tiny_model) and meta["dense"]["dimension"] == 32
    assert np.load(tmp_path / "idx" / "dense" / "vectors.npy").shape == (3, 32)
    query = "Alarm codes"  # BM25: alarms.md alone (routes 1 and 2); the dense route adds its own top 1
    asked = run.invoke(app, ["rag", "ask", "--index", "idx", "--no-answer", "--json", query, *dense])
    assert asked.exit_code == 0, asked.output
    index = RagIndex.load(tmp_path / "idx", build_tokenizer("english"), CachedEncoder(str(tiny_model), tmp_path / "cache"))
    [(top, _)] = index.dense.hits(query, 1)
    assert {p["path"] for p in json.loads(asked.stdout)["passages"]} == {"umac/alarms.md", index.chunks[top].path}
    other = build_tiny_model(tmp_path / "other", seed=1)
    refused = run.invoke(app, ["rag", "ask", "--index", "idx", "--no-answer", query, *dense,
                               "-S", f"rag.dense.model={other}"])
    assert refused.exit_code == 2
    errors = [line for line in refused.output.splitlines() if line.startswith("error: ")]  # beside a progress bar
    assert len(errors) == 1 and "dense route encoded with" in errors[0] and "Traceback" not in refused.output
    evaluated = run.invoke(app, ["rag", "evaluate", "-o", "eval", "--no-track", *dense])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"BM25 route 1 (lucene)", f"dense route ({tiny_model})",
                            "routes fused (rrf: BM25 1 + 2 + dense)"}
    # one query, one relevant document "a" ("CDU board" in its title and text): BM25 ranks it first, nDCG@10 = 1;
    # three documents, so every route holds it within its top 10
    assert metrics["BM25 route 1 (lucene)"]["ndcg_at_10"] == 1.0
    assert metrics[f"dense route ({tiny_model})"]["recall_at_10"] == 1.0
    assert metrics["routes fused (rrf: BM25 1 + 2 + dense)"]["recall_at_10"] == 1.0
