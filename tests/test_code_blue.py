"""emergency/code_blue: the adult ACLS rubric passes a compliant scripted learner on every
rule and fails a learner making typical errors on every rule; physiology behaves as AHA
describes during the run; metrics and scores come from the event log alone."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_code_blue

from vrmed.components.clinical.patient import PatientMonitor
from vrmed.recording import SessionLog
from vrmed.scenario import ScenarioState, evaluate_rubric
from vrmed.session import build_session, replay
from vrmed.systems.clinical.metrics import resuscitation_metrics

ACLS_RULES = [
    "help_called",
    "first_compressions",
    "first_shock",
    "rhythm_checks",
    "compression_fraction",
    "epinephrine_after_second_shock",
    "epinephrine_timely",
    "epinephrine_interval",
    "epinephrine_dose",
    "antiarrhythmic_after_third_shock",
    "amiodarone_first_dose",
    "amiodarone_second_dose",
    "lidocaine_dose",
    "no_antiarrhythmic_nonshockable",
    "analyse_before_shock",
    "shock_energy",
    "cpr_rate",
    "cpr_depth",
    "no_shock_nonshockable",
    "airway",
]
#: Rules the error-making learner keeps (its antiarrhythmic does come after the 3rd shock);
#: their violations are tested on synthetic logs in tests/test_rubric_rules.py.
KEPT_BY_VIOLATOR = {"antiarrhythmic_after_third_shock"}


@pytest.fixture(scope="module")
def pack(emergency_pack):
    return emergency_pack


@pytest.fixture(scope="module")
def compliant(code_blue_runs):
    return code_blue_runs["code_blue"]


@pytest.fixture(scope="module")
def violating(code_blue_runs):
    return code_blue_runs["code_blue_errors"]


def test_both_branches_are_visited_and_only_good_cpr_ends_in_rosc(compliant, violating):
    """The outcome follows performance: ROSC comes from the physiology's outcome model, so
    the error-making learner (slow, shallow CPR with long pauses) stays pulseless."""
    expected = [("", "ward"), ("ward", "vf_arrest"), ("vf_arrest", "pea_arrest"), ("pea_arrest", "rosc")]
    assert compliant["history"] == expected and violating["history"] == expected[:-1]
    assert compliant["outcome"] == "rosc" and violating["outcome"] is None
    assert not any(
        r["type"].endswith(":RhythmChanged") and r["data"]["to_rhythm"] == "rosc" for r in violating["records"]
    )


@pytest.mark.parametrize("rule", ACLS_RULES)
def test_every_acls_rule_passes_compliant_and_fails_violating(rule, compliant, violating):
    good, bad = compliant["result"].rule(rule), violating["result"].rule(rule)
    assert good.passed, f"{rule}: {good.detail}"
    assert "not applicable" not in good.detail and "not applicable" not in bad.detail
    if rule not in KEPT_BY_VIOLATOR:
        assert not bad.passed, f"{rule}: {bad.detail}"
        assert bad.t is not None and bad.detail  # every failed rule says when and why


def test_rubric_is_exactly_the_acls_rules(pack):
    assert [r.id for r in pack.scenarios["code_blue"].rubric.rules] == ACLS_RULES
    assert pack.scenarios["code_blue_errors"].rubric == pack.scenarios["code_blue"].rubric


def test_scores(compliant, violating):
    assert compliant["result"].score == 100.0 and compliant["result"].passed
    assert violating["result"].score < 20.0 and not violating["result"].passed


def test_violations_carry_the_measured_values(violating):
    r = violating["result"]
    assert r.rule("first_compressions").value == pytest.approx(23.0, abs=0.1)  # limit 10 s
    assert r.rule("first_shock").value == pytest.approx(198.0, abs=0.1)  # limit 120 s
    checks = r.rule("rhythm_checks").violations
    assert checks[0]["first"] == pytest.approx(188.0)  # the first check is late too (limit 135 s)
    assert {round(v["gap"]) for v in checks if "gap" in v} >= {141, 190, 80}
    assert [round(v["gap"]) for v in r.rule("epinephrine_interval").violations] == [530]
    assert [v["data"]["dose"] for v in r.rule("epinephrine_dose").violations] == [10]
    assert [v["data"]["rhythm_before"] for v in r.rule("no_shock_nonshockable").violations] == ["pea"]
    assert r.rule("compression_fraction").value < 0.8
    assert [v["t"] for v in r.rule("analyse_before_shock").violations] == [604]  # stacked, no analysis
    assert [v["data"]["energy_j"] for v in r.rule("shock_energy").violations] == [100]
    assert [v["data"]["drug"] for v in r.rule("no_antiarrhythmic_nonshockable").violations] == ["lidocaine"]
    assert {v["data"]["rate_per_min"] for v in r.rule("cpr_rate").violations} == {95}


def test_metrics(compliant, violating):
    good = resuscitation_metrics(compliant["records"], compliant["end"], compliant["result"])
    assert good["time_to_first_compression_s"] <= 10 and good["time_to_first_shock_s"] <= 120
    assert good["chest_compression_fraction"] > 0.8 and good["pauses_over_10s"] == 0
    assert good["drug_timing_errors"] == 0 and good["outcome"] == "rosc" and good["shocks"] == 4
    bad = resuscitation_metrics(violating["records"], violating["end"], violating["result"])
    assert bad["time_to_first_compression_s"] > 10 and bad["time_to_first_shock_s"] > 120
    assert bad["chest_compression_fraction"] < 0.8 and bad["pauses_over_10s"] >= 3
    assert bad["drug_timing_errors"] >= 5


def test_physiology_during_the_arrest(compliant, violating):
    assert compliant["samples"]["cpr"]["rhythm"] == "vf"
    assert compliant["samples"]["cpr"]["etco2"] > 10.0  # effective CPR (110/min, 5.5 cm)
    at, after = compliant["samples"]["at_rosc"], compliant["samples"]["after_rosc"]
    assert after["rhythm"] == "rosc" and after["etco2"] - at["etco2"] > 20.0 and after["etco2"] >= 35.0
    assert after["sbp"] > 90.0


def test_stored_session_rescores_identically(compliant, pack):
    log = SessionLog.read(compliant["log"])
    again = evaluate_rubric(pack.scenarios["code_blue"].rubric, log.event_records(), compliant["end"])
    assert again.score == compliant["result"].score
    assert [r.passed for r in again.rules] == [r.passed for r in compliant["result"].rules]


def test_replay_reproduces_the_session(compliant):
    result, session = replay(SessionLog.read(compliant["log"]))
    session.close()
    assert result.ok, result.first_difference


def test_cpr_from_a_tracked_device_scenario(pack):
    """emergency/cpr_device: scripted controller motion -> CompressionsStarted -> EtCO2 > 10."""
    session = build_session(pack, "cpr_device", display_rate=90)
    try:
        session.run()
        state = session.app.resource(ScenarioState)
        started = [e["data"] for e in session.recorder.log.events if e["type"].endswith(":CompressionsStarted")]
        stopped = [e["t"] for e in session.recorder.log.events if e["type"].endswith(":CompressionsStopped")]
        monitor = session.app.get(session.entities["monitor"], PatientMonitor)
        ecg, pleth = monitor.window("ecg"), monitor.window("pleth")
    finally:
        session.close()
    assert state.outcome == "effective_cpr"
    assert started[0]["rate_per_min"] == pytest.approx(110, rel=0.05) and 5.0 <= started[0]["depth_cm"] <= 6.0
    assert len(stopped) == 1 and 31.0 < stopped[0] < 33.0
    # the monitor panel's buffers: the last 6 s show VF (4-7 Hz) and, hands off, a flat pleth
    f_peak = np.fft.rfftfreq(len(ecg), 1 / monitor.rate_hz)[np.argmax(np.abs(np.fft.rfft(ecg)))]
    assert len(ecg) == 1500 and 4.0 <= f_peak <= 7.0 and pleth[-250:].max() == 0.0


PEA_RULES = [
    "help_called",
    "first_compressions",
    "epinephrine_asap",
    "rhythm_checks",
    "compression_fraction",
    "epinephrine_interval",
    "epinephrine_dose",
    "no_shock_nonshockable",
    "no_antiarrhythmic_nonshockable",
    "cpr_rate",
    "cpr_depth",
    "airway",
]


@pytest.fixture(scope="module")
def pea_runs(pack, tmp_path_factory):
    return {
        "good": run_code_blue(pack, "code_blue_pea", tmp_path_factory),
        "bad": run_code_blue(pack, "code_blue_pea_errors", tmp_path_factory),
    }


@pytest.mark.parametrize("rule", PEA_RULES)
def test_non_shockable_branch_rules(rule, pea_runs):
    """The non-shockable branch (arrest presenting in PEA): epinephrine as soon as feasible,
    no shocks, the same CPR-cycle and epinephrine-interval rules."""
    good, bad = pea_runs["good"]["result"].rule(rule), pea_runs["bad"]["result"].rule(rule)
    assert good.passed, f"{rule}: {good.detail}"
    assert not bad.passed, f"{rule}: {bad.detail}"
    assert "not applicable" not in good.detail and "not applicable" not in bad.detail


def test_non_shockable_run(pea_runs, pack):
    assert [r.id for r in pack.scenarios["code_blue_pea"].rubric.rules] == PEA_RULES
    assert pea_runs["good"]["history"][-1] == ("pea_arrest", "rosc")
    assert pea_runs["bad"]["result"].rule("epinephrine_asap").value == pytest.approx(398.0, abs=0.1)  # limit 300 s
    assert pea_runs["good"]["samples"]["cpr"]["rhythm"] == "pea" and pea_runs["good"]["samples"]["cpr"]["etco2"] > 10
