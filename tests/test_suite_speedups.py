"""What the test-suite speed-ups (docs/architecture.md, "Test-suite time") must not change:
a class redefined under the same name (a hot reload) is converted and checked by its own
field types, not by a cached copy of the old class's, and the rubric lint's exam-mode runs
score a learner exactly as a formative-mode run does, without the live cues; the parallel run's
work units named in tests/conftest.py exist (a renamed file would silently lose its place)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vrmed.packs.convert import ConvertContext, FieldError, build_dataclass
from vrmed.rubric_lint import run_with_learner
from vrmed.scenario.validate import event_fields


def _component(kind: type) -> type:
    """A fresh dataclass named ``Dose`` whose field ``amount`` has the annotation ``kind``
    (a string annotation, as under ``from __future__ import annotations``)."""
    return dataclasses.make_dataclass("Dose", [("amount", kind.__name__)])


def test_a_redefined_class_is_converted_by_its_own_field_types():
    ctx = ConvertContext(Path("."))
    old = _component(int)
    assert build_dataclass(old, {"amount": 3}, ctx).amount == 3
    with pytest.raises(FieldError):
        build_dataclass(old, {"amount": "three"}, ctx)
    new = _component(str)  # same name, new class: what a hot reload makes
    assert build_dataclass(new, {"amount": "three"}, ctx).amount == "three"
    with pytest.raises(FieldError):
        build_dataclass(new, {"amount": 3}, ctx)
    assert build_dataclass(old, {"amount": 4}, ctx).amount == 4  # the old class keeps its types
    assert event_fields(old)["amount"] is int and event_fields(new)["amount"] is str


def test_rubric_lint_runs_score_as_formative_runs_without_the_cues(nursing_pack):
    scenario = nursing_pack.scenario("medication_errors")
    learner = scenario.learner  # the error-making nurse: every rule missed, each one cued
    exam, exam_end, exam_records = run_with_learner(nursing_pack, scenario, learner)
    formative, end, records = run_with_learner(nursing_pack, scenario, learner, mode="formative")
    cues = [r for r in records if r["type"].endswith(":CueShown")]
    assert cues and not [r for r in exam_records if r["type"].endswith(":CueShown")]

    def plain(recs):  # the records but their sequence numbers (cue records take some)
        return [{k: v for k, v in r.items() if k != "seq"} for r in recs if not r["type"].endswith(":CueShown")]

    assert plain(records) == plain(exam_records)
    assert (exam.score, exam.passed, exam_end) == (formative.score, formative.passed, end)
    assert [dataclasses.astuple(r) for r in exam.rules] == [dataclasses.astuple(r) for r in formative.rules]


def test_the_scheduled_work_units_name_existing_test_files():
    """``SHARED_FIXTURE_GROUPS`` names test files, and ``LONG_UNITS_FIRST`` names those files or
    their groups, once each: a unit renamed or removed would fall back to xdist's order (the
    long few-test units last) without a word."""
    from conftest import LONG_UNITS_FIRST, SHARED_FIXTURE_GROUPS  # deferred: the suite's own scheduler tables

    here = Path(__file__).resolve().parent
    assert all((here / name).is_file() for name in SHARED_FIXTURE_GROUPS)
    units = {p.name for p in here.glob("test_*.py")} - set(SHARED_FIXTURE_GROUPS) | set(SHARED_FIXTURE_GROUPS.values())
    assert set(LONG_UNITS_FIRST) <= units and len(set(LONG_UNITS_FIRST)) == len(LONG_UNITS_FIRST)
