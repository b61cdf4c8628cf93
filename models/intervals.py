"""Confidence intervals of proportions shared by every evaluation that reports one (KB-Coder's EM and format
error rate, EasyRAG's claim-verification accuracy)."""

from __future__ import annotations

import math


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (Wilson 1927) of the proportion successes / n; z = 1.96: 95 %. (0, 1) for n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))  # no -0.0
