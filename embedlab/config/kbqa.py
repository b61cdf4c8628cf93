"""The `kbqa` section of params.yaml: KB-Coder (paper 10), `embedlab kbqa ask|run|evaluate|linking|surface-map`.

Data paths (`questions`, `demo_pool`, `ontology`) lie under data_root; `surface_map`, `kb` (an RDF file) and
`output` under the project. `kb`: a SPARQL endpoint URL (a Freebase Virtuoso) or an RDF file loaded in process;
null runs nothing (the vote is then over S-expressions and answer F1 is not measured). [open] in the paper, hence
parameters: the ARG-chain rule (see models/kbqa/program.py), `max_programs`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from embedlab.config.section import Section
from embedlab.models.generation.backend import BackendSpec
from embedlab.registry import names_check

STYLES = ("code", "sexpr")


class KbqaParams(Section):
    questions: str = "kbqa/grailqa_demo/grailqa_v1.0_demo_reference.json"
    demo_pool: str | None = Field(None, description="GrailQA file of demos; null: the questions, leave-one-out")
    ontology: str = "kbqa/freebase_ontology"
    surface_map: str = "data/kbqa/surface_map.tsv"
    kb: str | None = Field(None, description="SPARQL endpoint URL or RDF file; null: no execution")
    kb_timeout_s: float = Field(30.0, gt=0)
    kb_retries: int = Field(2, ge=0)
    llm: BackendSpec = Field(default_factory=lambda: BackendSpec(temperature=0.7, n=6, max_tokens=300,
                                                                 concurrency=1))
    styles: Annotated[list[str], AfterValidator(names_check("prompt style", STYLES))] = Field(
        default_factory=lambda: list(STYLES), description="code | sexpr (the baseline)")
    demos: Literal["slice_random", "topk"] = "slice_random"
    k: int = Field(40, gt=0, description="demos per prompt")
    seed: int = 42
    reference_relations: int = Field(1, ge=0, description="relations most similar to the question, as a hint")
    instruction: bool = True
    encoder: str = "minilm"
    relation_topk: int = Field(100, gt=0)
    class_topk: int = Field(15, gt=0)
    entity_topk: int = Field(15, gt=0)
    max_programs: int = Field(50, gt=0, description="entity-candidate combinations tried per completion")
    sample: int | None = Field(None, gt=0, description="questions evaluated (the first n); null: all")
    output: str = "results/kbqa"
