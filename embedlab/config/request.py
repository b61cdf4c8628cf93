"""The base of every flow request: where the flow's settings come from.

The CLI reads params.yaml once, validates it, applies the command's own options and hands the flow the typed
`Settings` (params.yaml is not read again, nor its `-S` strings parsed again). A flow started otherwise (`prefect
deployment run`, Python) gives `params_file` (default: ./params.yaml) and `overrides` (-S key=value) instead.
`resolve_settings` is the one place a flow turns either into `Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from embedlab.config import Settings, load_settings


class SettingsRequest(BaseModel):
    """Flow parameters every flow takes: `settings` (validated by the CLI) or `params_file` and `overrides`."""

    settings: Settings | None = Field(None, description="validated settings; the flow reads no params file")
    params_file: str | None = None
    overrides: list[str] = Field(default_factory=list, description="-S key=value overrides of params.yaml")

    @model_validator(mode="after")
    def _one_source(self) -> SettingsRequest:
        if self.settings is not None and (self.params_file or self.overrides):
            raise ValueError("give settings, or params_file and overrides, not both")
        return self

    def resolve_settings(self, values: dict[str, Any] | None = None) -> Settings:
        """The settings of this request, with `values` (a flow's own typed fields by dotted key, e.g.
        `{"cse.objective": request.objective}`; None leaves a value as it is) set over them."""
        if self.settings is not None:
            settings = self.settings
        else:
            settings = load_settings(Path(self.params_file) if self.params_file else None, self.overrides)
        return settings.with_values(values or {})
