"""S-expression -> SPARQL (GrailQA semantics) run for real on a local pyoxigraph store loaded with a hand-written
Freebase-style graph (tests/data/kbqa/fixture.ttl); constraint relaxation; a dead HTTP endpoint; read-only only."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from embedlab.errors import UserError
from embedlab.models.kbqa.endpoint import EndpointError, HttpEndpoint, LocalStore, check_select, open_store
from embedlab.models.kbqa.execute import relaxations
from embedlab.models.kbqa.sexpr import parse
from embedlab.models.kbqa.sparql import SparqlError, to_sparql

FIXTURE = Path(__file__).parent / "data" / "kbqa" / "fixture.ttl"
FLOAT = "^^http://www.w3.org/2001/XMLSchema#float"


@pytest.fixture(scope="module")
def store() -> LocalStore:
    return LocalStore(FIXTURE)


def ask(store: LocalStore, text: str) -> set[str]:
    return set(store.values(to_sparql(parse(text))))


def test_join_in_both_directions_and(store):
    # (JOIN (R r) e): the objects of e's r; (JOIN r e): the subjects whose r is e.
    assert ask(store, "(JOIN (R rail.railway.terminuses) m.0yp3mmb)") == {"m.0t_edgware", "m.0t_morden"}
    assert ask(store, "(JOIN rail.railway.terminuses m.0t_brixton)") == {"m.0r_victoria"}
    assert ask(store, "(AND rail.railway_terminus (JOIN (R rail.railway.terminuses) m.0yp3mmb))") == \
        {"m.0t_edgware", "m.0t_morden"}
    assert ask(store, "(AND rail.railway (JOIN (R rail.railway.terminuses) m.0yp3mmb))") == set()


def test_count_comparison_and_superlatives(store):
    assert ask(store, "(COUNT (AND rail.railway_terminus (JOIN (R rail.railway.terminuses) m.0yp3mmb)))") == {"2"}
    assert ask(store, f"(AND time.time_zone (gt time.time_zone.dst_offset_from_utc 11.0{FLOAT}))") == \
        {"m.0tz_a", "m.0tz_b"}
    assert ask(store, f"(AND time.time_zone (le time.time_zone.dst_offset_from_utc 12.0{FLOAT}))") == \
        {"m.0tz_a", "m.0tz_c"}
    assert ask(store, "(ARGMIN spaceflight.rocket spaceflight.rocket.diameter_meters)") == {"m.0rk_2"}
    assert ask(store, "(ARGMAX spaceflight.rocket spaceflight.rocket.diameter_meters)") == {"m.0rk_3"}
    assert ask(store, f"(JOIN time.time_zone.dst_offset_from_utc 13.75{FLOAT})") == {"m.0tz_b"}


def test_relaxation_drops_trailing_constraints_and_finds_an_answer(store):
    expr = parse("(AND rail.railway (JOIN (R rail.railway.terminuses) m.0yp3mmb))")
    chain = relaxations(expr)
    assert chain == [expr, ["JOIN", ["R", "rail.railway.terminuses"], "m.0yp3mmb"]]
    assert [bool(store.values(to_sparql(e))) for e in chain] == [False, True]
    counted = relaxations(parse("(COUNT (ARGMAX (AND a.b (JOIN r.s.t m.0x)) r.s.u))"))
    assert counted[1:] == [["COUNT", ["AND", "a.b", ["JOIN", "r.s.t", "m.0x"]]], ["COUNT", ["JOIN", "r.s.t", "m.0x"]]]


def test_names_that_could_change_the_query_are_refused():
    for text in ['(JOIN r.s m.0x>}DROP)', '(JOIN r.s "a b")', "(JOIN r.s 1 } ; DELETE {^^x)"]:
        with pytest.raises((SparqlError, Exception)):
            to_sparql(parse(text))
    with pytest.raises(SparqlError, match="not a Freebase id"):
        to_sparql(["JOIN", "r.s", "m.0x>"])


def test_only_read_only_select_is_sent():
    assert check_select("PREFIX : <http://x/> SELECT ?value WHERE { ?s ?p ?value }")
    for query in ["INSERT DATA { <a> <b> <c> }", "DROP ALL", "SELECT * WHERE { SERVICE <http://x> { ?s ?p ?o } }",
                  "ASK { ?s ?p ?o }"]:
        with pytest.raises(UserError, match="read-only SELECT"):
            check_select(query)


def test_an_endpoint_that_is_down_is_retried_then_one_line():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = HttpEndpoint(f"http://127.0.0.1:{port}/sparql", timeout_s=2, retries=1)
    with pytest.raises(EndpointError, match=rf"127.0.0.1:{port}/sparql did not answer after 2 tries"):
        endpoint.values(to_sparql(parse("(JOIN r.s.t m.0x)")))


def test_open_store_and_a_broken_rdf_file(tmp_path):
    assert isinstance(open_store("fixture.ttl", FIXTURE.parent), LocalStore)
    assert isinstance(open_store("http://example.org/sparql", tmp_path), HttpEndpoint)
    bad = tmp_path / "bad.ttl"
    bad.write_text("<a> <b> .\n")
    with pytest.raises(UserError, match="bad.ttl: not valid RDF"):
        LocalStore(bad)
