"""The merge flow: resolve the models, merge them with a registered method (a learned one first searches on a
probe set of the training tasks), write the folder, record in MLflow."""

from __future__ import annotations

from typing import Any

from prefect import flow
from pydantic import Field

from embedlab.config.request import SettingsRequest
from embedlab.models.merging import METHODS
from embedlab.tasks.merge import (LAMBDA_PLOT, POSITIONING, model_label, read_probe, resolve_model, search_merge,
                                  write_merged_model)
from embedlab.tasks.tracking import log_merge, log_positioning


class MergeRequest(SettingsRequest):
    """Flow parameters. The method's parameters come from params.yaml's `merge.methods.<method>` and
    `overrides` (e.g. `merge.methods.ties.density=0.3`)."""

    base: str
    models: list[str] = Field(min_length=1)
    method: str
    out: str
    track: bool = True


@flow(name="merge")
def merge(request: MergeRequest) -> dict[str, Any]:
    """Merge fine-tuned models sharing the base's architecture. Returns merge.json's record plus tensors, seconds
    (and, for a learned merge, the search's probe examples and seconds)."""
    settings = request.resolve_settings()
    params = METHODS.params(request.method, settings.params.merge.methods.get(request.method, {}))
    base = resolve_model(request.base)
    models = [resolve_model(spec) for spec in request.models]
    learned = None
    if METHODS.get(request.method).search is not None:
        probe = read_probe(params, settings.params.train, settings.data_root, settings.cache_dir)
        learned = search_merge(request.method, params, base, models, probe)
    out_dir = settings.path(request.out)
    summary = write_merged_model(request.method, params, base, models, out_dir,
                                 {"base": request.base, "models": request.models}, learned)
    if request.track:
        tracking = settings.params.tracking
        run_id = log_merge(settings.tracking_uri, tracking.experiment, settings.project_dir, summary)
        if learned is not None:
            log_positioning(settings.tracking_uri, run_id, out_dir / POSITIONING, out_dir / LAMBDA_PLOT,
                            [model_label(spec) for spec in request.models])
    return summary
