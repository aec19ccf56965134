"""Clinical validation: every drug and response of the physiology model against its published
reference, from scripted runs of the model itself (``vrmed bench clinical_validation``).

Each row is one scripted experiment on the population kernel (one patient, 70 kg adult
defaults unless stated) and one published value or range. Deviation is 0 inside a reference
range, otherwise the distance to the nearest edge relative to that edge; the rating follows
the Pulse Physiology Engine's validation convention: < 10 % good, 10-30 % some deviation,
> 30 % poor. ``verified`` says whether the reference was checked against the cited source
when the row was written; unverified rows are listed as such in docs/clinical-validation.md.
Drugs the model does not have are rows with no engine value ("not modelled").

``python -m vrmed.benchmarks.clinical_validation --write docs/clinical-validation.md``
regenerates the table; tests/test_clinical_validation.py checks the committed file is
current and that every rated row stays within its rating.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vrmed import App
from vrmed.components.clinical.patient import RHYTHM_CODE, Patient, PatientPopulation
from vrmed.components.scene.core import Name
from vrmed.systems.clinical.physiology import PhysiologyPlugin, give_drug, population
from vrmed.systems.clinical.physiology_kernels import (
    BICARB_FULL_MMOL_PER_KG,
    DRUG_ALIASES,
    DRUG_SPECS,
    calcium_stabilisation,
    cpr_quality,
    pao2_for_saturation,
    severinghaus,
    step_population,
    viability,
)


@dataclass(frozen=True)
class Reference:
    """One published value (``low == high``) or range, its unit and source."""

    low: float
    high: float
    unit: str
    source: str
    verified: bool


@dataclass(frozen=True)
class Check:
    """A response of one drug (or of the circulation), its reference and how to measure it."""

    drug: str
    response: str
    reference: Reference | None
    measure: Callable[[], float] | None


class Patient1:
    """One patient in a population stepped directly by the kernel (no App loop)."""

    def __init__(self, **kw: Any) -> None:
        self.app = App(seed=0, display_rate=1, rates={"logic": 1, "physics": None})
        self.app.add_plugin(PhysiologyPlugin())
        self.app.spawn(Patient(**kw), Name("p"))
        self.app.step(1)
        self.pop: PatientPopulation = population(self.app)

    def give(self, drug: str, dose: float, unit: str, route: str) -> None:
        reason = give_drug(self.pop, 0, drug, dose, unit, route)
        assert reason is None, reason

    def series(self, seconds: float, dt: float, var: str) -> tuple[np.ndarray, np.ndarray]:
        """Step ``seconds`` at ``dt``; the times and values of ``var`` after each step."""
        n = int(round(seconds / dt))
        t, v = np.empty(n), np.empty(n)
        for i in range(n):
            step_population(self.pop, dt, None)
            t[i] = (i + 1) * dt
            v[i] = self.pop.value(0, var)
        return t, v

    def close(self) -> None:
        self.app.close()


def _run(build: Callable[[Patient1], float], **patient: Any) -> float:
    p = Patient1(**patient)
    try:
        return float(build(p))
    finally:
        p.close()


def _peak_minutes(
    drug: str, dose: float, unit: str, route: str, var: str, seconds: float, dt: float
) -> Callable[[], float]:
    def measure(p: Patient1) -> float:
        base = p.pop.value(0, var)
        p.give(drug, dose, unit, route)
        t, v = p.series(seconds, dt, var)
        return float(t[int(np.argmax(np.abs(v - base)))] / 60.0)

    return lambda: _run(measure)


def _half_life_minutes(drug: str) -> float:
    """Time for the body amount to halve once an IV bolus has been absorbed (min)."""
    p = Patient1()
    try:
        spec = DRUG_SPECS[drug]
        p.give(drug, 1.0, spec.unit, "iv")
        p.series(20.0 * spec.absorption_t_half_s["iv"], 1.0, "hr")  # absorption complete (2^-20)
        d = list(DRUG_SPECS).index(drug)
        a0, t, dt = float(p.pop.central[0, d]), 0.0, spec.t_half_s / 300.0
        while p.pop.central[0, d] > a0 / 2:
            step_population(p.pop, dt, None)
            t += dt
        return t / 60.0
    finally:
        p.close()


def _epi_peak_sbp_rise(dose_mg: float) -> float:
    def measure(p: Patient1) -> float:
        base = p.pop.value(0, "sbp")
        p.give("epinephrine", dose_mg, "mg", "iv")
        _, v = p.series(600.0, 1.0, "sbp")
        return float(v.max() - base)

    return _run(measure)


def _epi_cpr_dbp_rise() -> float:
    def measure(p: Patient1) -> float:
        p.pop.cpr[0], p.pop.cpr_quality[0] = True, 1.0
        p.series(60.0, 1.0, "dbp")
        base = p.pop.value(0, "dbp")
        p.give("epinephrine", 1.0, "mg", "iv")
        _, v = p.series(180.0, 1.0, "dbp")
        return float(v.max() - base)

    return _run(measure, rhythm="pea", shock_success=0.0)


def _time_to_fraction(drug: str, fraction: float) -> float:
    """Minutes from an IV bolus until the body amount falls to ``fraction`` of its peak."""
    p = Patient1()
    try:
        p.give(drug, 1.0, DRUG_SPECS[drug].unit, "iv")
        d = list(DRUG_SPECS).index(drug)
        peak, t = 0.0, 0.0
        while True:
            step_population(p.pop, 2.0, None)
            t += 2.0
            peak = max(peak, float(p.pop.central[0, d]))
            if t > 60 and p.pop.central[0, d] <= fraction * peak:
                return t / 60.0
    finally:
        p.close()


def _naloxone(which: str) -> float:
    """30 mg (onset) or 60 mg (re-sedation) morphine IV, then naloxone 0.4 mg IV at 10 min."""

    def measure(p: Patient1) -> float:
        p.give("morphine", 30.0 if which == "onset" else 60.0, "mg", "iv")
        p.series(600.0, 1.0, "rr")
        p.give("naloxone", 0.4, "mg", "iv")
        t, rr = p.series(600.0, 1.0, "rr") if which == "onset" else p.series(4 * 3600.0, 10.0, "rr")
        if which == "onset":  # minutes until breathing 10 /min or more
            return float(t[np.argmax(rr >= 10.0)] / 60.0)
        reversed_ = rr >= 10.0
        first = int(np.argmax(reversed_))
        back = first + int(np.argmax(~reversed_[first:]))  # first time below 10 again
        return float((t[back] - t[first]) / 60.0)

    return _run(measure)


def _glucose(route: str, what: str) -> float:
    def measure(p: Patient1) -> float:
        p.give("insulin", 10.0, "units", route)
        t, g = p.series(8 * 3600.0, 20.0, "glucose") if route == "sc" else p.series(3 * 3600.0, 5.0, "glucose")
        return float(t[int(np.argmin(g))] / 60.0) if what == "nadir_min" else float(g.min())

    return _run(measure, glucose=180.0)


def _potassium_fall(minutes: float) -> float:
    """Fall in serum potassium (mmol/l) ``minutes`` after 10 U IV insulin with 25 g glucose."""

    def measure(p: Patient1) -> float:
        base = p.pop.value(0, "potassium")
        p.give("insulin", 10.0, "units", "iv")
        p.give("dextrose", 25.0, "g", "iv")
        _, k = p.series(minutes * 60.0, 5.0, "potassium")
        return float(base - k[-1])

    return _run(measure, potassium=6.8)


def _calcium_minutes() -> float:
    """Minutes that 10 ml calcium chloride 10 % keeps the myocardium at least half stabilised."""

    def measure(p: Patient1) -> float:
        p.give("calcium_chloride", 10.0, "ml", "iv")
        t = 0.0
        p.series(60.0, 1.0, "hr")  # absorbed
        while calcium_stabilisation(p.pop)[0] >= 0.5:
            step_population(p.pop, 5.0, None)
            t += 5.0
        return (t + 60.0) / 60.0

    return _run(measure, potassium=6.8)


def _dextrose_rise() -> float:
    def measure(p: Patient1) -> float:
        base = p.pop.value(0, "glucose")
        p.give("dextrose", 25.0, "g", "iv")
        _, g = p.series(300.0, 1.0, "glucose")
        return float(g.max() - base)

    return _run(measure, glucose=40.0)


def _oxygen_spo2(fio2: float) -> float:
    """SpO2 at FiO2 ``fio2`` against the alveolar gas equation + Severinghaus directly."""

    def measure(p: Patient1) -> float:
        p.pop.fio2[0] = fio2
        _, s = p.series(300.0, 1.0, "spo2")
        return float(s[-1])

    return _run(measure, spo2=92.0)


def _oxygen_reference(fio2: float) -> Reference:
    grad = 0.21 * 713.0 - 41.0 / 0.8 - float(pao2_for_saturation(np.array([92.0]))[0])
    expected = float(severinghaus(np.array([fio2 * 713.0 - 41.0 / 0.8 - grad]))[0])
    return Reference(
        expected, expected, "%", "alveolar gas equation (PAO2 = FiO2 x 713 - PaCO2/0.8) and Severinghaus 1979", True
    )


def _shock_fall(cpr: bool) -> float:
    """Relative fall of first-shock success per minute (fraction) over 8 minutes."""
    p = Patient1(rhythm="vf", shock_success=0.6)
    try:
        p.pop.cpr[0] = cpr
        p.pop.cpr_quality[0] = cpr_quality(110, 5.5) if cpr else 0.0
        p.series(480.0, 1.0, "hr")
        return float(1.0 - float(viability(p.pop)[0]) ** (1.0 / 8.0))
    finally:
        p.close()


def _atropine(what: str) -> float:
    """1 mg IV atropine in a vagal sinus bradycardia (40 /min): peak HR rise or its time."""

    def measure(p: Patient1) -> float:
        p.give("atropine", 1.0, "mg", "iv")
        t, hr = p.series(900.0, 1.0, "hr")
        return float(hr.max() - 40.0) if what == "rise" else float(t[int(np.argmax(hr))] / 60.0)

    return _run(measure, rhythm="bradycardia", hr=40.0, sbp=90.0, dbp=55.0)


def _adenosine_half_life_s() -> float:
    return 60.0 * _half_life_minutes("adenosine")


def _adenosine_terminated(doses_mg: tuple[float, ...]) -> float:
    """Percentage of 500 SVT patients (thresholds drawn as at registration) in sinus rhythm
    after rapid IV adenosine ``doses_mg``, one every 30 s."""
    app = App(seed=0, display_rate=1, rates={"logic": 1, "physics": None})
    try:
        app.add_plugin(PhysiologyPlugin())
        for i in range(500):
            app.spawn(Patient(rhythm="svt", hr=180.0), Name(f"p{i}"))
        app.step(1)
        pop = population(app)
        for dose in doses_mg:
            for s in range(pop.n):
                give_drug(pop, s, "adenosine", dose, "mg", "iv")
            for _ in range(30):
                step_population(pop, 1.0, None)
        return float(100.0 * np.mean(pop.rhythm != RHYTHM_CODE["svt"]))
    finally:
        app.close()


def _crystalloid_retained_ml() -> float:
    """Intravascular volume added 60 min after 1 l of crystalloid run in over 10 min (ml)."""
    p = Patient1()
    try:
        v0 = float(p.pop.volume[0])
        p.pop.cryst_left[0], p.pop.cryst_rate[0] = 1000.0, 1000.0 / 600.0
        p.series(3600.0, 5.0, "hr")
        return float(p.pop.volume[0]) - v0
    finally:
        p.close()


def _haemorrhage_hr(loss: float) -> float:
    """Heart rate (from 75 /min) with ``loss`` of the blood volume gone (ATLS classes)."""

    def measure(p: Patient1) -> float:
        _, hr = p.series(120.0, 1.0, "hr")
        return float(hr[-1])

    return _run(measure, hr=75.0, blood_loss_ml=loss * 70.0 * 70.0)


def _ref(low: float, high: float, unit: str, source: str, verified: bool) -> Reference:
    return Reference(low, high, unit, source, verified)


LABEL = "product label (clinical pharmacology)"

CHECKS: tuple[Check, ...] = (
    Check(
        "epinephrine",
        "elimination half-life (min)",
        _ref(2, 3, "min", "Adrenalin label: rapid uptake and COMT/MAO metabolism; 2-3 min commonly cited", False),
        lambda: _half_life_minutes("epinephrine"),
    ),
    Check(
        "epinephrine",
        "IM 0.5 mg (thigh): time to peak (min)",
        _ref(
            5,
            10,
            "min",
            "Dreborg & Kim, Allergy Asthma Clin Immunol 2021;17:25 (review of Simons 1998/2001: first Tmax 5-10 min)",
            True,
        ),
        _peak_minutes("epinephrine", 0.5, "mg", "im", "sbp", 2400.0, 5.0),
    ),
    Check(
        "epinephrine",
        "push dose 20 ug IV: peak SBP rise (mmHg)",
        _ref(
            10,
            30,
            "mmHg",
            "push-dose pressor practice (10-20 ug boluses, a transient 10-30 mmHg rise); no primary study found",
            False,
        ),
        lambda: _epi_peak_sbp_rise(0.02),
    ),
    Check(
        "epinephrine",
        "1 mg IV with a pulse: peak SBP rise (mmHg)",
        _ref(
            80, 200, "mmHg", "case reports of inadvertent 1 mg IV boluses: SBP > 200 mmHg (hypertensive crisis)", False
        ),
        lambda: _epi_peak_sbp_rise(1.0),
    ),
    Check(
        "epinephrine",
        "arrest dose 1 mg during CPR: DBP rise (mmHg)",
        _ref(
            5,
            20,
            "mmHg",
            "Paradis 1991 (JAMA 263:1106): coronary perfusion pressure rises with epinephrine; magnitude assumed",
            False,
        ),
        _epi_cpr_dbp_rise,
    ),
    Check(
        "amiodarone",
        "IV bolus: time to 10 % of peak (min)",
        _ref(30, 45, "min", "amiodarone IV " + LABEL + ": serum level ~10 % of peak within 30-45 min", False),
        lambda: _time_to_fraction("amiodarone", 0.1),
    ),
    Check(
        "lidocaine",
        "distribution half-life (min)",
        _ref(7, 30, "min", "Bauer, Applied Clinical Pharmacokinetics, ch. 9: alpha t1/2 ~8 min (7-30)", True),
        lambda: _half_life_minutes("lidocaine"),
    ),
    Check(
        "naloxone",
        "0.4 mg IV after morphine 30 mg: onset (min to RR >= 10)",
        _ref(0, 2, "min", "naloxone injection " + LABEL + ": IV onset within 2 min", True),
        lambda: _naloxone("onset"),
    ),
    Check(
        "naloxone",
        "serum half-life (min)",
        _ref(30, 81, "min", "naloxone injection " + LABEL + ": 30-81 min (mean 64 +/- 12)", True),
        lambda: _half_life_minutes("naloxone"),
    ),
    Check(
        "naloxone",
        "0.4 mg IV after morphine 60 mg: reversal lasts (min) before re-sedation",
        _ref(
            20,
            60,
            "min",
            "Buck, Pediatr Pharm 2002;8(8): IV duration of action 20-60 min; label: opioids may outlast naloxone",
            True,
        ),
        lambda: _naloxone("duration"),
    ),
    Check(
        "morphine",
        "elimination half-life (min)",
        _ref(90, 180, "min", "morphine injection " + LABEL + ": ~1.5-2 h (up to 3 h)", False),
        lambda: _half_life_minutes("morphine"),
    ),
    Check(
        "morphine",
        "10 mg IV: time to peak respiratory depression (min)",
        _ref(
            5,
            10,
            "min",
            "morphine injection " + LABEL + ": peak respiratory depression minutes after IV (about 7)",
            False,
        ),
        _peak_minutes("morphine", 10.0, "mg", "iv", "rr", 2400.0, 5.0),
    ),
    Check(
        "hydromorphone",
        "potency relative to morphine (IV)",
        _ref(5, 7, "x", "equianalgesic tables (IV hydromorphone 1.5 mg ~ morphine 10 mg)", False),
        lambda: DRUG_ALIASES["hydromorphone"][1],
    ),
    Check(
        "insulin",
        "10 units IV: time to glucose nadir (min)",
        _ref(
            15,
            60,
            "min",
            "regular insulin kinetics: IV peak 15-30 min, duration 30-60 min (drug handbooks); plasma t1/2 4-6 min",
            False,
        ),
        lambda: _glucose("iv", "nadir_min"),
    ),
    Check(
        "insulin",
        "10 units SC: time to glucose nadir (min)",
        _ref(120, 240, "min", "Humulin R " + LABEL + ": SC peak ~2-4 h, duration up to ~8 h", False),
        lambda: _glucose("sc", "nadir_min"),
    ),
    Check(
        "insulin",
        "10 units IV with 25 g glucose: fall in serum potassium at 60 min (mmol/l)",
        _ref(
            0.65,
            1.0,
            "mmol/l",
            "UK Kidney Association (Renal Association) 2020, treatment of acute hyperkalaemia in adults: "
            "insulin-glucose lowers K+ by 0.65-1.0 mmol/l, onset 15 min, peak 30-60 min",
            False,
        ),
        lambda: _potassium_fall(60.0),
    ),
    Check(
        "calcium",
        "10 ml calcium chloride 10 % IV: myocardial stabilisation lasts (min)",
        _ref(
            30,
            60,
            "min",
            "UK Kidney Association 2020 (hyperkalaemia): IV calcium acts within 3 min and lasts 30-60 min; "
            "does not lower K+",
            False,
        ),
        _calcium_minutes,
    ),
    Check(
        "dextrose",
        "25 g IV (D50) at glucose 40: peak rise (mg/dL)",
        _ref(
            100,
            200,
            "mg/dL",
            "distribution in extracellular water (0.2-0.25 L/kg): 25 g in 70 kg gives +140-180 mg/dL; assumption",
            False,
        ),
        _dextrose_rise,
    ),
    Check(
        "metoprolol",
        "5 mg IV: time to peak HR effect (min)",
        _ref(15, 25, "min", "Lopressor " + LABEL + ": peak beta-blockade ~20 min after IV", False),
        _peak_minutes("metoprolol", 5.0, "mg", "iv", "hr", 5400.0, 10.0),
    ),
    Check(
        "metoprolol",
        "elimination half-life (min)",
        _ref(180, 420, "min", "Lopressor " + LABEL + ": 3-7 h", False),
        lambda: _half_life_minutes("metoprolol"),
    ),
    Check("oxygen", "SpO2 92 % on air -> FiO2 0.4 (%)", _oxygen_reference(0.4), lambda: _oxygen_spo2(0.4)),
    Check(
        "resuscitation",
        "first-shock success: fall per minute without CPR",
        _ref(
            0.07,
            0.10,
            "/min",
            "Larsen 1993 (Ann Emerg Med 22:1652); Valenzuela 1997 (Circulation 96:3308): 7-10 %/min",
            False,
        ),
        lambda: _shock_fall(False),
    ),
    Check(
        "resuscitation",
        "first-shock success: fall per minute with CPR",
        _ref(0.03, 0.04, "/min", "Larsen 1993; Valenzuela 1997: 3-4 %/min with bystander CPR", False),
        lambda: _shock_fall(True),
    ),
    Check("fentanyl", "not modelled", None, None),
    Check("midazolam", "not modelled", None, None),
    Check(
        "adenosine",
        "half-life (s)",
        _ref(0, 10, "s", "Adenocard (adenosine injection) " + LABEL + ": half-life less than 10 s", False),
        _adenosine_half_life_s,
    ),
    Check(
        "adenosine",
        "6 mg rapid IV: PSVT terminated (%)",
        _ref(62.5, 62.5, "%", "DiMarco JP, et al. Ann Intern Med 1990;113:104-110: 62.5 % by 6 mg", False),
        lambda: _adenosine_terminated((6.0,)),
    ),
    Check(
        "adenosine",
        "6 then 12 mg rapid IV: PSVT terminated, cumulative (%)",
        _ref(91.4, 91.4, "%", "DiMarco 1990: 91.4 % by 12 mg (cumulative)", False),
        lambda: _adenosine_terminated((6.0, 12.0)),
    ),
    Check(
        "atropine",
        "elimination half-life (min)",
        _ref(120, 240, "min", "atropine sulfate injection " + LABEL + ": ~2-4 h in adults", False),
        lambda: _half_life_minutes("atropine"),
    ),
    Check(
        "atropine",
        "1 mg IV in sinus bradycardia 40 /min: time to peak HR (min)",
        _ref(
            2, 5, "min", "IV onset within ~1 min, peak within a few minutes (drug handbooks); no primary study", False
        ),
        lambda: _atropine("time"),
    ),
    Check(
        "atropine",
        "1 mg IV in sinus bradycardia 40 /min: peak HR rise (/min)",
        _ref(15, 35, "/min", "vagolytic dose-response (0.04 mg/kg ~ full vagal block); range assumed", False),
        lambda: _atropine("rise"),
    ),
    Check(
        "sodium bicarbonate",
        "TCA cardiotoxicity: bolus the model counts as full treatment (mmol/kg)",
        _ref(1, 2, "mmol/kg", "AHA 2010 Part 12.7 (toxicology): 1-2 mEq/kg boluses for TCA toxicity", False),
        lambda: BICARB_FULL_MMOL_PER_KG,
    ),
    Check(
        "fluids",
        "crystalloid 1 l over 10 min: intravascular gain at 60 min (ml)",
        _ref(
            200,
            300,
            "ml",
            "distribution over the extracellular fluid (plasma ~1/4-1/5 of it; Guyton & Hall); Hahn, "
            "Anesthesiology 2010;113:470 (volume kinetics)",
            False,
        ),
        _crystalloid_retained_ml,
    ),
    Check(
        "fluids",
        "blood loss 35 % (ATLS class III): heart rate (/min)",
        _ref(120, 140, "/min", "ATLS 9th ed. (2012), table 3-1: class III (30-40 %) HR 120-140", False),
        lambda: _haemorrhage_hr(0.35),
    ),
    Check(
        "fluids",
        "blood loss 20 % (ATLS class II): heart rate (/min)",
        _ref(100, 120, "/min", "ATLS 9th ed. (2012), table 3-1: class II (15-30 %) HR 100-120", False),
        lambda: _haemorrhage_hr(0.20),
    ),
)


def deviation(value: float, ref: Reference) -> float:
    """0 inside the reference range, else the distance to the nearest edge over that edge."""
    if ref.low <= value <= ref.high:
        return 0.0
    edge = ref.low if value < ref.low else ref.high
    return abs(value - edge) / abs(edge) if edge else math.inf


def rating(dev: float) -> str:
    """Pulse-style rating of a deviation."""
    return "good" if dev < 0.10 else ("some deviation" if dev <= 0.30 else "poor")


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Every check's engine value, deviation and rating."""
    rows = []
    for c in CHECKS:
        row: dict[str, Any] = {"drug": c.drug, "response": c.response}
        if c.measure is None or c.reference is None:
            row.update(engine=None, reference=None, deviation=None, rating="not modelled", verified=None, source="")
        else:
            value = c.measure()
            dev = deviation(value, c.reference)
            ref = c.reference
            row.update(
                engine=round(value, 2),  # 2 decimals: the same table on every platform
                reference=f"{ref.low:g}" if ref.low == ref.high else f"{ref.low:g}-{ref.high:g}",
                unit=ref.unit,
                deviation=round(dev, 3),
                rating=rating(dev),
                verified=ref.verified,
                source=ref.source,
            )
        rows.append(row)
    counts = {k: sum(1 for r in rows if r["rating"] == k) for k in ("good", "some deviation", "poor", "not modelled")}
    unverified = sum(1 for r in rows if r["verified"] is False)
    return {
        "rows": rows,
        "notes": [f"{counts}; {unverified} references unverified"],
        "summary": {**counts, "unverified": unverified},
    }


