"""On-disk embedding cache of one model: vectors keyed by the exact text the model reads.

Storage is mteb's `NumpyCache` layout (a float32 memmap plus a hash -> row index), one folder per model
fingerprint. Lookups and writes happen under a file lock and the index is replaced atomically, so
parallel evaluations of the same model and an interrupted run never corrupt it.

mteb's own `CachedEmbeddingWrapper` is not used: it rebuilds the DataLoader from rows that mteb has
already standardised, so retrieval documents get their title prepended twice (scores change).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from filelock import FileLock
from mteb.models.cache_wrappers.cache_backends import NumpyCache

from embedlab.atomic import atomic_write_text


class _AtomicNumpyCache(NumpyCache):
    """NumpyCache whose index is written to a temp file and renamed (vectors are flushed first)."""

    def save(self) -> None:
        import json

        if self.vectors is not None:
            self.vectors.flush()
        self._save_dimension()
        atomic_write_text(self.index_file, json.dumps(self.hash_to_index))


class EmbeddingCache:
    """Texts -> float32 vectors [N, D] for one model, computing only the texts not stored yet."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.directory / ".lock"))

    def _open(self) -> _AtomicNumpyCache:
        store = _AtomicNumpyCache(self.directory)
        if store.index_file.exists():
            store.load()
        return store

    def get_or_compute(self, texts: list[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Vectors of `texts` in order; `compute` is called once, on the distinct texts not in the cache."""
        unique = list(dict.fromkeys(texts))
        with self._lock:
            store = self._open()
            found = {t: store.get_vector({"text": t}) for t in unique}
            found = {t: np.array(v, dtype=np.float32) for t, v in found.items() if v is not None}
        missing = [t for t in unique if t not in found]
        if missing:
            vectors = np.asarray(compute(missing), dtype=np.float32)  # encode outside the lock
            with self._lock:
                store = self._open()  # another process may have added rows meanwhile
                new = [(t, v) for t, v in zip(missing, vectors) if store.get_vector({"text": t}) is None]
                if new:
                    store.add([{"text": t} for t, _ in new], np.stack([v for _, v in new]))
                    store.save()
            found.update(zip(missing, vectors))
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)
