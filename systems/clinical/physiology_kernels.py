"""Physiology kernels: pharmacokinetics, pharmacodynamics and the vital-sign model for
every patient at once. :func:`step_population` runs a compiled (numba) loop over the
population arrays; :func:`step_population_reference` is the same model vectorised in numpy,
kept as the readable reference the compiled step is tested against.

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

import functools
import math
from dataclasses import dataclass

import numpy as np

try:
    from numba import njit

    #: False in a lean packaged build (vrmed.packaging.LEAN_PLUGINS: physiology needs no numba),
    #: which ships no numba: step_population then runs step_population_reference
    COMPILED = True
except ImportError:
    COMPILED = False

    def njit(*args: object, **kwargs: object):  # type: ignore[no-redef]  # never called then
        """Stand-in decorator without numba: the compiled kernels below are defined, not used."""
        return lambda f: f


from vrmed.components.clinical.patient import (
    ARREST_FIRST,
    CAUSE_CODE,
    DRUG_INDEX,
    DRUGS,
    RHYTHM_CODE,
    PatientPopulation,
)

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
    # Atropine (AHA 2020 bradycardia: 1 mg IV every 3-5 min, max 3 mg): elimination half-life
    # 2-4 h (atropine sulfate injection label: 3.0 +/- 0.9 h in adults); IV onset within a
    # minute, peak heart-rate effect within a few minutes (absorption half-life 25 s standing
    # for the effect-site delay gives a peak at ~3.7 min; unverified). EC50 0.01 mg/kg: 1 mg
    # in 70 kg ~59 % of the maximal vagolytic rise, 3 mg ~81 % (0.04 mg/kg, ~3 mg, is full
    # vagal blockade).
    "atropine": DrugSpec(
        "atropine", "mg", 10800.0, {"iv": 25.0, "io": 25.0, "im": 300.0}, {"iv": 1.0, "io": 1.0, "im": 1.0}, 0.01
    ),
    # Adenosine: half-life < 10 s (Adenocard label); given as a rapid IV push with a flush.
    # Its effect is the termination of re-entry SVT (per-patient threshold; see
    # ADENOSINE_THRESHOLD_*), not an Emax response.
    "adenosine": DrugSpec("adenosine", "mg", 8.0, {"iv": 3.0, "io": 3.0}, {"iv": 1.0, "io": 1.0}, 1.0),
    # Sodium bicarbonate (mmol = mEq) for tricyclic cardiotoxicity: 1-2 mEq/kg IV boluses
    # (AHA 2010 Part 12.7; AHA 2023 toxicology focused update). The model uses the amount per
    # kg on board, with a 1 h half-life for the alkalinisation (our assumption, unverified).
    "sodium_bicarbonate": DrugSpec(
        "sodium_bicarbonate", "mmol", 3600.0, {"iv": 20.0, "io": 20.0}, {"iv": 1.0, "io": 1.0}, 1.0
    ),
    # Calcium (mmol of Ca2+) for hyperkalaemia: stabilises the myocardium within ~3 min for
    # 30-60 min without lowering potassium (UK Kidney Association [Renal Association] 2020
    # clinical practice guideline "Treatment of acute hyperkalaemia in adults"; ERC 2021
    # special circumstances). Given as a salt (DRUG_SALTS). The 30 min half-life with a full
    # effect from CALCIUM_FULL_MMOL (half the 6.8 mmol dose) reproduces the 30-60 min duration:
    # full for 30 min, half at 60 min (our calibration).
    "calcium": DrugSpec("calcium", "mmol", 1800.0, {"iv": 20.0, "io": 20.0}, {"iv": 1.0, "io": 1.0}, 1.0),
}
assert tuple(DRUG_SPECS) == DRUGS
#: Drugs modelled through another's compartment, with a potency factor: hydromorphone is
#: ~5x as potent as morphine parenterally (equianalgesic tables), so a look-alike mix-up
#: behaves as five times the dose of morphine.
DRUG_ALIASES: dict[str, tuple[str, float]] = {"hydromorphone": ("morphine", 5.0)}
#: Salts given for an element the model tracks: drug -> (modelled drug, canonical amount per
#: unit). Calcium chloride 10 %: 10 ml (1 g of the dihydrate) holds 6.8 mmol Ca2+; calcium
#: gluconate 10 %: 10 ml (1 g) holds 2.2 mmol (BNF; UK Kidney Association 2020: 10 ml
#: chloride or 30 ml gluconate 10 % are equivalent doses). ``ml`` means the 10 % solution.
DRUG_SALTS: dict[str, tuple[str, dict[str, float]]] = {
    "calcium_chloride": ("calcium", {"g": 6.8, "mg": 6.8e-3, "ml": 0.68}),
    "calcium_gluconate": ("calcium", {"g": 2.2, "mg": 2.2e-3, "ml": 0.22}),
}

#: Multipliers from a given unit to each canonical unit.
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "mg": {"mg": 1.0, "mcg": 1e-3, "g": 1e3},
    "g": {"g": 1.0, "mg": 1e-3},
    "units": {"units": 1.0, "unit": 1.0, "iu": 1.0},
    "mmol": {"mmol": 1.0, "meq": 1.0},
}
KE = np.array([LN2 / DRUG_SPECS[d].t_half_s for d in DRUGS])
EC50 = np.array([DRUG_SPECS[d].ec50_per_kg for d in DRUGS])
EPI, AMIO, NALOX, INS, DEX, BB, MORPH, LIDO, ATRO, ADENO, BICARB, CALCIUM = (DRUG_INDEX[d] for d in DRUGS)

# -- volume (docs/clinical.md, "Volume") -----------------------------------------------------
#: Share of a crystalloid bolus that stays intravascular once it has distributed through the
#: extracellular fluid (plasma is ~1/4 of it; Guyton & Hall, Textbook of Medical Physiology),
#: and the half-life of that distribution (~8 min in volunteers; Hahn RG, Volume kinetics for
#: infusion fluids, Anesthesiology 2010;113:470-481). Blood and colloid stay intravascular.
CRYSTALLOID_RETAINED = 0.25
CRYSTALLOID_T_HALF_S = 480.0
#: Blood loss (fraction of blood volume) -> heart-rate rise (/min), SBP and DBP factors: the
#: ATLS classes of haemorrhagic shock (ATLS 9th ed. 2012, table 3-1: class I < 15 %, HR
#: < 100, BP and pulse pressure normal; II 15-30 %, HR 100-120, SBP normal, pulse pressure
#: narrowed; III 30-40 %, HR 120-140, SBP decreased; IV > 40 %, HR > 140, SBP markedly
#: decreased), interpolated linearly between the class edges from a 75 /min, 120/80 adult.
LOSS_POINTS = np.array([0.0, 0.15, 0.30, 0.40, 0.50, 0.60])
LOSS_HR_RISE = np.array([0.0, 25.0, 45.0, 65.0, 75.0, 80.0])
LOSS_SBP_FACTOR = np.array([1.0, 1.0, 0.95, 0.75, 0.55, 0.40])
LOSS_DBP_FACTOR = np.array([1.0, 1.05, 1.05, 0.80, 0.60, 0.45])
#: ROSC from a hypovolaemic arrest: no chance at a loss of 40 % (class IV) or more, full
#: chance at 20 % or less (linear between; our assumption, unverified).
LOSS_NO_ROSC, LOSS_FULL_ROSC = 0.40, 0.20
#: TCA cardiotoxicity: sodium bicarbonate on board (mmol/kg) for a full chance of ROSC (1
#: mEq/kg, the low end of the 1-2 mEq/kg bolus).
BICARB_FULL_MMOL_PER_KG = 1.0

# -- hyperkalaemia (docs/clinical.md, "Reversible causes") --------------------------------------
#: Serum potassium (mmol/l) from which an arrest does not convert without calcium: the chance
#: of ROSC falls linearly from 1 at 6.5 to 0 at 7.0 (severe hyperkalaemia is >= 6.5 mmol/l,
#: UK Kidney Association 2020; the ramp is our assumption, unverified).
K_FULL_ROSC, K_NO_ROSC = 6.5, 7.0
#: Calcium on board (mmol) for a fully stabilised myocardium (half of 10 ml 10 % chloride).
CALCIUM_FULL_MMOL = 3.4
#: Potassium moved into the cells (mmol/l per s) at insulin's full effect, and by sodium
#: bicarbonate per mmol/kg on board; the shift fades back with K_REBOUND_TAU_S. Calibrated so
#: that 10 U IV insulin (with 25 g glucose) lowers potassium by 0.6 mmol/l at 30 min and
#: 0.85 at 60 min, still ~0.5 at 4 h (UK Kidney Association 2020: 0.65-1.0 mmol/l, onset 15
#: min, peak 30-60 min, lasting 4-6 h); 100 mmol bicarbonate lowers it by ~0.2 mmol/l over
#: an hour (a modest, inconsistent effect in the same guideline; the figure is our
#: assumption, unverified).
K_INSULIN_PER_S = 7.7e-4
K_BICARB_PER_S = 7.7e-5
K_REBOUND_TAU_S = 14400.0

# -- brady- and tachyarrhythmias ---------------------------------------------------------------
#: Maximal vagolytic heart-rate rise (/min) of atropine (at full effect, atropine_response 1):
#: 1 mg gives ~+24 /min, 3 mg ~+32 /min (our calibration, unverified).
ATROPINE_HR_MAX = 40.0
#: Stroke volume falls partly as rate rises: output, and so pressure, grows as (rate ratio)^0.5
#: when atropine or pacing speeds a slow heart (our assumption).
RATE_PRESSURE_EXPONENT = 0.5
#: Adenosine dose (mg) that ends a patient's SVT, lognormal over patients: fitted to 62.5 %
#: terminated by 6 mg and 91.4 % by 12 mg (DiMarco JP, et al. Ann Intern Med 1990;113:104-110).
ADENOSINE_THRESHOLD_MU = 1.581
ADENOSINE_THRESHOLD_SIGMA = 0.662
#: Adenosine's peak body amount as a fraction of a rapid IV dose (one compartment with the
#: spec's absorption and elimination half-lives); a dose ends SVT when the body amount reaches
#: this fraction of the patient's threshold (0.99: margin for the sampled, not analytic, peak).
_KA, _KE = LN2 / DRUG_SPECS["adenosine"].absorption_t_half_s["iv"], LN2 / DRUG_SPECS["adenosine"].t_half_s
_TMAX = math.log(_KA / _KE) / (_KA - _KE)
ADENOSINE_PEAK_FRACTION = 0.99 * _KA / (_KA - _KE) * (math.exp(-_KE * _TMAX) - math.exp(-_KA * _TMAX))
#: Chance that one vagal manoeuvre ends SVT: modified Valsalva 43 %, standard 17 %
#: (Appelboam A, et al. REVERT trial, Lancet 2015;386:1747-1753).
VAGAL_SUCCESS = {"modified_valsalva": 0.43, "valsalva": 0.17}
#: Chance that a synchronised shock of at least the device's minimum ends SVT (our value,
#: unverified; AHA 2020: 50-100 J biphasic for narrow regular tachycardia).
CARDIOVERSION_SUCCESS = 0.95

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


def step_population_reference(pop: PatientPopulation, dt: float, rosc_draws: np.ndarray | None = None) -> None:
    """Advance every patient by ``dt`` seconds, in place: the numpy reference of
    :func:`step_population` (same model and arguments; ~150 array operations per call).

    ``rosc_draws``: uniform [0, 1) numbers, one per patient, for spontaneous ROSC in a
    non-shockable arrest (None: no spontaneous ROSC this step).
    """
    # -- pharmacokinetics ------------------------------------------------------------
    absorbed = pop.depot * -np.expm1(-pop.depot_ka * dt)
    pop.depot -= absorbed
    pop.central += absorbed + pop.infusion * dt
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

    # Potassium: insulin (and a little bicarbonate) shifts it into the cells; the shift fades.
    k_rate = K_INSULIN_PER_S * e_ins + K_BICARB_PER_S * np.minimum(conc[:, BICARB], 1.0)
    pop.k_shift += dt * (k_rate - pop.k_shift / K_REBOUND_TAU_S)

    # Glucose: dextrose absorbed this step enters the pool; insulin lowers; homeostasis returns.
    pop.glucose += absorbed[:, DEX] * 1000.0 / (GLUCOSE_DL_PER_KG * w)
    pop.central[:, DEX] = 0.0
    pop.glucose += dt * ((pop.glucose_0 - pop.glucose) / GLUCOSE_TAU_S - INSULIN_MAX_UPTAKE * e_ins * pop.glucose)
    np.maximum(pop.glucose, 10.0, out=pop.glucose)

    # -- volume: infusions, bleeding, crystalloid leaving the plasma --------------------
    give_c = np.minimum(pop.cryst_left, pop.cryst_rate * dt)
    give_b = np.minimum(pop.blood_left, pop.blood_rate * dt)
    pop.cryst_left -= give_c
    pop.blood_left -= give_b
    pop.cryst_transient += give_c * (1.0 - CRYSTALLOID_RETAINED)
    leak = pop.cryst_transient * -math.expm1(-dt * LN2 / CRYSTALLOID_T_HALF_S)
    pop.cryst_transient -= leak
    pop.volume += give_c + give_b - leak - pop.bleed * dt
    np.maximum(pop.volume, 0.05 * pop.volume_0, out=pop.volume)
    loss = np.clip(1.0 - pop.volume / pop.volume_0, 0.0, LOSS_POINTS[-1])
    loss_hr = np.interp(loss, LOSS_POINTS, LOSS_HR_RISE)
    loss_sbp = np.interp(loss, LOSS_POINTS, LOSS_SBP_FACTOR)
    loss_dbp = np.interp(loss, LOSS_POINTS, LOSS_DBP_FACTOR)

    # -- circulation -----------------------------------------------------------------
    rhythm = pop.rhythm
    arrest = rhythm >= ARREST_FIRST
    rosc = rhythm == RHYTHM_CODE["rosc"]
    e_atro = pop.effect[:, ATRO]
    # SVT ends when a rapid IV adenosine dose reaches the patient's threshold (the body
    # amount peaks at ~55 % of the dose ~7 s after the push: absorption 3 s, elimination 8 s).
    svt = rhythm == RHYTHM_CODE["svt"]
    ended = svt & (pop.central[:, ADENO] >= ADENOSINE_PEAK_FRACTION * pop.adenosine_threshold)
    if ended.any():
        rhythm[ended] = RHYTHM_CODE["sinus"]
        pop.hr_0[ended] = pop.sinus_hr[ended]
    q = np.where(pop.cpr, pop.cpr_quality, 0.0)
    pop.no_flow_s += np.where(arrest, dt * (1.0 - q), 0.0)
    pop.low_flow_s += np.where(arrest, dt * q, 0.0)
    hypoxic_tachy = np.maximum(0.0, 90.0 - pop.spo2) * 0.5
    hr_intrinsic = pop.hr_0 + ATROPINE_HR_MAX * e_atro * pop.atropine_response
    paced = (pop.pace_rate > 0.0) & (pop.pace_ma >= pop.pace_threshold) & ~arrest
    hr_driven = np.where(paced, np.maximum(hr_intrinsic, pop.pace_rate), hr_intrinsic)
    rate_gain = np.maximum(hr_driven / np.maximum(pop.hr_0, 1.0), 1.0) ** RATE_PRESSURE_EXPONENT
    hr_perf = (
        hr_driven * (1 + EPI_EMAX["hr"] * e_epi) * (1 - 0.35 * e_bb) * (1 - 0.1 * e_amio) * (1 - 0.15 * occ)
        + hypoxic_tachy
        + loss_hr
    )
    hr_arrest = np.where(rhythm == RHYTHM_CODE["pvt"], 180.0, np.where(rhythm == RHYTHM_CODE["pea"], 45.0, 0.0))
    bp_scale = (1 - 0.12 * e_bb) * (1 - 0.1 * e_amio) * (1 - 0.1 * occ) * np.where(rosc, 0.85, 1.0)
    sbp_perf = pop.sbp_0 * (1 + EPI_EMAX["sbp"] * e_epi) * bp_scale * loss_sbp * rate_gain
    dbp_perf = pop.dbp_0 * (1 + EPI_EMAX["dbp"] * e_epi) * bp_scale * loss_dbp * rate_gain
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
    rr_target = np.where(pop.ventilated, np.maximum(rr_target, pop.vent_rate), rr_target)  # 10 /min default
    _approach(pop.rr, rr_target, dt, TAU["rr"])
    # alveolar ventilation relative to normal; an apnoeic baseline (rr_0 0) is ventilated
    # against a normal 14 /min (the tidal volume is taken as fixed)
    va = np.maximum(pop.rr / np.where(pop.rr_0 >= 1.0, pop.rr_0, 14.0), 0.05)
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
    update_cause_factor(pop, loss)
    if rosc_draws is not None:
        nonshock = (rhythm == RHYTHM_CODE["pea"]) | (rhythm == RHYTHM_CODE["asystole"])
        hazard = pop.rosc_per_min / 60.0 * q * e_epi * viability(pop) * pop.cause_factor
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


def step_population(pop: PatientPopulation, dt: float, rosc_draws: np.ndarray | None = None) -> None:
    """Advance every patient by ``dt`` seconds, in place (compiled; the model of
    :func:`step_population_reference`, equal to it within rounding).

    ``rosc_draws``: uniform [0, 1) numbers, one per patient, for spontaneous ROSC in a
    non-shockable arrest (None: no spontaneous ROSC this step).
    """
    if not COMPILED:  # a lean build without numba: the numpy model, the same within rounding
        step_population_reference(pop, dt, rosc_draws)
        return
    draws = _NO_DRAWS if rosc_draws is None else np.asarray(rosc_draws, dtype=np.float64)
    _step_kernel(
        float(dt),
        _elimination(float(dt)),
        draws,
        rosc_draws is not None,
        pop.rhythm,
        pop.hr,
        pop.sbp,
        pop.dbp,
        pop.rr,
        pop.spo2,
        pop.temp_c,
        pop.etco2,
        pop.glucose,
        pop.paco2,
        pop.washout,
        pop.avpu,
        pop.hr_0,
        pop.sbp_0,
        pop.dbp_0,
        pop.rr_0,
        pop.temp_0,
        pop.glucose_0,
        pop.aa_gradient,
        pop.fio2,
        pop.weight,
        pop.rosc_per_min,
        pop.opioid_sensitivity,
        pop.cpr,
        pop.cpr_quality,
        pop.ventilated,
        pop.cardiac_phase,
        pop.resp_phase,
        pop.no_flow_s,
        pop.low_flow_s,
        pop.coma_s,
        pop.volume,
        pop.volume_0,
        pop.cryst_transient,
        pop.cryst_left,
        pop.cryst_rate,
        pop.blood_left,
        pop.blood_rate,
        pop.bleed,
        pop.cause,
        pop.cause_factor,
        pop.potassium_0,
        pop.k_shift,
        pop.vent_rate,
        pop.atropine_response,
        pop.adenosine_threshold,
        pop.pace_rate,
        pop.pace_ma,
        pop.pace_threshold,
        pop.sinus_hr,
        pop.depot,
        pop.depot_ka,
        pop.central,
        pop.effect,
        pop.infusion,
    )


def update_cause_factor(pop: PatientPopulation, loss: np.ndarray | None = None) -> None:
    """0..1 factor of the reversible causes on every chance of ROSC (docs/clinical.md):
    hypovolaemia from the blood lost, hypoxia until the patient is ventilated, tamponade
    until pericardiocentesis, a tension pneumothorax until decompressed, TCA toxicity by the
    sodium bicarbonate on board, and (for every patient) a serum potassium of 6.5-7 mmol/l
    or more unless calcium on board stabilises the myocardium."""
    if loss is None:
        loss = np.clip(1.0 - pop.volume / pop.volume_0, 0.0, 1.0)
    f = np.clip((LOSS_NO_ROSC - loss) / (LOSS_NO_ROSC - LOSS_FULL_ROSC), 0.0, 1.0)
    cause = pop.cause
    f = np.where((cause == CAUSE_CODE["hypoxia"]) & ~pop.ventilated, 0.0, f)
    f = np.where((cause == CAUSE_CODE["tamponade"]) | (cause == CAUSE_CODE["tension_pneumothorax"]), 0.0, f)
    serum_k = pop.potassium_0 - pop.k_shift
    f_k = np.clip((K_NO_ROSC - serum_k) / (K_NO_ROSC - K_FULL_ROSC), 0.0, 1.0)
    f = f * np.maximum(f_k, calcium_stabilisation(pop))
    bicarb = np.clip(pop.central[:, BICARB] / pop.weight / BICARB_FULL_MMOL_PER_KG, 0.0, 1.0)
    pop.cause_factor[:] = np.where(cause == CAUSE_CODE["tca_toxicity"], f * bicarb, f)


def calcium_stabilisation(pop: PatientPopulation) -> np.ndarray:
    """0..1 membrane stabilisation by the calcium on board (full from ``CALCIUM_FULL_MMOL``)."""
    return np.clip(pop.central[:, CALCIUM] / CALCIUM_FULL_MMOL, 0.0, 1.0)


def adenosine_threshold(draws: np.ndarray) -> np.ndarray:
    """Per-patient adenosine dose (mg) that ends SVT, from standard-normal draws."""
    return np.exp(ADENOSINE_THRESHOLD_MU + ADENOSINE_THRESHOLD_SIGMA * draws)


def start_rosc(pop: PatientPopulation, mask: np.ndarray) -> None:
    """Bookkeeping at ROSC: CO2 washout and the post-anoxic coma from the arrest's history."""
    pop.washout[mask] = ROSC_WASHOUT
    coma = (COMA_S_PER_NO_FLOW_MIN * pop.no_flow_s + COMA_S_PER_LOW_FLOW_MIN * pop.low_flow_s) / 60.0
    pop.coma_s[mask] = coma[mask]


