"""Where KB-Coder's queries run: a SPARQL endpoint over HTTP (a Freebase Virtuoso, for a user who has one) or a
local store in process (pyoxigraph, loaded from an RDF file: the tests' Freebase-style fixture graph).

Both answer `values(query)`: the `?value` bindings of one read-only SELECT. A query that is not a single SELECT
(an update, a LOAD, ...) is refused before it is sent. An endpoint that does not answer is retried
(`retries` times, 1 s, 2 s, ... apart), then the run stops with one line naming the URL and the reason.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Protocol

from embedlab.errors import DataError, UserError
from embedlab.models.kbqa.sparql import answer_of

UPDATE = re.compile(r"\b(INSERT|DELETE|LOAD|CLEAR|DROP|CREATE|ADD|MOVE|COPY|WITH|SERVICE)\b", re.IGNORECASE)


class EndpointError(UserError):
    """The SPARQL endpoint did not answer (after the retries) or answered something that is not SPARQL JSON."""


class Store(Protocol):
    def values(self, query: str) -> list[str]:
        """The `?value` bindings of a read-only SELECT, as GrailQA answers (sparql.answer_of)."""


def check_select(query: str) -> str:
    """`query` if it is one read-only SELECT; UserError otherwise (nothing is sent)."""
    stripped = re.sub(r"<[^>]*>|\"[^\"]*\"", " ", query)
    head = re.sub(r"^\s*(PREFIX\s+\S*\s*<[^>]*>\s*)*", "", query, flags=re.IGNORECASE)
    if not re.match(r"^\s*SELECT\b", head, re.IGNORECASE) or UPDATE.search(stripped):
        raise UserError("only read-only SELECT queries are sent to a SPARQL endpoint")
    return query


class LocalStore:
    """An in-process pyoxigraph store loaded from an RDF file (Turtle, N-Triples, ... by suffix)."""

    def __init__(self, path: Path):
        import pyoxigraph

        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "RDF file not found")
        self.store = pyoxigraph.Store()
        try:
            with self.path.open("rb") as handle:
                self.store.load(handle, format=pyoxigraph.RdfFormat.from_extension(self.path.suffix.lstrip(".")))
        except (SyntaxError, ValueError) as exc:
            raise DataError(self.path, f"not valid RDF: {str(exc).splitlines()[0]}") from None

    def values(self, query: str) -> list[str]:
        return [answer_of(row["value"].value) for row in self.store.query(check_select(query))
                if row["value"] is not None]


class HttpEndpoint:
    """A SPARQL 1.1 protocol endpoint (`GET ?query=`, SPARQL JSON results)."""

    def __init__(self, url: str, timeout_s: float = 30.0, retries: int = 2):
        self.url, self.timeout_s, self.retries = url, timeout_s, retries

    def values(self, query: str) -> list[str]:
        request = urllib.request.Request(f"{self.url}?{urllib.parse.urlencode({'query': check_select(query)})}",
                                         headers={"Accept": "application/sparql-results+json"})
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(attempt)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                    data = json.loads(reply.read().decode("utf-8"))
                return [answer_of(row["value"]["value"]) for row in data["results"]["bindings"] if "value" in row]
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500:
                    break
            except (urllib.error.URLError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
            except (ValueError, KeyError, TypeError):
                raise EndpointError(f"SPARQL endpoint {self.url} answered something that is not SPARQL JSON "
                                    "results") from None
        raise EndpointError(f"SPARQL endpoint {self.url} did not answer after {self.retries + 1} tries: {problem}")


def open_store(where: str, base: Path, timeout_s: float = 30.0, retries: int = 2) -> Store:
    """An http(s) URL -> HttpEndpoint; anything else is an RDF file (relative to `base`) -> LocalStore."""
    if where.startswith(("http://", "https://")):
        return HttpEndpoint(where, timeout_s, retries)
    path = Path(where).expanduser()
    return LocalStore(path if path.is_absolute() else base / path)
