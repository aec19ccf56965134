"""Clinical events: what learners do (sent by a scripted learner, an input mapping or a UI)
and what the physiology reports back. All are recorded in the session log with their
simulation time, so every metric and rubric can be recomputed from a stored session.

``patient`` fields name the patient's entity (``""`` means the only patient in the scene).
"""

from __future__ import annotations

from dataclasses import dataclass

from vrmed.events import Event


# -- learner actions: resuscitation ----------------------------------------------------
@dataclass(frozen=True)
class HelpCalled(Event):
    """The learner called for help / the resuscitation team."""

    patient: str = ""


@dataclass(frozen=True)
class CompressionsStarted(Event):
    """Chest compressions started at a rate (/min) and depth (cm), from a device or a script."""

    patient: str = ""
    rate_per_min: float = 110.0
    depth_cm: float = 5.5


@dataclass(frozen=True)
class CompressionsStopped(Event):
    """Chest compressions stopped (a pause begins)."""

    patient: str = ""


@dataclass(frozen=True)
class PadsAttached(Event):
    """Defibrillator pads attached."""

    patient: str = ""


@dataclass(frozen=True)
class RhythmAnalysed(Event):
    """The learner paused to analyse the rhythm (a rhythm check)."""

    patient: str = ""


@dataclass(frozen=True)
class ShockDelivered(Event):
    """A defibrillation shock (energy in joules), or a synchronised cardioversion
    (``synchronised``) of a tachycardia with a pulse; ``device`` names the defibrillator
    entity when a scene has several."""

    patient: str = ""
    energy_j: float = 200.0
    synchronised: bool = False
    device: str = ""


@dataclass(frozen=True)
class PulseChecked(Event):
    """The learner felt for a central (carotid) pulse for ``duration_s`` seconds (AHA 2020:
    no more than 10 s); the physiology answers with ``PulseResult``."""

    patient: str = ""
    duration_s: float = 5.0


@dataclass(frozen=True)
class EcgRecorded(Event):
    """A diagnostic ECG was recorded (``leads``: 12 for the post-ROSC 12-lead ECG)."""

    patient: str = ""
    leads: int = 12


@dataclass(frozen=True)
class VentilationSet(Event):
    """The ventilation rate (/min) given through the airway (bag or ventilator)."""

    rate_per_min: float
    patient: str = ""


@dataclass(frozen=True)
class TemperatureControl(Event):
    """A temperature-control decision: the target core temperature (deg C)."""

    target_c: float
    patient: str = ""


@dataclass(frozen=True)
class InfusionStarted(Event):
    """A continuous drug infusion at ``rate`` ``unit`` per minute (e.g. epinephrine 0.005
    mg/min = 5 ug/min); a new rate replaces the running one, rate 0 stops it."""

    drug: str
    rate: float
    unit: str = "mg"
    patient: str = ""


@dataclass(frozen=True)
class Pericardiocentesis(Event):
    """Needle pericardiocentesis of a cardiac tamponade."""

    patient: str = ""


@dataclass(frozen=True)
class VagalManoeuvre(Event):
    """A vagal manoeuvre for SVT: ``modified_valsalva`` (strain, then supine with legs
    raised; REVERT trial) or ``valsalva`` (standard)."""

    kind: str = "modified_valsalva"
    patient: str = ""


@dataclass(frozen=True)
class PacingStarted(Event):
    """Transcutaneous pacing at ``rate_per_min`` and ``current_ma`` (rate 0 stops it)."""

    rate_per_min: float = 70.0
    current_ma: float = 70.0
    patient: str = ""


@dataclass(frozen=True)
class DrugGiven(Event):
    """A drug was given: dose with its unit (mg, mcg, g, units) and route (iv, io, im, in, sc, po)."""

    drug: str
    dose: float
    unit: str = "mg"
    route: str = "iv"
    patient: str = ""


@dataclass(frozen=True)
class AirwayPlaced(Event):
    """An airway was secured (bvm, supraglottic, ett); ventilation starts."""

    patient: str = ""
    kind: str = "bvm"


@dataclass(frozen=True)
class OxygenApplied(Event):
    """Supplemental oxygen at an inspired fraction (0.21 - 1.0)."""

    patient: str = ""
    fio2: float = 0.4


