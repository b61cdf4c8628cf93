"""Damaged caches (issue 21 §4): every cache (embeddings, generation replies, hard negatives, the CIR bank and
frozen-encoder features) checks what it reads, moves a damaged entry aside with one warning naming the file,
and recomputes exactly what it lost; a read-only cache is read, not written, and never crashes.

Real files in tmp_path. Expected vectors come from `vectors_of` (cache_faults_helpers.py: the md5 of each text),
never from the cache. The one entry that passes its checksum yet holds NaN is written by hand from the format's
description. The read-only case runs in a child process that may not write the folder (as root: with
CAP_DAC_OVERRIDE dropped by `setpriv`, since root ignores file modes).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cache_faults_helpers import Counting, EchoBackend, chats, vectors_of
from conftest import REPO
from embedlab.cache_store import load_json, save_arrays
from embedlab.config import load_settings
from embedlab.models.embedding_cache import EmbeddingCache
from embedlab.models.generation.cache import ResponseCache, cache_key, complete_cached
from embedlab.tasks.crossmodal.train import load_or_compute
from embedlab.tasks.train import mine_negatives, read_train_tasks


# --- damage, done to the bytes on disk --------------------------------------------------------------------------

def split_entry(path: Path) -> tuple[dict, str]:
    header, body = path.read_text().split("\n", 1)
    return json.loads(header), body


def truncate_body(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - max(1, len(data) // 4)])


def truncate_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b"\n") // 2])


def random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def edited_header(path: Path) -> None:
    """The header stays valid JSON, but its record of the content changes (a dimension emptied, a kind changed)."""
    head, body = split_entry(path)
    if head["meta"]["kind"] == "arrays":
        for spec in head["meta"]["arrays"].values():
            spec["shape"] = spec["shape"][:1]
    else:
        head["meta"]["kind"] = "arrays"
    path.write_text(json.dumps(head) + "\n" + body)


def garbled(value):
    """The JSON `value` with every string replaced by as many x's (same keys, same lengths)."""
    if isinstance(value, str):
        return "x" * len(value)
    if isinstance(value, list):
        return [garbled(item) for item in value]
    if isinstance(value, dict):
        return {key: garbled(item) for key, item in value.items()}
    return value


def finite_garbage(path: Path) -> None:
    """Same header, a body of the same arrays (names, shapes, dtypes) or the same JSON keys, other finite values:
    only the checksum can tell."""
    head, body = split_entry(path)
    if head["meta"]["kind"] == "arrays":
        with np.load(io.BytesIO(base64.b64decode(body))) as archive:
            arrays = {name: archive[name] for name in archive.files}
        rng = np.random.default_rng(1)
        garbage = {name: (rng.random(a.shape).astype(a.dtype) if a.dtype.kind == "f" else a)
                   for name, a in arrays.items()}
        buffer = io.BytesIO()
        np.savez(buffer, **garbage)
        body = base64.b64encode(buffer.getvalue()).decode()
    else:
        body = json.dumps(garbled(json.loads(body)))
    path.write_text(json.dumps(head) + "\n" + body)


DAMAGES = [truncate_body, truncate_header, random_bytes, edited_header, finite_garbage]


def nan_with_a_valid_checksum(path: Path) -> None:
    """Rewrite the arrays entry `path` with NaN in its float arrays and a correct sha256, following the format the
    docstring of embedlab/cache_store.py describes (canonical meta JSON, a newline, the base64 .npz body)."""
    head, body = split_entry(path)
    with np.load(io.BytesIO(base64.b64decode(body))) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays = {name: (np.full_like(a, np.nan) if a.dtype.kind == "f" else a) for name, a in arrays.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    body = base64.b64encode(buffer.getvalue()).decode()
    meta = head["meta"]
    digest = hashlib.sha256(f"{json.dumps(meta, sort_keys=True)}\n{body}".encode()).hexdigest()
    path.write_text(json.dumps({"meta": meta, "sha256": digest}) + "\n" + body)


def cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("embedlab") and r.levelno == logging.WARNING]


def assert_moved_aside(path: Path, damaged: bytes, caplog) -> None:
    """One warning, naming `path`, and one `<name>.damaged-<time>` beside it holding the `damaged` bytes."""
    [warning] = cache_warnings(caplog)
    assert str(path) in warning and "damaged" in warning
    [aside] = path.parent.glob(f"{path.name}.damaged-*")
    assert aside.read_bytes() == damaged


# --- the embedding cache ----------------------------------------------------------------------------------------

