"""Units of work of `embedlab rag evaluate --claims`: SciFact claim verification with the configured LLM.

Each claim is verified once per evidence mode: `retrieved` (the claim's top `rag.claims.passages` passages as
`rag ask` finds them: the routes fused, reranked only when `--rerank` is given), `gold` (title + abstract of the
labelled evidence documents, from the corpus) and `none` (the claim alone, its own prompt). Replies go through the
response cache (`make_chat`), so an interrupted run continues where it stopped. The table: one row per mode
(models/rag/verify.py's scores, the share of claims whose retrieved passages hold a gold document, and the mean
seconds per claim of each stage; `generate` over the replies made now, not those read from the cache).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.config.rag import RagParams
from embedlab.errors import DataError
from embedlab.models.rag.answer import Chat
from embedlab.models.rag.claims import Claim, read_claims, sample_claims
from embedlab.models.rag.routes import RagIndex
from embedlab.models.rag.verify import claim_prompt, parse_verdict, score_verdicts
from embedlab.tasks.rag.run import rank_passages
from embedlab.tasks.results_table import ResultsTable

MODES = {"retrieved": "retrieved evidence", "gold": "gold evidence", "none": "no evidence"}


@task(cache_policy=NO_CACHE)
def read_claim_items(path: Path, corpus: dict[str, dict[str, str]], sample: int | None, seed: int) -> dict[str, Any]:
    """The sampled claims of the CSV at `path` ({"items": [Claim], "labelled": n, "skipped": [claim id]});
    DataError where a gold evidence document is not in `corpus` ({doc id: {title, text}})."""
    found = read_claims(path)
    for claim in found.items:
        for doc in claim.evidence:
            if doc not in corpus:
                raise DataError(path, f"claim {claim.claim_id}: evidence_doc_id {doc} is not in the corpus "
                                      "(rag.evaluate.corpus)")
    return {"items": sample_claims(found.items, sample, seed), "labelled": len(found.items),
            "skipped": found.skipped}


def claim_prompt_key(mode: str) -> tuple[str, tuple[str, ...]]:
    """The `read_prompt` key of a mode's prompt and the fields it must hold."""
    return ("claims.prompt_no_evidence", ("claim_str",)) if mode == "none" else \
        ("claims.prompt", ("claim_str", "evidence_str"))


def claim_evidence(mode: str, claim: Claim, rag: RagParams, index: RagIndex, reranker: Any,
                   corpus: dict[str, dict[str, str]]) -> tuple[list[str], list[str], dict[str, float]]:
    """(passage texts, their document ids, seconds by stage) of one claim in one evidence mode."""
    if mode == "retrieved":
        top, seconds, _ = rank_passages(rag, index, reranker, claim.text, rag.claims.passages)
        return [f"{c.path}\n{c.text}" for c, _ in top], [c.doc_id for c, _ in top], seconds
    if mode == "gold":
        docs = [corpus[doc] for doc in claim.evidence]
        return [f"{d['title']}\n{d['text']}" for d in docs], list(claim.evidence), {}
    return [], [], {}


@task(cache_policy=NO_CACHE)
def evaluate_claims(mode: str, claims: list[Claim], rag: RagParams, index: RagIndex, reranker: Any, chat: Chat,
                    template: str, corpus: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """One record per claim: {"id", "mode", "label", "verdict" (None: unparsed), "reply", "evidence" (doc ids),
    "seconds": {stage: s}; "generate" only where the reply was made now (not read from the cache)}."""
    records = []
    for claim in claims:
        passages, docs, seconds = claim_evidence(mode, claim, rag, index, reranker, corpus)
        calls, start = chat.usage.calls, time.perf_counter()  # type: ignore[attr-defined]
        reply = chat([("user", claim_prompt(template, claim.text, passages))])
        if chat.usage.calls > calls:  # type: ignore[attr-defined]
            seconds["generate"] = time.perf_counter() - start
        records.append({"id": claim.claim_id, "mode": mode, "label": claim.label, "verdict": parse_verdict(reply),
                        "reply": reply, "evidence": docs, "gold": list(claim.evidence), "seconds": seconds})
    return records


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def claims_table(records: dict[str, list[dict[str, Any]]], read: dict[str, Any], source: str,
                 llm: str) -> ResultsTable:
    """One row per evidence mode (see the module's docstring) as the project's results table."""
    import pandas as pd

    rows = []
    for mode, found in records.items():
        scores = score_verdicts([r["label"] for r in found], [r["verdict"] for r in found])
        recall = (_mean([float(bool(set(r["evidence"]) & set(r["gold"]))) for r in found])
                  if mode == "retrieved" else float("nan"))
        rows.append({"evidence": MODES[mode], **scores, "evidence_recall": recall,
                     "seconds_retrieve": _mean([r["seconds"]["retrieve"] for r in found if "retrieve" in r["seconds"]]),
                     "seconds_rerank": _mean([r["seconds"]["rerank"] for r in found if "rerank" in r["seconds"]]),
                     "seconds_generate": _mean([r["seconds"]["generate"] for r in found
                                                if "generate" in r["seconds"]])})
    frame = pd.DataFrame(rows).set_index("evidence").dropna(axis=1, how="all")
    percent = {c: ".1%" for c in ("accuracy", "accuracy_low", "accuracy_high", "majority_baseline",
                                  "evidence_recall")}
    headers = {"accuracy_low": "95% low", "accuracy_high": "95% high", "majority_baseline": "majority baseline",
               "macro_f1": "macro-F1", "evidence_recall": "gold in evidence", "seconds_retrieve": "s/claim retrieve",
               "seconds_rerank": "s/claim rerank", "seconds_generate": "s/claim generate"}
    n = len(next(iter(records.values())))
    intro = (f"{n} of the {read['labelled']} labelled claims of `{source}` (plain seeded random sample), each "
             f"verified by `{llm}` once per evidence mode; {len(read['skipped'])} claims skipped because their rows "
             "disagree in label. Unparsed replies (no SUPPORT / CONTRADICT) count as wrong. Seconds: mean per claim; "
             "generate over the replies made in this run (a reply from the cache takes none).")
    return ResultsTable(frame=frame, title=f"SciFact claim verification ({n} claims)", main_metric="accuracy",
                        formats={**percent, "macro_f1": ".3f", "seconds_retrieve": ".4f", "seconds_rerank": ".3f",
                                 "seconds_generate": ".3f"}, headers=headers, intro=intro)
