"""The Freebase ontology of GrailQA (`kbqa/freebase_ontology/`): relations with their domain and range
(`fb_roles.txt`), the subclass relation of types (`fb_types.txt`) and reverse properties
(`reverse_properties.txt`). It gives the EM graphs their edge types (metrics.py) and restores a relation's
direction, which KB-Coder's demo lines leave out.

Direction (a documented deviation: the paper asks Freebase which direction connects, offline there is none):
`(JOIN r X)` = the subjects whose `r` lies in X, so X must sit on r's range side; `(JOIN (R r) X)` = the objects,
X on the domain side. `direction(r, t)` compares X's types `t` with r's range first, then its domain (a type
matches itself and its super-types). A relation whose domain equals its range is read forward: the demo
formatter writes such an `(R r)` as r's reverse property (the same graph for EM).

`fb_roles.txt` and `fb_types.txt` as staged each have two lines glued to the next (no newline); they are split
where the next relation's id starts with its domain (roles) or where the first half is a known type (types).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from embedlab.errors import DataError

LITERAL_TYPES = {"float": "type.float", "double": "type.float", "integer": "type.int", "int": "type.int",
                 "date": "type.datetime", "gyear": "type.datetime", "gyearmonth": "type.datetime",
                 "datetime": "type.datetime", "boolean": "type.boolean"}


def _roles(path: Path) -> dict[str, tuple[str, str]]:
    roles: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        tokens = line.split()
        if len(tokens) == 3:
            roles[tokens[1]] = (tokens[0], tokens[2])
        elif len(tokens) == 5 and tokens[2].endswith(tokens[3].rsplit(".", 1)[0]):
            second_domain = tokens[3].rsplit(".", 1)[0]
            roles[tokens[1]] = (tokens[0], tokens[2][: -len(second_domain)])
            roles[tokens[3]] = (second_domain, tokens[4])
        elif tokens:
            raise DataError(path, f"expected 'domain relation range', got {line[:120]!r}", number)
    return roles


@dataclass
class Ontology:
    """relation -> (domain, range); type -> its super-types (transitive); relation -> its reverse property."""

    roles: dict[str, tuple[str, str]]
    supertypes: dict[str, set[str]]
    reverse: dict[str, str]
    types: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, folder: Path) -> Ontology:
        folder = Path(folder)
        for name in ("fb_roles.txt", "fb_types.txt", "reverse_properties.txt"):
            if not (folder / name).is_file():
                raise DataError(folder / name, "ontology file missing (expected GrailQA's freebase_ontology)")
        roles = _roles(folder / "fb_roles.txt")
        direct: dict[str, set[str]] = defaultdict(set)
        known = {t for pair in roles.values() for t in pair}
        for number, line in enumerate((folder / "fb_types.txt").read_text(encoding="utf-8").splitlines(), 1):
            tokens = [t for t in line.split() if t != "."]
            if len(tokens) == 5 and tokens[1] == tokens[3] == "meta.subclassOf":
                tokens = _unglue_types(tokens, known | set(direct))
            if len(tokens) not in (3, 6) or tokens[1] != "meta.subclassOf":
                raise DataError(folder / "fb_types.txt", "expected 'type meta.subclassOf supertype [.]'", number)
            for i in range(0, len(tokens), 3):
                direct[tokens[i]].add(tokens[i + 2])
        reverse: dict[str, str] = {}
        for number, line in enumerate((folder / "reverse_properties.txt").read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split("\t")
            if len(parts) != 2:
                raise DataError(folder / "reverse_properties.txt", "expected 'relation<TAB>reverse'", number)
            reverse[parts[0]] = parts[1]
            reverse.setdefault(parts[1], parts[0])
        types = {t for pair in roles.values() for t in pair} | set(direct) | {t for s in direct.values() for t in s}
        return cls(roles, _closure(direct), reverse, types | set(LITERAL_TYPES.values()))

    def is_relation(self, name: str) -> bool:
        return name in self.roles

    def is_type(self, name: str) -> bool:
        return name in self.types

    def domain(self, relation: str) -> str:
        return self.roles[relation][0]

    def range(self, relation: str) -> str:
        return self.roles[relation][1]

    def matches(self, types: set[str], wanted: str) -> bool:
        """Whether an item of any of `types` is a `wanted` (the type itself or a subtype of it)."""
        return any(t == wanted or wanted in self.supertypes.get(t, ()) for t in types)

    def direction(self, relation: str, types: set[str]) -> bool | None:
        """True: X (of `types`) on the range side, `(JOIN r X)`; False: on the domain side, `(JOIN (R r) X)`;
        None: neither fits. Domain == range reads forward (see the module docstring)."""
        domain, range_ = self.roles[relation]
        if self.matches(types, range_):
            return True
        if self.matches(types, domain):
            return False
        return None

    def step(self, relation: str, types: set[str]) -> tuple[bool, str] | None:
        """One hop of an ARG attribute chain from an item of `types`: (reversed?, type reached), or None.
        Forward (`r` read from the item) when the item is r's domain, else backward when it is r's range."""
        domain, range_ = self.roles[relation]
        if self.matches(types, domain):
            return False, range_
        if self.matches(types, range_):
            return True, domain
        return None

    def friendly(self, relation: str) -> str:
        """A relation's words for embedding: `rail.railway.terminuses` -> "railway terminuses"."""
        parts = relation.split(".")
        return " ".join(parts[-2:]).replace("_", " ")


def _unglue_types(tokens: list[str], known: set[str]) -> list[str]:
    """Two `type meta.subclassOf supertype` lines glued together (no newline): split the middle token where both
    halves are known types."""
    glued = tokens[2]
    for i in range(1, len(glued)):
        if glued[:i] in known and glued[i:] in known | {tokens[0]}:
            return [tokens[0], tokens[1], glued[:i], glued[i:], tokens[3], tokens[4]]
    for i in range(1, len(glued)):
        if glued[:i] in known:
            return [tokens[0], tokens[1], glued[:i], glued[i:], tokens[3], tokens[4]]
    return tokens


def _closure(direct: dict[str, set[str]]) -> dict[str, set[str]]:
    closed: dict[str, set[str]] = {}
    for start in direct:
        seen, todo = set(), list(direct[start])
        while todo:
            item = todo.pop()
            if item not in seen:
                seen.add(item)
                todo.extend(direct.get(item, ()))
        closed[start] = seen
    return closed


def read_json(path: Path) -> object:
    """A JSON file, or one `error:` line naming the file and the position of the problem."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
