"""Generation back-ends: `openai` against a loopback chat-completions server, `transformers` with tiny random
models built from config, the response cache, and the image encoder."""

from __future__ import annotations

import base64
import json
import re

import pytest
import torch

from conftest import DATA_ROOT
from embedlab.errors import UserError
from embedlab.models.generation.backend import Backend, BackendError, BackendSpec, Prompt, build_backend
from embedlab.models.generation.cache import ResponseCache, complete_cached
from embedlab.models.image_encoder import image_features, nearest_neighbours
from generation_helpers import (ChatServer, build_tiny_captioner, build_tiny_causal_lm, build_tiny_vit, chat_reply,
                                error_reply, user_text)

IMAGES = sorted((DATA_ROOT / "image_text" / "flickr8k_1000" / "images").glob("*.jpg"))[:3]


def prompts(*texts: str) -> list[Prompt]:
    return [Prompt((("system", "be brief"), ("user", text))) for text in texts]


def openai_backend(url: str, **options) -> Backend:
    spec = BackendSpec(**{"kind": "openai", "model": "test-model", "base_url": url, "max_retries": 2,
                          "timeout_s": 5, **options})
    return build_backend(spec, "text", "generate.llm")


def complete(backend: Backend, items: list[Prompt]) -> list:
    return [reply for _, reply in sorted(backend.complete(items), key=lambda pair: pair[0])]


def test_openai_sends_the_chat_and_reads_text_and_tokens():
    with ChatServer(lambda request, attempt: chat_reply(f"echo {user_text(request)}")) as server:
        backend = openai_backend(server.url, temperature=0.5, seed=3)
        assert isinstance(backend, Backend)
        replies = complete(backend, prompts("a", "b"))
    assert [r.text for r in replies] == ["echo a", "echo b"]
    assert (replies[0].prompt_tokens, replies[0].completion_tokens, replies[0].refusal) == (11, 7, False)
    sent = server.requests[0]
    assert sent["model"] == "test-model" and sent["temperature"] == 0.5 and sent["seed"] == 3
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}


def test_openai_sends_an_image_as_a_data_url():
    with ChatServer(lambda request, attempt: chat_reply("a photo")) as server:
        backend = build_backend(BackendSpec(model="vlm", base_url=server.url), "caption", "generate.mllm")
        [reply] = complete(backend, [Prompt((("user", "Describe"),), image=IMAGES[0])])
    assert reply.text == "a photo"
    text, image = server.requests[0]["messages"][-1]["content"]
    assert text == {"type": "text", "text": "Describe"}
    header, data = image["image_url"]["url"].split(",", 1)
    assert header == "data:image/jpeg;base64" and base64.b64decode(data) == IMAGES[0].read_bytes()


def test_openai_retries_429_then_succeeds():
    def respond(request, attempt):
        return error_reply(429, "rate limited") if attempt == 1 else chat_reply("fine")

    with ChatServer(respond) as server:
        assert [r.text for r in complete(openai_backend(server.url), prompts("x"))] == ["fine"]
    assert len(server.requests) == 2


def test_openai_gives_up_on_5xx_after_the_retries_in_one_line():
    with ChatServer(lambda request, attempt: error_reply(503, "overloaded")) as server:
        with pytest.raises(BackendError) as info:
            complete(openai_backend(server.url), prompts("x"))
    assert len(server.requests) == 3  # the first try and max_retries=2
    message = str(info.value)
    assert "HTTP 503 after 2 retries" in message and "overloaded" in message and "\n" not in message


@pytest.mark.parametrize("body, expected", [(b'{"id": "x", "choices": [{"mess', "malformed reply, not JSON"),
                                            (b'{"id": "x", "object": "chat.completion"}', "no choices[0].message"),
                                            (b'{"choices": [{"message": {"content": [1, 2]}}]}', "content is list")])
def test_openai_malformed_reply_is_a_one_line_error(body, expected):
    with ChatServer(lambda request, attempt: (200, {"Content-Type": "application/json"}, body)) as server:
        with pytest.raises(BackendError, match=re.escape(expected)) as info:
            complete(openai_backend(server.url), prompts("x"))
    assert "\n" not in str(info.value) and server.url in str(info.value)


def test_openai_server_down_is_a_one_line_error_after_the_retries():
    with ChatServer(lambda request, attempt: chat_reply("never")) as server:
        url = server.url
    with pytest.raises(BackendError) as info:  # the port is closed now
        complete(openai_backend(url, max_retries=1), prompts("x"))
    assert str(info.value).startswith(f"openai back-end {url}: no answer after 1 retries")
    assert "\n" not in str(info.value)


