"""Patient components: the YAML parameters of one patient, and the population arrays that
the physiology system steps for every patient at once.

A ``Patient`` component carries a patient's baseline (normal ranges and sources in
``docs/clinical.md``). On its first logic tick the physiology system gives it a ``slot`` in
the single :class:`PatientPopulation` component, whose numpy arrays hold the live state
of all patients so one vectorised step advances 100 patients without a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Cardiac rhythms, by code (index) and name. Codes >= ARREST_FIRST are pulseless.
#: ``svt`` (narrow-complex regular re-entry tachycardia) and ``heart_block`` (complete AV
#: block with a ventricular escape rhythm) perfuse but are not relabelled by heart rate.
RHYTHMS: tuple[str, ...] = (
    "sinus",
    "sinus_tachycardia",
    "bradycardia",
    "rosc",
    "svt",
    "heart_block",
    "vf",
    "pvt",
    "asystole",
    "pea",
)
RHYTHM_CODE: dict[str, int] = {name: i for i, name in enumerate(RHYTHMS)}
ARREST_FIRST = RHYTHM_CODE["vf"]
#: Lowest systolic pressure (mmHg) at which a carotid pulse is palpable in the model: a
#: carotid-only pulse was found at a mean SBP of 66.6 mmHg (range down to ~50) in
#: hypovolaemic patients (Deakin CD, Low JL, BMJ 2000;321:673-674); 50 is our threshold.
PULSE_SBP_MIN = 50.0
SHOCKABLE: frozenset[str] = frozenset({"vf", "pvt"})
#: AVPU levels, by code. A patient who is alert but newly confused reads "C" (ACVPU, NEWS2).
AVPU: tuple[str, ...] = ("A", "V", "P", "U")
#: Reversible causes of arrest the physiology models itself (besides hypovolaemia, which
#: follows from the intravascular volume): each blocks ROSC until its treatment (docs/clinical.md).
#: ``hyperkalaemia`` acts through the serum potassium (``Patient.potassium``), which the
#: physiology checks for every patient; the cause names it for scripts and records.
CAUSES: tuple[str, ...] = ("", "hypoxia", "tamponade", "tca_toxicity", "hyperkalaemia", "tension_pneumothorax")
CAUSE_CODE: dict[str, int] = {name: i for i, name in enumerate(CAUSES)}
#: Defibrillator waveforms and the adult energies (J) of AHA 2020 / ERC 2021 (docs/clinical.md).
WAVEFORMS: tuple[str, ...] = ("biphasic", "monophasic")

#: Names a scenario script may read as ``<entity>.<name>`` (see docs/scenario-language.md).
PATIENT_VARS: tuple[str, ...] = (
    "hr",
    "sbp",
    "dbp",
    "map",
    "spo2",
    "rr",
    "temp_c",
    "etco2",
    "glucose",
    "avpu",
    "rhythm",
    "arrest",
    "cpr",
    "cpr_quality",
    "opioid_effect",
    "no_flow_s",
    "low_flow_s",
    "pulse",
    "volume_ml",
    "volume_deficit",
    "paco2",
    "fio2",
    "cause",
    "potassium",
)
#: Keys a scenario's ``physiology`` action may set (new baselines, or the rhythm itself).
PATIENT_SETTABLE: tuple[str, ...] = (
    "rhythm",
    "hr",
    "sbp",
    "dbp",
    "rr",
    "spo2",
    "temp_c",
    "glucose",
    "fio2",
    "shock_success",
    "rosc_per_min",
    "new_confusion",
    "spo2_scale",
    "cause",
    "blood_loss_ml",
    "bleed_ml_per_min",
    "aa_gradient",
    "witnessed_monitored",
    "atropine_response",
    "adenosine_threshold_mg",
    "vagal_response",
    "sinus_hr",
    "potassium",
    "pneumothorax_side",
)
#: Sides of a tension pneumothorax (``Patient.pneumothorax_side``).
SIDES: tuple[str, ...] = ("right", "left")


@dataclass
class Patient:
    """One simulated patient's baseline physiology (all settable per prefab in YAML).

    Units: heart rate /min, pressures mmHg, SpO2 %, respiratory rate /min, temperature
    deg C, EtCO2 mmHg, glucose mg/dL, weight kg, FiO2 fraction. ``shock_success`` is the
    probability that one shock converts VF/pVT to a perfusing rhythm (0 = refractory, the
    scenario script then decides); ``rosc_per_min`` is the chance per minute of ROSC in a
    non-shockable arrest under good CPR with epinephrine on board.
    """

    weight_kg: float = 70.0
    hr: float = 75.0
    sbp: float = 120.0
    dbp: float = 80.0
    rr: float = 14.0
    spo2: float = 97.0
    temp_c: float = 37.0
    etco2: float = 38.0
    glucose: float = 100.0
    fio2: float = 0.21
    rhythm: str = "sinus"
    shock_success: float = 0.6
    rosc_per_min: float = 0.0
    opioid_sensitivity: float = 1.0
    #: NEWS2 SpO2 scale: 1, or 2 for a patient with hypercapnic respiratory failure and a
    #: prescribed target of 88-92 % (RCP 2017; the decision is recorded per patient).
    spo2_scale: int = 1
    #: New confusion (the "C" of ACVPU): scores 3 in NEWS2 like V, P or U.
    new_confusion: bool = False
    #: A reversible cause the physiology models (``CAUSES``: hypoxia, tamponade,
    #: tca_toxicity, hyperkalaemia, tension_pneumothorax); hypovolaemia follows from
    #: ``blood_loss_ml`` instead.
    cause: str = ""
    #: Serum potassium (mmol/l; normal 3.5-5.0, UK Kidney Association 2020). From about
    #: 6.5-7 mmol/l an arrest does not convert until the myocardium is stabilised (calcium).
    potassium: float = 4.2
    #: Side of a tension pneumothorax (cause ``tension_pneumothorax``): decompressing the
    #: other side does not relieve it.
    pneumothorax_side: str = "right"
    #: Circulating blood volume (ml/kg; ~70 ml/kg in adults, ATLS) and what is already lost (ml).
    blood_volume_ml_per_kg: float = 70.0
    blood_loss_ml: float = 0.0
    #: The arrest was witnessed on a monitor with a defibrillator at hand (cath lab, CCU):
    #: up to three stacked shocks are allowed (AHA 2020; ERC 2021).
    witnessed_monitored: bool = False
    #: Heart-rate response to atropine, 0..1: 1 for vagally mediated sinus bradycardia,
    #: near 0 for infranodal (Mobitz II, complete) heart block (AHA 2020 bradycardia).
    atropine_response: float = 1.0
    #: Rapid-IV adenosine dose (mg) that ends this patient's SVT; 0 draws one from the
    #: population distribution (62.5 % by 6 mg, 91.4 % by 12 mg; DiMarco 1990).
    adenosine_threshold_mg: float = 0.0
    #: Factor on the chance that a vagal manoeuvre ends the SVT (0 = never).
    vagal_response: float = 1.0
    #: Transcutaneous pacing capture threshold (mA).
    pacing_threshold_ma: float = 60.0
    #: Sinus rate (/min) once an SVT is terminated.
    sinus_hr: float = 80.0
    slot: int = -1

    def __post_init__(self) -> None:
        if self.rhythm not in RHYTHM_CODE:
            raise ValueError(f"unknown rhythm {self.rhythm!r}; rhythms: {', '.join(RHYTHMS)}")
        if self.weight_kg <= 0:
            raise ValueError("weight_kg must be positive")
        if not 0.21 <= self.fio2 <= 1.0:
            raise ValueError("fio2 must be between 0.21 and 1.0")
        if not 0.0 <= self.shock_success <= 1.0:
            raise ValueError("shock_success must be between 0 and 1")
        if self.spo2_scale not in (1, 2):
            raise ValueError("spo2_scale must be 1 or 2 (NEWS2 SpO2 scales)")
        if self.cause not in CAUSE_CODE:
            raise ValueError(f"unknown cause {self.cause!r}; causes: {', '.join(c for c in CAUSES if c)}")
        if not 1.0 <= self.potassium <= 12.0:
            raise ValueError("potassium must be between 1 and 12 mmol/l")
        if self.pneumothorax_side not in SIDES:
            raise ValueError(f"pneumothorax_side must be one of {', '.join(SIDES)}, not {self.pneumothorax_side!r}")
        if self.blood_volume_ml_per_kg <= 0 or not 0.0 <= self.blood_loss_ml:
            raise ValueError("blood_volume_ml_per_kg must be positive and blood_loss_ml not negative")
        if self.blood_loss_ml >= self.blood_volume_ml_per_kg * self.weight_kg:
            raise ValueError("blood_loss_ml must be less than the blood volume (weight_kg x blood_volume_ml_per_kg)")


@dataclass
class Defibrillator:
    """A manual defibrillator's waveform and the adult energies its maker recommends (J).

    Biphasic: the manufacturer's first dose (``first_energy_j``, a range; AHA 2020: 120-200
    J when unknown) and later doses equal or higher up to ``max_energy_j``. Monophasic:
    360 J every shock. The physiology checks every ``ShockDelivered`` against the scene's
    defibrillator and reports it on ``ShockResult.energy_ok``; synchronised cardioversion
    (``synchronised``) is allowed from ``sync_min_energy_j``.
    """

    waveform: str = "biphasic"
    first_energy_j: tuple[float, float] = (120.0, 200.0)
    max_energy_j: float = 360.0
    sync_min_energy_j: float = 50.0

    def __post_init__(self) -> None:
        if self.waveform not in WAVEFORMS:
            raise ValueError(f"waveform must be one of {', '.join(WAVEFORMS)}, not {self.waveform!r}")
        lo, hi = (float(x) for x in self.first_energy_j)
        if self.waveform == "monophasic":
            lo = hi = self.max_energy_j = 360.0  # AHA 2020 / ERC 2021: monophasic 360 J
        if not 0 < lo <= hi <= self.max_energy_j:
            raise ValueError("energies must satisfy 0 < first_energy_j[0] <= first_energy_j[1] <= max_energy_j")
        self.first_energy_j = (lo, hi)

    def energy_ok(self, energy_j: float, previous_j: float) -> bool:
        """Whether a defibrillation energy fits this device (``previous_j`` 0 for the first shock)."""
        lo, hi = self.first_energy_j
        if self.waveform == "monophasic":
            return abs(energy_j - 360.0) < 0.5
        if previous_j <= 0.0:
            return lo <= energy_j <= hi
        return max(lo, previous_j) <= energy_j <= self.max_energy_j


#: What scenario scripts may read and set (bound to the population by the physiology plugin).
Patient.SCENARIO_VARS = PATIENT_VARS  # type: ignore[attr-defined]
Patient.SCENARIO_SETTABLE = PATIENT_SETTABLE  # type: ignore[attr-defined]


#: Patient values a :class:`VitalTarget` may watch (numbers, not labels).
TARGET_VARS: tuple[str, ...] = ("hr", "sbp", "dbp", "map", "spo2", "rr", "temp_c", "etco2", "glucose", "paco2")


@dataclass
class VitalTarget:
    """A target range for one of a patient's values (post-ROSC MAP >= 65 mmHg, SpO2 92-98 %).

    The physiology sends ``VitalTargetChanged`` on the first tick and whenever the value
    enters or leaves ``[low, high]``, so a rubric ``fraction`` rule can score the share of a
    window spent in range (time in range, not one reading). The entity's ``Name`` names the
    target in the event. ``inside`` is detector state (-1 before the first tick).
    """

    patient: str = ""
    var: str = "map"
    low: float = float("-inf")
    high: float = float("inf")
    inside: int = -1

    def __post_init__(self) -> None:
        if self.var not in TARGET_VARS:
            raise ValueError(f"var must be one of {', '.join(TARGET_VARS)}, not {self.var!r}")
        if not self.low <= self.high:
            raise ValueError("low must not exceed high")


@dataclass
class Casualty:
    """What a START triage assessment finds that is not a vital sign (mass-casualty scenes).

    Respiratory rate comes from the patient's physiology; a radial pulse is palpable when
    systolic pressure is at least ``radial_pulse_sbp`` (a teaching convention, see
    docs/clinical.md) unless ``radial_pulse`` overrides it.
    """

    ambulatory: bool = False
    breathes_after_airway: bool = False
    follows_commands: bool = True
    cap_refill_s: float = 1.5
    radial_pulse: bool | None = None
    radial_pulse_sbp: float = 80.0
    injuries: str = ""


@dataclass
class PatientIdentity:
    """The identifiers on a wristband and chart, and what the chart records (medication)."""

    full_name: str = ""
    date_of_birth: str = ""
    mrn: str = ""
    allergies: list[str] = field(default_factory=list)


@dataclass
class CompressionSensor:
    """Turns a tracked device's vertical motion into chest compressions on ``patient``.

    A compression is a downstroke of at least ``min_depth_cm`` followed by recoil; rate
    comes from the time between compressions, depth from the downstroke. No compression
    for ``stop_after_s`` means compressions stopped. The remaining fields are detector
    state (kept here so session digests cover them).
    """

    device: str = "right_hand"
    patient: str = ""
    axis: int = 1
    min_depth_cm: float = 2.0
    stop_after_s: float = 1.5
    active: bool = False
    falling: bool = True
    extreme: float = float("nan")
    top: float = float("nan")
    last_bottom_t: float = -1.0
    rate_per_min: float = 0.0
    depth_cm: float = 0.0
    reported_rate: float = 0.0
    reported_depth: float = 0.0
    count: int = 0


@dataclass
class PatientMonitor:
    """A bedside monitor's waveform buffers for one patient (what a monitor panel draws).

    ``ecg``, ``pleth`` and ``co2`` are ring buffers of ``seconds * rate_hz`` samples,
    written at ``head``; ``t_last`` is the time of the newest sample. Filled every display
    frame by the physiology plugin (``render.prepare``).
    """

    patient: str = ""
    rate_hz: float = 250.0
    seconds: float = 6.0
    head: int = 0
    t_last: float = 0.0
    ecg: Any = field(default_factory=lambda: np.zeros(0))
    pleth: Any = field(default_factory=lambda: np.zeros(0))
    co2: Any = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        if self.rate_hz <= 0 or self.seconds <= 0:
            raise ValueError("rate_hz and seconds must be positive")
        n = int(round(self.rate_hz * self.seconds))
        if self.ecg.shape[0] != n:
            self.ecg, self.pleth, self.co2 = np.zeros(n), np.zeros(n), np.zeros(n)

    def window(self, name: str) -> Any:
        """One waveform in time order, oldest sample first."""
        buf = getattr(self, name)
        return np.roll(buf, -self.head)


def _arr(n: int = 0, dtype: Any = np.float64) -> Any:
    return field(default_factory=lambda: np.zeros(n, dtype=dtype))


#: Drugs the model knows, by index in the PK/PD arrays (parameters in physiology_kernels).
DRUGS: tuple[str, ...] = (
    "epinephrine",
    "amiodarone",
    "naloxone",
    "insulin",
    "dextrose",
    "metoprolol",
    "morphine",
    "lidocaine",
    "atropine",
    "adenosine",
    "sodium_bicarbonate",
    "calcium",
)
DRUG_INDEX: dict[str, int] = {d: i for i, d in enumerate(DRUGS)}


@dataclass
class PatientPopulation:
    """Live state of every patient, one array element per slot (one component, one entity).

    Vital signs are the displayed values; ``*_0`` arrays are baselines; drug amounts are
    per slot and drug (``depot`` not yet absorbed, ``central`` in the body, canonical unit
    of each drug). Kept as a component so session digests and replay cover it.
    """

    n: int = 0
    alive: Any = _arr(0, bool)
    rhythm: Any = _arr(0, np.int8)
    hr: Any = _arr()
    sbp: Any = _arr()
    dbp: Any = _arr()
    rr: Any = _arr()
    spo2: Any = _arr()
    temp_c: Any = _arr()
    etco2: Any = _arr()
    glucose: Any = _arr()
    paco2: Any = _arr()
    washout: Any = _arr()
    avpu: Any = _arr(0, np.int8)
    hr_0: Any = _arr()
    sbp_0: Any = _arr()
    dbp_0: Any = _arr()
    rr_0: Any = _arr()
    temp_0: Any = _arr()
    glucose_0: Any = _arr()
    aa_gradient: Any = _arr()
    fio2: Any = _arr()
    weight: Any = _arr()
    shock_success: Any = _arr()
    rosc_per_min: Any = _arr()
    opioid_sensitivity: Any = _arr()
    cpr: Any = _arr(0, bool)
    cpr_quality: Any = _arr()
    ventilated: Any = _arr(0, bool)
    cardiac_phase: Any = _arr()
    resp_phase: Any = _arr()
    #: Arrest history (s): time pulseless without flow and quality-weighted time under CPR
    #: (low flow); they set the chance of ROSC and the post-ROSC coma (docs/clinical.md).
    no_flow_s: Any = _arr()
    low_flow_s: Any = _arr()
    #: Post-ROSC unresponsiveness left (s), from the arrest's no-flow and low-flow times.
    coma_s: Any = _arr()
    #: NEWS2 SpO2 scale (1 or 2) and new confusion, per patient.
    spo2_scale: Any = _arr(0, np.int8)
    confused: Any = _arr(0, bool)
    #: Intravascular volume (ml), its normal, crystalloid still leaving for the interstitium
    #: (ml), infusions running (ml left, ml/s; crystalloid and blood/colloid) and bleeding (ml/s).
    volume: Any = _arr()
    volume_0: Any = _arr()
    cryst_transient: Any = _arr()
    cryst_left: Any = _arr()
    cryst_rate: Any = _arr()
    blood_left: Any = _arr()
    blood_rate: Any = _arr()
    bleed: Any = _arr()
    #: Reversible cause (``CAUSES`` code) and ROSC factor of the causes (0 blocks ROSC).
    cause: Any = _arr(0, np.int8)
    cause_factor: Any = _arr()
    #: Serum potassium (mmol/l): the total before any shift, and what insulin (and a little
    #: bicarbonate) has moved into the cells; the serum value is their difference.
    potassium_0: Any = _arr()
    k_shift: Any = _arr()
    #: Tension pneumothorax on the left (else the right) side.
    ptx_left: Any = _arr(0, bool)
    #: Shocks so far, the last energy (J), CPR since the last shock and since the first.
    shocks: Any = _arr(0, np.int16)
    last_energy: Any = _arr()
    cpr_since_shock: Any = _arr(0, bool)
    cpr_since_first_shock: Any = _arr(0, bool)
    witnessed: Any = _arr(0, bool)
    #: Rate of mechanical ventilation (/min) once an airway is placed.
    vent_rate: Any = _arr()
    #: Brady/tachyarrhythmia parameters and transcutaneous pacing (rate /min, current mA).
    atropine_response: Any = _arr()
    adenosine_threshold: Any = _arr()
    vagal_response: Any = _arr()
    pace_rate: Any = _arr()
    pace_ma: Any = _arr()
    pace_threshold: Any = _arr()
    sinus_hr: Any = _arr()
    depot: Any = field(default_factory=lambda: np.zeros((0, len(DRUGS))))
    depot_ka: Any = field(default_factory=lambda: np.zeros((0, len(DRUGS))))
    central: Any = field(default_factory=lambda: np.zeros((0, len(DRUGS))))
    effect: Any = field(default_factory=lambda: np.zeros((0, len(DRUGS))))
    #: Continuous infusions, canonical unit per second, per slot and drug.
    infusion: Any = field(default_factory=lambda: np.zeros((0, len(DRUGS))))
    slots: dict[str, int] = field(default_factory=dict)

    def state(self) -> dict[str, Any]:
        """Comparable state for digests: every array (the name map follows from the entities)."""
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(self).items() if k != "slots"}

    def slot_of(self, name: str) -> int:
        """The slot of a patient by entity name ('' = the only patient); KeyError if none."""
        if name == "" and len(self.slots) == 1:
            return next(iter(self.slots.values()))
        return self.slots[name]

    def value(self, slot: int, var: str) -> Any:
        """One variable of one patient as a plain value (see :data:`PATIENT_VARS`)."""
        if var == "rhythm":
            return RHYTHMS[int(self.rhythm[slot])]
        if var == "avpu":
            level = int(self.avpu[slot])
            return "C" if level == 0 and self.confused[slot] else AVPU[level]
        if var == "arrest":
            return bool(self.rhythm[slot] >= ARREST_FIRST)
        if var == "map":
            return float(self.dbp[slot] + (self.sbp[slot] - self.dbp[slot]) / 3.0)
        if var == "cpr":
            return bool(self.cpr[slot])
        if var == "opioid_effect":
            return float(self.effect[slot, DRUG_INDEX["morphine"]])
        if var == "pulse":
            return self.pulse_palpable(slot)
        if var == "volume_ml":
            return float(self.volume[slot])
        if var == "volume_deficit":
            return float(max(0.0, 1.0 - self.volume[slot] / self.volume_0[slot]))
        if var == "cause":
            return CAUSES[int(self.cause[slot])]
        if var == "potassium":
            return float(self.potassium_0[slot] - self.k_shift[slot])
        arr = getattr(self, var)
        return float(arr[slot])

    def pulse_palpable(self, slot: int) -> bool:
        """A central (carotid) pulse is felt: a perfusing rhythm with SBP of at least
        ``PULSE_SBP_MIN`` (docs/clinical.md, "Pulse checks")."""
        return bool(self.rhythm[slot] < ARREST_FIRST and self.sbp[slot] >= PULSE_SBP_MIN)

    def vitals(self, slot: int) -> dict[str, Any]:
        """Every :data:`PATIENT_VARS` value of one patient."""
        return {v: self.value(slot, v) for v in PATIENT_VARS}
