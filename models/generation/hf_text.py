"""The `transformers` back-end: an in-process causal LM (a folder, a Hub id, a short name, or a GGUF file, which
transformers dequantizes: slow to load for large models), or for captions an image-to-text model (`hf_caption`).

Chats are rendered with the tokenizer's chat template where it has one (a GGUF carries its own), else as
"Role: text" lines ending in "Assistant:". Generation is batched (left padding); temperature 0 is greedy
decoding, above 0 sampling with temperature and `top_p`, `torch.manual_seed(seed + i)` before the batch's i-th
sample, so the same prompts give the same replies. Stop sequences end generation (`stop_strings`) and are cut
from the reply, as OpenAI's `stop` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from embedlab.models.device import resolve_device
from embedlab.models.generation.backend import (Backend, BackendError, BackendSpec, Completion, Prompt, Role,
                                                combine_samples, cut_at_stop, too_long)
from embedlab.models.generation.hf_common import load_pretrained, weights_fingerprint


def render_chat(tokenizer: Any, prompt: Prompt) -> str:
    """The text the model continues: the chat template's rendering, or plain "Role: text" lines."""
    messages = [{"role": role, "content": text} for role, text in prompt.messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join([*lines, "Assistant:"])


def build(spec: BackendSpec, role: Role) -> Backend:
    """The `transformers` back-end of `spec`: a causal LM for text, an image-to-text model for captions."""
    if role == "caption":
        from embedlab.models.generation.hf_caption import TransformersCaptioner

        return TransformersCaptioner(spec.model, max_tokens=spec.max_tokens, batch_size=spec.concurrency,
                                     device=spec.device)
    return TransformersChat(spec)


class TransformersChat:
    """Replies from a causal LM, `spec.concurrency` prompts at a time."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec, self.decoding = spec.model, spec.decoding()
        self.batch_size, self.device = spec.concurrency, resolve_device(spec.device)
        self.tokenizer = load_pretrained(AutoTokenizer, spec.model, padding_side="left")
        self.model = load_pretrained(AutoModelForCausalLM, spec.model).to(self.device).eval()
        self.context = getattr(self.model.config, "max_position_embeddings", None)
        self.fingerprint = weights_fingerprint(self.model)
        eos = self.model.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        if self.tokenizer.pad_token is None:  # a GGUF's tokenizer may name no EOS token: the model's EOS id pads
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.convert_ids_to_tokens(eos[0])
        self.stop_ids = torch.tensor([self.tokenizer.pad_token_id, *eos], device=self.device)

    def identity(self) -> dict[str, Any]:
        return {"kind": "transformers", "model": self.fingerprint, **self.decoding}

    @torch.no_grad()
    def _generate(self, batch: Any, seed: int) -> list[Completion]:
        """One sample for each prompt of the tokenized `batch`."""
        d = self.decoding
        torch.manual_seed(seed)
        sampling = ({"do_sample": True, "temperature": d["temperature"], "top_p": d["top_p"], "top_k": 0}
                    if d["temperature"] > 0 else {"do_sample": False, "temperature": None, "top_p": None,
                                                  "top_k": None})
        stops = {"stop_strings": d["stop"], "tokenizer": self.tokenizer} if d["stop"] else {}
        out = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  max_new_tokens=d["max_tokens"], pad_token_id=self.tokenizer.pad_token_id,
                                  **sampling, **stops)
        new = out[:, batch["input_ids"].shape[1]:]  # (B, new tokens), right-padded after EOS
        done = torch.isin(new, self.stop_ids)
        lengths = torch.where(done.any(1), done.int().argmax(1) + 1, new.shape[1])  # tokens up to the first EOS/pad
        replies = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [Completion(text=cut_at_stop(text, d["stop"]).strip(), prompt_tokens=int(n_in),
                           completion_tokens=int(n_out))
                for text, n_in, n_out in zip(replies, batch["attention_mask"].sum(1), lengths, strict=True)]

    def _batch(self, prompts: Sequence[Prompt]) -> list[Completion]:
        texts = [render_chat(self.tokenizer, prompt) for prompt in prompts]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        longest = int(batch["attention_mask"].sum(1).max())
        if self.context and longest > self.context:
            raise too_long(longest, self.context, f"transformers {self.spec}")
        samples = [self._generate(batch, self.decoding["seed"] + i) for i in range(self.decoding["n"])]
        return [combine_samples(replies) for replies in zip(*samples, strict=True)]

    def complete(self, prompts: Sequence[Prompt]) -> Iterator[tuple[int, Completion]]:
        if any(prompt.image is not None for prompt in prompts):
            raise BackendError("the transformers text back-end takes no images; caption with generate.mllm")
        for start in range(0, len(prompts), self.batch_size):
            for offset, completion in enumerate(self._batch(prompts[start:start + self.batch_size])):
                yield start + offset, completion