# -- what the physiology reports ------------------------------------------------------
@dataclass(frozen=True)
class NeedleDecompression(Event):
    """Needle (or finger) thoracostomy of a tension pneumothorax on ``side``."""

    side: str = "right"
    patient: str = ""


@dataclass(frozen=True)
class RhythmChanged(Event):
    """A patient's cardiac rhythm changed (by the model, a shock or the scenario)."""

    patient: str
    from_rhythm: str
    to_rhythm: str


@dataclass(frozen=True)
class ShockResult(Event):
    """What a shock did: the rhythm it met and whether it converted it, and how it fits the
    scene's defibrillator and the arrest: ``energy_ok`` (the device's energies), ``stacked``
    (no compressions since the previous shock) and ``stack_allowed`` (one of the first three
    shocks of a witnessed, monitored arrest with no CPR yet: AHA 2020, ERC 2021)."""

    patient: str
    rhythm_before: str
    converted: bool
    energy_j: float = 0.0
    waveform: str = "biphasic"
    energy_ok: bool = True
    shock_number: int = 1
    stacked: bool = False
    stack_allowed: bool = False
    synchronised: bool = False


@dataclass(frozen=True)
class PulseResult(Event):
    """What a pulse check found: a palpable central pulse or not (only with a perfusing
    rhythm, docs/clinical.md), the rhythm, and how long the check took."""

    patient: str
    palpable: bool
    rhythm: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True)
class VitalTargetChanged(Event):
    """A watched value (a ``VitalTarget``) entered (``in_range``) or left its target range;
    also sent once on the first tick with the starting state. ``target`` is the target
    entity's name, ``value`` the reading at the change, ``low``/``high`` the range (None:
    open on that side)."""

    patient: str
    target: str
    var: str
    in_range: bool
    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class DrugRejected(Event):
    """A drug the model could not apply (unknown drug, or a unit that does not fit it)."""

    patient: str
    drug: str
    reason: str


# -- triage ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CasualtyReached(Event):
    """The learner reached a casualty and assesses it (the triage system answers with
    ``CasualtyAssessed``)."""

    patient: str


@dataclass(frozen=True)
class CasualtyAssessed(Event):
    """What START finds at a casualty and the category those findings give (``expected``)."""

    patient: str
    expected: str
    walking: bool = False
    rr: float = 0.0
    breathes_after_airway: bool = False
    radial_pulse: bool = True
    cap_refill_s: float = 0.0
    follows_commands: bool = True


@dataclass(frozen=True)
class TriageTagged(Event):
    """The learner tagged a casualty with a START category (minor, delayed, immediate, expectant)."""

    patient: str
    category: str


@dataclass(frozen=True)
class TriageResult(Event):
    """A tag compared with START: the category given and the one the findings call for
    (``assessed`` false when the casualty was tagged without being assessed first)."""

    patient: str
    category: str
    expected: str
    assessed: bool = True


# -- medication administration --------------------------------------------------------
@dataclass(frozen=True)
class IdentityChecked(Event):
    """The learner checked the patient's identity against the chart, with these identifiers."""

    identifiers: tuple[str, ...] = ()
    patient: str = ""


@dataclass(frozen=True)
class AllergiesChecked(Event):
    """The learner read the allergy section of the chart."""

    patient: str = ""


@dataclass(frozen=True)
class DrugSelected(Event):
    """The learner picked a drug from the cabinet (possibly a look-alike)."""

    drug: str
    strength: str = ""
    patient: str = ""


@dataclass(frozen=True)
class DrugWithheld(Event):
    """The learner withheld a prescribed drug, with the reason (e.g. allergy)."""

    drug: str
    reason: str = ""
    patient: str = ""


# -- sepsis -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabSent(Event):
    """A sample taken and sent: ``test`` is e.g. ``lactate`` or ``blood_cultures``."""

    test: str
    patient: str = ""


@dataclass(frozen=True)
class FluidGiven(Event):
    """An IV fluid bolus of ``volume_ml`` run in over ``over_s`` seconds: ``crystalloid``
    (saline, Hartmann's, ...), ``blood`` or ``colloid`` (docs/clinical.md, "Volume")."""

    volume_ml: float
    fluid: str = "crystalloid"
    patient: str = ""
    over_s: float = 300.0


