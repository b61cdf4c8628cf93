"""GrailQA's EM (logical-form graph isomorphism over the staged Freebase ontology), answer F1, and the acceptance
round trip: the 32 staged GrailQA gold S-expressions -> KB-Coder demo lines -> interpreter -> linking with the
ontology's domain/range -> S-expression, EM 32/32 with no format error; perturbed forms EM 0."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from embedlab.models.kbqa.grailqa import gold_tree, read_examples, surface_map
from embedlab.models.kbqa.linking import Linker
from embedlab.models.kbqa.metrics import Grapher, answer_f1, same_logical_form
from embedlab.models.kbqa.ontology import Ontology
from embedlab.models.kbqa.program import interpret, lines_of
from embedlab.models.kbqa.resolve import Resolver
from embedlab.models.kbqa.sexpr import parse, render

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kbqa"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="the staged GrailQA sample is not beside the checkout")


@cache
def ontology() -> Ontology:
    return Ontology.load(DATA / "freebase_ontology")


@cache
def grapher() -> Grapher:
    return Grapher(ontology())


def em(a: str, b: str) -> bool:
    return same_logical_form(grapher(), a, b)


TERMINUS = "(AND rail.railway_terminus (JOIN (R rail.railway.terminuses) m.0yp3mmb))"


@pytest.mark.parametrize("a, b", [
    # the same form written differently: AND's arguments swapped
    ("(AND computer.software (AND (JOIN computer.software.software_genre m.07gcf) "
     "(JOIN computer.software.software_genre m.082vy)))",
     "(AND computer.software (AND (JOIN computer.software.software_genre m.082vy) "
     "(JOIN computer.software.software_genre m.07gcf)))"),
    # (R r) is r's reverse property read forward (reverse_properties.txt: terminuses <-> railways_terminating_here)
    (TERMINUS, "(AND rail.railway_terminus (JOIN rail.railway_terminus.railways_terminating_here m.0yp3mmb))"),
    # the class JOIN gives its node anyway (range of terminuses) may be left out
    (TERMINUS, "(JOIN (R rail.railway.terminuses) m.0yp3mmb)"),
])
def test_equivalent_forms_match(a, b):
    assert em(a, b) and em(b, a)


@pytest.mark.parametrize("a, b", [
    (TERMINUS, "(AND rail.railway_terminus (JOIN rail.railway.terminuses m.0yp3mmb))"),  # direction flipped
    (TERMINUS, "(AND rail.railway_terminus (JOIN (R rail.railway.terminuses) m.0aaaaaa))"),  # other entity
    (TERMINUS, "(COUNT " + TERMINUS + ")"),  # a function added
    ("(ARGMIN spaceflight.rocket spaceflight.rocket.diameter_meters)",
     "(ARGMAX spaceflight.rocket spaceflight.rocket.diameter_meters)"),
    ("(AND time.time_zone (gt time.time_zone.dst_offset_from_utc 11.0^^http://www.w3.org/2001/XMLSchema#float))",
     "(AND time.time_zone (lt time.time_zone.dst_offset_from_utc 11.0^^http://www.w3.org/2001/XMLSchema#float))"),
    (TERMINUS, "(AND rail.railway_terminus (JOIN (R rail.railway.terminuses) m.0yp3mmb)"),  # does not parse
])
def test_different_forms_do_not_match(a, b):
    assert not em(a, b)


def test_answer_f1_by_hand():
    assert answer_f1({"a", "b"}, {"b", "c", "d"}) == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert answer_f1(set(), {"a"}) == 0.0 and answer_f1(set(), set()) == 1.0 and answer_f1({"a"}, {"a"}) == 1.0


def test_summary_intervals_and_seconds_by_hand():
    from embedlab.tasks.kbqa.evaluate import summary_row, wilson

    # Wilson 95 %: 0 of 32 -> (0, z^2 / (n + z^2)) = 3.8416 / 35.8416; 16 of 32 -> 0.5 -/+ 0.183345 / 1.12005
    assert wilson(0, 32) == pytest.approx((0.0, 0.107183), abs=1e-6)
    assert wilson(16, 32) == pytest.approx((0.336306, 0.663694), abs=1e-6)
    records = [{"em": em, "f1": None, "all_bad": bad, "first_bad": bad, "format_errors": 3 * bad, "samples": 3,
                "level": "i.i.d.", "seconds": seconds}
               for em, bad, seconds in [(True, False, 10.0), (False, True, 20.0), (False, False, None)]]
    row = summary_row(records)
    assert row["EM"] == pytest.approx(1 / 3) and row["FER"] == pytest.approx(1 / 3)
    assert (row["FER 95% low"], row["FER 95% high"]) == pytest.approx(wilson(1, 3))
    assert row["bad samples"] == pytest.approx(3 / 9) and row["s/question"] == pytest.approx(15.0)


def _perturbations(expr) -> list:
    """Wrong direction (an R dropped, or a forward relation reversed), ARGMAX <-> ARGMIN, COUNT dropped."""
    text = render(expr)
    out = []
    if "(R " in text:
        start = text.index("(R ")
        end = text.index(")", start)
        out.append(text[:start] + text[start + 3:end] + text[end + 1:])
    elif "(JOIN " in text:
        start = text.index("(JOIN ") + 6
        end = text.index(" ", start)
        out.append(text[:start] + f"(R {text[start:end]})" + text[end:])
    if "ARGMAX" in text or "ARGMIN" in text:
        out.append(text.replace("ARGMAX", "ARG_").replace("ARGMIN", "ARGMAX").replace("ARG_", "ARGMIN"))
    if text.startswith("(COUNT "):
        out.append(text[len("(COUNT "):-1])
    return out


def test_round_trip_of_the_32_gold_forms_and_their_perturbations(tmp_path):
    examples = read_examples(DATA / "grailqa_demo" / "grailqa_v1.0_demo_reference.json")
    assert len(examples) == 32
    surface = tmp_path / "surface.tsv"
    surface.write_text("".join("\t".join(row) + "\n" for row in surface_map(examples)), encoding="utf-8")

    def no_search(texts):  # every mention is an exact id or map name: no similarity search may happen
        raise AssertionError(f"similarity search for {texts[:3]}")

    resolver = Resolver(ontology(), Linker(ontology(), no_search, surface, entity_topk=1), entity_topk=1)
    matched, perturbed = 0, []
    for example in examples:
        gold = parse(example.s_expression)
        assert em(example.s_expression, example.s_expression)
        code = "\n".join(lines_of(gold_tree(gold, example.names, ontology())) + ["expression = STOP(expression)"])
        predicted = next(resolver.programs(interpret(code)))
        matched += em(render(predicted), example.s_expression)
        perturbed += [em(wrong, example.s_expression) for wrong in _perturbations(gold)]
    assert matched == 32
    assert len(perturbed) == 30 + 4 + 2 and not any(perturbed)  # 30 forms with a JOIN, 4 ARG, 2 COUNT
