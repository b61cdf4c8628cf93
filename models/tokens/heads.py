"""Decoding heads g: vocabulary logits g(h) (N, V) of embeddings h (N, d), as in paper 5 (arXiv 2406.17378, §2,
and the authors' `model.py`/`embedding.py`): the embedding is fed straight into the head, in float32, with no
extra normalisation.

Entries of `HEADS` (a `Registry` in this package's __init__, one line per head; names load without torch):
  tied     logits = E h, E (V, d) the embedder's own input-embedding matrix. BERT's MLM decoder is tied to E, so
           this is the MLM head without its transform and bias: the closest faithful head for embedders that ship
           none (all-MiniLM-L6-v2, all-mpnet-base-v2).
  lm_head  a causal LM's own output layer (`get_output_embeddings()`), for embedders built on a decoder LLM.
           `source`: the LM (a catalogue name such as `smollm2`, a folder or a Hub id) whose head is used;
           default: the embedder's own transformer folder, which must then be a causal LM. An embedder trained
           from SmolLM2 is saved without an LM head, so the paper's head is its backbone's: `source: smollm2`
           (SmolLM2 ties lm_head to its input embeddings, so the embedder's own tied head is `tied`).
  mlm      a trained masked-LM head with its transform (BERT's `cls`: dense + GELU + LayerNorm, decoder tied to the
           input embeddings, bias; MPNet/RoBERTa's `lm_head`), e.g. `source: bert-base-uncased` for BERT-family
           embedders as the paper's code does (Hub ids need a network).
A head must share the embedder's vocabulary (token ids are read with the embedder's tokenizer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from embedlab.errors import UserError
from embedlab.models.model_source import model_source
from embedlab.models.tokens import HEADS


class HeadParams(BaseModel):
    """`source`: the model folder or Hugging Face id whose head is read (None: the embedder's own transformer)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str | None = None


class TiedParams(BaseModel):
    """The tied head reads the embedder's own input embeddings: no parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Decoder(nn.Module):
    """g: (N, d) float32 embeddings -> (N, V) logits. `vocab_size` V and `dim` d as read from the weights."""

    def __init__(self, module: nn.Module, dim: int, vocab_size: int) -> None:
        super().__init__()
        self.module = module.float().eval()
        self.dim = dim
        self.vocab_size = vocab_size

    @torch.no_grad()
    def forward(self, embeddings: Tensor) -> Tensor:
        return self.module(embeddings.to(torch.float32))


@dataclass(frozen=True)
class DecodingHead:
    """One registered head. `dim(embedder, params)`: the width d it reads for this embedder, or None where the
    embedder/source has no such head (cheap: configs only). `load(embedder, params)`: the `Decoder`. `what`: its
    documentation."""

    name: str
    params: type[BaseModel]
    dim: Callable[[Any, Any], int | None]
    load: Callable[[Any, Any], Decoder]
    what: str


def transformer_source(embedder: Any) -> str:
    """The folder or Hub id of a SentenceTransformer's first (transformer) module."""
    return embedder[0].auto_model.name_or_path


def head_source(embedder: Any, params: HeadParams) -> str:
    """The folder or Hub id a head is read from: `params.source` resolved like any model spec (catalogue names
    such as `smollm2` included), else the embedder's own transformer."""
    return model_source(params.source) if params.source else transformer_source(embedder)


def _config(source: str) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source)
    except OSError as exc:
        raise UserError(f"decoding head source {source!r} cannot be read: {str(exc).splitlines()[0]}") from None


def _width(config: Any) -> int:
    return next(getattr(config, key) for key in ("hidden_size", "n_embd", "d_model") if hasattr(config, key))


def _has_architecture(config: Any, suffix: str) -> bool:
    return any(name.endswith(suffix) for name in (config.architectures or []))


def _tied_dim(embedder: Any, params: TiedParams) -> int:
    return embedder[0].auto_model.get_input_embeddings().weight.shape[1]