def two_blocks(folder: Path) -> tuple[Path, Path]:
    EmbeddingCache(folder).get_or_compute(["a", "b"], vectors_of)
    EmbeddingCache(folder).get_or_compute(["c", "d", "a"], vectors_of)
    first, second = sorted(folder.glob("*.entry"))
    return first, second


@pytest.mark.parametrize("damage", [*DAMAGES, nan_with_a_valid_checksum])
def test_embedding_cache_moves_a_damaged_block_aside_and_encodes_its_texts_again(tmp_path, caplog, damage):
    folder = tmp_path / "embeddings" / "fingerprint"
    _, second = two_blocks(folder)
    damage(second)
    damaged = second.read_bytes()
    compute = Counting()
    with caplog.at_level(logging.WARNING):
        vectors = EmbeddingCache(folder).get_or_compute(["d", "a", "b", "c", "a"], compute)
    assert np.array_equal(vectors, vectors_of(["d", "a", "b", "c", "a"]))
    assert compute.calls == [["d", "c"]]  # the damaged block's texts only
    assert_moved_aside(second, damaged, caplog)
    assert not second.exists()  # the texts went to a new block
    caplog.clear()
    again = Counting()  # the recomputed vectors were stored again: nothing to compute, nothing to warn
    assert np.array_equal(EmbeddingCache(folder).get_or_compute(["c", "d", "b"], again), vectors_of(["c", "d", "b"]))
    assert again.calls == [] and cache_warnings(caplog) == []


def test_a_block_of_another_dimension_is_moved_aside(tmp_path, caplog):
    folder = tmp_path / "embeddings"
    two_blocks(folder)
    stray = folder / f"{10**19:020d}-1.entry"  # newest; valid checksum, but 3 wide where the folder is 8
    save_arrays(stray, {"keys": np.frombuffer(hashlib.sha256(b"e").digest(), np.uint8).reshape(1, 32),
                        "vectors": np.ones((1, 3), np.float32)})
    damaged = stray.read_bytes()
    compute = Counting()
    with caplog.at_level(logging.WARNING):
        vectors = EmbeddingCache(folder).get_or_compute(["e", "a"], compute)
    assert np.array_equal(vectors, vectors_of(["e", "a"])) and compute.calls == [["e"]]
    assert_moved_aside(stray, damaged, caplog)
    assert "dimension 3" in cache_warnings(caplog)[0]


def test_non_finite_vectors_are_returned_but_not_stored(tmp_path, caplog):
    folder = tmp_path / "embeddings"

    def with_nan(texts):
        vectors = vectors_of(texts)
        vectors[[t == "bad" for t in texts]] = np.nan
        return vectors

    first = EmbeddingCache(folder).get_or_compute(["bad", "good"], with_nan)
    assert np.isnan(first[0]).all() and np.array_equal(first[1], vectors_of(["good"])[0])
    compute = Counting()
    with caplog.at_level(logging.WARNING):
        EmbeddingCache(folder).get_or_compute(["good", "bad"], compute)
    assert compute.calls == [["bad"]] and cache_warnings(caplog) == []


# --- generation replies -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", DAMAGES)
def test_reply_cache_moves_a_damaged_reply_aside_and_asks_again(tmp_path, caplog, damage):
    backend = EchoBackend()
    first, _ = complete_cached(backend, chats("a", "b", "c"), ResponseCache(tmp_path / "generate"))
    key = cache_key(backend.identity(), chats("b")[0])
    entry = tmp_path / "generate" / key[:2] / f"{key}.entry"
    damage(entry)
    damaged = entry.read_bytes()
    with caplog.at_level(logging.WARNING):
        again, usage = complete_cached(backend, chats("a", "b", "c"), ResponseCache(tmp_path / "generate"))
    assert again == first and [r.text for r in again] == ["re a", "re b", "re c"]
    assert (usage.calls, usage.cache_hits) == (1, 2) and backend.asked == ["a", "b", "c", "b"]
    assert_moved_aside(entry, damaged, caplog)
    assert ResponseCache(tmp_path / "generate").get(key) == first[1]  # the reply asked again is stored again


