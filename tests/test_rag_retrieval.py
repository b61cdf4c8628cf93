"""EasyRAG's retrieval half: tokenizers against bm25s' own tokenizer, chunking by hand, BM25 against rank_bm25,
the two routes and fusion by hand, saving/reloading an index, the keyword scorer on the staged val.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import DATA_ROOT
from embedlab.errors import UserError
from embedlab.models.rag.bm25 import BM25Retriever
from embedlab.models.rag.chunking import SentenceSplitter, cl100k_tokens
from embedlab.models.rag.compress import bm25_extract, cut_sentences
from embedlab.models.rag.corpus import Chunk, chunk_documents, read_documents
from embedlab.models.rag.fusion import FUSIONS, merge, rrf
from embedlab.models.rag.keywords import keyword_score
from embedlab.models.rag.routes import RagIndex, RouteSettings
from embedlab.models.rag.tokenizers import build_tokenizer

SCIFACT = DATA_ROOT / "scifact"


def test_english_tokenizer_gives_bm25s_terms():
    import bm25s
    import Stemmer

    texts = ["The Running dogs were running quickly, e.g. in 2020!", "A cell's DNA-repair pathways"]
    expected = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False,
                              show_progress=False)
    assert build_tokenizer("english")(texts) == [list(t) for t in expected]


def test_chinese_tokenizer_drops_hit_stop_words():
    tokenizer = build_tokenizer("chinese", DATA_ROOT / "easyrag" / "hit_stopwords.txt")
    terms = tokenizer(["我们的 网络 设备 和 服务器"])[0]
    assert "的" not in terms and "和" not in terms and " " not in terms
    assert "网络" in terms and "服务器" in terms


def test_unknown_tokenizer_is_a_did_you_mean():
    with pytest.raises(UserError, match="did you mean 'english'"):
        build_tokenizer("englsh")


def test_chunks_by_hand_with_a_word_counter():
    words = lambda text: len(text.split())  # noqa: E731 - a counter easy to check by hand
    splitter = SentenceSplitter(chunk_size=6, chunk_overlap=3, count=words)
    text = "One two three. Four five six. Seven eight nine. Ten eleven."
    # sentences of 3, 3, 3, 2 words; chunk 1 = s1 + s2 (6), the overlap keeps s2 (3 <= 3), and so on
    assert splitter.split(text) == ["One two three. Four five six.", "Four five six. Seven eight nine.",
                                    "Seven eight nine. Ten eleven."]
    assert splitter.split("short") == ["short"]


def test_a_long_sentence_is_split_by_clause_then_word():
    words = lambda text: len(text.split())  # noqa: E731
    chunks = SentenceSplitter(chunk_size=3, chunk_overlap=0, count=words).split("a b c, d e f g h")
    assert chunks == ["a b c,", "d e f", "g h"]
    assert all(words(c) <= 3 for c in chunks)


def test_cl100k_counts_and_overlap_must_be_below_size():
    assert cl100k_tokens("hello world, this is a test") == 7  # tiktoken cl100k_base gives the same 7 tokens
    with pytest.raises(UserError, match="chunk_overlap"):
        SentenceSplitter(100, 100)


def test_bm25s_atire_robertson_reproduces_rank_bm25():
    from rank_bm25 import BM25Okapi

    lines = (SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:300]
    docs = [json.loads(line) for line in lines]
    texts = [d["title"] + " " + d["text"] for d in docs]
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").read_text().splitlines()[:20]]
    tokenizer = build_tokenizer("english")
    ours = BM25Retriever(tokenizer, method="atire", idf_method="robertson")
    ours.index(list(range(len(texts))), texts)
    reference = BM25Okapi(tokenizer(texts), k1=1.5, b=0.75, epsilon=0.0)
    for query, terms in zip(queries, tokenizer(queries)):
        assert np.abs(ours.scores(query) - reference.get_scores(terms)).max() < 1e-4


def test_fusion_by_hand():
    route1 = [("a", 9.0), ("b", 5.0), ("c", 1.0)]
    route2 = [("c", 7.0), ("d", 6.0)]
    text = {"a": "x", "b": "y", "c": "z", "d": "y"}.__getitem__  # d repeats b's text
    assert merge([route1, route2], text) == [("a", 9.0), ("b", 5.0), ("c", 1.0)]  # c, d: already seen text
    fused = dict(rrf([route1, route2], text, k=60))
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61) and fused["d"] == pytest.approx(1 / 62)
    assert [c for c, _ in rrf([route1, route2], text, k=60)][:2] == ["c", "a"]
    assert len(merge([[(i, float(i)) for i in range(300)]], str)) == 256
    with pytest.raises(UserError, match="did you mean 'rrf'"):
        FUSIONS.check("rff")


def _corpus(tmp_path):
    folder = tmp_path / "docs"
    (folder / "umac" / "install").mkdir(parents=True)
    (folder / "rcp").mkdir()
    (folder / "umac" / "install" / "scaling.txt").write_text("Scaling the CDU\n\nAdd a CDU board, then restart the "
                                                             "service.", encoding="utf-8")
    (folder / "umac" / "alarms.md").write_text("Alarm codes\n\nAlarm 1001 means the link is down.", encoding="utf-8")
    (folder / "rcp" / "scaling.txt").write_text("RCP scaling\n\nScaling an RCP cluster adds nodes.", encoding="utf-8")
    return folder


def test_routes_filter_fuse_save_and_reload(tmp_path):
    documents = read_documents(_corpus(tmp_path))
    assert [d.path for d in documents] == ["rcp/scaling.txt", "umac/alarms.md", "umac/install/scaling.txt"]
    chunks = chunk_documents(documents, SentenceSplitter(1024, 200))
    tokenizer = build_tokenizer("english")
    index = RagIndex.build(chunks, tokenizer, {}, {"tokenizer": tokenizer.identity})
    assert [index.chunks[c].path for c, _ in index.route1_hits("scaling CDU", 192, "umac")] == ["umac/install/scaling.txt"]
    unfiltered = index.route1_hits("scaling", 192)
    assert {index.chunks[c].doc_id for c, _ in unfiltered} == {"rcp/scaling.txt", "umac/install/scaling.txt"}
    assert all(s > 0 for _, s in unfiltered)  # the alarm document scores 0: the scan stopped before it
    hits = index.retrieve("alarm", RouteSettings(fusion="rrf"))
    assert index.chunks[hits[0][0]].path == "umac/alarms.md"
    (tmp_path / "saved").mkdir()
    index.save(tmp_path / "saved")
    again = RagIndex.load(tmp_path / "saved", tokenizer)
    assert again.retrieve("alarm", RouteSettings()) == index.retrieve("alarm", RouteSettings())
    chinese = build_tokenizer("chinese", DATA_ROOT / "easyrag" / "hit_stopwords.txt")
    with pytest.raises(UserError, match="index built with tokenizer 'english'"):
        RagIndex.load(tmp_path / "saved", chinese)


@pytest.mark.parametrize("content, message", [
    (b"", "empty document"), (b"\xff\xfe bad", "not UTF-8"),
])
def test_bad_documents_are_named(tmp_path, content, message):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_documents(tmp_path / "d")


def test_a_json_line_without_text_names_the_line(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "fine"}\n{"title": "no text"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"docs.jsonl:2: expected a JSON object with a string field 'text'"):
        read_documents(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no readable documents"):
        read_documents(tmp_path / "empty")


def test_keyword_scorer_on_the_gold_answers_of_val():
    rows = json.loads((DATA_ROOT / "easyrag" / "val.json").read_text(encoding="utf-8"))
    keywords = [row["keywords"] for row in rows]
    assert round(keyword_score([str(row["answer"]) for row in rows], keywords), 2) == 98.43
    assert keyword_score([""] * len(rows), keywords) == 0.0


def test_bm25_extract_keeps_the_best_sentences_in_order():
    chunk = "Cats purr. The CDU board is scaled by adding boards. Dogs bark loudly!"
    assert cut_sentences(chunk) == ["Cats purr.", " The CDU board is scaled by adding boards.", " Dogs bark loudly!"]
    kept = bm25_extract("how is the CDU board scaled", chunk, 0.3, build_tokenizer("english"))
    assert kept == " The CDU board is scaled by adding boards."
    assert math.isclose(len(bm25_extract("cats", chunk, 1.0, build_tokenizer("english"))), len(chunk))


@pytest.mark.slow
def test_scifact_route1_reaches_the_published_bm25():
    from embedlab.models.retrieval.metrics import ndcg_at_k, recall_of_judged

    documents = read_documents(SCIFACT / "corpus.jsonl")
    chunks = [Chunk(i, d.doc_id, d.path, d.text) for i, d in enumerate(documents)]  # title + text, unsplit
    index = RagIndex.build(chunks, build_tokenizer("english"), {}, {})
    qrels: dict[str, dict[str, int]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, s = line.split("\t")
        qrels.setdefault(q, {})[d] = int(s)
    queries = {json.loads(l)["_id"]: json.loads(l)["text"] for l in (SCIFACT / "queries.jsonl").read_text().splitlines()}
    ids, _ = index.route1.search([queries[q] for q in qrels], 100)
    ranked = [[index.chunks[c].doc_id for c in row] for row in ids.tolist()]
    assert ndcg_at_k(ranked, list(qrels.values()), 10) == pytest.approx(0.6863, abs=0.002)
    assert recall_of_judged(ranked, list(qrels.values()), 100) == pytest.approx(0.9127, abs=0.002)


def test_a_query_without_a_known_term_scores_zero():
    """bm25s' vocabulary holds "" beyond its score matrix: a query sharing no term with the index (a question
    against route 2's paths, typically) used to raise there."""
    retriever = BM25Retriever(build_tokenizer("english"))
    retriever.index(["x", "y", "z"], ["rcp/scaling.txt", "umac/alarms.md", "umac/scaling.txt"])
    ids, scores = retriever.search(["restart the board", "alarms"], 2)
    assert ids[0].tolist() == ["x", "y"] and scores[0].tolist() == [0.0, 0.0]  # index order, all 0
    assert ids[1][0] == "y" and scores[1][0] > 0 and scores[1][1] == 0.0
    assert retriever.scores("restart the board").tolist() == [0.0, 0.0, 0.0]
