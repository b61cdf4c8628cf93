"""The one checked format of every on-disk cache (embeddings, hard negatives, the CIR bank, frozen-encoder
features, generation replies): what is read back is validated, and a damaged entry is never used.

An entry is one file: a header line of JSON, then the body.

    {"meta": {...}, "sha256": "<hex>"}\\n<body>

`meta` describes the body: `{"kind": "json"}` (the body is the value's JSON) or `{"kind": "arrays", "arrays":
{name: {"shape": [...], "dtype": "float32"}}}` (the body is an uncompressed .npz archive in base64). The sha256
covers the canonical JSON of `meta` and the body, so a truncated file, random bytes, finite garbage of the right
size and an edited header all fail it; arrays must also have their recorded shape and dtype, and float arrays
finite values. Entries are written with `atomic_write_text` (temp file, then rename): a reader needs no lock. An
entry that cannot be written (a read-only cache) is skipped with one warning naming it.

Reading a damaged entry renames it to `<name>.damaged-<UTC time>`, logs one warning naming the file (logger
`embedlab.cache`) and answers None, a miss: the caller recomputes and stores the value again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import os
import zipfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from embedlab.atomic import atomic_write_text

log = logging.getLogger("embedlab.cache")

T = TypeVar("T")

# What reading a damaged entry can raise: bad UTF-8, JSON or base64 (ValueError), a bad archive, a missing field.
_DAMAGE = (ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile, binascii.Error)


def _digest(meta: dict[str, Any], body: str) -> str:
    canonical = json.dumps(meta, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{canonical}\n{body}".encode()).hexdigest()


def _write(path: Path, meta: dict[str, Any], body: str) -> bool:
    """Write the entry; False, with one warning naming it, where the folder cannot be written (read-only)."""
    header = json.dumps({"meta": meta, "sha256": _digest(meta, body)}, sort_keys=True, ensure_ascii=False)
    try:
        atomic_write_text(path, f"{header}\n{body}")
    except OSError as error:
        log.warning("cache entry %s cannot be written (%s); continuing without storing it", path,
                    error.strerror or error)
        return False
    return True


def _read(path: Path) -> tuple[dict[str, Any], str] | None:
    """(meta, body) of the entry at `path`; None where there is none. ValueError where it fails its checksum."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    header, newline, body = text.partition("\n")
    head = json.loads(header)
    if not newline or not isinstance(head, dict) or not isinstance(head.get("meta"), dict):
        raise ValueError("no header line with the entry's meta and sha256")
    if head.get("sha256") != _digest(head["meta"], body):
        raise ValueError("its sha256 does not match its content")
    return head["meta"], body


def set_aside(path: Path, reason: object) -> None:
    """Rename the damaged entry `path` to `<name>.damaged-<UTC time>` and log one warning naming it."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return  # another process read it at the same time and moved it aside (and warned)
    except OSError as error:
        log.warning("cache entry %s is damaged (%s) and cannot be moved aside (%s); recomputing it without "
                    "the cache", path, reason, error.strerror)
        return
    log.warning("cache entry %s is damaged (%s); moved aside to %s, recomputing it", path, reason, aside.name)


def _load(path: Path, decode: Callable[[dict[str, Any], str], T]) -> T | None:
    try:
        entry = _read(path)
        return None if entry is None else decode(*entry)
    except _DAMAGE as error:
        set_aside(path, error)
        return None
    except OSError as error:  # unreadable (permissions): not damaged, so left where it is
        log.warning("cache entry %s cannot be read (%s); recomputing it without the cache", path, error.strerror)
        return None


def save_json(path: Path, value: Any) -> bool:
    """Store the JSON-able `value` at `path` (temp file, then rename); False where it cannot be written."""
    return _write(path, {"kind": "json"}, json.dumps(value, ensure_ascii=False))


def load_json(path: Path, parse: Callable[[Any], T] = lambda value: value) -> T | None:
    """`parse` of the value stored at `path` by `save_json`; None where there is none or it is damaged (a `parse`
    that raises ValueError, TypeError or KeyError also marks it damaged). Never None for a stored value that
    parses to something else, so do not store None."""
    def decode(meta: dict[str, Any], body: str) -> T:
        if meta.get("kind") != "json":
            raise ValueError(f"kind {meta.get('kind')!r}, expected 'json'")
        return parse(json.loads(body))

    return _load(path, decode)


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> bool:
    """Store the named arrays at `path` with each one's shape and dtype (temp file, then rename); False where it
    cannot be written."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    meta = {"kind": "arrays",
            "arrays": {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()}}
    return _write(path, meta, base64.b64encode(buffer.getvalue()).decode("ascii"))


def load_arrays(path: Path, check: Callable[[dict[str, np.ndarray]], None] = lambda arrays: None
                ) -> dict[str, np.ndarray] | None:
    """The arrays stored at `path` by `save_arrays`; None where there is none or it is damaged: checksum, shape
    or dtype other than recorded, a non-finite float, or a `check` that raises ValueError, TypeError or KeyError
    (the caller's own rules: names, dimensions)."""
    def decode(meta: dict[str, Any], body: str) -> dict[str, np.ndarray]:
        if meta.get("kind") != "arrays":
            raise ValueError(f"kind {meta.get('kind')!r}, expected 'arrays'")
        with np.load(io.BytesIO(base64.b64decode(body, validate=True)), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        recorded = {name: (tuple(spec["shape"]), spec["dtype"]) for name, spec in meta["arrays"].items()}
        found = {name: (a.shape, str(a.dtype)) for name, a in arrays.items()}
        if found != recorded:
            raise ValueError(f"arrays {found}, the header records {recorded}")
        for name, array in arrays.items():
            if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
                raise ValueError(f"array {name!r} holds non-finite values")
        check(arrays)
        return arrays

    return _load(path, decode)