def test_openai_keeps_at_most_concurrency_requests_in_flight():
    with ChatServer(lambda request, attempt: chat_reply(user_text(request)), delay_s=0.2) as server:
        replies = complete(openai_backend(server.url, concurrency=2), prompts(*"abcdef"))
    assert [r.text for r in replies] == list("abcdef")
    assert server.max_in_flight == 2


def test_openai_refusal_field_marks_the_completion():
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": None, "refusal": "I can't."}}]})
    with ChatServer(lambda request, attempt: (200, {"Content-Type": "application/json"}, body.encode())) as server:
        [reply] = complete(openai_backend(server.url), prompts("x"))
    assert reply.refusal and reply.text == "I can't."


def test_cache_makes_a_rerun_cost_no_calls_and_redoes_broken_entries(tmp_path):
    cache = ResponseCache(tmp_path / "cache")
    with ChatServer(lambda request, attempt: chat_reply(f"re {user_text(request)}")) as server:
        backend = openai_backend(server.url)
        first, usage = complete_cached(backend, prompts("a", "b", "c"), cache)
        assert (usage.calls, usage.cache_hits, usage.prompt_tokens, usage.completion_tokens) == (3, 0, 33, 21)
        again, usage = complete_cached(backend, prompts("a", "b", "c"), cache)
        assert again == first and (usage.calls, usage.cache_hits, usage.prompt_tokens) == (0, 3, 0)
        entries = sorted((tmp_path / "cache").rglob("*.entry"))
        assert len(entries) == 3 and not list((tmp_path / "cache").rglob("*.tmp"))
        entries[0].write_text('{"text": "trunc')  # a damaged entry is asked for again
        _, usage = complete_cached(backend, prompts("a", "b", "c"), cache)
        assert (usage.calls, usage.cache_hits) == (1, 2)
        other = openai_backend(server.url, temperature=1.0)  # another sampling setting is another key
        assert complete_cached(other, prompts("a"), cache)[1].calls == 1
    assert len(server.requests) == 5


def test_transformers_text_backend_generates_deterministically(tmp_path):
    for chat_template in (True, False):
        folder = build_tiny_causal_lm(tmp_path / f"lm-{chat_template}", chat_template)
        spec = BackendSpec(kind="transformers", model=str(folder), max_tokens=6, concurrency=2, device="cpu")
        backend = build_backend(spec, "text", "generate.llm")
        items = prompts("short", "a somewhat longer prompt about guitars", "third")
        replies = complete(backend, items)
        assert len(replies) == 3 and all(r.text for r in replies)
        assert all(r.prompt_tokens > 3 and 0 < r.completion_tokens <= 6 for r in replies)
        assert complete(backend, items) == replies  # greedy: the same replies again
        assert backend.identity()["model"] == build_backend(spec, "text", "generate.llm").identity()["model"]
    with pytest.raises(BackendError, match="takes no images"):
        complete(backend, [Prompt((("user", "x"),), image=IMAGES[0])])


def test_transformers_caption_backend_captions_images(tmp_path):
    folder = build_tiny_captioner(tmp_path / "captioner")
    spec = BackendSpec(kind="transformers", model=str(folder), max_tokens=5, concurrency=2, device="cpu")
    backend = build_backend(spec, "caption", "generate.mllm")
    replies = complete(backend, [Prompt((("user", "Describe"),), image=path) for path in IMAGES])
    assert len(replies) == 3 and all(r.text and 0 < r.completion_tokens <= 5 for r in replies)


def test_model_must_be_named_and_must_exist():
    with pytest.raises(UserError, match=r"generate.llm.model is not set"):
        build_backend(BackendSpec(), "text", "generate.llm")
    with pytest.raises(UserError, match="does not exist"):
        build_backend(BackendSpec(kind="transformers", model="./no/such/model"), "text", "generate.llm")


def test_image_features_and_neighbours(tmp_path):
    pixels = image_features(IMAGES, "pixels")
    assert pixels.shape == (3, 72) and torch.allclose(pixels.norm(dim=1), torch.ones(3))
    assert torch.equal(pixels, image_features(IMAGES, "pixels"))
    learned = image_features(IMAGES, str(build_tiny_vit(tmp_path / "vit")), batch_size=2, device="cpu")
    assert learned.shape == (3, 16) and torch.allclose(learned.norm(dim=1), torch.ones(3), atol=1e-5)

    features = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.4]]), dim=1)
    sims, indices = nearest_neighbours(features, 2, block=3)  # blocks of 3 rows: the second block has one row
    assert indices.tolist() == [[1, 3], [0, 3], [3, 1], [1, 0]]
    assert torch.allclose(sims[:, 0], (features * features[indices[:, 0]]).sum(1))
