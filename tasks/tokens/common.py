"""Prefect tasks shared by `embedlab tokens` (paper 5, arXiv 2406.17378): load an embedder with its decoding head,
read a text set, embed (through the embedding cache), decode into aligned tokens, measure alignment, write the
output folder. The sparse retrieval and the spectral analysis are in sparse.py and spectrum.py."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_dir
from embedlab.config import Settings
from embedlab.config.tokens import TextSetParams
from embedlab.errors import unknown_name
from embedlab.eval_tasks.readers import read_rows
from embedlab.models.tokens import alignment
from embedlab.models.tokens.decode import check_depth, token_ids, top_tokens
from embedlab.models.tokens.heads import Decoder, load_head
from embedlab.tasks.evaluate import LoadedModel, load_scoring_model


@dataclass
class TokenModel:
    """An embedder (loaded for encoding, with its fingerprint) and the head that decodes its embeddings."""

    spec: str
    loaded: LoadedModel
    decoder: Decoder
    head: str

    @property
    def tokenizer(self) -> Any:
        return self.loaded.encoder.model.tokenizer

    def tokens(self, ids: Any) -> list[str]:
        """Token strings of vocabulary ids."""
        return self.tokenizer.convert_ids_to_tokens([int(i) for i in ids])

    @property
    def pooling(self) -> str | None:
        """The embedder's pooling mode (e.g. `mean`, `weightedmean`), None without a Pooling module."""
        from sentence_transformers.sentence_transformer.modules import Pooling

        return next((m.pooling_mode for m in self.loaded.encoder.model if isinstance(m, Pooling)), None)


@task(cache_policy=NO_CACHE)
def load_token_model(spec: str, head: str, head_options: dict[str, Any], device: str, batch_size: int,
                     max_seq_length: int | None = None, pooling: str | None = None) -> TokenModel:
    """`spec` (see `model_source`) in float32, pooled by `pooling` (None: its own), with its decoding head;
    one-line UserError for a head that does not fit (see `load_head`)."""
    loaded = load_scoring_model(spec, device, batch_size, "fp32", max_seq_length, pooling)
    decoder = load_head(head, loaded.encoder.model, head_options, spec)
    return TokenModel(spec, loaded, decoder, head)


def embed(model: TokenModel, texts: list[str], cache_dir: Path) -> np.ndarray:
    """(N, d) float32: the embedder's own pooled output (normalised if the model normalises), read from and added to
    the embedding cache under cache_dir/embeddings/<fingerprint>/ (shared with `embedlab evaluate`)."""
    encoder = model.loaded.encoder.cached(cache_dir / "embeddings" / model.loaded.fingerprint)
    return encoder.encode_texts(texts)


@task(cache_policy=NO_CACHE)
def read_texts(sets: dict[str, TextSetParams], name: str, data_root: Path) -> list[str]:
    """The texts of `sets[name]` (`tokens.texts`): its file's `text` column (under `data_root`), the first `limit`
    rows."""
    if name not in sets:
        raise unknown_name("text set", name, sets)
    chosen = sets[name]
    rows = read_rows(data_root / chosen.file.path, name, chosen.file, ("text",))
    return [row["text"] for _, row in itertools.islice(rows, chosen.limit)]


@task(cache_policy=NO_CACHE)
def decode_texts(model: TokenModel, texts: list[str], k: int, cache_dir: Path) -> list[dict[str, Any]]:
    """[{text, tokens: [[token, logit], ...]}] with each text's top-k aligned tokens, best first."""
    check_depth("k", k, model.decoder.vocab_size)
    ids, logits = top_tokens(model.decoder, embed(model, texts, cache_dir), k)
    return [{"text": text, "tokens": [[token, round(float(v), 4)] for token, v in zip(model.tokens(row), values)]}
            for text, row, values in zip(texts, ids, logits)]


@task(cache_policy=NO_CACHE)
def measure_alignment(model: TokenModel, texts: list[str], k: int, truncate: int | None, special_tokens: bool,
                      cache_dir: Path, examples: int = 3) -> dict[str, Any]:
    """hit@k, local and global alignment of the texts' decoded tokens with their own tokens (alignment.py), the
    per-text local alignment (for the plot), `examples` decoded texts and the model's pooling."""
    tokens = token_ids(model.tokenizer, texts, special_tokens, model.loaded.encoder.model.max_seq_length)
    depth = alignment.depth_needed(tokens, k, truncate)
    check_depth("decoding depth", depth, model.decoder.vocab_size)
    ids, _ = top_tokens(model.decoder, embed(model, texts, cache_dir), depth)
    ranked = [list(row) for row in ids]
    per_text = [alignment.local_alignment([r], [t], truncate) for r, t in zip(ranked, tokens) if t]
    return {
        "texts": len(texts), "pooling": model.pooling, "k": k, "truncate": truncate, "special_tokens": special_tokens,
        "metrics": {f"hit_at_{k}": alignment.hit_at_k(ranked, tokens, k),
                    "local_alignment": alignment.local_alignment(ranked, tokens, truncate),
                    "global_alignment": alignment.global_alignment(ranked, tokens, truncate)},
        "per_text_local": per_text,
        "examples": [{"text": text, "tokens": model.tokens(row[:k])} for text, row in zip(texts[:examples], ranked)],
    }


def check_sets(settings: Settings, *names: str) -> None:
    """UserError for a text-set name that `tokens.texts` does not define."""
    for name in names:
        if name not in settings.params.tokens.texts:
            raise unknown_name("text set", name, settings.params.tokens.texts)


@task(cache_policy=NO_CACHE)
def write_output(out_dir: Path, summary: dict[str, Any], metrics: dict[str, float], report: str,
                 plots: dict[str, Any]) -> list[Path]:
    """out_dir (replaced whole, atomically) with summary.json, metrics.json (for `dvc metrics`), report.md and each
    plot `name -> draw(path)` as a PNG. Returns the written files."""
    names = ["summary.json", "metrics.json", "report.md", *plots]
    with atomic_dir(out_dir) as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(report, encoding="utf-8")
        for name, draw in plots.items():
            draw(tmp / name)
    return [out_dir / name for name in names]