def markdown(result: dict[str, Any]) -> str:
    """docs/clinical-validation.md, generated."""
    s = result["summary"]
    lines = [
        "# Clinical validation",
        "",
        "<!-- generated by `python -m vrmed.benchmarks.clinical_validation --write docs/clinical-validation.md`;",
        "     tests/test_clinical_validation.py fails when this file is out of date -->",
        "",
        "Each row is a scripted run of the physiology model (`benchmarks/clinical_validation.py`,",
        "70 kg adult defaults) against a published value or range. Deviation is 0 inside the",
        "range, else the distance to the nearest edge relative to it; rating as in the Pulse",
        "Physiology Engine's validation: **good** < 10 %, **some deviation** 10-30 %, **poor** > 30 %.",
        "*Verified* means the reference was checked against the cited source when the row was",
        "written; **unverified** references are the model's working values and need a primary",
        "source before they are relied on. The tolerance the tests hold each row to is its rating.",
        "",
        f"Summary: {s['good']} good, {s['some deviation']} some deviation, {s['poor']} poor, "
        f"{s['not modelled']} not modelled; {s['unverified']} references unverified.",
        "",
        "| drug | response | engine | reference | rating | verified | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if r["engine"] is None:
            lines.append(f"| {r['drug']} | {r['response']} | - | - | not modelled | - | |")
            continue
        ver = "yes" if r["verified"] else "**unverified**"
        dev = f" ({r['deviation']:.0%})" if r["deviation"] else ""
        lines.append(
            f"| {r['drug']} | {r['response']} | {r['engine']:g} {r['unit']} | {r['reference']} {r['unit']} | "
            f"{r['rating']}{dev} | {ver} | {r['source']} |"
        )
    lines += [
        "",
        'Outcome model (ROSC) and its sources: docs/clinical.md, "Outcome model".',
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``--write PATH`` writes the markdown table; otherwise prints it."""
    text = markdown(run({}))
    if len(argv) == 2 and argv[0] == "--write":
        Path(argv[1]).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
