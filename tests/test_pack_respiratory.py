"""respiratory: the ventilator/lung model against the analytic solutions of the equation of
motion (time constant, exponential volume, peak vs plateau, intrinsic PEEP), gas exchange
against textbook physiology, and the three scenarios: correct learners pass, error-making
learners fail on the right rules, a person reaches the same score through menu commands,
sessions replay exactly and become valid xAPI."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import run_scenario

from vrmed.input import LEARNER
from vrmed.recording import SessionLog
from vrmed.records import build_statements, make_attempt
from vrmed.records.scoring import score_log
from vrmed.records.xapi import validate_statement
from vrmed.scenario import evaluate_rubric, matching
from vrmed.session import build_session, open_target, replay


@pytest.fixture(scope="module")
def pack():
    return open_target("respiratory")[0]


@pytest.fixture(scope="module")
def rs(pack):
    """The pack's systems module (its model functions), as the loader imported it."""
    return pack.module


def simulate(
    rs, seconds, *, mode="VC", vt_ml=500.0, pinsp=15.0, peep=5.0, rate=12.0, ie=2.0, r=10.0, c_ml=50.0, p_high=80.0
):
    """Run the mechanics kernel from rest for ``seconds``; returns time, Paw, flow, V (mL)."""
    n = int(round(seconds * rs.SAMPLE_HZ))
    state, breath = np.zeros(5), np.zeros(5)
    paw, flow, vol = np.zeros(n), np.zeros(n), np.zeros(n)
    rs.ventilate_kernel(
        n,
        1.0 / rs.SAMPLE_HZ,
        mode == "VC",
        vt_ml / 1000,
        pinsp,
        peep,
        rate,
        ie,
        p_high,
        r,
        c_ml / 1000,
        state,
        breath,
        paw,
        flow,
        vol,
        0,
    )
    t = np.arange(1, n + 1) / rs.SAMPLE_HZ
    return t, paw, flow, vol, breath


# --------------------------------------------------------------------------- mechanics


def test_volume_control_peak_plateau_and_linear_volume(rs):
    """Square-wave flow: V rises linearly to Vt; Ppeak = PEEP + Vt/C + R*Vt/Ti; the
    plateau (zero flow) = PEEP + Vt/C."""
    vt, c, r, rate, ie, peep = 500.0, 50.0, 10.0, 12.0, 2.0, 5.0
    t, paw, flow, vol, breath = simulate(rs, 5.0, vt_ml=vt, c_ml=c, r=r, rate=rate, ie=ie, peep=peep)
    ti = 60 / rate / (1 + ie)
    q = vt / 1000 / ti
    insp = t < ti - 1e-9
    np.testing.assert_allclose(vol[insp], 1000 * q * t[insp], rtol=1e-12)
    assert breath[0] == pytest.approx(peep + vt / c + r * q, rel=1e-12)  # 5 + 10 + 3 = 18 cmH2O
    assert breath[0] == pytest.approx(18.0)
    # end-inspiratory volume / C + PEEP is what an inspiratory hold reads
    assert peep + breath[1] * 1000 / c == pytest.approx(15.0, rel=1e-12)


def test_passive_expiration_decays_with_tau_rc(rs):
    """Expiratory volume V0 exp(-t/tau) with tau = R*C; the fitted log-slope gives R*C."""
    r, c = 20.0, 60.0  # tau = 1.2 s
    t, paw, flow, vol, breath = simulate(rs, 5.0, vt_ml=600, c_ml=c, r=r, rate=12, ie=2.0)
    ti = 60 / 12 / 3
    exp_ = (t > ti + 1e-9) & (t < 5.0 - 1e-9)
    v0 = breath[1] * 1000
    np.testing.assert_allclose(vol[exp_], v0 * np.exp(-(t[exp_] - ti) / 1.2), rtol=1e-9)
    slope = np.polyfit(t[exp_], np.log(vol[exp_]), 1)[0]
    assert -1 / slope == pytest.approx(rs.time_constant(r, c), rel=1e-9)
    # expiratory flow is -V/tau and Paw sits at PEEP
    np.testing.assert_allclose(flow[exp_], -vol[exp_] / 1000 / 1.2, rtol=1e-9)
    assert np.all(paw[exp_] == 5.0)


