"""Linking for KB-Coder (§3 of the method notes), without Freebase.

- Entities: a surface-name map file (the paper uses FACC1's): TSV lines `name<TAB>mid[<TAB>class,class...]`,
  names compared lower-cased and whitespace-normalised, mids in file order (most popular first). A mention not in
  the map falls back to the `entity_topk` map names nearest by embedding. The classes column gives an entity's
  types where no KB is asked.
- Relations and classes: the ontology's names embedded once (a relation as "id: its last two name parts", a class
  as its id with `.`/`_` as spaces) and searched exactly with the shared dense retriever (models/retrieval) by the
  mention's embedding; `relation_topk` / `class_topk` candidates, best first.

`encode` is any texts -> (N, D) L2-normalised vectors function (MiniLM through the project's embedding cache).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np

from embedlab.errors import DataError
from embedlab.models.kbqa.ontology import Ontology
from embedlab.models.retrieval.dense import DenseRetriever

Encode = Callable[[list[str]], np.ndarray]


def normalise(name: str) -> str:
    return " ".join(name.lower().split())


def read_surface_map(path: Path) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """(name -> mids, mid -> classes) of a surface-name map file; DataError naming the line otherwise."""
    names: dict[str, list[str]] = {}
    types: dict[str, set[str]] = {}
    if not Path(path).is_file():
        raise DataError(path, "surface-name map not found (build one: embedlab kbqa surface-map)")
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) not in (2, 3) or not parts[0].strip() or not parts[1].strip():
            raise DataError(path, f"expected 'name<TAB>mid[<TAB>classes]', got {line[:80]!r}", number)
        mids = names.setdefault(normalise(parts[0]), [])
        if parts[1] not in mids:
            mids.append(parts[1].strip())
        if len(parts) == 3:
            types.setdefault(parts[1].strip(), set()).update(t for t in parts[2].split(",") if t.strip())
    return names, types


def relation_text(relation: str) -> str:
    """What is embedded for a relation id (`r.s.t: s t` with `_` as spaces) or a mention in words (itself)."""
    if " " in relation.strip() or "." not in relation:
        return relation.strip()
    parts = relation.split(".")
    return f"{relation}: {' '.join(parts[-2:]).replace('_', ' ')}"


def class_text(name: str) -> str:
    return name.replace(".", " ").replace("_", " ")


class NameIndex:
    """Ids searched by the embedding of their texts (exact inner product over normalised vectors)."""

    def __init__(self, ids: list[str], texts: list[str], encode: Encode):
        self.ids = ids
        self.encode = encode
        self.retriever = DenseRetriever.build(encode(texts), ids=list(range(len(ids))), normalize=True)

    def search(self, mentions: list[str], k: int) -> list[list[str]]:
        """The `k` best ids per mention, best first."""
        rows, _ = self.retriever.search(self.encode(mentions), k)
        return [[self.ids[i] for i in row] for row in rows]


class Linker:
    """`resolve.Candidates` over an ontology, a surface map and an encoder; `types_of` asks `kb_types` (a KB) when
    the map has no classes for a mid."""

    def __init__(self, ontology: Ontology, encode: Encode, surface: Path | None = None, relation_topk: int = 100,
                 class_topk: int = 15, entity_topk: int = 15,
                 kb_types: Callable[[str], set[str]] | None = None):
        self.ontology = ontology
        self.relation_topk, self.class_topk, self.entity_topk = relation_topk, class_topk, entity_topk
        self.names, self.map_types = read_surface_map(surface) if surface else ({}, {})
        self.encode = encode
        self.kb_types = kb_types
        self._cache: dict[tuple[str, str], list[str]] = {}

    # The indexes are built on first use: a program whose mentions are all exact ids and map names needs none.
    @cached_property
    def relation_index(self) -> NameIndex:
        relations = sorted(self.ontology.roles)
        return NameIndex(relations, [relation_text(r) for r in relations], self.encode)

    @cached_property
    def class_index(self) -> NameIndex:
        classes = sorted(t for t in self.ontology.types if not t.startswith("type."))
        return NameIndex(classes, [class_text(c) for c in classes], self.encode)

    @cached_property
    def name_index(self) -> NameIndex | None:
        surface_names = sorted(self.names)
        return NameIndex(surface_names, surface_names, self.encode) if surface_names else None

    def _memo(self, kind: str, mention: str, search: Callable[[], list[str]]) -> list[str]:
        if (kind, mention) not in self._cache:
            self._cache[kind, mention] = search()
        return self._cache[kind, mention]

    def entities(self, mention: str) -> list[str]:
        key = normalise(mention)
        if key.startswith(("m.", "g.")) and " " not in key:
            return [key]

        def search() -> list[str]:
            found = list(self.names.get(key, []))
            if len(found) < self.entity_topk and self.name_index is not None:
                for name in self.name_index.search([key], self.entity_topk)[0]:
                    found += [mid for mid in self.names[name] if mid not in found]
            return found[: self.entity_topk]

        return self._memo("entity", key, search)

    def relations(self, mention: str) -> list[str]:
        return self._memo("relation", mention,
                          lambda: self.relation_index.search([relation_text(mention)], self.relation_topk)[0])

    def classes(self, mention: str) -> list[str]:
        return self._memo("class", mention, lambda: self.class_index.search([class_text(mention)], self.class_topk)[0])

    def types_of(self, entity: str) -> set[str]:
        if entity in self.map_types:
            return self.map_types[entity]
        return self.kb_types(entity) if self.kb_types else set()