# --- hard negatives ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", DAMAGES)
def test_hard_negative_cache_moves_a_damaged_entry_aside_and_mines_again(tmp_path, caplog, tiny_model, small_tasks,
                                                                         damage):
    small = small_tasks.parent
    settings = load_settings(REPO / "params.yaml", [
        f"train.base={tiny_model}", f"cache_dir={tmp_path / 'cache'}", "train.tasks.retrieval.mining_skip=0",
        *(f"train.tasks.retrieval.files.{name}.path={small / file}"
          for name, file in (("corpus", "corpus.jsonl"), ("queries", "queries.jsonl"), ("qrels", "qrels.tsv")))])
    task = read_train_tasks.fn(["retrieval"], settings.params.train, settings.data_root)[0]
    fresh = mine_negatives.fn(task, str(tiny_model), settings.data_root, settings.cache_dir)
    [entry] = (tmp_path / "cache" / "hard_negatives").glob("retrieval-*.entry")
    stored = load_json(entry)
    damage(entry)
    damaged = entry.read_bytes()
    with caplog.at_level(logging.WARNING):
        again = mine_negatives.fn(task, str(tiny_model), settings.data_root, settings.cache_dir)
    assert [e.texts for e in again.examples] == [e.texts for e in fresh.examples]
    assert_moved_aside(entry, damaged, caplog)
    assert load_json(entry) == stored  # mined again and stored again


# --- the CIR bank and frozen-encoder features (`load_or_compute`) ----------------------------------------------

BANK = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 10


@pytest.mark.parametrize("damage", [*DAMAGES, nan_with_a_valid_checksum])
@pytest.mark.parametrize("value", [BANK, {"red dress": BANK[0], "blue shirt": BANK[1]}], ids=["bank", "features"])
def test_tensor_cache_moves_a_damaged_entry_aside_and_computes_again(tmp_path, caplog, damage, value):
    path = tmp_path / "cir_bank" / "key.entry"
    calls = []

    def compute():
        calls.append(1)
        return value

    load_or_compute(path, compute)
    damage(path)
    damaged = path.read_bytes()
    with caplog.at_level(logging.WARNING):
        again = load_or_compute(path, compute)
    assert len(calls) == 2
    assert_moved_aside(path, damaged, caplog)
    read = load_or_compute(path, compute)  # stored again, read back without computing
    assert len(calls) == 2
    if isinstance(value, dict):
        assert list(read) == list(value) and all(torch.equal(read[k], value[k]) for k in value)
    else:
        assert torch.equal(read, value) and torch.equal(again, value)


# --- a read-only cache ------------------------------------------------------------------------------------------

READ_ONLY_CHILD = """
import json, logging, sys
sys.path.insert(0, sys.argv[2])
logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
from pathlib import Path
from cache_faults_helpers import Counting, EchoBackend, chats
from embedlab.models.embedding_cache import EmbeddingCache
from embedlab.models.generation.cache import ResponseCache, complete_cached
root = Path(sys.argv[1])
compute = Counting()
cache = EmbeddingCache(root / "embeddings")
first = cache.get_or_compute(["a", "b", "c", "new"], compute)
second = cache.get_or_compute(["new", "a"], compute)
backend = EchoBackend()
replies, usage = complete_cached(backend, chats("a", "new"), ResponseCache(root / "generate"))
replies, usage = complete_cached(backend, chats("new", "other"), ResponseCache(root / "generate"))
print(json.dumps({"first": first.tolist(), "second": second.tolist(), "calls": compute.calls,
                  "asked": backend.asked, "replies": [r.text for r in replies]}))
"""


def read_only_command() -> list[str]:
    if os.geteuid() != 0:
        return [sys.executable]
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot take away the right to write a folder")
    caps = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", sys.executable]


def test_a_read_only_cache_is_read_without_a_lock_and_never_written(tmp_path):
    root = tmp_path / "cache"
    _, second = two_blocks(root / "embeddings")
    truncate_body(second)  # damaged, and cannot be moved aside
    complete_cached(EchoBackend(), chats("a"), ResponseCache(root / "generate"))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        child = subprocess.run([*read_only_command(), "-c", READ_ONLY_CHILD, str(root), str(Path(__file__).parent)],
                               capture_output=True, text=True, timeout=300)
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.splitlines()[-1])
    assert np.array_equal(np.array(result["first"], np.float32), vectors_of(["a", "b", "c", "new"]))
    assert np.array_equal(np.array(result["second"], np.float32), vectors_of(["new", "a"]))
    assert result["calls"] == [["c", "new"], ["new"]]  # nothing could be stored, so "new" is encoded twice
    assert result["asked"] == ["new", "new", "other"] and result["replies"] == ["re new", "re other"]
    warnings = [line for line in child.stderr.splitlines() if line.startswith("WARNING embedlab")]
    assert "Traceback" not in child.stderr and len(warnings) == 4, child.stderr
    assert str(second) in warnings[0] and "cannot be moved aside" in warnings[0]
    assert str(root / "embeddings") in warnings[1] and "cannot be locked or written" in warnings[1]
    assert all("generate" in w and "cannot be written" in w for w in warnings[2:])  # one per ResponseCache
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # no lock, no entry, nothing moved
