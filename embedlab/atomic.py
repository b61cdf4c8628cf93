"""Writing outputs so that a reader never sees a half-written file or folder, and no user file is ever lost.

Files and folders are written under a temp path beside the target, then renamed over it. A folder is only
ever replaced when embedlab wrote it itself: every folder `atomic_dir` writes carries the marker file
`OWNED_MARKER`, and an existing folder without it (unless empty) is refused with one line before any work.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from embedlab.errors import UserError

OWNED_MARKER = ".embedlab-output"
MARKER_TEXT = "This folder was written by embedlab, which replaces it whole when the same output is written again.\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(target: Path) -> None:
    """Temp paths of `target` left by a process that no longer runs (killed mid-write) are removed: exactly the
    names this module makes, `.<name>.<pid>.<8 chars of tempfile>.tmp` and `.<name>.<pid>.old`, nothing else."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.(?:[a-z0-9_]{{8}}\.tmp|old)$")
    if not target.parent.is_dir():
        return
    for sibling in target.parent.iterdir():
        match = pattern.match(sibling.name)
        if match and int(match.group(1)) != os.getpid() and not process_alive(int(match.group(1))):
            if sibling.name.endswith(".old") and not owned_or_empty(sibling):
                continue  # a swap only sets aside a folder it may replace, so this one is a user's: left alone
            if sibling.name.endswith(".old") and not target.exists():  # killed between the two renames of a swap
                os.replace(sibling, target)
            elif sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling, ignore_errors=True)
            else:
                sibling.unlink(missing_ok=True)


def owned_or_empty(folder: Path) -> bool:
    """True for a path that is not a folder, a folder embedlab wrote (its marker inside) or an empty folder: the
    only folders embedlab may replace, set aside or remove."""
    return not folder.is_dir() or folder.is_symlink() or (folder / OWNED_MARKER).is_file() or not any(folder.iterdir())


def check_output_dir(target: Path, inputs: Iterable[Path] = ()) -> None:
    """UserError unless writing the folder `target` can lose nothing: it does not exist, is empty, or carries
    embedlab's marker; it is no link; it neither lies inside nor contains any of `inputs` (model folders, data
    files), nor contains the working folder."""
    where = target.resolve()
    if target.is_symlink():
        raise UserError(f"output folder {target} is a symbolic link; give the folder it points to, or another one")
    if target.exists() and not target.is_dir():
        raise UserError(f"output folder {target} is a file; choose another output folder")
    for item in inputs:
        source = Path(item).resolve()
        if where == source or where.is_relative_to(source):
            raise UserError(f"output folder {target} lies inside the input {item}; choose another output folder")
        if source.is_relative_to(where):
            raise UserError(f"output folder {target} contains the input {item}, which replacing it would delete; "
                            "choose another output folder")
    if Path.cwd().resolve().is_relative_to(where):
        raise UserError(f"output folder {target} contains the working folder; choose another output folder")
    if target.is_dir() and not owned_or_empty(target):
        raise UserError(f"output folder {target} already exists and was not written by embedlab (no {OWNED_MARKER} "
                        "in it); choose another output folder, or empty or remove it yourself")
    _check_writable(target)


def _check_writable(target: Path) -> None:
    """UserError unless a temp folder can be made beside `target` (in its nearest existing ancestor)."""
    place = target.parent
    while not place.exists():
        place = place.parent
    try:
        Path(tempfile.mkdtemp(dir=place, prefix=".embedlab-probe.")).rmdir()
    except OSError as exc:
        raise UserError(f"output folder {target} cannot be written: {place} is not writable ({exc.strerror})") from None


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, then rename it over `path` (created with the user's umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty temp folder beside `target`; on success it replaces `target` whole, on error it is removed.

    Refuses (UserError, before the block runs) a `target` that `check_output_dir` would refuse; checks again
    just before the rename, so a folder that a user filled meanwhile is not lost either."""
    check_output_dir(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        (tmp / OWNED_MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        check_output_dir(target)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.{os.getpid()}.old")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
