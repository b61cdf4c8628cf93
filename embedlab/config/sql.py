"""The `sql` section of params.yaml: the ToolSQL agent (paper 3), its evaluation and the mismatch set.

Paths of data (`questions`, `tables`, `database_dir`) lie under data_root; `rules`, `prompt`, `mismatch` and
`output` under the project. `llm` is any back-end of `generate.llm`'s kind (an OpenAI-compatible server or an
in-process transformers model). [open] in the paper, hence parameters: `max_turns`, `top_k`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from embedlab.config.section import ProfiledSection, Section
from embedlab.models.generation.backend import BackendSpec
from embedlab.models.sql.agent import VARIANTS
from embedlab.registry import names_check


class SqlLimitsParams(Section):
    timeout_s: float = Field(10.0, gt=0, description="wall seconds one query may run")
    max_rows: int = Field(10_000, gt=0, description="rows one query may return (more is an error)")


class SqlParams(ProfiledSection):
    questions: str = "spider/dev.json"
    tables: str = "spider/tables.json"
    database_dir: str = "spider/database"
    llm: BackendSpec = Field(default_factory=lambda: BackendSpec(max_tokens=384, concurrency=1))
    prompt: str = "prompts/sql_agent.txt"
    system: str = "You translate questions into SQLite queries written as function calls."
    variants: Annotated[list[str], AfterValidator(names_check("variant", VARIANTS))] = Field(
        default_factory=lambda: list(VARIANTS))
    max_turns: int = Field(3, ge=1)
    top_k: int = Field(5, ge=1, description="cells the Retriever returns per mismatched literal")
    encoder: str = "minilm"
    rules: list[str] = Field(default_factory=list, description="extra YAML rule files for the Error Detector")
    limits: SqlLimitsParams = Field(default_factory=SqlLimitsParams)
    sample: int | None = Field(50, gt=0, description="questions evaluated (seeded sample); null: all")
    seed: int = 0
    mismatch: str = "data/sql/mismatch.json"
    output: str = "results/sql"
