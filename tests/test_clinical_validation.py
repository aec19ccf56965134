"""The clinical validation table (docs/clinical-validation.md) is generated from scripted runs
of the physiology model and stays true: the committed file matches a fresh run, and every
rated response keeps its rating (the tolerance stated in the table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrmed.benchmarks import clinical_validation as cv

DOC = Path(__file__).resolve().parents[1] / "docs" / "clinical-validation.md"


@pytest.fixture(scope="module")
def result():
    return cv.run({})


def test_committed_table_is_current(result):
    assert DOC.read_text(encoding="utf-8") == cv.markdown(result), (
        "docs/clinical-validation.md is out of date: python -m vrmed.benchmarks.clinical_validation "
        "--write docs/clinical-validation.md"
    )


def test_every_drug_the_issue_names_has_a_row(result):
    drugs = {r["drug"] for r in result["rows"]}
    named = {"epinephrine", "amiodarone", "lidocaine", "naloxone", "morphine", "hydromorphone", "fentanyl"}
    named |= {"midazolam", "insulin", "dextrose", "metoprolol", "adenosine", "atropine", "oxygen", "fluids"}
    assert named <= drugs


def test_summary_floor(result):
    """The calibration does not regress: the ratings the issue's drugs reached stay reached."""
    s = result["summary"]
    assert s["good"] >= 30 and s["poor"] <= 1 and s["not modelled"] == 2  # fentanyl, midazolam
    by = {(r["drug"], r["response"]): r["rating"] for r in result["rows"]}
    assert by[("naloxone", "0.4 mg IV after morphine 60 mg: reversal lasts (min) before re-sedation")] == "good"
    assert by[("epinephrine", "push dose 20 ug IV: peak SBP rise (mmHg)")] == "good"
    for drug in ("atropine", "adenosine", "sodium bicarbonate", "fluids"):  # the code-blue completeness rows
        assert all(r["rating"] == "good" for r in result["rows"] if r["drug"] == drug), drug


def test_deviation_and_rating_rules():
    ref = cv.Reference(30, 81, "min", "", True)
    assert cv.deviation(45, ref) == 0.0 and cv.deviation(27, ref) == pytest.approx(0.1)
    assert cv.rating(0.05) == "good" and cv.rating(0.2) == "some deviation" and cv.rating(0.5) == "poor"
