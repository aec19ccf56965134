"""Vectorised physiology kernels: pharmacokinetics, pharmacodynamics and the vital-sign
model for every patient at once (numpy over the population arrays; no per-patient loop).

Every number here is listed with its source in docs/clinical.md. The model is a teaching
model: simple, explicit and monotone in the right direction, not a replacement for the
Pulse Physiology Engine or BioGears (see docs/clinical.md for what they model instead).

Drug model, per drug: one compartment with first-order absorption from a depot
(rate ``ka`` by route; intravenous/intraosseous use a short absorption half-life standing
for circulation time) and first-order elimination (``ke = ln 2 / t_half``). Effect is a
hyperbolic Emax curve of the amount per kg: ``E = c / (c + EC50)``. Opioid receptor
occupancy with naloxone as a competitive antagonist: ``occ = x / (1 + x + y)`` with
``x = c_opioid * sensitivity / EC50`` and ``y = c_naloxone / Ki``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vrmed.components.clinical.patient import ARREST_FIRST, DRUG_INDEX, DRUGS, RHYTHM_CODE, PatientPopulation

LN2 = math.log(2.0)


@dataclass(frozen=True)
class DrugSpec:
    """PK/PD parameters of one drug (times in seconds; EC50 in canonical unit per kg)."""

    name: str
    unit: str  # canonical unit: mg, g or units
    t_half_s: float  # elimination (or effective-action) half-life
    absorption_t_half_s: dict[str, float]  # by route
    bioavailability: dict[str, float]
    ec50_per_kg: float


DRUG_SPECS: dict[str, DrugSpec] = {
    # Epinephrine: effective plasma half-life ~2-3 min; IV effect within 1-2 min (Adrenalin
    # label). IM (thigh) peak plasma at 8 +/- 2 min (Simons 1998): absorption half-life 10 min
    # gives Tmax ~7 min. EC50 0.002 mg/kg: a 20 ug push dose gives ~12% of Emax (SBP
    # +~15 mmHg) and 1 mg IV with a pulse ~88% (SBP > 200 mmHg, hypertensive crisis).
    "epinephrine": DrugSpec(
        "epinephrine", "mg", 150.0, {"iv": 15.0, "io": 15.0, "im": 600.0}, {"iv": 1.0, "io": 1.0, "im": 1.0}, 0.002
    ),
    # Amiodarone IV: early (distribution) phase falls to ~10% of peak in 30-45 min: t1/2 ~12 min.
    "amiodarone": DrugSpec("amiodarone", "mg", 720.0, {"iv": 20.0, "io": 20.0}, {"iv": 1.0, "io": 1.0}, 2.0),
    # Naloxone: IV onset within ~2 min; serum half-life 30-81 min (label; the effect lasts
    # 30-90 min, shorter than most opioids': re-sedation). The model uses the low end, 30 min,
    # for the antagonist effect; IN Tmax ~20-30 min. Ki 0.0008 mg/kg: 0.4 mg reverses a
    # 30 mg morphine overdose (RR >= 12 within 2 min).
    "naloxone": DrugSpec(
        "naloxone",
        "mg",
        1800.0,
        {"iv": 20.0, "io": 20.0, "im": 300.0, "in": 300.0, "sc": 300.0},
        {"iv": 1.0, "io": 1.0, "im": 1.0, "in": 0.44, "sc": 1.0},
        0.0008,
    ),
    # Regular insulin: IV plasma half-life 4-6 min with a glucose-lowering action lasting
    # ~30-60 min (effect half-life 20 min here); SC onset ~30 min, peak 2-3 h, duration 6-8 h
    # (Humulin R label): SC absorption half-life 2 h.
    "insulin": DrugSpec("insulin", "units", 1200.0, {"iv": 30.0, "sc": 7200.0}, {"iv": 1.0, "sc": 1.0}, 0.1),
    # Dextrose: absorbed amount enters the glucose pool directly (distribution 0.25 L/kg).
    "dextrose": DrugSpec(
        "dextrose", "g", 1e9, {"iv": 30.0, "io": 30.0, "po": 900.0}, {"iv": 1.0, "io": 1.0, "po": 1.0}, 1.0
    ),
    # Metoprolol: half-life 3-7 h; IV peak beta-blockade ~20 min (absorption half-life 200 s
    # standing for effect-site equilibration gives 20 min); oral F ~50%.
    "metoprolol": DrugSpec("metoprolol", "mg", 12600.0, {"iv": 200.0, "po": 1800.0}, {"iv": 1.0, "po": 0.5}, 0.05),
    # Morphine: half-life ~2 h; IV peak respiratory depression ~7 min (absorption half-life
    # 60 s standing for effect-site equilibration gives 7 min); oral F ~30%.
    "morphine": DrugSpec(
        "morphine",
        "mg",
        7200.0,
        {"iv": 60.0, "io": 60.0, "im": 900.0, "sc": 900.0, "po": 1800.0},
        {"iv": 1.0, "io": 1.0, "im": 1.0, "sc": 1.0, "po": 0.3},
        0.3,
    ),
    # Lidocaine (AHA 2020 alternative to amiodarone in shock-refractory VF/pVT): 1-1.5 mg/kg
    # IV; the distribution (alpha) half-life, ~8 min (range 7-30; Bauer, Applied Clinical
    # Pharmacokinetics, ch. 9), governs a bolus's antiarrhythmic effect (10-20 min).
    "lidocaine": DrugSpec("lidocaine", "mg", 480.0, {"iv": 20.0, "io": 20.0}, {"iv": 1.0, "io": 1.0}, 1.0),
}
assert tuple(DRUG_SPECS) == DRUGS
#: Drugs modelled through another's compartment, with a potency factor: hydromorphone is
#: ~5x as potent as morphine parenterally (equianalgesic tables), so a look-alike mix-up
#: behaves as five times the dose of morphine.
DRUG_ALIASES: dict[str, tuple[str, float]] = {"hydromorphone": ("morphine", 5.0)}

#: Multipliers from a given unit to each canonical unit.
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "mg": {"mg": 1.0, "mcg": 1e-3, "g": 1e3},
    "g": {"g": 1.0, "mg": 1e-3},
    "units": {"units": 1.0, "unit": 1.0, "iu": 1.0},
}
KE = np.array([LN2 / DRUG_SPECS[d].t_half_s for d in DRUGS])
EC50 = np.array([DRUG_SPECS[d].ec50_per_kg for d in DRUGS])
EPI, AMIO, NALOX, INS, DEX, BB, MORPH, LIDO = (DRUG_INDEX[d] for d in DRUGS)

#: Glucose distribution volume: 0.25 L/kg = 2.5 dL/kg (so 1 g raises glucose by 400/weight mg/dL).
GLUCOSE_DL_PER_KG = 2.5
#: Homeostatic return of glucose to baseline (s), and insulin's maximal fractional glucose
#: disposal rate (/s): uptake proportional to glucose, as in Bergman's minimal model (1979).
GLUCOSE_TAU_S = 900.0
INSULIN_MAX_UPTAKE = 0.08 / 60.0
#: Time constants (s) of the first-order approach of displayed values to their targets.
TAU = {"hr": 3.0, "bp": 3.0, "rr": 8.0, "spo2": 20.0, "etco2": 5.0, "paco2": 30.0, "temp": 1800.0, "washout": 60.0}
#: Post-ROSC CO2 washout added to EtCO2 (mmHg), decaying with TAU["washout"].
ROSC_WASHOUT = 8.0
#: Epinephrine's maximal rise (fraction of baseline) in HR, SBP and DBP with a pulse.
EPI_EMAX = {"hr": 0.6, "sbp": 1.0, "dbp": 0.8}
#: Fall of the chance of ROSC per minute of arrest: ~10 %/min without CPR, ~3-4 %/min with
#: good CPR (Larsen 1993; Valenzuela 1997): relative rates, as exponential decay constants.
NO_FLOW_DECAY_PER_MIN = 0.105
LOW_FLOW_DECAY_PER_MIN = 0.035
#: Post-ROSC coma (s of unresponsiveness) per minute of no flow and of low flow (teaching
#: assumption, unverified: hypoxic-ischaemic injury grows with no-flow time; Adrie 2006).
COMA_S_PER_NO_FLOW_MIN = 600.0
COMA_S_PER_LOW_FLOW_MIN = 60.0


def viability(pop: PatientPopulation) -> np.ndarray:
    """0..1 factor on every chance of ROSC, falling with no-flow and (less) low-flow time."""
    return np.exp(-(NO_FLOW_DECAY_PER_MIN * pop.no_flow_s + LOW_FLOW_DECAY_PER_MIN * pop.low_flow_s) / 60.0)


def cpr_quality(rate_per_min: float, depth_cm: float) -> float:
    """0..1 quality of chest compressions against AHA targets (100-120/min, 5-6 cm).

    Full marks inside the targets; linear fall to 0 at 60 and 160 /min and at 2 cm depth;
    a depth over 6 cm loses up to 0.2 (injury risk), reaching 0.8 at 7.5 cm.
    """
    if rate_per_min < 100:
        r = max(0.0, (rate_per_min - 60.0) / 40.0)
    elif rate_per_min > 120:
        r = max(0.0, (160.0 - rate_per_min) / 40.0)
    else:
        r = 1.0
    if depth_cm < 5.0:
        d = max(0.0, (depth_cm - 2.0) / 3.0)
    elif depth_cm > 6.0:
        d = max(0.8, 1.0 - 0.2 * (depth_cm - 6.0) / 1.5)
    else:
        d = 1.0
    return r * d


def severinghaus(pao2: np.ndarray) -> np.ndarray:
    """Haemoglobin O2 saturation (%) from PaO2 (mmHg); Severinghaus (1979)."""
    p = np.maximum(pao2, 1.0)
    return 100.0 / (1.0 + 23400.0 / (p * p * p + 150.0 * p))


def pao2_for_saturation(spo2: np.ndarray) -> np.ndarray:
    """Inverse of :func:`severinghaus` by bisection (used once per patient at registration)."""
    lo, hi = np.full(np.shape(spo2), 1.0), np.full(np.shape(spo2), 600.0)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        below = severinghaus(mid) < spo2
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _approach(x: np.ndarray, target: np.ndarray, dt: float, tau: float) -> None:
    """Exact first-order step of ``x`` towards ``target`` with time constant ``tau`` (in place)."""
    x += (target - x) * -math.expm1(-dt / tau)


def step_population(pop: PatientPopulation, dt: float, rosc_draws: np.ndarray | None = None) -> None:
    """Advance every patient by ``dt`` seconds, in place.

    ``rosc_draws``: uniform [0, 1) numbers, one per patient, for spontaneous ROSC in a
    non-shockable arrest (None: no spontaneous ROSC this step).
    """
    # -- pharmacokinetics ------------------------------------------------------------
    absorbed = pop.depot * -np.expm1(-pop.depot_ka * dt)
    pop.depot -= absorbed
    pop.central += absorbed
    pop.central *= np.exp(-KE * dt)
    w = pop.weight
    conc = pop.central / w[:, None]
    pop.effect = conc / (conc + EC50)
    e_epi, e_amio, e_ins, e_bb = pop.effect[:, EPI], pop.effect[:, AMIO], pop.effect[:, INS], pop.effect[:, BB]
    x = conc[:, MORPH] * pop.opioid_sensitivity / EC50[MORPH]
    y = conc[:, NALOX] / EC50[NALOX]
    occ = x / (1.0 + x + y)
    pop.effect[:, MORPH] = occ  # opioid "effect" is receptor occupancy after antagonism
    pop.effect[:, NALOX] = y / (1.0 + y)

    # Glucose: dextrose absorbed this step enters the pool; insulin lowers; homeostasis returns.
    pop.glucose += absorbed[:, DEX] * 1000.0 / (GLUCOSE_DL_PER_KG * w)
    pop.central[:, DEX] = 0.0
    pop.glucose += dt * ((pop.glucose_0 - pop.glucose) / GLUCOSE_TAU_S - INSULIN_MAX_UPTAKE * e_ins * pop.glucose)
    np.maximum(pop.glucose, 10.0, out=pop.glucose)

    # -- circulation -----------------------------------------------------------------
    rhythm = pop.rhythm
    arrest = rhythm >= ARREST_FIRST
    rosc = rhythm == RHYTHM_CODE["rosc"]
    q = np.where(pop.cpr, pop.cpr_quality, 0.0)
    pop.no_flow_s += np.where(arrest, dt * (1.0 - q), 0.0)
    pop.low_flow_s += np.where(arrest, dt * q, 0.0)
    hypoxic_tachy = np.maximum(0.0, 90.0 - pop.spo2) * 0.5
    hr_perf = (
        pop.hr_0 * (1 + EPI_EMAX["hr"] * e_epi) * (1 - 0.35 * e_bb) * (1 - 0.1 * e_amio) * (1 - 0.15 * occ)
        + hypoxic_tachy
    )
    hr_arrest = np.where(rhythm == RHYTHM_CODE["pvt"], 180.0, np.where(rhythm == RHYTHM_CODE["pea"], 45.0, 0.0))
    bp_scale = (1 - 0.12 * e_bb) * (1 - 0.1 * e_amio) * (1 - 0.1 * occ) * np.where(rosc, 0.85, 1.0)
    sbp_perf = pop.sbp_0 * (1 + EPI_EMAX["sbp"] * e_epi) * bp_scale
    dbp_perf = pop.dbp_0 * (1 + EPI_EMAX["dbp"] * e_epi) * bp_scale
    # CPR produces roughly a quarter to a third of normal output: SBP ~80 and DBP ~20 mmHg at
    # best; epinephrine's alpha effect raises diastolic (coronary perfusion) pressure.
    sbp_cpr = 80.0 * q
    dbp_cpr = (20.0 + 15.0 * e_epi) * q
    _approach(pop.hr, np.where(arrest, hr_arrest, hr_perf), dt, TAU["hr"])
    _approach(pop.sbp, np.where(arrest, sbp_cpr, sbp_perf), dt, TAU["bp"])
    _approach(pop.dbp, np.where(arrest, dbp_cpr, dbp_perf), dt, TAU["bp"])
    mean_ap = pop.dbp + (pop.sbp - pop.dbp) / 3.0
    map_0 = pop.dbp_0 + (pop.sbp_0 - pop.dbp_0) / 3.0

    # -- ventilation and gas exchange ------------------------------------------------
    rr_spont = pop.rr_0 * (1.0 - occ) ** 0.9
    rr_spont = np.where(rr_spont < 2.0, 0.0, rr_spont)  # below 2/min: apnoea
    rr_target = np.where(arrest, 0.0, rr_spont)
    rr_target = np.where(pop.ventilated, np.maximum(rr_target, 10.0), rr_target)  # 1 breath / 6 s
    _approach(pop.rr, rr_target, dt, TAU["rr"])
    va = np.maximum(pop.rr / np.maximum(pop.rr_0, 1.0), 0.05)  # rr_0 may be 0 (apnoeic casualty)
    # In arrest CO2 accumulates but delivery to the lungs is what limits EtCO2; the blood
    # level settles near mixed-venous values (~45 mmHg) rather than the apnoea limit.
    paco2_target = np.where(arrest, 45.0, np.clip(40.0 * (1.0 - 0.2 * occ) / va, 20.0, 100.0))
    _approach(pop.paco2, paco2_target, dt, TAU["paco2"])
    pao2 = np.maximum(pop.fio2 * 713.0 - pop.paco2 / 0.8 - pop.aa_gradient, 5.0)
    # Arterial saturation in arrest (the monitor shows no reading without a pulse: draw.py).
    spo2_target = np.where(arrest, 50.0 + 40.0 * q, severinghaus(pao2))
    _approach(pop.spo2, spo2_target, dt, TAU["spo2"])

    # -- capnography -------------------------------------------------------------------
    pop.washout *= math.exp(-dt / TAU["washout"])
    perf_ratio = np.minimum(1.0, mean_ap / np.maximum(map_0, 1.0))
    etco2_perf = np.where(pop.rr > 0.5, (pop.paco2 - 3.0) * (0.7 + 0.3 * perf_ratio), 0.0) + pop.washout
    etco2_arrest = 2.0 + 17.0 * q  # good CPR ~15-20 mmHg; < 10 mmHg signals poor CPR
    _approach(pop.etco2, np.where(arrest, etco2_arrest, etco2_perf), dt, TAU["etco2"])
    _approach(pop.temp_c, pop.temp_0, dt, TAU["temp"])

    # -- rhythm ------------------------------------------------------------------------
    if rosc_draws is not None:
        nonshock = (rhythm == RHYTHM_CODE["pea"]) | (rhythm == RHYTHM_CODE["asystole"])
        hazard = pop.rosc_per_min / 60.0 * q * e_epi * viability(pop)
        converts = nonshock & (rosc_draws < -np.expm1(-hazard * dt))
        if converts.any():
            rhythm[converts] = RHYTHM_CODE["rosc"]
            start_rosc(pop, converts)
    perfusing_plain = rhythm <= RHYTHM_CODE["bradycardia"]
    label = np.where(
        pop.hr < 60.0,
        RHYTHM_CODE["bradycardia"],
        np.where(pop.hr > 100.0, RHYTHM_CODE["sinus_tachycardia"], RHYTHM_CODE["sinus"]),
    )
    rhythm[perfusing_plain] = label[perfusing_plain]

    # -- consciousness (AVPU) --------------------------------------------------------
    v = (occ > 0.5) | (pop.spo2 < 80.0) | (pop.glucose < 54.0)
    p = (occ > 0.7) | (pop.spo2 < 70.0) | (pop.glucose < 40.0) | (mean_ap < 50.0)
    pop.coma_s = np.maximum(0.0, pop.coma_s - dt)
    u = (occ > 0.85) | arrest | (pop.coma_s > 0.0)
    pop.avpu[:] = np.where(u, 3, np.where(p, 2, np.where(v, 1, 0)))

    pop.cardiac_phase = (pop.cardiac_phase + dt * pop.hr / 60.0) % 1.0
    pop.resp_phase = (pop.resp_phase + dt * pop.rr / 60.0) % 1.0


def start_rosc(pop: PatientPopulation, mask: np.ndarray) -> None:
    """Bookkeeping at ROSC: CO2 washout and the post-anoxic coma from the arrest's history."""
    pop.washout[mask] = ROSC_WASHOUT
    coma = (COMA_S_PER_NO_FLOW_MIN * pop.no_flow_s + COMA_S_PER_LOW_FLOW_MIN * pop.low_flow_s) / 60.0
    pop.coma_s[mask] = coma[mask]


def shock_conversion_probability(pop: PatientPopulation, slot: int) -> float:
    """Chance that a shock now converts this patient's VF/pVT (0 for other rhythms).

    ``shock_success`` per shock, scaled by the arrest's :func:`viability` (time to the
    shock, with and without CPR) and raised by up to half by an antiarrhythmic on board
    (amiodarone or lidocaine, whichever acts more).
    """
    if int(pop.rhythm[slot]) not in (RHYTHM_CODE["vf"], RHYTHM_CODE["pvt"]):
        return 0.0
    anti = max(pop.effect[slot, AMIO], pop.effect[slot, LIDO])
    p = pop.shock_success[slot] * viability(pop)[slot] * (1.0 + 0.5 * anti)
    return float(min(0.98, p))
