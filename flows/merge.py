"""The merge flow: resolve the models, merge them with a registered method, write the folder, record in MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import BaseModel, Field

from embedlab.config import load_settings
from embedlab.models.merging import method_params
from embedlab.tasks.merging import resolve_model, write_merged_model
from embedlab.tasks.tracking import log_merge


class MergeRequest(BaseModel):
    """Flow parameters. The method's parameters come from params.yaml's `merge.methods.<method>` and
    `overrides` (e.g. `merge.methods.ties.density=0.3`)."""

    base: str
    models: list[str] = Field(min_length=1)
    method: str
    out: str
    params_file: str | None = None
    overrides: list[str] = Field(default_factory=list, description="-S key=value overrides of params.yaml")
    track: bool = True


@flow(name="merge", log_prints=True)
def merge(request: MergeRequest) -> dict[str, Any]:
    """Merge fine-tuned models sharing the base's architecture. Returns merge.json's record plus tensors, seconds."""
    settings = load_settings(Path(request.params_file) if request.params_file else None, request.overrides)
    params = method_params(request.method, settings.params.merge.methods.get(request.method, {}))
    base = resolve_model(request.base)
    models = [resolve_model(spec) for spec in request.models]
    summary = write_merged_model(request.method, params, base, models, settings.path(request.out),
                                 {"base": request.base, "models": request.models})
    if request.track:
        tracking = settings.params.tracking
        log_merge(settings.tracking_uri, tracking.experiment, settings.project_dir, summary)
    return summary