def test_pressure_control_exponential_filling(rs):
    """PC: V(t) = C*Pinsp (1 - exp(-t/tau)); Vt approaches C*Pinsp when Ti >> tau."""
    c, r, pinsp = 40.0, 10.0, 15.0  # tau 0.4 s, C*Pinsp = 600 mL
    t, paw, flow, vol, breath = simulate(rs, 5.0, mode="PC", pinsp=pinsp, c_ml=c, r=r, rate=12, ie=2.0)
    ti = 60 / 12 / 3
    insp = t < ti - 1e-9
    np.testing.assert_allclose(vol[insp], c * pinsp * (1 - np.exp(-t[insp] / 0.4)), rtol=1e-9)
    assert breath[3] * 1000 == pytest.approx(600 * (1 - math.exp(-ti / 0.4)), rel=1e-9)
    assert np.all(paw[insp] == 5.0 + pinsp)


@pytest.mark.parametrize("rate,ie", [(24, 1.5), (30, 1.5), (20, 2.0), (12, 4.0)])
def test_intrinsic_peep_matches_the_steady_state_solution(rs, rate, ie):
    """Steady-state end-expiratory volume V_ee = Vt e/(1-e), e = exp(-Te/tau): trapped gas
    when Te < 3 tau, none to speak of when Te > 5 tau."""
    vt, c, r = 550.0, 60.0, 28.0  # tau 1.68 s
    t, paw, flow, vol, breath = simulate(rs, 60.0, vt_ml=vt, c_ml=c, r=r, rate=rate, ie=ie)
    expected = rs.steady_auto_peep_vc(vt, c, r, rate, ie)
    assert breath[2] * 1000 / c == pytest.approx(expected, rel=1e-6)
    te = 60 / rate * ie / (1 + ie)
    tau = rs.time_constant(r, c)
    if te < 3 * tau:
        assert expected > 0.05 * vt / c  # > 5% of the tidal pressure swing
    if te > 5 * tau:
        assert expected < 0.01 * vt / c


def test_volume_control_cycles_off_at_the_pressure_limit(rs):
    """A high resistance makes Paw reach the limit: the breath ends there, Vt falls."""
    t, paw, flow, vol, breath = simulate(rs, 10.0, vt_ml=420, c_ml=55, r=110, rate=14, p_high=40)
    assert paw.max() <= 40.0 + 1e-9 and breath[0] == pytest.approx(40.0)
    assert breath[3] * 1000 < 200


# --------------------------------------------------------------------------- gas exchange


def test_oxygen_dissociation_and_pbw(rs):
    assert rs.saturation(26.8) == pytest.approx(50.0, abs=0.5)  # P50 of adult haemoglobin
    assert rs.saturation(100.0) == pytest.approx(97.7, abs=0.3)
    assert rs.saturation(60.0) == pytest.approx(91.0, abs=1.0)
    assert rs.po2_from_content(rs.o2_content(80.0, 14.0), 14.0) == pytest.approx(80.0, abs=1e-6)
    assert rs.predicted_body_weight(175, "male") == pytest.approx(70.57, abs=0.01)  # ARDSNet formula
    assert rs.predicted_body_weight(160, "female") == pytest.approx(52.42, abs=0.01)


def test_gas_exchange_reference_values(rs):
    normal = rs.Lung()
    air = rs.gas_exchange(normal, 0.21, 500, 12, 5)
    # alveolar ventilation 12 x 0.35 = 4.2 L/min -> PaCO2 0.863 x 200 / 4.2 = 41 mmHg
    assert air["paco2"] == pytest.approx(0.863 * 200 / 4.2, rel=1e-12)
    assert air["pao2_alveolar"] == pytest.approx(0.21 * 713 - air["paco2"] / 0.8, rel=1e-12)
    assert 80 <= air["pao2"] <= 100 and 95 <= air["spo2"] <= 98 and 7.35 <= air["ph"] <= 7.45
    doubled = rs.gas_exchange(normal, 0.21, 500, 24, 5)
    assert doubled["paco2"] == pytest.approx(air["paco2"] / 2, rel=1e-12)  # PaCO2 ~ 1/VA
    ards = rs.Lung(compliance_ml=30, resistance=12, dead_space_ml=230, shunt=0.45, shunt_min=0.15)
    low, high = rs.gas_exchange(ards, 0.6, 420, 20, 5), rs.gas_exchange(ards, 0.6, 420, 20, 10)
    for g in (low, high):  # Berlin definition: moderate ARDS, 100 < P/F <= 200 on PEEP >= 5
        assert 100 < g["pao2"] / 0.6 <= 200
    assert high["pao2"] > low["pao2"]  # PEEP recruits: less shunt
    assert rs.peep_fio2_ok(10, 0.6) and rs.peep_fio2_ok(8, 0.5) and not rs.peep_fio2_ok(5, 1.0)


