"""Bradycardia and tachycardia with a pulse (AHA 2020 adult bradycardia and tachycardia
algorithms; ERC 2021): the physiology's responses to atropine, pacing, vagal manoeuvres,
adenosine and synchronised cardioversion, and the three scenarios' rubrics (the compliant
learner passes; each violation fails its rule). Scenario runs are lint-rate (2 Hz) runs."""

from __future__ import annotations

import numpy as np
import pytest

from vrmed import App
from vrmed.components import Name
from vrmed.components.clinical.patient import Patient
from vrmed.events import EventInbox
from vrmed.rubric_lint import run_with_learner
from vrmed.scenario.model import LearnerAction
from vrmed.systems.clinical import events as ev
from vrmed.systems.clinical.physiology import PhysiologyPlugin, give_drug, population
from vrmed.systems.clinical.physiology_kernels import adenosine_threshold, step_population


@pytest.fixture(scope="module")
def pack(emergency_pack):
    return emergency_pack


def run(pack, name, learner=None):
    sc = pack.scenario(name)
    result, _, records = run_with_learner(pack, sc, tuple(sorted(learner or sc.learner, key=lambda a: a.t)))
    return result, records


def edit_learner(learner, event, change=None, drop=False, nth=None):
    """``learner`` with its ``event`` actions (only the ``nth``, 0-based) changed or dropped."""
    out, k = [], 0
    for a in learner:
        if a.event.__name__ == event:
            hit = nth is None or k == nth
            k += 1
            if hit and drop:
                continue
            if hit:
                a = LearnerAction(a.t, a.event, {**a.fields, **(change or {})})
        out.append(a)
    return tuple(out)


def like(pack, name, event, t, **fields):
    cls = next(a.event for a in pack.scenario(name).learner if a.event.__name__ == event)
    return LearnerAction(t, cls, fields)


@pytest.mark.parametrize("name", ["bradycardia", "tachycardia", "tachycardia_unstable"])
def test_compliant_learner_passes(pack, name):
    result, _ = run(pack, name)
    assert result.passed and result.score == 100.0, result.findings


#: Violations that touch independent rules share a run (each rule reads only its own events).
BRADY = [
    (
        "atropine 0.5 mg, pacing at 100 /min, no 12-lead",
        [
            dict(event="DrugGiven", change={"dose": 0.5}, nth=0),
            dict(event="PacingStarted", change={"rate_per_min": 100}),
            dict(event="EcgRecorded", drop=True),
        ],
        ["atropine_dose", "pacing_rate", "ecg_12_lead"],
    ),
    ("no pacing", [dict(event="PacingStarted", drop=True)], ["pacing_when_atropine_fails", "stabilised"]),
    ("pacing below threshold", [dict(event="PacingStarted", change={"current_ma": 50})], ["stabilised"]),
]


@pytest.mark.parametrize(("what", "hows", "rules"), BRADY, ids=[b[0] for b in BRADY])
def test_bradycardia_violations(pack, what, hows, rules):
    learner = pack.scenario("bradycardia").learner
    for how in hows:
        learner = edit_learner(learner, **how)
    result, _ = run(pack, "bradycardia", learner)
    failed = {r.id for r in result.rules if not r.passed or r.status != "met"}
    assert set(rules) <= failed and not result.passed, (what, result.findings)


def test_bradycardia_atropine_too_soon_too_much_and_a_wrong_drug(pack):
    """Doses 60 s apart, 4 mg in total, and adenosine in a bradycardia, in one run."""
    extra = (
        like(pack, "bradycardia", "DrugGiven", 90.0, drug="atropine", dose=1.0, unit="mg", route="iv"),
        like(pack, "bradycardia", "DrugGiven", 270.0, drug="atropine", dose=1.0, unit="mg", route="iv"),
        like(pack, "bradycardia", "DrugGiven", 100.0, drug="adenosine", dose=6.0, unit="mg", route="iv"),
    )
    result, _ = run(pack, "bradycardia", pack.scenario("bradycardia").learner + extra)
    failed = {r.id for r in result.rules if not r.passed}
    assert {"atropine_interval", "atropine_max", "no_rate_slowing_drugs"} <= failed and not result.passed


TACHY = [
    (
        "adenosine 12 mg first, standard Valsalva, no 12-lead",
        [
            dict(event="DrugGiven", change={"dose": 12.0}, nth=0),
            dict(event="VagalManoeuvre", change={"kind": "valsalva"}),
            dict(event="EcgRecorded", drop=True),
        ],
        ["adenosine_first_dose", "modified_valsalva", "ecg_12_lead"],
    ),
    (
        "no vagal manoeuvre, second dose 6 mg",
        [dict(event="VagalManoeuvre", drop=True), dict(event="DrugGiven", change={"dose": 6.0}, nth=1)],
        ["vagal_first", "modified_valsalva", "adenosine_second_dose", "converted"],
    ),
]


@pytest.mark.parametrize(("what", "hows", "rules"), TACHY, ids=[t[0] for t in TACHY])
def test_stable_tachycardia_violations(pack, what, hows, rules):
    learner = pack.scenario("tachycardia").learner
    for how in hows:
        learner = edit_learner(learner, **how)
    result, _ = run(pack, "tachycardia", learner)
    failed = {r.id for r in result.rules if not r.passed or r.status != "met"}
    assert set(rules) <= failed and not result.passed, (what, result.findings)


