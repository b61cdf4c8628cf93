"""Prefect tasks of the merge flow: resolve model specs to folders, write the merged model atomically."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_dir
from embedlab.models.merging import MethodParams, get_method
from embedlab.models.merging.folder import check_out_dir, local_folder, write_merged_folder


@task(cache_policy=NO_CACHE)
def resolve_model(spec: str) -> Path:
    """The local folder of a model spec (folder, 'minilm', or Hugging Face id, fetched or from the cache)."""
    return local_folder(spec)


@task(cache_policy=NO_CACHE)
def write_merged_model(method: str, params: MethodParams, base: Path, models: list[Path], out_dir: Path,
                       inputs: dict[str, Any]) -> dict[str, Any]:
    """Merge `models` onto `base` with `method` into a complete model folder at `out_dir`, atomically.

    The folder also holds merge.json: method, parameters and `inputs` (the specs as the user gave them).
    Returns that record plus the tensor count and wall seconds. UserError if the architectures differ or
    `out_dir` lies inside one of the models.
    """
    check_out_dir(out_dir, [base, *models])
    start = time.perf_counter()
    record = {"method": method, "params": params.model_dump(by_alias=True), **inputs}
    with atomic_dir(out_dir) as tmp:
        tensors = write_merged_folder(base, models, get_method(method).build(params), tmp)
        (tmp / "merge.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return {**record, "out": str(out_dir), "tensors": tensors, "seconds": round(time.perf_counter() - start, 3)}
