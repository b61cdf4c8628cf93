"""`embedlab rag` end to end on a tiny corpus in tmp_path: index, then ask and run through the real flows with a
tiny layer-wise reranker saved to disk and a loopback server speaking the OpenAI chat-completions protocol;
bad input is one line with exit status 2."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from embedlab.cli import app
from embedlab.models.rag.layerwise import LayerwiseCrossEncoder
from generation_helpers import ChatServer, chat_reply, user_text


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from transformers import AutoTokenizer, BertConfig, BertModel

    from embedlab.models.model_source import bundled_minilm_path

    root = tmp_path_factory.mktemp("rag")
    docs = root / "docs"
    (docs / "umac").mkdir(parents=True)
    (docs / "rcp").mkdir()
    (docs / "umac" / "scaling.txt").write_text("Scaling the CDU\n\nAdd a CDU board, then restart the service.",
                                               encoding="utf-8")
    (docs / "umac" / "alarms.md").write_text("Alarm codes\n\nAlarm 1001 means the link is down.", encoding="utf-8")
    (docs / "rcp" / "scaling.txt").write_text("RCP scaling\n\nScaling an RCP cluster adds nodes.", encoding="utf-8")
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    (root / "reranker").mkdir()
    LayerwiseCrossEncoder(BertModel(config, add_pooling_layer=False), tokenizer, 64).save(root / "reranker")
    return root


def rag(root, server_url, *args):
    settings = ["-S", f"rag.rerank.model={root / 'reranker'}", "-S", "rag.llm.model=scripted",
                "-S", f"rag.llm.base_url={server_url}", "-S", "rag.llm.max_retries=0",
                "-S", f"cache_dir={root / 'cache'}", "-S", "rag.prompt=prompts/rag_qa_en.txt",
                "-S", "rag.merge_prompt=prompts/rag_merge_en.txt", "-S", "rag.refine=append_top1"]
    return CliRunner().invoke(app, [*args, *settings], catch_exceptions=False)


def answer(request, attempt):
    text = user_text(request)
    return chat_reply("Add a CDU board." if "CDU board" in text else "not sure")


def test_index_ask_and_run(shop, monkeypatch):
    from conftest import REPO

    monkeypatch.chdir(REPO)  # the prompts are the project's
    index = shop / "index"
    with ChatServer(answer) as server:
        built = rag(shop, server.url, "rag", "index", "--corpus", str(shop / "docs"), "--index", str(index), "--no-track")
        assert built.exit_code == 0, built.output
        assert "3 documents, 3 chunks" in built.stdout
        asked = rag(shop, server.url, "rag", "ask", "--index", str(index), "--document", "umac", "--json",
                    "How do I scale the CDU?")
        assert asked.exit_code == 0, asked.output
        record = json.loads(asked.stdout)
        # append_top1: the draft, then the top-ranked passage's text
        assert record["answer"].startswith("Add a CDU board.\n\n")
        assert record["answer"].split("\n\n", 1)[1] == record["passages"][0]["text"]
        # route 1 keeps umac only; route 2 (paths, no product filter, as EasyRAG's code) adds rcp/scaling.txt
        assert {p["path"] for p in record["passages"]} == {"umac/scaling.txt", "rcp/scaling.txt"}
        assert {"retrieve", "rerank", "generate"} <= set(record["seconds"])
        prompt = user_text(server.requests[0])
        assert "### 文档0: " in prompt and "How do I scale the CDU?" in prompt
        questions = shop / "questions.jsonl"
        questions.write_text(json.dumps({"query": "How do I scale the CDU?", "keywords": ["CDU board", "link is down"]})
                             + "\n", encoding="utf-8")
        calls = len(server.requests)
        ran = rag(shop, server.url, "rag", "run", "--questions", str(questions), "--index", str(index),
                  "-o", str(shop / "run"), "--no-track")
        assert ran.exit_code == 0, ran.output
        assert len(server.requests) == calls  # the same prompt: the reply comes from the cache
    assert "keyword_score: 50.0000" in ran.stdout  # "CDU board" found; "link is down" (alarms.md, not retrieved) not: 1/2
    rows = [json.loads(line) for line in (shop / "run" / "answers.jsonl").read_text().splitlines()]
    assert rows[0]["answer"].startswith("Add a CDU board.")


@pytest.mark.parametrize("args, message", [
    (["rag", "index", "--corpus", "{root}/none"], "corpus not found (--corpus)"),
    (["rag", "index", "--corpus", "{root}/docs", "-S", "rag.chunk_overlap=1024"], "chunk_overlap 1024 must be smaller"),
    (["rag", "index", "--corpus", "{root}/docs", "-S", "rag.tokenizer=englsh"], "did you mean 'english'"),
    (["rag", "index", "--corpus", "{root}/docs", "-S", "rag.fusion=rff"], "did you mean 'rrf'"),
    (["rag", "run", "--questions", "{root}/bad.jsonl"], "bad.jsonl: line 1: expected an object with a non-empty string field 'query'"),
    (["rag", "run", "--questions", "{root}/torn.jsonl"], "torn.jsonl:2: not valid JSON"),
])
def test_bad_input_is_one_line_with_exit_2(shop, args, message):
    (shop / "bad.jsonl").write_text('{"question": "no query"}\n', encoding="utf-8")
    (shop / "torn.jsonl").write_text('{"query": "a whole line"}\n{"query": "cut sh\n', encoding="utf-8")
    result = CliRunner().invoke(app, [a.format(root=shop) for a in args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