def test_stable_tachycardia_is_not_shocked(pack):
    shock = (like(pack, "tachycardia_unstable", "ShockDelivered", 60.0, energy_j=100.0, synchronised=True),)
    learner = edit_learner(pack.scenario("tachycardia").learner, "DrugGiven", drop=True) + shock
    result, _ = run(pack, "tachycardia", learner)
    assert not result.rule("no_shock_when_stable").passed and not result.passed


#: (what, how, rules it fails, whether the whole run fails: a critical rule)
#: (what, how, the rules it fails, whether the run fails as a whole: a critical rule)
UNSTABLE = [
    (
        "unsynchronised shock",
        dict(event="ShockDelivered", change={"synchronised": False, "energy_j": 200.0}),
        ["no_unsynchronised_shock", "synchronised_cardioversion"],
        True,
    ),
    ("200 J synchronised", dict(event="ShockDelivered", change={"energy_j": 200.0}), ["cardioversion_energy"], False),
    ("no sedation", dict(event="DrugGiven", drop=True), ["sedation_before_cardioversion"], True),
]


@pytest.mark.parametrize(("what", "how", "rules", "fails"), UNSTABLE, ids=[u[0] for u in UNSTABLE])
def test_unstable_tachycardia_violations(pack, what, how, rules, fails):
    result, _ = run(pack, "tachycardia_unstable", edit_learner(pack.scenario("tachycardia_unstable").learner, **how))
    failed = {r.id for r in result.rules if not r.passed or r.status != "met"}
    assert set(rules) <= failed and result.passed is not fails, (what, result.findings)


# -- physiology ------------------------------------------------------------------------------
def cohort(n: int, **patient):
    app = App(seed=0, display_rate=2, rates={"logic": 2, "physics": None})
    app.add_plugin(PhysiologyPlugin())
    for i in range(n):
        app.spawn(Patient(**patient), Name(f"p{i}"))
    app.step(1)
    return app, population(app)


def test_atropine_raises_a_vagal_bradycardia_not_an_infranodal_block():
    app, pop = cohort(2, rhythm="bradycardia", hr=40.0, sbp=84.0, dbp=48.0)
    try:
        pop.atropine_response[1] = 0.15
        for s in (0, 1):
            give_drug(pop, s, "atropine", 1.0, "mg", "iv")
        hr = []
        for _ in range(600):
            step_population(pop, 1.0, None)
            hr.append(pop.hr.copy())
        hr = np.array(hr)
        rise = hr.max(axis=0) - 40.0
        assert 18.0 < rise[0] < 30.0 and rise[1] < 5.0  # ~+24 /min at 1 mg; block: ~+3
        assert 2.0 <= np.argmax(hr[:, 0]) / 60.0 <= 6.0  # peak within minutes
        assert pop.sbp[0] > 84.0 * 1.1  # output rises with rate
    finally:
        app.close()


def test_pacing_captures_from_its_threshold():
    app = App(seed=0, display_rate=2, rates={"logic": 2, "physics": None})
    app.add_plugin(PhysiologyPlugin())
    app.spawn(Patient(rhythm="heart_block", hr=36.0, sbp=78.0, dbp=44.0, pacing_threshold_ma=65.0), Name("p"))
    try:
        app.step(1)
        pop = population(app)
        for ma, expect in ((50.0, 36.0), (80.0, 70.0)):
            app.send(ev.PacingStarted(70.0, ma, "p"))
            app.step(60)
            assert pop.hr[0] == pytest.approx(expect, abs=1.0)
        assert (
            pop.sbp[0] == pytest.approx(78.0 * (70.0 / 36.0) ** 0.5, rel=0.02)
            and pop.value(0, "rhythm") == "heart_block"
        )
    finally:
        app.close()


def test_adenosine_threshold_distribution_matches_dimarco_1990():
    t = adenosine_threshold(np.random.default_rng(0).standard_normal(20000))
    assert np.mean(t <= 6.0) == pytest.approx(0.625, abs=0.01)
    assert np.mean(t <= 12.0) == pytest.approx(0.914, abs=0.01)


def test_adenosine_vagal_and_cardioversion_end_svt():
    app = App(seed=3, display_rate=2, rates={"logic": 2, "physics": None})
    app.add_plugin(PhysiologyPlugin())
    kw = dict(rhythm="svt", hr=180.0, sbp=118.0, dbp=76.0, sinus_hr=82.0)
    app.spawn(Patient(adenosine_threshold_mg=9.0, vagal_response=0.0, **kw), Name("a"))
    app.spawn(Patient(vagal_response=1.0 / 0.43, **kw), Name("v"))  # a certain responder
    app.spawn(Patient(**kw), Name("c"))
    inbox = EventInbox(app, (ev.RhythmChanged,))
    try:
        app.step(1)
        pop = population(app)
        app.send(ev.VagalManoeuvre("modified_valsalva", "a"))
        app.send(ev.DrugGiven("adenosine", 6.0, "mg", "iv", "a"))
        app.step(60)
        assert pop.value(0, "rhythm") == "svt"  # 6 mg below this patient's 9 mg
        app.send(ev.DrugGiven("adenosine", 12.0, "mg", "iv", "a"))
        app.send(ev.VagalManoeuvre("modified_valsalva", "v"))
        app.send(ev.ShockDelivered("c", 100.0, synchronised=True))
        app.step(60)
        ended = {e.patient for e in inbox.drain() if e.from_rhythm == "svt"}
        assert ended == {"a", "v", "c"} and all(pop.hr[s] < 90.0 for s in range(3))
    finally:
        app.close()
