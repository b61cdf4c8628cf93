"""An mteb `EncoderProtocol` around a SentenceTransformer that encodes each request in one length-sorted pass."""

from __future__ import annotations

from typing import Any

import numpy as np
from mteb.models import ModelMeta
from mteb.models.model_meta import ScoringFunction
from sentence_transformers import SentenceTransformer


class SentenceEncoder:
    """Satisfies mteb's `EncoderProtocol` so that mteb's own evaluators score our models.

    mteb hands `encode` a DataLoader in fixed-size batches; padding then follows the longest text of
    each arbitrary batch. Here all texts of the request are gathered and given to
    `SentenceTransformer.encode` at once, which sorts them by length (batches of similar lengths,
    little padding) and shows a progress bar. Results come back in input order.

    Args:
        model: the loaded encoder.
        name: "organization/model" style name recorded in mteb's model metadata.
        batch_size: texts per forward pass.
        show_progress_bar: tqdm bar per encode call.
    """

    def __init__(self, model: SentenceTransformer, name: str, batch_size: int = 64, show_progress_bar: bool = True):
        self.model = model
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        similarity = model.similarity_fn_name or "cosine"
        self._meta = ModelMeta.create_empty(
            overwrites=dict(
                name=name if "/" in name else f"embedlab/{name}",
                max_tokens=model.max_seq_length,
                embed_dim=model.get_sentence_embedding_dimension(),
                similarity_fn_name=ScoringFunction.from_str(similarity),
                framework=["Sentence Transformers", "PyTorch"],
            )
        )

    @property
    def mteb_model_meta(self) -> ModelMeta:
        return self._meta

    def encode(self, inputs: Any, *, task_metadata: Any = None, hf_split: str = "", hf_subset: str = "",
               prompt_type: Any = None, **kwargs: Any) -> np.ndarray:
        """Encode every text the DataLoader yields. Returns float32 [N, D] in input order."""
        texts = [text for batch in inputs for text in batch["text"]]
        return self.encode_texts(texts)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Encode a list of strings. Returns float32 [N, D]."""
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar and len(texts) > self.batch_size,
            convert_to_numpy=True,
        ).astype(np.float32, copy=False)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self.model.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self.model.similarity_pairwise(embeddings1, embeddings2)
