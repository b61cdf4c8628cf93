"""KB-Coder's safe interpreter (paper 10): hand-written completions -> program trees, every kind of bad code a
counted format error with its reason, and nothing of it ever runs (a canary file stays absent)."""

from __future__ import annotations

import pytest

from embedlab.models.kbqa.program import FormatError, Mention, interpret, lines_of

REL = Mention("relation", "rail.railway.terminuses")


def test_the_papers_figure_example_builds_its_tree():
    text = """expression = START('presenter')
expression = JOIN('profession', expression)
expression1 = START('united states of america')
expression1 = JOIN('nationality', expression1)
expression = AND(expression, expression1)
expression = COUNT(expression)
expression = STOP(expression)"""
    assert interpret(text) == ("COUNT", ("AND",
                                         ("JOIN", Mention("relation", "profession"), Mention("entity", "presenter")),
                                         ("JOIN", Mention("relation", "nationality"),
                                          Mention("entity", "united states of america"))))


def test_start_types_literals_classes_and_entities():
    text = """a = START('11.0')
b = START('1990#gyear')
c = START('rail.railway')
d = START('m.0yp3mmb')
e = AND('rail.railway', d)
f = CMP('>', 'time.time_zone.dst_offset_from_utc', a)
g = CMP('=', 'x.y.z', b)
h = ARG('ArgMin', c, 'spaceflight.rocket.diameter_meters')
expression = AND(e, AND(f, AND(g, h)))"""
    with pytest.raises(FormatError, match="a call inside a call"):
        interpret(text + "\nexpression = STOP(expression)")
    text = text.replace("expression = AND(e, AND(f, AND(g, h)))",
                        "x = AND(g, h)\nx = AND(f, x)\nx = AND(e, x)\nexpression = STOP(x)")
    tree = interpret(text)
    assert tree[1] == ("AND", Mention("class", "rail.railway"), Mention("entity", "m.0yp3mmb"))
    assert tree[2][1] == ("gt", Mention("relation", "time.time_zone.dst_offset_from_utc"), Mention("literal", "11.0"))
    assert tree[2][2][1] == ("JOIN", Mention("relation", "x.y.z"), Mention("literal", "1990", "gyear"))
    assert tree[2][2][2] == ("ARGMIN", Mention("class", "rail.railway"),
                             Mention("relation", "spaceflight.rocket.diameter_meters"))


def test_chat_wrapping_is_removed_and_text_after_stop_ignored():
    text = """```python
question = 'what number of railway terminus is terminuses of northern line?'
expression = START('northern line')
expression = JOIN('rail.railway.terminuses', expression)
expression = STOP(expression)
question = 'next one'
```"""
    assert interpret(text) == ("JOIN", REL, Mention("entity", "northern line"))
    assert interpret("'''think first\nthen write'''\nx = START('a')\nx = STOP(x)\n\nimport os") == Mention("entity", "a")


def test_arg_chain_is_one_comma_separated_text():
    tree = interpret("x = START('medicine.medical_trial_design')\n"
                     "x = ARG('argmax', x, 'medicine.medical_trial.design, medicine.medical_trial.expected_total_enrollment')\n"
                     "x = STOP(x)")
    assert tree[2] == ("CHAIN", Mention("relation", "medicine.medical_trial.design"),
                       Mention("relation", "medicine.medical_trial.expected_total_enrollment"))


def test_lines_of_is_the_inverse_of_interpret():
    tree = ("COUNT", ("AND", Mention("class", "rail.railway_terminus"),
                      ("AND", ("JOIN", REL, Mention("entity", "northern line")),
                       ("gt", Mention("relation", "a.b.c"), Mention("literal", "3", "integer")))))
    assert interpret("\n".join(lines_of(tree) + ["expression = STOP(expression)"])) == tree


@pytest.mark.parametrize("text, reason", [
    ("import os\nx = STOP(x)", "imports are not allowed"),
    ("from os import system", "imports are not allowed"),
    ("x = os.system('ls')", "attribute access"),
    ("x = START('a').upper()", "attribute access"),
    ("x = print('a')", "call of 'print', which is not one of"),
    ("x = eval('1')", "call of 'eval'"),
    ("x = JOIN('r')", "JOIN takes 2 argument"),
    ("x = START('a', 'b')", "START takes 1 argument"),
    ("x = JOIN('r', y)", "unknown variable 'y'"),
    ("x = START(3)", "got the int 3"),
    ("x = START(None)", "got the NoneType"),
    ("x = START(b'a')", "got the bytes"),
    ("x = START('a')\nx = JOIN(r'rel', x.y)", "attribute access"),
    ("x = START('a')\nx = COUNT(lambda: 0)", "a lambda"),
    ("x = START(f'{1}')", "f-string"),
    ("x = START(entity='a')", "positional arguments only"),
    ("x = START(*['a'])", "positional arguments only"),
    ("x = START('a')\ny, z = x, x", "assign to one variable"),
    ("x.y = START('a')", "assign to one variable"),
    ("x = 'text'", "must be one of the calls"),
    ("x = START('a')\nx = JOIN(x, x)", "must be a relation text"),
    ("x = START('a')\nx = JOIN('r', 'b')", "expected a variable"),
    ("x = START('a')\nx = AND('not a class', x)", "must be a class"),
    ("x = START('a')\nx = ARG('max', x, 'r')", "'argmax' or 'argmin'"),
    ("x = START('a')\nx = CMP('!=', 'r', x)", "one of <, <=, >, >=, ="),
    ("x = START('a')\nx = COUNT(x)", "no STOP"),
    ("x = START('a'", "not a Python statement"),
    ("x = START('a'); y = START('b')", "one call per line"),
    ("for i in range(3): pass", r"expected `expression = CALL\(...\)`, got For"),
    ("", "no program lines"),
    ("x = " + "(" * 500 + ")" * 500, "not a Python statement|must be one of the calls"),
])
def test_bad_code_is_a_format_error_with_its_reason(text, reason):
    with pytest.raises(FormatError, match=reason):
        interpret(text)


def test_nothing_of_a_malicious_completion_runs(tmp_path):
    canary = tmp_path / "canary"
    attacks = [
        f"x = __import__('os').system('touch {canary}')\nx = STOP(x)",
        f"import os\nos.system('touch {canary}')",
        f"x = START('a')\nx = JOIN((lambda: open('{canary}', 'w'))(), x)\nx = STOP(x)",
        f"x = START(open('{canary}', 'w').name)\nx = STOP(x)",
        f"x = START('a')\nx = STOP(x.__class__.__init__.__globals__['os'].system('touch {canary}'))",
        f"exec(\"open('{canary}', 'w')\")",
    ]
    for text in attacks:
        with pytest.raises(FormatError):
            interpret(text)
    assert not canary.exists()