def test_co2_store_dynamics(rs):
    lung = rs.Lung()
    steady = 0.863 * lung.vco2 / 4.2
    # exact solution: from steady state nothing moves; with no ventilation PaCO2 rises linearly
    assert rs.co2_step(lung, steady, 4.2, 1.0) == pytest.approx(steady, rel=1e-12)
    rise = rs.co2_step(lung, 40.0, 0.0, 10.0) - 40.0
    assert rise == pytest.approx(10 * 0.863 * lung.vco2 / (rs.VA_REF * lung.gas_tau_s), rel=1e-12)


# --------------------------------------------------------------------------- scenarios

SCENARIOS = ("lung_protective", "auto_peep", "high_pressure")
ERRORS_CAUGHT = {
    "lung_protective": {
        "pbw_correct",
        "six_ml_per_kg",
        "never_above_8_ml_per_kg",
        "driving_pressure",
        "peep_fio2_table",
        "rate_raised",
        "oxygenation_goal",
    },
    "auto_peep": {
        "recognised",
        "measured_before_changing",
        "rate_lowered",
        "no_faster_rate",
        "expiration_lengthened",
        "bronchodilator",
        "reassessed",
    },
    "high_pressure": {
        "bagged_promptly",
        "tube_checked",
        "chest_auscultated",
        "suctioned",
        "obstruction_cleared",
        "limit_not_raised",
        "not_silenced_first",
    },
}


@pytest.fixture(scope="module")
def runs(pack):
    return {name: run_scenario(pack, name) for s in SCENARIOS for name in (s, s + "_errors")}


@pytest.mark.slow  # runs the six scenarios (module fixture, ~6 s)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_correct_learner_passes_error_learner_fails_on_the_right_rules(runs, scenario):
    good, bad = runs[scenario]["result"], runs[scenario + "_errors"]["result"]
    assert good.passed and good.score == 100.0, [(r.id, r.detail) for r in good.rules if not r.passed]
    assert not bad.passed
    assert {r.id for r in bad.rules if not r.passed} == ERRORS_CAUGHT[scenario]


def data_of(records, name) -> list[dict[str, Any]]:
    return [r["data"] for r in matching(records, name)]


@pytest.mark.slow
def test_scenario_measurements(runs):
    lp = data_of(runs["lung_protective"]["records"], "PlateauMeasured")[0]
    assert lp["vt_per_kg_pbw"] == pytest.approx(420 / 70.57, abs=0.01) and lp["driving_pressure"] == pytest.approx(
        14.0, abs=0.2
    )
    bad = data_of(runs["lung_protective_errors"]["records"], "PlateauMeasured")[0]
    assert bad["vt_per_kg_pbw"] == pytest.approx(570 / 70.57, abs=0.01) and bad["driving_pressure"] == pytest.approx(
        19.0, abs=0.2
    )
    gas = data_of(runs["lung_protective"]["records"], "BloodGasResult")[0]
    assert 7.30 <= gas["ph"] <= 7.45 and 55 <= gas["pao2"] <= 80
    ap = [d["auto_peep"] for d in data_of(runs["auto_peep"]["records"], "TotalPeepMeasured")]
    assert ap[0] == pytest.approx(6.36, abs=0.2) and ap[1] < 1.0  # analytic 6.36 cmH2O before treatment
    assert runs["auto_peep"]["outcome"] == "resolved" and runs["high_pressure"]["outcome"] == "obstruction_cleared"
    alarm = data_of(runs["high_pressure"]["records"], "VentilatorAlarm")[0]
    assert alarm["alarm"] == "high_pressure" and alarm["value"] >= 40
    hold = data_of(runs["high_pressure"]["records"], "PlateauMeasured")[0]
    assert hold["ppeak"] - hold["pplat"] > 10  # resistance, not compliance: a normal plateau


