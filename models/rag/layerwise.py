"""A layer-wise cross-encoder: a BERT encoder (MiniLM's weights) with a relevance head on the [CLS] state of
every layer, so that a pair's score can be read at any layer and the layers above it skipped (the design of
bge-reranker-v2-minicpm-layerwise, EasyRAG §6, which reads its score at layer 28 of 40).

Input: "[CLS] query [SEP] passage [SEP]" (passage truncated first, `max_length` tokens in all).
`layer_scores(queries, passages, upto)` runs the embeddings and layers 1..upto only and returns (upto, B) scores,
row l - 1 read by layer l's head. Saved as a folder: the BERT weights and tokenizer (`save_pretrained`) plus
`heads.pt` and `layerwise.json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

import torch
from torch import nn

HEADS_FILE = "heads.pt"
CONFIG_FILE = "layerwise.json"


class LayerwiseCrossEncoder(nn.Module):
    """BERT + one Linear(hidden, 1) head per layer on [CLS]. Args: a `BertModel`, its tokenizer, max_length."""

    def __init__(self, bert: nn.Module, tokenizer, max_length: int = 256) -> None:
        super().__init__()
        self.bert, self.tokenizer, self.max_length = bert, tokenizer, max_length
        hidden = bert.config.hidden_size
        self.heads = nn.ModuleList(nn.Linear(hidden, 1) for _ in range(bert.config.num_hidden_layers))

    @property
    def num_layers(self) -> int:
        return len(self.heads)

    def encode(self, queries: Sequence[str], passages: Sequence[str]) -> dict[str, torch.Tensor]:
        device = next(self.parameters()).device
        batch = self.tokenizer(list(queries), list(passages), truncation="only_second", max_length=self.max_length,
                               padding=True, return_tensors="pt")
        return {key: value.to(device) for key, value in batch.items()}

    def layers(self, queries: Sequence[str], passages: Sequence[str]) -> Iterator[torch.Tensor]:
        """Yield the (B,) relevance logits at layer 1, 2, ...: each layer runs only when the next score is asked
        for, so a caller that stops at layer l has paid for l layers."""
        from transformers.masking_utils import create_bidirectional_mask

        batch = self.encode(queries, passages)
        hidden = self.bert.embeddings(input_ids=batch["input_ids"], token_type_ids=batch.get("token_type_ids"))
        mask = create_bidirectional_mask(config=self.bert.config, inputs_embeds=hidden,
                                         attention_mask=batch["attention_mask"])
        for layer, head in zip(self.bert.encoder.layer, self.heads, strict=True):
            hidden = layer(hidden, mask)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
            yield head(hidden[:, 0]).squeeze(-1)

    def layer_scores(self, queries: Sequence[str], passages: Sequence[str], upto: int | None = None) -> torch.Tensor:
        """(upto, B) relevance logits of the B pairs at layers 1..upto (default: all layers)."""
        upto = upto or self.num_layers
        if not 1 <= upto <= self.num_layers:
            raise ValueError(f"layer {upto} is not in 1..{self.num_layers}")
        return torch.stack(list(islice(self.layers(queries, passages), upto)))

    def save(self, folder: Path) -> None:
        self.bert.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        torch.save(self.heads.state_dict(), folder / HEADS_FILE)
        (folder / CONFIG_FILE).write_text(json.dumps({"max_length": self.max_length}), encoding="utf-8")

    @classmethod
    def from_encoder(cls, folder: str | Path, max_length: int = 256) -> LayerwiseCrossEncoder:
        """New heads on the BERT weights of a Hugging Face or sentence-transformers folder (MiniLM's)."""
        from transformers import AutoTokenizer, BertModel

        return cls(BertModel.from_pretrained(str(folder), add_pooling_layer=False),
                   AutoTokenizer.from_pretrained(str(folder)), max_length)

    @classmethod
    def load(cls, folder: Path) -> LayerwiseCrossEncoder:
        """A model saved by `save`."""
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        model = cls.from_encoder(folder, config["max_length"])
        model.heads.load_state_dict(torch.load(folder / HEADS_FILE, weights_only=True))
        return model.eval()
