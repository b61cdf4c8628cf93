"""Test doubles for generation that are real things, not mocks: a loopback HTTP server speaking the
OpenAI chat-completions protocol, and tiny random Hugging Face generators built from config."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Reply = tuple[int, dict[str, str], bytes]  # status, headers, body


def chat_reply(text: str, prompt_tokens: int = 11, completion_tokens: int = 7) -> Reply:
    """A well-formed chat.completion response."""
    body = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def error_reply(status: int, message: str = "try later") -> Reply:
    headers = {"Content-Type": "application/json", "retry-after-ms": "10"}
    return status, headers, json.dumps({"error": {"message": message, "type": "server_error"}}).encode()


def user_text(request: dict[str, Any]) -> str:
    """The text of a request's last message (a string, or the text part of a multimodal content list)."""
    content = request["messages"][-1]["content"]
    return content if isinstance(content, str) else next(p["text"] for p in content if p["type"] == "text")


class ChatServer:
    """A threaded HTTP server on 127.0.0.1 (random port) answering POST /v1/chat/completions with
    `respond(request_json, attempt)`, attempt counting from 1 per distinct request body. Records every
    request, and the most requests that were in flight at once. Use as a context manager."""

    def __init__(self, respond: Callable[[dict[str, Any], int], Reply], delay_s: float = 0.0) -> None:
        self.respond, self.delay_s = respond, delay_s
        self.requests: list[dict[str, Any]] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                request = json.loads(raw)
                with server._lock:
                    server.requests.append(request)
                    attempt = server._attempts[raw.decode()] = server._attempts.get(raw.decode(), 0) + 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay_s)
                    status, headers, body = server.respond(request, attempt) if self.path.endswith(
                        "/chat/completions") else error_reply(404, f"no route {self.path}")
                    self.send_response(status)
                    for key, value in {**headers, "Content-Length": str(len(body))}.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed meanwhile
                    pass
                finally:
                    with server._lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def __enter__(self) -> ChatServer:
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def build_tiny_causal_lm(folder: Path, chat_template: bool = True) -> Path:
    """A 1-layer, 16-wide Llama with MiniLM's WordPiece tokenizer (bundled, no download), saved to `folder`;
    with `chat_template`, the tokenizer gets a minimal Jinja chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from embedlab.models.model_source import bundled_minilm_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path()))
    if chat_template:
        tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                                   "{% if add_generation_prompt %}assistant:{% endif %}")
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
                         eos_token_id=tokenizer.sep_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_captioner(folder: Path) -> Path:
    """A VisionEncoderDecoder (1-layer ViT on 32×32 images, 1-layer GPT-2 decoder) with MiniLM's tokenizer and
    a PIL ViT image processor, saved to `folder`."""
    import torch
    from transformers import (AutoTokenizer, GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel,
                              ViTConfig)
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    from embedlab.models.model_source import bundled_minilm_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path()))
    encoder = ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, initializer_range=1.0)  # large weights: captions differ per image
    decoder = GPT2Config(vocab_size=tokenizer.vocab_size, n_embd=16, n_layer=1, n_head=2, n_positions=64,
                         add_cross_attention=True, is_decoder=True, initializer_range=1.0,
                         bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tokenizer.cls_token_id
    config.pad_token_id, config.eos_token_id = tokenizer.pad_token_id, tokenizer.sep_token_id
    model = VisionEncoderDecoderModel(config=config)
    model.generation_config.decoder_start_token_id = tokenizer.cls_token_id
    model.generation_config.eos_token_id = tokenizer.sep_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def build_tiny_vit(folder: Path) -> Path:
    """A 1-layer ViT encoder (32×32 images) with its PIL image processor: an image encoder for similarity."""
    import torch
    from transformers import ViTConfig, ViTModel
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    torch.manual_seed(0)
    ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32)).save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder
