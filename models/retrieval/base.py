"""The retriever interface: `index(ids, documents)` once, then `search(queries, k)` any number of times.

`documents` and `queries` are whatever the retriever reads: (N, D) vectors for dense search (dense.py), texts
for a lexical one such as BM25. Everything downstream (ranks.py, metrics.py) sees only ids and scores.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol

import numpy as np


class Retriever(Protocol):
    """Returns the best `k` documents per query, best first."""

    def index(self, ids: Sequence[Hashable], documents: Any) -> None:
        """Replace the indexed corpus: document i of `documents` has id `ids[i]` (ids comparable with `<`)."""

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), both (Q, min(k, len(self))): row q holds query q's best documents, best first."""

    def __len__(self) -> int:
        """Documents indexed."""
