"""Scenario expressions are type-checked at validation time: comparing or combining a number
with a text, arithmetic on texts, `in` over a number and lists of the wrong kind of values
are file:line errors, not run-time tracebacks or conditions that silently never match."""

from __future__ import annotations

import pytest
from conftest import write_tree

from vrmed.packs import PackError, load_pack
from vrmed.scenario.expr import compile_expr, type_problems

KINDS = {"dose": "num", "drug": "str", "ok": "bool", "ids": "seq"}


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("drug < 1", "compares a text with a number"),
        ("drug == 3", "compares a text with a number"),
        ("dose > 'high'", "compares a number with a text"),
        ("drug - 1", "arithmetic on a text"),
        ("dose + drug == 1", "cannot add a number and a text"),
        ("drug in 3", "'in' needs a list or a text"),
        ("dose in ['a', 'b']", "can never match"),
        ("-drug > 0", "cannot negate a text"),
    ],
)
def test_type_mistakes_are_found(source, words):
    problems = type_problems(compile_expr(source), KINDS)
    assert problems and words in problems[0], problems


@pytest.mark.parametrize(
    "source",
    ["dose == 1 and drug == 'x'", "drug in ['a', 'b']", "'name' in ids", "ok", "dose * 2 > 1", "ok == 1", "x > 'y'"],
)
def test_well_typed_and_unknown_names_pass(source):
    assert type_problems(compile_expr(source), KINDS) == []


def test_a_mistyped_rubric_where_is_a_file_line_error(tmp_path):
    root = write_tree(
        tmp_path / "demo",
        {
            "pack.yaml": "name: demo\nversion: 1.0.0\nplugins: [physiology]\n",
            "prefabs/p.yaml": "pt:\n  visual: none\n  components:\n    Patient: {}\n",
            "scenarios/one.yaml": (
                "duration: 5\nentities:\n  - {name: patient, prefab: pt}\nrubric:\n  rules:\n"
                "    - {id: r, kind: forbidden, event: DrugGiven, where: \"dose == 'one'\"}\n"
            ),
        },
    )
    with pytest.raises(PackError) as info:
        load_pack(root)
    text = "\n".join(str(i) for i in info.value.issues)
    assert "one.yaml:6" in text and "compares a number with a text" in text, text
