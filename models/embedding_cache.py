"""On-disk embedding cache of one model: vectors keyed by the exact text the model reads.

One folder per model fingerprint holds append-only blocks `<time ns>-<pid>.entry`, each the vectors [n, D]
(float32) of the texts that one encode call added and the sha256 [n, 32] (uint8) of each text, in embedlab's
checked format (`embedlab.cache_store`: shape, dtype and a sha256 per block, finite values). A block is never
rewritten: new texts go to a new block, written under the folder's `.lock` (so parallel evaluations of the same
model never store a text twice) as a temp file renamed into place, so reading needs no lock.

A damaged block (or one whose dimension differs from the folder's oldest block) is moved aside with one warning
and its texts are encoded again. A folder that cannot be written (read-only) is still read; new vectors are then
not stored (one warning per cache).

mteb's own `CachedEmbeddingWrapper` is not used: it rebuilds the DataLoader from rows that mteb has
already standardised, so retrieval documents get their title prepended twice (scores change).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from filelock import FileLock

from embedlab.cache_store import load_arrays, log, save_arrays


def _text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Texts -> float32 vectors [N, D] for one model, computing only the texts not stored yet."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._seen: set[str] = set()  # blocks already read (kept or moved aside); blocks never change
        self._vectors: dict[bytes, np.ndarray] = {}  # text sha256 -> its vector [D]
        self._dimension: int | None = None
        self._unwritable = False

    def _check_block(self, arrays: dict[str, np.ndarray]) -> None:
        keys, vectors = arrays["keys"], arrays["vectors"]
        if (vectors.dtype != np.float32 or vectors.ndim != 2
                or keys.dtype != np.uint8 or keys.shape != (len(vectors), 32)):
            raise ValueError(f"keys {keys.shape} {keys.dtype} and vectors {vectors.shape} {vectors.dtype} are not "
                             "n text digests [n, 32] uint8 and n vectors [n, D] float32")
        if self._dimension is not None and vectors.shape[1] != self._dimension:
            raise ValueError(f"dimension {vectors.shape[1]}, the folder's other blocks have {self._dimension}")

    def _refresh(self) -> None:
        """Read the blocks written since the last look, by this process or another, oldest first."""
        for path in sorted(self.directory.glob("*.entry")):
            if path.name in self._seen:
                continue
            self._seen.add(path.name)
            block = load_arrays(path, self._check_block)
            if block is not None:
                self._dimension = block["vectors"].shape[1]
                self._vectors.update(zip((key.tobytes() for key in block["keys"]), block["vectors"]))

    def _write_block(self, digests: list[bytes], vectors: np.ndarray) -> bool:
        """Store `vectors` [n, D] of the texts with `digests` as a new block; False where it cannot be written."""
        path = self.directory / f"{time.time_ns():020d}-{os.getpid()}.entry"
        keys = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), 32)
        if not save_arrays(path, {"keys": keys, "vectors": vectors}):
            return False
        self._seen.add(path.name)
        self._dimension = vectors.shape[1]
        self._vectors.update(zip(digests, vectors))
        return True

    def _store(self, digests: list[bytes], vectors: np.ndarray) -> None:
        """Store the finite rows not stored yet; where the folder cannot be written (read-only), one warning and
        no further try."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.directory / ".lock")):
                self._refresh()  # another process may have stored some of them meanwhile
                new = [i for i, key in enumerate(digests)
                       if key not in self._vectors and np.isfinite(vectors[i]).all()]
                if new and not self._write_block([digests[i] for i in new], vectors[new]):
                    self._unwritable = True
        except OSError as error:
            log.warning("embedding cache %s cannot be locked or written (%s); reading it without storing new "
                        "vectors", self.directory, error.strerror or error)
            self._unwritable = True

    def get_or_compute(self, texts: list[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Vectors of `texts` in order; `compute` is called once, on the distinct texts not in the cache."""
        digests = {text: _text_digest(text) for text in texts}
        self._refresh()
        found = {text: self._vectors[key] for text, key in digests.items() if key in self._vectors}
        missing = [text for text in digests if text not in found]
        if missing:
            vectors = np.asarray(compute(missing), dtype=np.float32)
            if not self._unwritable:
                self._store([digests[text] for text in missing], vectors)
            found.update(zip(missing, vectors))
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)
