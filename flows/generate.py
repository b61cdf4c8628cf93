"""The generation flows: ICL hierarchical sentences (paper 9) and MLLM image triplets (paper 6).

Both are resumable: replies are cached as they arrive and the output (JSON lines plus `<stem>.summary.json`)
is replaced only once complete, so a rerun after an interruption makes only the calls still missing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow

from embedlab.config import Settings
from embedlab.config.request import SettingsRequest
from embedlab.tasks.generate.backend import complete_all, open_backend, summary_path, write_dataset
from embedlab.tasks.generate.sentences import check_replies, read_prompt_file, read_source_sentences, sentence_prompt
from embedlab.tasks.generate.triplets import (MLLM, caption_prompts, draw_triplets, encode_images, list_images,
                                              read_captions, usable_captions)
from embedlab.tasks.tracking import generation_metrics, log_run


class GenerateRequest(SettingsRequest):
    """Flow parameters; paths and sizes not given here come from params.yaml's `generate` section."""

    output: str | None = None
    track: bool = True


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in values.items()}


def _finish(settings: Settings, name: str, out: Path, rows: list[dict], summary: dict[str, Any],
            params: dict[str, Any], track: bool) -> dict[str, Any]:
    summary = write_dataset(out, rows, summary)
    if track:
        log_run(settings.tracking_uri, settings.params.tracking.experiment, settings.project_dir, f"generate {name}",
                {**params, "output": str(out), "output_sha256": summary["sha256"]}, generation_metrics(summary),
                [summary_path(out)])
    return summary


@flow(name="generate-sentences")
def generate_sentences(request: GenerateRequest = GenerateRequest()) -> dict[str, Any]:
    """Hierarchical sentences for the first `n` source sentences. Returns the summary: rows, rejected by
    reason, calls, cache hits, tokens, seconds."""
    started = time.perf_counter()
    settings = request.resolve_settings()
    params = settings.params.generate.sentences
    template = read_prompt_file(settings.path(params.prompt))
    sentences = read_source_sentences(settings.data_root / params.source, params.n, params.min_words)
    backend = open_backend(settings.params.generate.llm, "text", "generate.llm")
    prompts = [sentence_prompt(template, sentence, params.levels) for sentence in sentences]
    replies, usage = complete_all(backend, prompts, settings.cache_dir / "generate")
    rows, rejected = check_replies(sentences, replies, params.levels)
    summary = {"items": len(sentences), "accepted": len(rows), "rejected": dict(rejected), **usage.as_dict(),
               "seconds": round(time.perf_counter() - started, 3)}
    run_params = {**params.model_dump(), **_prefixed("llm", settings.params.generate.llm.model_dump()),
                  "llm.identity": backend.identity()}
    return _finish(settings, "sentences", settings.path(request.output or params.output), rows, summary,
                   run_params, request.track)


@flow(name="generate-triplets")
def generate_triplets(request: GenerateRequest = GenerateRequest()) -> dict[str, Any]:
    """(reference image, modification text, target image) triplets for every image of the folder. Returns the
    summary: rows, images, images left uncaptioned (`rejected.caption`), calls, tokens, seconds."""
    started = time.perf_counter()
    settings = request.resolve_settings()
    params = settings.params.generate.triplets
    images = list_images(settings.data_root / params.images)
    run_params = params.model_dump()
    if params.captions == MLLM:
        backend = open_backend(settings.params.generate.mllm, "caption", "generate.mllm")
        replies, usage = complete_all(backend, caption_prompts(images, params.caption_prompt),
                                      settings.cache_dir / "generate")
        captions = usable_captions(replies)
        run_params.update({**_prefixed("mllm", settings.params.generate.mllm.model_dump()),
                           "mllm.identity": backend.identity()})
    else:
        captions, usage = read_captions(settings.data_root / params.captions, images, params.caption_index), None
    features = (encode_images(images, params.encoder, params.batch_size, params.device) if params.rank_window
                else None)  # random pairs need no image similarity
    rows = draw_triplets([p.name for p in images], captions, features, params.rank_window, params.pairs_per_image,
                         params.templates, params.seed)
    summary = {"images": len(images), "rejected": {"caption": captions.count(None)},
               **(usage.as_dict() if usage else {}), "seconds": round(time.perf_counter() - started, 3)}
    return _finish(settings, "triplets", settings.path(request.output or params.output), rows, summary,
                   run_params, request.track)