def _tied_load(embedder: Any, params: TiedParams) -> Decoder:
    weight = embedder[0].auto_model.get_input_embeddings().weight.detach().to("cpu", torch.float32)
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    linear.weight = nn.Parameter(weight.clone(), requires_grad=False)
    return Decoder(linear, weight.shape[1], weight.shape[0])


def _lm_dim(embedder: Any, params: HeadParams) -> int | None:
    config = _config(head_source(embedder, params))
    return _width(config) if _has_architecture(config, "ForCausalLM") else None


def _lm_load(embedder: Any, params: HeadParams) -> Decoder:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(head_source(embedder, params), dtype=torch.float32)
    head = model.get_output_embeddings()
    return Decoder(head, head.weight.shape[1], head.weight.shape[0])


MLM_HEAD_ATTRIBUTES = ("cls", "lm_head")  # BERT family; MPNet, RoBERTa


def _mlm_dim(embedder: Any, params: HeadParams) -> int | None:
    config = _config(head_source(embedder, params))
    return _width(config) if _has_architecture(config, "ForMaskedLM") else None


def _mlm_load(embedder: Any, params: HeadParams) -> Decoder:
    from transformers import AutoModelForMaskedLM

    source = head_source(embedder, params)
    model = AutoModelForMaskedLM.from_pretrained(source, dtype=torch.float32)
    head = next((getattr(model, a) for a in MLM_HEAD_ATTRIBUTES if hasattr(model, a)), None)
    if head is None:
        raise UserError(f"decoding head 'mlm': {source!r} has no MLM head module ({' or '.join(MLM_HEAD_ATTRIBUTES)})")
    weight = model.get_output_embeddings().weight
    return Decoder(head, weight.shape[1], weight.shape[0])


TIED = DecodingHead("tied", TiedParams, _tied_dim, _tied_load, "The embedder's input-embedding matrix: logits = E h.")
LM_HEAD = DecodingHead("lm_head", HeadParams, _lm_dim, _lm_load,
                       "A causal LM's own output layer (`source`: the LM; default the embedder's transformer).")
MLM = DecodingHead("mlm", HeadParams, _mlm_dim, _mlm_load,
                   "A trained masked-LM head with its transform and bias (`source`, e.g. bert-base-uncased).")


def embedding_dim(embedder: Any) -> int:
    """The width of the embedder's pooled output."""
    return embedder.get_embedding_dimension()


def fitting_heads(embedder: Any, options: dict[str, Any]) -> list[str]:
    """The heads available for `embedder` whose width equals its embedding's (`options` apply where valid)."""
    dim, fits = embedding_dim(embedder), []
    for name in HEADS:
        head = HEADS.get(name)
        try:
            params = head.params.model_validate({k: v for k, v in options.items() if k in head.params.model_fields})
            if head.dim(embedder, params) == dim:
                fits.append(name)
        except UserError:
            continue
    return fits


def load_head(name: str, embedder: Any, options: dict[str, Any], model_name: str) -> Decoder:
    """The decoder `name` for `embedder` (named `model_name` in messages), checked before any weight is read.

    UserError (one line): an unknown head (did you mean), unknown options, a source without such a head, or a
    width that differs from the embedder's (naming both and the heads that would fit).
    """
    head = HEADS.get(name)
    params = HEADS.params(name, options, where="tokens.head_options")
    dim, width = embedding_dim(embedder), head.dim(embedder, params)
    source = getattr(params, "source", None) or model_name
    if width is None:
        kind = "causal LM (…ForCausalLM)" if name == "lm_head" else "masked LM (…ForMaskedLM)"
        raise UserError(f"decoding head {name!r}: {source!r} is not a {kind}; name the model that holds the head "
                        f"as tokens.head_options.source (--head-source, e.g. the backbone the embedder was trained "
                        f"from) (heads that fit {model_name}: "
                        f"{', '.join(fitting_heads(embedder, {})) or 'none'})")
    if width != dim:
        fits = [n for n in fitting_heads(embedder, options) if n != name]
        raise UserError(f"decoding head {name!r} of {source} reads {width}-dim vectors but the embedder {model_name} "
                        f"gives {dim}-dim ones; heads that fit: {', '.join(fits) or 'none'}")
    return head.load(embedder, params)
