"""`dvc status` on a fresh clone (issue 20): the committed dvc.lock of the main job (`make run` = `dvc repro
compare`) records the raw data files as they are, so a fresh clone reports none of them modified.

Code folders may be reported modified (any commit after the last `dvc repro` changes their hashes); outputs are
reported missing (a clone has no DVC cache). A stage without a lock entry reports every dependency modified, so
this test also fails when a stage of the main job was never locked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MAIN_JOB = "compare"


def fresh_clone(tmp_path: Path) -> tuple[Path, Path]:
    """(clone, its data root): a `git clone` of the committed project, with the data root that params.yaml names
    (relative to the project, e.g. ../shared/data) linked beside it exactly as it lies beside this checkout."""
    relative = Path(yaml.safe_load((ROOT / "params.yaml").read_text())["data_root"])
    assert relative.parts[0] == "..", f"params.yaml data_root {relative} is expected beside the project"
    clone = tmp_path / "main"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (tmp_path / relative.parts[1]).symlink_to((ROOT / ".." / relative.parts[1]).resolve())
    return clone, (clone / relative).resolve()


def test_a_fresh_clone_reports_no_raw_data_file_of_the_main_job_modified(tmp_path):
    clone, data_root = fresh_clone(tmp_path)
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "--json", "--with-deps", MAIN_JOB],
                            cwd=clone, capture_output=True, text=True, check=True)
    stages = json.loads(status.stdout)
    assert MAIN_JOB in stages or stages == {}, status.stdout[:500]
    changed_data = {}
    for stage, changes in stages.items():
        for change in changes:
            deps = change.get("changed deps", {}) if isinstance(change, dict) else {}
            for path, state in deps.items():
                if (clone / path).resolve().is_relative_to(data_root):
                    changed_data[f"{stage}: {path}"] = state
    assert changed_data == {}, f"raw data reported changed on a fresh clone (dvc.lock stale): {changed_data}"
