"""The bases of params.yaml's sections: unknown keys are errors; a profiled section can swap in a named profile."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfiledSection(Section):
    """A section whose `profile` names an entry of its `profiles`: that entry's values replace the section's own
    when params.yaml is read (precedence: params.yaml < profile < -S overrides), e.g. `full` for GPUs."""

    profile: str | None = None
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
