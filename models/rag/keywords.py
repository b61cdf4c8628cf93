"""EasyRAG's local answer score (repo `src/main.py`, split `val`): for each question, the share of its
`keywords` found verbatim (substring) in the answer; the mean over questions × 100. The gold answers of
`easyrag/val.json` score 98.43 (8 of the 309 keywords are not verbatim in them)."""

from __future__ import annotations

from collections.abc import Sequence


def keyword_score(answers: Sequence[str], keywords: Sequence[Sequence[str]]) -> float:
    """100 × mean over questions of |{k in keywords[i] : k in answers[i]}| / |keywords[i]| (no keywords: 0)."""
    if not answers:
        return 0.0
    shares = [sum(str(k) in str(a) for k in ks) / len(ks) if ks else 0.0
              for a, ks in zip(answers, keywords, strict=True)]
    return 100.0 * sum(shares) / len(shares)