def shock_conversion_probability(pop: PatientPopulation, slot: int) -> float:
    """Chance that a shock now converts this patient's VF/pVT (0 for other rhythms).

    ``shock_success`` per shock, scaled by the arrest's :func:`viability` (time to the
    shock, with and without CPR) and the reversible causes (:func:`update_cause_factor`),
    and raised by up to half by an antiarrhythmic on board (amiodarone or lidocaine,
    whichever acts more).
    """
    if int(pop.rhythm[slot]) not in (RHYTHM_CODE["vf"], RHYTHM_CODE["pvt"]):
        return 0.0
    anti = max(pop.effect[slot, AMIO], pop.effect[slot, LIDO])
    update_cause_factor(pop)
    p = pop.shock_success[slot] * viability(pop)[slot] * (1.0 + 0.5 * anti) * pop.cause_factor[slot]
    return float(min(0.98, p))


# -- compiled step ---------------------------------------------------------------------
# One patient is the usual case: the numpy step above costs ~150 small array operations
# (0.25-0.5 ms of call overhead per logic tick for a single patient, more on a loaded
# machine), so step_population runs this loop over patients with scalar math instead
# (~0.01 ms; `vrmed bench physiology kernel`). Same formulas in the same order as
# step_population_reference, update_cause_factor and start_rosc (inlined below);
# tests/test_physiology_kernel.py holds them equal. The module constants are frozen into
# the compiled code (numba reads globals at compile time).
_RHYTHM_SINUS = RHYTHM_CODE["sinus"]
_RHYTHM_TACHY = RHYTHM_CODE["sinus_tachycardia"]
_RHYTHM_BRADY = RHYTHM_CODE["bradycardia"]
_RHYTHM_ROSC = RHYTHM_CODE["rosc"]
_RHYTHM_SVT = RHYTHM_CODE["svt"]
_RHYTHM_PVT = RHYTHM_CODE["pvt"]
_RHYTHM_PEA = RHYTHM_CODE["pea"]
_RHYTHM_ASYSTOLE = RHYTHM_CODE["asystole"]
_CAUSE_HYPOXIA = CAUSE_CODE["hypoxia"]
_CAUSE_TAMPONADE = CAUSE_CODE["tamponade"]
_CAUSE_TENSION = CAUSE_CODE["tension_pneumothorax"]
_CAUSE_TCA = CAUSE_CODE["tca_toxicity"]
_N_DRUGS = len(DRUGS)
_TAU_HR, _TAU_BP, _TAU_RR, _TAU_SPO2 = TAU["hr"], TAU["bp"], TAU["rr"], TAU["spo2"]
_TAU_ETCO2, _TAU_PACO2, _TAU_TEMP, _TAU_WASHOUT = TAU["etco2"], TAU["paco2"], TAU["temp"], TAU["washout"]
_EPI_HR, _EPI_SBP, _EPI_DBP = EPI_EMAX["hr"], EPI_EMAX["sbp"], EPI_EMAX["dbp"]
_NO_DRAWS = np.zeros(0)


