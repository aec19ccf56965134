"""The rubric lint (`vrmed validate --rubric-lint`): every built-in scenario's rubric fails a
learner who does nothing and a learner who acts at random, and the lint does report a rubric
that such a learner passes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import write_tree

from vrmed.cli import cli
from vrmed.packs import load_pack
from vrmed.rubric_lint import lint_rubrics

SYSTEMS = """
from dataclasses import dataclass
import vrmed

@dataclass(frozen=True)
class Ping(vrmed.Event):
    value: int
"""

GAMEABLE = """
duration: 20
rates: {display: 10, logic: 10, physics: null}
entities: []
rubric:
  rules:
    - {id: no_bad_ping, kind: forbidden, event: Ping, where: "value < 0"}
    - {id: optional_ping, kind: nth, event: Ping, n: 1, expect: "value == 1", required: false}
learner:
  - {t: 1, event: Ping, value: 1}
"""


@pytest.mark.slow
@pytest.mark.parametrize("pack_name", ["emergency", "nursing"])
def test_every_built_in_rubric_fails_do_nothing_and_random_learners(pack_name, request):
    pack = request.getfixturevalue(f"{pack_name}_pack")  # the session's shared copy
    runs = lint_rubrics(pack, random_runs=1)
    linted = {r.scenario for r in runs}
    with_rubric = {n for n, s in pack.scenarios.items() if s.rubric is not None}
    # one run per distinct (script, rubric): the *_errors variants share their case's rubric
    assert linted and linted <= with_rubric
    assert {r.learner for r in runs} == {"do-nothing", "random #1"}
    passing = [r.line() for r in runs if r.passed]
    assert not passing, passing
    assert all(r.result.findings for r in runs)  # every failure is explained


def test_lint_reports_a_rubric_that_doing_nothing_passes(tmp_path):
    root = write_tree(
        tmp_path / "demo",
        {
            "pack.yaml": "name: demo\nversion: 1.0.0\ndefault_scenario: one\n",
            "systems.py": SYSTEMS,
            "scenarios/one.yaml": GAMEABLE,
        },
    )
    runs = lint_rubrics(load_pack(root))
    assert [r.learner for r in runs if r.passed] == ["do-nothing", "random #1"]
    result = CliRunner().invoke(cli, ["validate", str(root), "--rubric-lint"])
    assert result.exit_code == 1 and "one: do-nothing learner scores 100% and PASSES" in result.output
