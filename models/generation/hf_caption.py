"""The `transformers` caption back-end: an in-process image-to-text model (VisionEncoderDecoder, BLIP, GIT …).

The model captions each image unconditionally (`generate(pixel_values=…)`, greedy); the prompt's text is
not used. Chat-style multimodal LLMs (LLaVA, Qwen-VL) need their chat prompt: serve them behind an
OpenAI-compatible server (vLLM) and use the `openai` back-end. Images are read with PIL; the model's own
image processor resizes and normalises them (no torchvision needed).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

from embedlab.models.device import resolve_device
from embedlab.models.generation.backend import BackendError, Completion, Prompt
from embedlab.models.generation.hf_common import load_pretrained, weights_fingerprint
from embedlab.models.image_encoder import read_rgb


class TransformersCaptioner:
    """Captions from an image-to-text model, `batch_size` images at a time."""

    def __init__(self, spec: str, *, max_tokens: int, batch_size: int, device: str) -> None:
        self.max_tokens, self.batch_size, self.device = max_tokens, batch_size, resolve_device(device)
        self.processor = load_pretrained(AutoImageProcessor, spec)
        self.tokenizer = load_pretrained(AutoTokenizer, spec)
        self.model = load_pretrained(AutoModelForImageTextToText, spec).to(self.device).eval()
        self.fingerprint = weights_fingerprint(self.model)

    def identity(self) -> dict[str, Any]:
        return {"kind": "transformers-caption", "model": self.fingerprint, "max_tokens": self.max_tokens}

    @torch.no_grad()
    def _caption(self, prompts: Sequence[Prompt]) -> list[Completion]:
        images = [read_rgb(prompt.image) for prompt in prompts]
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)  # (B, 3, H, W)
        out = self.model.generate(pixel_values=pixels, max_new_tokens=self.max_tokens)  # (B, tokens)
        texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
        special = set(self.tokenizer.all_special_ids)
        return [Completion(text=" ".join(text.split()), completion_tokens=sum(int(t) not in special for t in row))
                for text, row in zip(texts, out, strict=True)]

    def complete(self, prompts: Sequence[Prompt]) -> Iterator[tuple[int, Completion]]:
        if any(prompt.image is None for prompt in prompts):
            raise BackendError("the transformers caption back-end needs an image with every prompt")
        for start in range(0, len(prompts), self.batch_size):
            for offset, completion in enumerate(self._caption(prompts[start:start + self.batch_size])):
                yield start + offset, completion