@functools.lru_cache(maxsize=8)
def _elimination(dt: float) -> np.ndarray:
    """``exp(-KE dt)`` per drug, by numpy as in the reference (its vectorised exp can differ
    from libm's by an ulp); cached because dt is the fixed logic step."""
    return np.exp(-KE * dt)


@njit(cache=True)
def _interp(x: float, xp: np.ndarray, fp: np.ndarray) -> float:
    """Scalar ``np.interp`` for increasing ``xp`` (numpy's formula: slope times offset plus
    the left value, the exact table value at a node, clamped at both ends)."""
    last = xp.shape[0] - 1
    if x >= xp[last]:
        return fp[last]
    if x < xp[0]:
        return fp[0]
    j = 0
    while xp[j + 1] <= x:
        j += 1
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    return slope * (x - xp[j]) + fp[j]


@njit(cache=True)
def _clip(x: float, lo: float, hi: float) -> float:
    """``np.clip`` of one value."""
    return min(max(x, lo), hi)


@njit(cache=True)
def _step_kernel(
    dt: float,
    decay: np.ndarray,
    draws: np.ndarray,
    use_draws: bool,
    rhythm: np.ndarray,
    hr: np.ndarray,
    sbp: np.ndarray,
    dbp: np.ndarray,
    rr: np.ndarray,
    spo2: np.ndarray,
    temp_c: np.ndarray,
    etco2: np.ndarray,
    glucose: np.ndarray,
    paco2: np.ndarray,
    washout: np.ndarray,
    avpu: np.ndarray,
    hr_0: np.ndarray,
    sbp_0: np.ndarray,
    dbp_0: np.ndarray,
    rr_0: np.ndarray,
    temp_0: np.ndarray,
    glucose_0: np.ndarray,
    aa_gradient: np.ndarray,
    fio2: np.ndarray,
    weight: np.ndarray,
    rosc_per_min: np.ndarray,
    opioid_sensitivity: np.ndarray,
    cpr: np.ndarray,
    cpr_quality: np.ndarray,
    ventilated: np.ndarray,
    cardiac_phase: np.ndarray,
    resp_phase: np.ndarray,
    no_flow_s: np.ndarray,
    low_flow_s: np.ndarray,
    coma_s: np.ndarray,
    volume: np.ndarray,
    volume_0: np.ndarray,
    cryst_transient: np.ndarray,
    cryst_left: np.ndarray,
    cryst_rate: np.ndarray,
    blood_left: np.ndarray,
    blood_rate: np.ndarray,
    bleed: np.ndarray,
    cause: np.ndarray,
    cause_factor: np.ndarray,
    potassium_0: np.ndarray,
    k_shift: np.ndarray,
    vent_rate: np.ndarray,
    atropine_response: np.ndarray,
    adenosine_threshold: np.ndarray,
    pace_rate: np.ndarray,
    pace_ma: np.ndarray,
    pace_threshold: np.ndarray,
    sinus_hr: np.ndarray,
    depot: np.ndarray,
    depot_ka: np.ndarray,
    central: np.ndarray,
    effect: np.ndarray,
    infusion: np.ndarray,
) -> None:
    """Advance every patient by ``dt`` in place (see :func:`step_population`)."""
    # per-step factors, as step_population_reference computes them
    a_hr = -math.expm1(-dt / _TAU_HR)
    a_bp = -math.expm1(-dt / _TAU_BP)
    a_rr = -math.expm1(-dt / _TAU_RR)
    a_spo2 = -math.expm1(-dt / _TAU_SPO2)
    a_etco2 = -math.expm1(-dt / _TAU_ETCO2)
    a_paco2 = -math.expm1(-dt / _TAU_PACO2)
    a_temp = -math.expm1(-dt / _TAU_TEMP)
    leak_frac = -math.expm1(-dt * LN2 / CRYSTALLOID_T_HALF_S)
    washout_decay = math.exp(-dt / _TAU_WASHOUT)
    for i in range(rhythm.shape[0]):
        # -- pharmacokinetics --------------------------------------------------------
        w = weight[i]
        absorbed_dex = 0.0
        for d in range(_N_DRUGS):
            absorbed = 0.0
            if depot[i, d] != 0.0:  # most depots are empty: skip the expm1 (0 x it is 0 anyway)
                absorbed = depot[i, d] * -math.expm1(-depot_ka[i, d] * dt)
                depot[i, d] -= absorbed
            central[i, d] += absorbed + infusion[i, d] * dt
            central[i, d] *= decay[d]
            c = central[i, d] / w
            effect[i, d] = c / (c + EC50[d])
            if d == DEX:
                absorbed_dex = absorbed
        e_epi, e_amio, e_ins, e_bb = effect[i, EPI], effect[i, AMIO], effect[i, INS], effect[i, BB]
        e_atro = effect[i, ATRO]
        x = central[i, MORPH] / w * opioid_sensitivity[i] / EC50[MORPH]
        y = central[i, NALOX] / w / EC50[NALOX]
        occ = x / (1.0 + x + y)
        effect[i, MORPH] = occ
        effect[i, NALOX] = y / (1.0 + y)
        k_rate = K_INSULIN_PER_S * e_ins + K_BICARB_PER_S * min(central[i, BICARB] / w, 1.0)
        k_shift[i] += dt * (k_rate - k_shift[i] / K_REBOUND_TAU_S)
        g = glucose[i] + absorbed_dex * 1000.0 / (GLUCOSE_DL_PER_KG * w)
        central[i, DEX] = 0.0
        g += dt * ((glucose_0[i] - g) / GLUCOSE_TAU_S - INSULIN_MAX_UPTAKE * e_ins * g)
        glucose[i] = max(g, 10.0)

        # -- volume ------------------------------------------------------------------
        give_c = min(cryst_left[i], cryst_rate[i] * dt)
        give_b = min(blood_left[i], blood_rate[i] * dt)
        cryst_left[i] -= give_c
        blood_left[i] -= give_b
        cryst_transient[i] += give_c * (1.0 - CRYSTALLOID_RETAINED)
        leak = cryst_transient[i] * leak_frac
        cryst_transient[i] -= leak
        vol = volume[i] + (give_c + give_b - leak - bleed[i] * dt)
        vol = max(vol, 0.05 * volume_0[i])
        volume[i] = vol
        loss = _clip(1.0 - vol / volume_0[i], 0.0, LOSS_POINTS[-1])
        loss_hr = _interp(loss, LOSS_POINTS, LOSS_HR_RISE)
        loss_sbp = _interp(loss, LOSS_POINTS, LOSS_SBP_FACTOR)
        loss_dbp = _interp(loss, LOSS_POINTS, LOSS_DBP_FACTOR)

        # -- circulation ---------------------------------------------------------------
        r = rhythm[i]
        arrest = r >= ARREST_FIRST
        rosc = r == _RHYTHM_ROSC
        if r == _RHYTHM_SVT and central[i, ADENO] >= ADENOSINE_PEAK_FRACTION * adenosine_threshold[i]:
            r = _RHYTHM_SINUS
            rhythm[i] = r
            hr_0[i] = sinus_hr[i]
        q = cpr_quality[i] if cpr[i] else 0.0
        if arrest:
            no_flow_s[i] += dt * (1.0 - q)
            low_flow_s[i] += dt * q
        hypoxic_tachy = max(0.0, 90.0 - spo2[i]) * 0.5
        hr_intrinsic = hr_0[i] + ATROPINE_HR_MAX * e_atro * atropine_response[i]
        paced = pace_rate[i] > 0.0 and pace_ma[i] >= pace_threshold[i] and not arrest
        hr_driven = max(hr_intrinsic, pace_rate[i]) if paced else hr_intrinsic
        ratio = max(hr_driven / max(hr_0[i], 1.0), 1.0)
        # numpy's ``** 0.5`` is a square root (exact); libm's pow may differ by an ulp
        rate_gain = math.sqrt(ratio) if RATE_PRESSURE_EXPONENT == 0.5 else ratio**RATE_PRESSURE_EXPONENT
        if arrest:
            hr_target = 180.0 if r == _RHYTHM_PVT else (45.0 if r == _RHYTHM_PEA else 0.0)
            sbp_target = 80.0 * q
            dbp_target = (20.0 + 15.0 * e_epi) * q
        else:
            hr_target = (
                hr_driven * (1 + _EPI_HR * e_epi) * (1 - 0.35 * e_bb) * (1 - 0.1 * e_amio) * (1 - 0.15 * occ)
                + hypoxic_tachy
                + loss_hr
            )
            bp_scale = (1 - 0.12 * e_bb) * (1 - 0.1 * e_amio) * (1 - 0.1 * occ) * (0.85 if rosc else 1.0)
            sbp_target = sbp_0[i] * (1 + _EPI_SBP * e_epi) * bp_scale * loss_sbp * rate_gain
            dbp_target = dbp_0[i] * (1 + _EPI_DBP * e_epi) * bp_scale * loss_dbp * rate_gain
        hr[i] += (hr_target - hr[i]) * a_hr
        sbp[i] += (sbp_target - sbp[i]) * a_bp
        dbp[i] += (dbp_target - dbp[i]) * a_bp
        mean_ap = dbp[i] + (sbp[i] - dbp[i]) / 3.0
        map_0 = dbp_0[i] + (sbp_0[i] - dbp_0[i]) / 3.0

        # -- ventilation and gas exchange ----------------------------------------------
        if arrest:
            rr_target = 0.0
        else:
            rr_target = rr_0[i] * (1.0 - occ) ** 0.9
            if rr_target < 2.0:
                rr_target = 0.0
        if ventilated[i]:
            rr_target = max(rr_target, vent_rate[i])
        rr[i] += (rr_target - rr[i]) * a_rr
        va = max(rr[i] / (rr_0[i] if rr_0[i] >= 1.0 else 14.0), 0.05)
        paco2_target = 45.0 if arrest else _clip(40.0 * (1.0 - 0.2 * occ) / va, 20.0, 100.0)
        paco2[i] += (paco2_target - paco2[i]) * a_paco2
        if arrest:
            spo2_target = 50.0 + 40.0 * q
        else:
            p = max(max(fio2[i] * 713.0 - paco2[i] / 0.8 - aa_gradient[i], 5.0), 1.0)
            spo2_target = 100.0 / (1.0 + 23400.0 / (p * p * p + 150.0 * p))
        spo2[i] += (spo2_target - spo2[i]) * a_spo2

        # -- capnography -----------------------------------------------------------------
        washout[i] *= washout_decay
        if arrest:
            etco2_target = 2.0 + 17.0 * q
        else:
            perf_ratio = min(1.0, mean_ap / max(map_0, 1.0))
            etco2_target = ((paco2[i] - 3.0) * (0.7 + 0.3 * perf_ratio) if rr[i] > 0.5 else 0.0) + washout[i]
        etco2[i] += (etco2_target - etco2[i]) * a_etco2
        temp_c[i] += (temp_0[i] - temp_c[i]) * a_temp

        # -- rhythm: reversible causes (update_cause_factor), spontaneous ROSC ----------
        f = _clip((LOSS_NO_ROSC - loss) / (LOSS_NO_ROSC - LOSS_FULL_ROSC), 0.0, 1.0)
        cz = cause[i]
        if (cz == _CAUSE_HYPOXIA and not ventilated[i]) or cz == _CAUSE_TAMPONADE or cz == _CAUSE_TENSION:
            f = 0.0
        f_k = _clip((K_NO_ROSC - (potassium_0[i] - k_shift[i])) / (K_NO_ROSC - K_FULL_ROSC), 0.0, 1.0)
        f = f * max(f_k, _clip(central[i, CALCIUM] / CALCIUM_FULL_MMOL, 0.0, 1.0))
        if cz == _CAUSE_TCA:
            f = f * _clip(central[i, BICARB] / w / BICARB_FULL_MMOL_PER_KG, 0.0, 1.0)
        cause_factor[i] = f
        if use_draws and (r == _RHYTHM_PEA or r == _RHYTHM_ASYSTOLE):
            viab = math.exp(-(NO_FLOW_DECAY_PER_MIN * no_flow_s[i] + LOW_FLOW_DECAY_PER_MIN * low_flow_s[i]) / 60.0)
            hazard = rosc_per_min[i] / 60.0 * q * e_epi * viab * f
            if draws[i] < -math.expm1(-hazard * dt):
                # start_rosc: CO2 washout and the post-anoxic coma from the arrest's history
                r = _RHYTHM_ROSC
                rhythm[i] = r
                washout[i] = ROSC_WASHOUT
                coma_s[i] = (COMA_S_PER_NO_FLOW_MIN * no_flow_s[i] + COMA_S_PER_LOW_FLOW_MIN * low_flow_s[i]) / 60.0
        if r <= _RHYTHM_BRADY:
            h = hr[i]
            rhythm[i] = _RHYTHM_BRADY if h < 60.0 else (_RHYTHM_TACHY if h > 100.0 else _RHYTHM_SINUS)

        # -- consciousness (AVPU) ----------------------------------------------------------
        s, gl = spo2[i], glucose[i]
        coma = max(0.0, coma_s[i] - dt)
        coma_s[i] = coma
        if occ > 0.85 or arrest or coma > 0.0:
            avpu[i] = 3
        elif occ > 0.7 or s < 70.0 or gl < 40.0 or mean_ap < 50.0:
            avpu[i] = 2
        elif occ > 0.5 or s < 80.0 or gl < 54.0:
            avpu[i] = 1
        else:
            avpu[i] = 0

        cardiac_phase[i] = (cardiac_phase[i] + dt * hr[i] / 60.0) % 1.0
        resp_phase[i] = (resp_phase[i] + dt * rr[i] / 60.0) % 1.0
