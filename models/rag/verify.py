"""Claim verification by an LLM (the SciFact stand-in of EasyRAG's answer half, method notes §10 (b)): the prompt
of a claim and its evidence, the verdict read from the reply, and the scores of a run.

The verdict is the first word in the reply, case-insensitive and on word boundaries, out of SUPPORT / SUPPORTS /
SUPPORTED (-> SUPPORT) and CONTRADICT / CONTRADICTS / CONTRADICTED (-> CONTRADICT); a reply with none of them is
unparsed, which counts as wrong. The first occurrence decides: "not supported" reads as SUPPORT.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from embedlab.models.intervals import wilson
from embedlab.models.rag.answer import context_string, fill
from embedlab.models.rag.claims import LABELS

_VERDICT = re.compile(r"\b(support(?:s|ed)?|contradict(?:s|ed)?)\b", re.IGNORECASE)
EVIDENCE_LABEL = "Evidence "


def claim_prompt(template: str, claim: str, passages: Sequence[str]) -> str:
    """`template` with `{claim_str}` and `{evidence_str}` (the passages as `### Evidence i: text`, i = 0..) filled;
    a template without `{evidence_str}` (the no-evidence one) gets the claim alone."""
    return fill(template, evidence_str=context_string(passages, EVIDENCE_LABEL), claim_str=claim)


def parse_verdict(reply: str) -> str | None:
    """SUPPORT, CONTRADICT, or None (unparsed) from an LLM's reply (see the module's docstring)."""
    found = _VERDICT.search(reply)
    if found is None:
        return None
    return "SUPPORT" if found.group(1).lower().startswith("support") else "CONTRADICT"


def score_verdicts(labels: Sequence[str], verdicts: Sequence[str | None]) -> dict[str, int | float]:
    """Scores of verdicts (None: unparsed) against gold labels, n = len(labels) > 0:

    claims (n); accuracy with its 95 % Wilson interval (accuracy_low, accuracy_high); unparsed (count);
    majority_baseline, the accuracy of always answering the sample's more frequent label (SciFact: SUPPORT, about
    two thirds); macro_f1, the mean over SUPPORT and CONTRADICT of F1 = 2 TP / (predicted + actual) (0 where a class is
    neither predicted nor present; an unparsed verdict is a miss of its true class and predicts nothing)."""
    n = len(labels)
    correct = sum(v == label for v, label in zip(verdicts, labels, strict=True))
    low, high = wilson(correct, n)
    support = sum(label == "SUPPORT" for label in labels) / n
    f1 = []
    for cls in LABELS:
        hits = sum(v == cls and label == cls for v, label in zip(verdicts, labels, strict=True))
        total = sum(v == cls for v in verdicts) + sum(label == cls for label in labels)
        f1.append(2 * hits / total if total else 0.0)
    return {"claims": n, "accuracy": correct / n, "accuracy_low": low, "accuracy_high": high,
            "unparsed": sum(v is None for v in verdicts), "majority_baseline": max(support, 1 - support),
            "macro_f1": sum(f1) / len(f1)}