# -- infection control -----------------------------------------------------------------
@dataclass(frozen=True)
class HandHygiene(Event):
    """Hand hygiene at one of WHO's five moments (``before_patient``, ``before_aseptic``,
    ``after_body_fluid``, ``after_patient``, ``after_surroundings``), by alcohol rub or
    washing, for ``seconds``."""

    moment: str
    method: str = "alcohol_rub"
    seconds: float = 20.0
    patient: str = ""


@dataclass(frozen=True)
class PpeDonned(Event):
    """A piece of personal protective equipment put on (gown, mask, goggles, gloves)."""

    item: str


@dataclass(frozen=True)
class PpeDoffed(Event):
    """A piece of personal protective equipment taken off."""

    item: str


@dataclass(frozen=True)
class PatientTouched(Event):
    """Contact with the patient (``aseptic``: a clean or aseptic procedure, e.g. a line dressing)."""

    kind: str = "contact"
    patient: str = ""


@dataclass(frozen=True)
class DoubleChecked(Event):
    """A second practitioner independently checked a high-alert drug, its dose and the patient
    (ISMP: opioids and insulin are high-alert medications)."""

    drug: str
    by: str = ""
    patient: str = ""


@dataclass(frozen=True)
class DoseCalculated(Event):
    """The learner's calculated dose (and volume to draw up)."""

    dose: float
    unit: str = "mg"
    volume_ml: float = 0.0
    patient: str = ""


@dataclass(frozen=True)
class AdministrationDocumented(Event):
    """The administration was documented on the chart."""

    drug: str
    patient: str = ""


@dataclass(frozen=True)
class VitalsObserved(Event):
    """A set of observations recorded (feeds NEWS2)."""

    patient: str = ""


@dataclass(frozen=True)
class Escalated(Event):
    """The learner escalated care (``level``: ward, urgent, emergency)."""

    level: str
    patient: str = ""


@dataclass(frozen=True)
class News2Scored(Event):
    """The NEWS2 score computed from the patient's observations at this moment."""

    patient: str
    score: int
    red_flag: bool


# -- patient monitor ---------------------------------------------------------------------
@dataclass(frozen=True)
class NibpRequested(Event):
    """The learner pressed the monitor's NIBP start key: a cuff measurement begins (it
    ends with ``NibpMeasured`` after the cuff's cycle time; ignored while one is running)."""

    patient: str = ""


@dataclass(frozen=True)
class NibpMeasured(Event):
    """A non-invasive blood pressure (cuff) cycle finished, started by ``NibpRequested`` or
    the monitor's automatic interval: systolic, diastolic and mean pressure in mmHg, or
    ``ok`` False (pressures 0) when the cuff found no pulse oscillations (cardiac arrest)."""

    patient: str
    sbp: float = 0.0
    dbp: float = 0.0
    mean: float = 0.0
    ok: bool = True


CLINICAL_EVENTS: tuple[type[Event], ...] = (
    HelpCalled,
    CompressionsStarted,
    CompressionsStopped,
    PadsAttached,
    RhythmAnalysed,
    ShockDelivered,
    DrugGiven,
    AirwayPlaced,
    OxygenApplied,
    NeedleDecompression,
    PulseChecked,
    PulseResult,
    EcgRecorded,
    VentilationSet,
    TemperatureControl,
    InfusionStarted,
    Pericardiocentesis,
    VagalManoeuvre,
    PacingStarted,
    RhythmChanged,
    ShockResult,
    DrugRejected,
    VitalTargetChanged,
    CasualtyReached,
    CasualtyAssessed,
    TriageTagged,
    TriageResult,
    IdentityChecked,
    AllergiesChecked,
    DrugSelected,
    DrugWithheld,
    DoseCalculated,
    DoubleChecked,
    LabSent,
    FluidGiven,
    HandHygiene,
    PpeDonned,
    PpeDoffed,
    PatientTouched,
    AdministrationDocumented,
    VitalsObserved,
    Escalated,
    News2Scored,
    NibpRequested,
    NibpMeasured,
)
