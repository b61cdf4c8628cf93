"""The LLM back-ends (`llama_cpp`, `openai` -> a real `embedlab llm serve`, `transformers`) on the real SmolLM2-135M
(installed by `make test`); Qwen2.5-Coder only in slow tests. One-line errors: an unknown back-end, a taken port, a
prompt longer than the context, a file llama.cpp cannot load.

Expected values are independent of the code: "Paris" is the capital of France (the greedy answer MODELS.md records);
llama.cpp in process and llama.cpp behind its server run the same GGUF, template and greedy sampler, so their
replies must be identical; the Hugging Face folder converted from the GGUF must decode exactly like the GGUF."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from pydantic import ValidationError

from embedlab.models.generation.backend import BackendError, BackendSpec, Prompt, build_backend
from embedlab.models.generation.cache import ResponseCache, complete_cached
from embedlab.models.model_source import gguf_file

QUESTION = Prompt((("user", "What is the capital of France? Answer in one word."),))
EMBEDLAB = [sys.executable, "-c", "from embedlab.cli import main; main()"]


def backend(kind: str, model: str = "smollm2", **settings):
    spec = BackendSpec(kind=kind, model=model, **({"max_tokens": 16, "n_ctx": 512, "threads": 2} | settings))
    return build_backend(spec, "text", "generate.llm")


def reply(chat, prompt: Prompt = QUESTION):
    [(_, completion)] = list(chat.complete([prompt]))
    return completion


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def llama():
    return backend("llama_cpp")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `embedlab llm serve --model smollm2` on a free loopback port; stopped after the module."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    process = subprocess.Popen([*EMBEDLAB, "llm", "serve", "--model", "smollm2", "--port", str(port), "--n-ctx",
                                "512", "--threads", "2"], stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
                assert [m["id"] for m in json.load(answer)["data"]] == ["smollm2"]
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"llm serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_llama_cpp_answers_greedily_and_repeats_itself(llama):
    first = reply(llama)
    assert "paris" in first.text.lower()
    assert first.prompt_tokens > 10 and 0 < first.completion_tokens <= 16
    assert reply(llama) == first


def test_openai_against_llm_serve_gives_llama_cpps_reply(llama, server):
    served = reply(backend("openai", base_url=server, max_retries=0))
    assert served.text == reply(llama).text
    assert (served.prompt_tokens, served.completion_tokens) == (reply(llama).prompt_tokens,
                                                                reply(llama).completion_tokens)


def test_transformers_reads_the_converted_folder_and_the_gguf_alike():
    folder = reply(backend("transformers", device="cpu"))
    assert "paris" in folder.text.lower()
    assert reply(backend("transformers", model=str(gguf_file("smollm2")), device="cpu")).text == folder.text


@pytest.mark.parametrize("kind", ["llama_cpp", "transformers"])
def test_a_reply_ends_before_the_first_stop_sequence(kind):
    settings = {"device": "cpu"} if kind == "transformers" else {}
    whole = reply(backend(kind, max_tokens=24, **settings), Prompt((("user", "Count from one to ten in words."),)))
    words = whole.text.split()
    assert len(words) >= 3, whole.text
    stopped = reply(backend(kind, max_tokens=24, stop=[words[2]], **settings),
                    Prompt((("user", "Count from one to ten in words."),)))
    assert stopped.text == whole.text[:whole.text.index(words[2])].strip()


def test_n_samples_are_seeded_draws_and_repeat(llama):
    sampled = backend("llama_cpp", temperature=1.0, n=3, max_tokens=12, seed=7)
    story = Prompt((("user", "Write one sentence about a cat."),))
    first = reply(sampled, story)
    assert len(first.samples) == 3 and first.text == first.samples[0] and len(set(first.samples)) >= 2
    assert reply(sampled, story) == first
    single = [reply(backend("llama_cpp", temperature=1.0, max_tokens=12, seed=7 + i), story).text for i in range(3)]
    assert list(first.samples) == single


def test_token_accounting_through_the_cache(llama, tmp_path):
    replies, usage = complete_cached(llama, [QUESTION], ResponseCache(tmp_path))
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (1, replies[0].prompt_tokens,
                                                                            replies[0].completion_tokens)
    assert complete_cached(llama, [QUESTION], ResponseCache(tmp_path))[1].cache_hits == 1


def test_a_prompt_longer_than_the_context_names_both_lengths():
    short = backend("llama_cpp", n_ctx=256)
    with pytest.raises(BackendError) as error:
        reply(short, Prompt((("user", "word " * 400),)))
    found = re.fullmatch(r"llama_cpp SmolLM2-135M-Instruct\.Q4_1\.gguf: the prompt is (\d+) tokens, longer than the "
                         r"model's context of 256 tokens \(shorten it, or raise n_ctx where the model allows\)",
                         str(error.value))
    assert found and int(found.group(1)) > 400


def test_a_file_llama_cpp_cannot_load_is_one_line(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(BackendError) as error:
        backend("llama_cpp", model=str(bad))
    assert str(error.value).startswith(f"llama.cpp cannot load {bad}:") and "\n" not in str(error.value)


def test_an_unknown_back_end_gets_did_you_mean():
    with pytest.raises(ValidationError, match=r"unknown LLM back-end 'llama-cpp'; did you mean 'llama_cpp'\?"):
        BackendSpec(kind="llama-cpp", model="smollm2")


def test_llm_serve_on_a_taken_port_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*EMBEDLAB, "llm", "serve", "--model", "smollm2", "--port", str(port)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: port {port} on 127.0.0.1 is taken (Address already in use); "
                                                "choose another --port, or --port 0 for a free one"]


def test_llm_ask_prints_the_reply(tmp_path):
    done = subprocess.run([*EMBEDLAB, "llm", "ask", "What is the capital of France? Answer in one word.",
                           "--kind", "llama_cpp", "--model", "smollm2", "-S", "generate.llm.max_tokens=16"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "paris" in done.stdout.lower() and "llama_cpp smollm2:" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["llama_cpp", "transformers"])
def test_qwen_coder_writes_sql(kind):
    settings = {"device": "cpu"} if kind == "transformers" else {"n_ctx": 2048}
    chat = backend(kind, model="qwen-coder", max_tokens=40, **settings)
    answer = reply(chat, Prompt((("user", "Table singer has columns singer_id, name, age. Write only the SQL query "
                                          "that counts the singers older than 30, no explanation."),)))
    sql = " ".join(answer.text.replace("`", " ").split()).lower()
    assert re.search(r"select count\(\*\) from singer where age > 30", sql), answer.text
