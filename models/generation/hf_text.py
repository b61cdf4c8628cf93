"""The `transformers` text back-end: an in-process causal LM (a local folder or a Hub id).

Chats are rendered with the tokenizer's chat template where it has one, else as "Role: text" lines ending
in "Assistant:". Generation is batched (left padding); temperature 0 is greedy decoding, above 0 sampling
with `torch.manual_seed(seed)` before each batch, so the same prompts give the same replies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from embedlab.models.device import resolve_device
from embedlab.models.generation.backend import BackendError, Completion, Prompt
from embedlab.models.generation.hf_common import load_pretrained, weights_fingerprint


def render_chat(tokenizer: Any, prompt: Prompt) -> str:
    """The text the model continues: the chat template's rendering, or plain "Role: text" lines."""
    messages = [{"role": role, "content": text} for role, text in prompt.messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join([*lines, "Assistant:"])


class TransformersChat:
    """Replies from a causal LM, `batch_size` prompts at a time."""

    def __init__(self, spec: str, *, temperature: float, max_tokens: int, seed: int, batch_size: int,
                 device: str) -> None:
        self.spec, self.temperature, self.max_tokens, self.seed = spec, temperature, max_tokens, seed
        self.batch_size, self.device = batch_size, resolve_device(device)
        self.tokenizer = load_pretrained(AutoTokenizer, spec, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = load_pretrained(AutoModelForCausalLM, spec).to(self.device).eval()
        self.fingerprint = weights_fingerprint(self.model)
        eos = self.model.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self.stop_ids = torch.tensor([self.tokenizer.pad_token_id, *eos], device=self.device)

    def identity(self) -> dict[str, Any]:
        return {"kind": "transformers", "model": self.fingerprint, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "seed": self.seed}

    @torch.no_grad()
    def _generate(self, prompts: Sequence[Prompt]) -> list[Completion]:
        texts = [render_chat(self.tokenizer, prompt) for prompt in prompts]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        torch.manual_seed(self.seed)
        sampling = {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
        out = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  max_new_tokens=self.max_tokens, pad_token_id=self.tokenizer.pad_token_id, **sampling)
        new = out[:, batch["input_ids"].shape[1]:]  # (B, new tokens), right-padded after EOS
        done = torch.isin(new, self.stop_ids)
        lengths = torch.where(done.any(1), done.int().argmax(1) + 1, new.shape[1])  # tokens up to the first EOS/pad
        replies = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [Completion(text=text.strip(), prompt_tokens=int(n_in), completion_tokens=int(n_out))
                for text, n_in, n_out in zip(replies, batch["attention_mask"].sum(1), lengths, strict=True)]

    def complete(self, prompts: Sequence[Prompt]) -> Iterator[tuple[int, Completion]]:
        if any(prompt.image is not None for prompt in prompts):
            raise BackendError("the transformers text back-end takes no images; caption with generate.mllm")
        for start in range(0, len(prompts), self.batch_size):
            for offset, completion in enumerate(self._generate(prompts[start:start + self.batch_size])):
                yield start + offset, completion