class Timeline:
    """A person's menu commands at given times (what the desktop/headset input records)."""

    kind = "desktop"

    def __init__(self, steps: list[tuple[float, list[str]]]) -> None:
        self.steps, self.i = steps, 0

    def sample(self, time: float, frame: int) -> dict[str, Any]:
        cmds: list[str] = []
        while self.i < len(self.steps) and self.steps[self.i][0] <= time + 1e-9:
            cmds += self.steps[self.i][1]
            self.i += 1
        return {LEARNER: {"commands": cmds}} if cmds else {}


def person_steps(scenario) -> list[tuple[float, list[str]]]:
    """The scripted learner re-expressed as menu commands: every scripted action is offered."""
    steps = []
    for act in scenario.learner:
        for spec in scenario.interaction.actions:
            if spec.event is not act.event or any(act.fields.get(k, v) != v for k, v in spec.fields.items()):
                continue
            if not all(act.fields.get(n) in values for n, values in spec.options):
                continue
            cmds = [f"menu.action:{spec.id}"]
            cmds += [f"menu.choose:{values.index(act.fields[n]) + 1}" for n, values in spec.options]
            steps.append((act.t, cmds))
            break
        else:
            raise AssertionError(f"{scenario.name}: no action offers {act.event.__name__} {act.fields}")
    return steps


@pytest.mark.slow
def test_a_person_at_the_desktop_gets_the_same_score(pack, runs):
    scenario = pack.scenario("auto_peep")
    session = build_session(pack, "auto_peep", input_source=Timeline(person_steps(scenario)), display_rate=10)
    try:
        session.run()
        log = session.finish()
    finally:
        session.close()
    assert log.header["learner"] == "person"
    result = evaluate_rubric(scenario.rubric, log.event_records(), float(log.footer["sim_time"]))
    assert result.score == runs["auto_peep"]["result"].score == 100.0
    for name in SCENARIOS:  # every scripted action of every scenario is offered to a person
        assert person_steps(pack.scenario(name))


@pytest.mark.slow
def test_replay_is_exact_and_records_are_valid_xapi(pack, tmp_path):
    session = build_session(pack, "high_pressure_errors", seed=0, display_rate=10)
    try:
        session.run()
        path = session.finish().write(tmp_path / "s.jsonl")
    finally:
        session.close()
    log = SessionLog.read(path)
    result, again = replay(log)
    again.close()
    assert result.ok, result.first_difference
    scored = score_log(log)
    assert not scored.passed and scored.score == pytest.approx(10.0)
    statements = build_statements(make_attempt(log, "l-" + "0" * 32, scored), "https://lms.example.org/")
    assert statements and all(validate_statement(s) == [] for s in statements)
    verbs = [s["verb"]["id"].rsplit("/", 1)[-1] for s in statements]
    assert "failed" in verbs and "passed" not in verbs, verbs


@pytest.mark.slow
def test_waveforms_and_alarms_reach_the_monitor_panel(pack):
    """With a renderer's DrawList present, the panel shows Paw/flow/volume and the alarm."""
    from vrmed.api import DrawList, MonitorPanel

    session = build_session(pack, "high_pressure_errors", display_rate=10)
    try:
        session.app.insert_resource(DrawList())
        session.run(seconds=32)
        panel = session.app.resource(MonitorPanel)
        paw, flow, vol = (t.samples for t in panel.traces)
    finally:
        session.close()
    assert [t.label for t in panel.traces] == ["Paw", "Flow", "Volume"] and len(paw) == 1000
    assert 39.0 < paw.max() <= 40.0 + 1e-9 and paw.min() == pytest.approx(5.0)  # cycled at the limit; PEEP
    assert flow.min() < 0 < flow.max() and vol.max() < 420
    assert [a.text for a in panel.alarms] == ["PAW HIGH", "VTE LOW"]  # cycled off early: low volume too
