"""Units of work of KB-Coder (paper 10): what one run shares (ontology, linker, KB, LLM), demos, and answering one
question in one prompt style. The LLM is called in exactly one place (`make_llm`), through the project's back-end
registry and its response cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import UserError
from embedlab.models.cached_encoder import CachedEncoder
from embedlab.models.generation.backend import Prompt, Usage, build_backend, require_model
from embedlab.models.generation.cache import ResponseCache, complete_cached
from embedlab.models.kbqa.endpoint import Store, open_store
from embedlab.models.kbqa.execute import Attempt, answer
from embedlab.models.kbqa.grailqa import Example, Inexpressible, gold_tree, read_examples
from embedlab.models.kbqa.linking import Linker
from embedlab.models.kbqa.ontology import Ontology
from embedlab.models.kbqa.program import Tree, interpret
from embedlab.models.kbqa.prompt import code_prompt, nearest, read_sexpr, sexpr_prompt, slice_random
from embedlab.models.kbqa.resolve import Resolver
from embedlab.models.kbqa.sexpr import parse

Llm = Callable[[str], list[str]]  # a user message -> the n sampled completions
STYLES = {"code": (code_prompt, interpret), "sexpr": (sexpr_prompt, read_sexpr)}


def make_llm(spec: Any, cache_dir: Path) -> Llm:
    """The one place KB-Coder talks to an LLM: one user message -> `spec.n` samples (temperature, seeds from the
    spec), every reply stored in the response cache (a rerun costs no calls); `.usage` counts the calls made."""
    require_model(spec, "kbqa.llm")
    backend = build_backend(spec, "text", "kbqa.llm")
    cache = ResponseCache(cache_dir / "generate")

    def complete(message: str) -> list[str]:
        [reply], usage = complete_cached(backend, [Prompt((("user", message),))], cache)
        complete.usage.add(usage)  # type: ignore[attr-defined]
        return list(reply.samples or (reply.text,))

    complete.identity = backend.identity()  # type: ignore[attr-defined]
    complete.usage = Usage()  # type: ignore[attr-defined]
    return complete


@dataclass
class Kit:
    """What every question of a run uses."""

    settings: Any
    ontology: Ontology
    linker: Linker
    resolver: Resolver
    store: Store | None
    encode: Callable[[list[str]], np.ndarray]


def make_kit(settings: Any, surface: bool = True) -> Kit:
    """The run's ontology, encoder, KB (kbqa.kb) and linker (with kbqa.surface_map unless `surface` is False)."""
    kbqa = settings.params.kbqa
    ontology = Ontology.load(settings.data_root / kbqa.ontology)
    encode = CachedEncoder(kbqa.encoder, settings.cache_dir)
    store = open_store(kbqa.kb, settings.project_dir, kbqa.kb_timeout_s, kbqa.kb_retries) if kbqa.kb else None
    linker = Linker(ontology, encode, settings.path(kbqa.surface_map) if surface else None, kbqa.relation_topk,
                    kbqa.class_topk, kbqa.entity_topk,
                    kb_types=_kb_types(store) if store else None)
    return Kit(settings, ontology, linker, Resolver(ontology, linker, kbqa.entity_topk, kbqa.max_programs), store,
               encode)


def _kb_types(store: Store) -> Callable[[str], set[str]]:
    from embedlab.models.kbqa.sparql import iri

    return lambda mid: set(store.values(f"SELECT ?value WHERE {{ {iri(mid)} {iri('type.object.type')} ?value }}"))


def demo_pool(kit: Kit, examples: list[Example]) -> list[tuple[Example, Tree]]:
    """The pool's examples with their program trees (an example the seven calls cannot state is left out)."""
    pool = []
    for example in examples:
        try:
            pool.append((example, gold_tree(parse(example.s_expression), example.names, kit.ontology)))
        except Inexpressible:
            continue
    return pool


def pick_demos(kit: Kit, question: str, pool: list[tuple[Example, Tree]]) -> list[tuple[str, Tree]]:
    """kbqa.k demos: fixed stratified random (KB-Coder) or the nearest by embedding (KB-Coder-R)."""
    kbqa = kit.settings.params.kbqa
    if kbqa.demos == "topk":
        chosen = nearest(question, pool, [e.question for e, _ in pool], kbqa.k, kit.encode)
    else:
        chosen = slice_random(pool, kbqa.k, kbqa.seed)
    return [(e.question, tree) for e, tree in chosen]


def prompt_for(kit: Kit, style: str, question: str, demos: list[tuple[str, Tree]]) -> str:
    kbqa = kit.settings.params.kbqa
    references = (kit.linker.relation_index.search([question], kbqa.reference_relations)[0]
                  if kbqa.reference_relations else [])
    return STYLES[style][0](question, demos, references, kbqa.instruction)


@dataclass
class Answer:
    """One question answered in one style: the prompt, the voted attempt, every completion's attempt."""

    question: str
    style: str
    prompt: str
    voted: Attempt | None
    attempts: list[Attempt]

    @property
    def format_errors(self) -> int:
        return sum(a.format_error is not None for a in self.attempts)

    def as_dict(self) -> dict[str, Any]:
        return {"question": self.question, "style": self.style, "prompt": self.prompt,
                "voted": asdict(self.voted) if self.voted else None,
                "attempts": [asdict(a) for a in self.attempts], "format_errors": self.format_errors}


def ask(kit: Kit, llm: Llm, style: str, question: str, pool: list[tuple[Example, Tree]]) -> Answer:
    """Prompt, n samples, interpretation (never execution) of each, linking, KB execution, majority vote."""
    if style not in STYLES:
        raise UserError(f"unknown prompt style {style!r} (known: {', '.join(STYLES)})")
    prompt = prompt_for(kit, style, question, pick_demos(kit, question, pool))
    voted, attempts = answer(llm(prompt), kit.resolver, kit.store, STYLES[style][1])
    return Answer(question, style, prompt, voted, attempts)


def load_pool(settings: Any, questions: Path) -> tuple[list[Example], list[Example]]:
    """(the questions, the demo pool: kbqa.demo_pool, else the questions themselves for leave-one-out)."""
    kbqa = settings.params.kbqa
    examples = read_examples(questions)
    pool = read_examples(settings.data_root / kbqa.demo_pool) if kbqa.demo_pool else examples
    return examples, pool
