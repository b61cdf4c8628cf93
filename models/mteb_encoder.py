"""An mteb `EncoderProtocol` around a SentenceTransformer that encodes each request in one length-sorted pass."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from mteb.models import ModelMeta
from mteb.models.model_meta import ScoringFunction
from sentence_transformers import SentenceTransformer

from embedlab.models.embedding_cache import EmbeddingCache


def _dimension(model: SentenceTransformer) -> int | None:
    """The embedding dimension (sentence-transformers 5 renamed the method; older versions have the old name)."""
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return method()


class SentenceEncoder:
    """Satisfies mteb's `EncoderProtocol` so that mteb's own evaluators score our models.

    mteb hands `encode` a DataLoader in fixed-size batches; padding then follows the longest text of
    each arbitrary batch. Here all texts of the request are gathered, tokenized once and encoded in
    batches sorted by token count (little padding; `embedlab.models.sorted_encode`), with a progress
    bar. Results come back in input order.

    Args:
        model: the loaded encoder.
        name: "organization/model" style name recorded in mteb's model metadata.
        batch_size: texts per forward pass.
        show_progress_bar: tqdm bar per encode call.
        cache: where vectors of texts already seen are kept (see `cached`); None encodes everything.
    """

    def __init__(self, model: SentenceTransformer, name: str, batch_size: int = 64, show_progress_bar: bool = True,
                 cache: EmbeddingCache | None = None):
        self.model = model
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.cache = cache
        similarity = model.similarity_fn_name or "cosine"
        self._meta = ModelMeta.create_empty(
            overwrites=dict(
                name=name if "/" in name else f"embedlab/{name}",
                max_tokens=model.max_seq_length,
                embed_dim=_dimension(model),
                similarity_fn_name=ScoringFunction.from_str(similarity),
                framework=["Sentence Transformers", "PyTorch"],
            )
        )

    @property
    def mteb_model_meta(self) -> ModelMeta:
        return self._meta

    def encode(self, inputs: Any, *, task_metadata: Any = None, hf_split: str = "", hf_subset: str = "",
               prompt_type: Any = None, **kwargs: Any) -> np.ndarray:
        """Encode every text the DataLoader yields. Returns float32 [N, D] in input order.

        A model that defines sentence-transformers prompts for the role (`query`, `document`) gets them.
        """
        texts = [text for batch in inputs for text in batch["text"]]
        role = getattr(prompt_type, "value", None)
        return self.encode_texts(texts, prompt=(self.model.prompts or {}).get(role) if role else None)

    def cached(self, directory: Path) -> SentenceEncoder:
        """A copy of this encoder that reads and fills the embedding cache in `directory`."""
        twin = copy.copy(self)
        twin.cache = EmbeddingCache(directory)
        return twin

    def encode_texts(self, texts: list[str], prompt: str | None = None) -> np.ndarray:
        """Encode a list of strings (from the cache where it has them). Returns float32 [N, D]."""
        if self.cache is None:
            return self.encode_uncached(texts, prompt)
        keys = [f"{prompt}\x00{text}" for text in texts] if prompt else texts
        by_key = dict(zip(keys, texts))
        return self.cache.get_or_compute(keys, lambda missing: self.encode_uncached([by_key[k] for k in missing], prompt))

    def encode_uncached(self, texts: list[str], prompt: str | None = None) -> np.ndarray:
        """Run the model on `texts` (after `prompt`) in batches sorted by token count, each text tokenized once
        (`embedlab.models.sorted_encode`). Returns float32 [N, D]."""
        from embedlab.models.sorted_encode import encode_sorted

        return encode_sorted(self.model, texts, self.batch_size, prompt,
                             show_progress_bar=self.show_progress_bar and len(texts) > self.batch_size)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self.model.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self.model.similarity_pairwise(embeddings1, embeddings2)
