"""Respiratory pack: a mechanical ventilator on a single-compartment lung, with gas exchange.

Model (sources in docs/respiratory.md):

- **Mechanics**: the equation of motion of the respiratory system,
  ``Paw = V/C + R*Q + PEEP``, where ``V`` is the volume above the relaxation volume at the
  set PEEP, ``C`` the compliance and ``R`` the airway resistance. Volume control (``VC``)
  delivers a constant (square-wave) flow ``Vt/Ti``; pressure control (``PC``) holds
  ``Paw = PEEP + Pinsp``, so ``V`` approaches ``C*Pinsp`` with time constant
  ``tau = R*C``; expiration is passive to PEEP (``V`` decays with ``tau``). Each sample is
  advanced with the *exact* solution of this linear ODE over the step (no integration
  error), in a numba kernel. When expiration is shorter than about 3 tau the lung does not
  empty: the end-expiratory volume above PEEP is the intrinsic PEEP times C (auto-PEEP).
  In VC a breath is cycled to expiration when ``Paw`` reaches the high-pressure limit, as
  ventilators do, so an obstruction lowers the delivered volume too.
- **Gas exchange** (per breath, steady state with a first-order approach): alveolar
  ventilation ``VA = RR*(Vte - VD)``; PaCO2 from the alveolar ventilation equation
  ``PaCO2 = 0.863*VCO2/VA``; PAO2 from the alveolar gas equation; PaO2 from a shunt
  (venous admixture) mixing end-capillary and mixed-venous O2 contents, with the shunt
  falling as PEEP recruits lung; SpO2 from the Severinghaus (1979) dissociation curve;
  pH from Henderson-Hasselbalch; EtCO2 = PaCO2 - the arterial-to-end-tidal gradient.

Learner actions are events (settings, holds, blood gas, treatments); the ventilator
answers with measurement events (``PlateauMeasured``, ``TotalPeepMeasured``,
``BloodGasResult``, ``ClinicalFinding``) and alarm events, all recorded and scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

import vrmed
from vrmed.api import (
    DrawList,
    MonitorAlarm,
    MonitorPanel,
    MonitorReadout,
    Name,
    Scenario,
    ScenarioState,
    SessionLog,
    VitalTrace,
    evaluate_rubric,
    record_score,
)

#: Barometric pressure and water vapour pressure at 37 C (mmHg), for the alveolar gas equation.
P_BAROMETRIC = 760.0
P_H2O = 47.0
#: Respiratory quotient (VCO2/VO2) assumed by the alveolar gas equation.
RQ = 0.8
#: 0.863 converts VCO2 (mL/min STPD) / VA (L/min BTPS) to PaCO2 in mmHg.
K_CO2 = 0.863
#: Oxygen bound per gram of haemoglobin (mL/g, Hufner's number as used clinically) and
#: solubility of O2 in plasma (mL/dL/mmHg).
HUFNER = 1.34
O2_SOLUBILITY = 0.003
#: Sample rate of the waveforms and of the mechanics kernel (Hz).
SAMPLE_HZ = 100.0
#: The ARDSNet lower-PEEP/higher-FiO2 table (ARDS Network 2000): FiO2 -> allowed PEEP values.
ARDSNET_PEEP_TABLE: dict[float, tuple[float, ...]] = {
    0.3: (5.0,),
    0.4: (5.0, 8.0),
    0.5: (8.0, 10.0),
    0.6: (10.0,),
    0.7: (10.0, 12.0, 14.0),
    0.8: (14.0,),
    0.9: (14.0, 16.0, 18.0),
    1.0: (18.0, 20.0, 22.0, 24.0),
}
#: What a ``SettingChanged`` may set, with the range a ventilator accepts.
SETTING_RANGES: dict[str, tuple[float, float]] = {
    "vt_ml": (100.0, 1500.0),
    "pinsp": (5.0, 50.0),
    "peep": (0.0, 30.0),
    "fio2": (0.21, 1.0),
    "rate": (4.0, 60.0),
    "ie": (0.5, 6.0),
    "p_high": (15.0, 80.0),
}
MODES = ("VC", "PC")


# --------------------------------------------------------------------------- components


@vrmed.component
@dataclass
class Lung:
    """A patient's respiratory system and gas exchange (one entity: the patient).

    Mechanics: ``compliance_ml`` (mL/cmH2O), ``resistance`` (cmH2O per L/s, the fixed
    part), ``bronchospasm`` (the part a bronchodilator reverses), and an optional mucus plug
    adding ``plug_resistance`` from ``plug_at_s`` (s) until suction clears it.
    Gas exchange: ``dead_space_ml`` (physiological, incl. apparatus), ``vco2``/``vo2``
    (mL/min), ``hb`` (g/dL), ``cardiac_output`` (L/min), ``hco3`` (mmol/L), ``shunt``
    (venous admixture fraction at zero PEEP) falling towards ``shunt_min`` as PEEP recruits
    (scale ``recruit_peep`` cmH2O), ``et_gradient`` (PaCO2 - EtCO2, mmHg) and ``gas_tau_s``
    (time constant of the approach to steady state, compressed from minutes for training).
    Anthropometry for the predicted body weight: ``height_cm``, ``sex``, ``weight_kg``.
    The remaining fields are the live state that scripts read (``patient.auto_peep``).
    """

    compliance_ml: float = 55.0
    resistance: float = 10.0
    bronchospasm: float = 0.0
    plug_at_s: float = -1.0
    plug_resistance: float = 0.0
    dead_space_ml: float = 150.0
    vco2: float = 200.0
    vo2: float = 250.0
    hb: float = 14.0
    cardiac_output: float = 5.0
    hco3: float = 24.0
    shunt: float = 0.03
    shunt_min: float = 0.03
    recruit_peep: float = 8.0
    et_gradient: float = 3.0
    gas_tau_s: float = 30.0
    height_cm: float = 175.0
    sex: str = "male"
    weight_kg: float = 80.0
    # live state
    bronchodilated: bool = False
    plugged: bool = False
    paco2: float = 40.0
    pao2: float = 95.0
    spo2: float = 97.0
    etco2: float = 37.0
    ph: float = 7.40
    ppeak: float = 0.0
    pplat: float = 0.0
    auto_peep: float = 0.0
    vte_ml: float = 0.0

    def __post_init__(self) -> None:
        if self.compliance_ml <= 0 or self.resistance <= 0:
            raise ValueError("compliance_ml and resistance must be positive")
        if not 0.0 <= self.shunt_min <= self.shunt < 1.0:
            raise ValueError("need 0 <= shunt_min <= shunt < 1")
        if self.sex not in ("male", "female"):
            raise ValueError(f"sex must be 'male' or 'female', got {self.sex!r}")
        if self.gas_tau_s <= 0 or self.cardiac_output <= 0 or self.hb <= 0:
            raise ValueError("gas_tau_s, cardiac_output and hb must be positive")


@vrmed.component
@dataclass
class Ventilator:
    """An ICU ventilator connected to the entity named ``patient`` (which has a Lung).

    Settings: ``mode`` (``VC`` volume control, ``PC`` pressure control), ``vt_ml`` (VC),
    ``pinsp`` (PC, cmH2O above PEEP), ``peep`` (cmH2O), ``fio2`` (0.21-1), ``rate``
    (breaths/min), ``ie`` (the E of I:E = 1:ie) and the high airway-pressure alarm limit
    ``p_high`` (cmH2O; in VC the breath is cycled off there). ``seconds`` of pressure, flow
    and volume waveforms are kept at :data:`SAMPLE_HZ`.
    """

    patient: str = "patient"
    mode: str = "VC"
    vt_ml: float = 500.0
    pinsp: float = 15.0
    peep: float = 5.0
    fio2: float = 0.4
    rate: float = 14.0
    ie: float = 2.0
    p_high: float = 40.0
    low_vte_ml: float = 200.0
    seconds: float = 10.0
    silenced_until: float = -1.0
    # kernel state: [t in breath, V (L), running peak, V at start of inspiration, n samples]
    state: np.ndarray = field(default_factory=lambda: np.zeros(5))
    # last completed breath: [ppeak, V end-insp (L), V end-exp (L), Vti (L), Vte (L)]
    breath: np.ndarray = field(default_factory=lambda: np.zeros(5))
    breaths: int = 0
    paw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    flow: np.ndarray = field(default_factory=lambda: np.zeros(0))
    volume: np.ndarray = field(default_factory=lambda: np.zeros(0))
    head: int = 0
    alarms: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name, (lo, hi) in SETTING_RANGES.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
        n = int(round(self.seconds * SAMPLE_HZ))
        if self.paw.shape[0] != n:
            self.paw, self.flow, self.volume = np.zeros(n), np.zeros(n), np.zeros(n)

    def window(self, name: str) -> np.ndarray:
        """One waveform (``paw`` cmH2O, ``flow`` L/s, ``volume`` mL) oldest sample first."""
        return np.roll(getattr(self, name), -self.head)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class PbwCalculated(vrmed.Event):
    """The learner's predicted body weight (kg) for the tidal-volume target."""

    pbw_kg: float


@dataclass(frozen=True)
class SettingChanged(vrmed.Event):
    """The learner sets one ventilator setting (a key of :data:`SETTING_RANGES`)."""

    setting: str
    value: float


@dataclass(frozen=True)
class ModeSelected(vrmed.Event):
    """The learner selects the ventilation mode (``VC`` or ``PC``)."""

    mode: str


@dataclass(frozen=True)
class InspiratoryHold(vrmed.Event):
    """The learner performs an end-inspiratory hold (plateau pressure)."""


@dataclass(frozen=True)
class ExpiratoryHold(vrmed.Event):
    """The learner performs an end-expiratory hold (total PEEP, hence intrinsic PEEP)."""


@dataclass(frozen=True)
class BloodGasDrawn(vrmed.Event):
    """The learner sends an arterial blood gas."""


@dataclass(frozen=True)
class BronchodilatorGiven(vrmed.Event):
    """An inhaled drug through the circuit (only a beta-2 agonist reverses bronchospasm)."""

    drug: str


@dataclass(frozen=True)
class ManualBagging(vrmed.Event):
    """DOPE: disconnect the patient from the ventilator and ventilate by hand with 100% O2."""


@dataclass(frozen=True)
class TubeChecked(vrmed.Event):
    """DOPE: check the tube's position (depth at the teeth, capnography trace)."""


@dataclass(frozen=True)
class BreathSoundsChecked(vrmed.Event):
    """DOPE: auscultate both sides of the chest (pneumothorax, bronchospasm)."""


@dataclass(frozen=True)
class SuctionPassed(vrmed.Event):
    """DOPE: pass a suction catheter down the tube (obstruction)."""


@dataclass(frozen=True)
class AlarmSilenced(vrmed.Event):
    """The learner silences the ventilator's audible alarm (2 minutes)."""


@dataclass(frozen=True)
class PlateauMeasured(vrmed.Event):
    """Result of an inspiratory hold, with the settings it was measured at: peak and
    plateau pressure (cmH2O), driving pressure (plateau - total PEEP), static compliance
    (mL/cmH2O), tidal volume per kg predicted body weight and whether PEEP/FiO2 follow the
    ARDSNet lower-PEEP table."""

    ppeak: float
    pplat: float
    driving_pressure: float
    compliance_ml: float
    vt_ml: float
    vt_per_kg_pbw: float
    peep: float
    fio2: float
    peep_fio2_ok: bool


@dataclass(frozen=True)
class TotalPeepMeasured(vrmed.Event):
    """Result of an expiratory hold: total PEEP, the set PEEP and intrinsic (auto-)PEEP."""

    total_peep: float
    set_peep: float
    auto_peep: float


@dataclass(frozen=True)
class BloodGasResult(vrmed.Event):
    """An arterial blood gas (mmHg; SpO2 %; P/F ratio = PaO2/FiO2 in mmHg)."""

    ph: float
    paco2: float
    pao2: float
    spo2: float
    pf_ratio: float


@dataclass(frozen=True)
class ClinicalFinding(vrmed.Event):
    """What a bedside check found (``check``: bagging, tube, breath_sounds, suction, drug)."""

    check: str
    finding: str


@dataclass(frozen=True)
class VentilatorAlarm(vrmed.Event):
    """An alarm became active (``alarm``: high_pressure, low_vte, low_spo2)."""

    alarm: str
    value: float
    limit: float


@dataclass(frozen=True)
class VentilatorAlarmCleared(vrmed.Event):
    """An alarm condition ended."""

    alarm: str


@dataclass(frozen=True)
class ObstructionCleared(vrmed.Event):
    """Suction removed the mucus plug."""


# --------------------------------------------------------------------------- mechanics


@njit(cache=True)
def _advance(v: float, h: float, inspiring: bool, vc: bool, flow_vc: float, v_target: float, tau: float) -> float:
    """Exact solution of the equation of motion over ``h`` seconds from volume ``v``."""
    if inspiring:
        if vc:
            return v + flow_vc * h
        return v_target + (v - v_target) * math.exp(-h / tau)
    return v * math.exp(-h / tau)


@njit(cache=True)
def ventilate_kernel(
    n: int,
    dt: float,
    vc: bool,
    vt_l: float,
    pinsp: float,
    peep: float,
    rate: float,
    ie: float,
    p_high: float,
    r: float,
    c_l: float,
    state: np.ndarray,
    breath: np.ndarray,
    paw: np.ndarray,
    flow: np.ndarray,
    volume: np.ndarray,
    head: int,
) -> tuple[int, int]:
    """Advance the ventilator and lung by ``n`` samples of ``dt`` s (exact per step).

    ``state`` = [time in breath, V above relaxation volume (L), running peak Paw, V at the
    start of inspiration, unused]; ``breath`` receives the last completed breath's [peak
    Paw, end-inspiratory V, end-expiratory V, inspired Vt, expired Vt] (L, cmH2O). Writes
    Paw (cmH2O), flow (L/s, + inspiratory) and V (mL) into the ring buffers at ``head``.
    Returns (new head, breaths completed).
    """
    tau = r * c_l
    t_tot = 60.0 / rate
    t_i = t_tot / (1.0 + ie)
    flow_vc = vt_l / t_i
    v_target = c_l * pinsp
    tb = state[0]
    v = state[1]
    peak = state[2]
    v_start = state[3]
    done = 0
    size = paw.shape[0]
    for _ in range(n):
        remaining = dt
        while remaining > 1e-12:
            if tb < t_i:
                h = min(remaining, t_i - tb)
                if vc:
                    # cycle off at the pressure limit (the exact time the linear rise reaches it)
                    p_now = peep + v / c_l + r * flow_vc
                    if p_now >= p_high:
                        h_lim = 0.0
                    else:
                        h_lim = (p_high - p_now) * c_l / flow_vc
                    if h_lim < h:
                        v = _advance(v, h_lim, True, True, flow_vc, v_target, tau)
                        peak = max(peak, p_high)
                        tb = t_i  # cycled to expiration early
                        remaining -= h_lim
                        breath[1] = v
                        breath[3] = v - v_start
                        continue
                v = _advance(v, h, True, vc, flow_vc, v_target, tau)
                tb += h
                remaining -= h
                if vc:
                    peak = max(peak, peep + v / c_l + r * flow_vc)
                else:
                    peak = max(peak, peep + pinsp)
                if tb >= t_i:
                    breath[1] = v
                    breath[3] = v - v_start
            else:
                h = min(remaining, t_tot - tb)
                v = _advance(v, h, False, vc, flow_vc, v_target, tau)
                tb += h
                remaining -= h
                if tb >= t_tot - 1e-12:
                    breath[0] = peak
                    breath[2] = v
                    breath[4] = breath[1] - v
                    done += 1
                    tb = 0.0
                    peak = 0.0
                    v_start = v
        # the sample at the end of this step
        if tb < t_i:
            if vc:
                q = flow_vc
                p = peep + v / c_l + r * q
            else:
                q = (pinsp - v / c_l) / r
                p = peep + pinsp
        else:
            q = -v / tau
            p = peep
        paw[head] = p
        flow[head] = q
        volume[head] = v * 1000.0
        head = (head + 1) % size
    state[0] = tb
    state[1] = v
    state[2] = peak
    state[3] = v_start
    return head, done


def time_constant(resistance: float, compliance_ml: float) -> float:
    """tau = R*C in seconds (R in cmH2O per L/s, C in mL/cmH2O)."""
    return resistance * compliance_ml / 1000.0


def steady_auto_peep_vc(vt_ml: float, compliance_ml: float, resistance: float, rate: float, ie: float) -> float:
    """Analytic intrinsic PEEP (cmH2O) of passive VC ventilation at steady state: the
    end-expiratory volume solves V_ee = (V_ee + Vt) exp(-Te/tau)."""
    te = 60.0 / rate * ie / (1.0 + ie)
    e = math.exp(-te / time_constant(resistance, compliance_ml))
    return vt_ml * e / (1.0 - e) / compliance_ml


# --------------------------------------------------------------------------- gas exchange


def saturation(po2: float) -> float:
    """Haemoglobin O2 saturation (%) at PO2 (mmHg): Severinghaus (1979)."""
    p = max(po2, 0.0)
    return 100.0 / (23400.0 / (p**3 + 150.0 * p) + 1.0)


def o2_content(po2: float, hb: float) -> float:
    """Blood O2 content (mL/dL): bound plus dissolved."""
    return HUFNER * hb * saturation(po2) / 100.0 + O2_SOLUBILITY * po2


def po2_from_content(content: float, hb: float) -> float:
    """PO2 (mmHg) whose O2 content is ``content`` (bisection on the monotonic curve)."""
    lo, hi = 0.0, 700.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if o2_content(mid, hb) < content:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def predicted_body_weight(height_cm: float, sex: str) -> float:
    """ARDSNet predicted body weight (kg): 50 (men) or 45.5 (women) + 0.91 (height cm - 152.4)."""
    return (50.0 if sex == "male" else 45.5) + 0.91 * (height_cm - 152.4)


def effective_shunt(lung: Lung, total_peep: float) -> float:
    """Venous admixture at this total PEEP (recruitment lowers it exponentially)."""
    return lung.shunt_min + (lung.shunt - lung.shunt_min) * math.exp(-max(total_peep, 0.0) / lung.recruit_peep)


def alveolar_ventilation(lung: Lung, vte_ml: float, rate: float) -> float:
    """Alveolar ventilation (L/min): rate x (tidal volume - dead space), never negative."""
    return rate * max(vte_ml - lung.dead_space_ml, 0.0) / 1000.0


#: Alveolar ventilation (L/min) at which the CO2 time constant equals ``Lung.gas_tau_s``.
VA_REF = 5.0


def co2_step(lung: Lung, paco2: float, va: float, dt: float) -> float:
    """Advance PaCO2 (mmHg) by ``dt`` s with the CO2 store balance
    ``S dP/dt = VCO2 - VA P / 0.863``, solved exactly for constant VA. The store S is set
    so the time constant is ``gas_tau_s`` at :data:`VA_REF` (compressed from minutes:
    docs/respiratory.md); with VA = 0 (apnoea, a blocked tube) PaCO2 rises linearly."""
    store = VA_REF * lung.gas_tau_s / K_CO2  # (L/min) s / (mmHg per mL/min): a scale
    rise = lung.vco2 / store  # mmHg/s with no ventilation
    if va <= 0.0:
        return paco2 + rise * dt
    steady = K_CO2 * lung.vco2 / va
    return steady + (paco2 - steady) * math.exp(-dt * va / (VA_REF * lung.gas_tau_s))


def gas_exchange(
    lung: Lung, fio2: float, vte_ml: float, rate: float, total_peep: float, paco2: float | None = None
) -> dict[str, float]:
    """Arterial gases for this ventilation (alveolar ventilation equation, alveolar gas
    equation, shunt equation, Severinghaus curve, Henderson-Hasselbalch): at steady state,
    or at the given ``paco2`` (mmHg) while CO2 is still changing."""
    va = alveolar_ventilation(lung, vte_ml, rate)
    if paco2 is None:
        paco2 = K_CO2 * lung.vco2 / max(va, 1e-3)
    pao2_alv = max(fio2 * (P_BAROMETRIC - P_H2O) - paco2 / RQ, 1.0)
    s = effective_shunt(lung, total_peep)
    cc = o2_content(pao2_alv, lung.hb)
    # CaO2 = (1-s) CcO2 + s CvO2 and CvO2 = CaO2 - VO2 / (10 CO)  =>  solve for CaO2
    ca = cc - s / (1.0 - s) * lung.vo2 / (10.0 * lung.cardiac_output)
    pao2 = po2_from_content(ca, lung.hb)
    ph = 6.1 + math.log10(lung.hco3 / (0.0307 * paco2))
    return {
        "paco2": paco2,
        "pao2": pao2,
        "spo2": saturation(pao2),
        "etco2": max(paco2 - lung.et_gradient, 0.0),
        "ph": ph,
        "pao2_alveolar": pao2_alv,
        "shunt": s,
    }


def resistance_now(lung: Lung) -> float:
    """Airway resistance (cmH2O per L/s) with bronchospasm and a mucus plug if present."""
    return (
        lung.resistance
        + (0.0 if lung.bronchodilated else lung.bronchospasm)
        + (lung.plug_resistance if lung.plugged else 0.0)
    )


def peep_fio2_ok(peep: float, fio2: float) -> bool:
    """Whether PEEP/FiO2 is a combination of the ARDSNet lower-PEEP/higher-FiO2 table."""
    for f, peeps in ARDSNET_PEEP_TABLE.items():
        if abs(f - fio2) < 1e-6:
            return any(abs(p - peep) < 1e-6 for p in peeps)
    return False


# --------------------------------------------------------------------------- systems


@dataclass
class RespiratoryReaders:
    """The event readers of the pack's systems (a resource)."""

    readers: dict[str, Any]


def setup(app: vrmed.App, scenario: object) -> None:
    """Per-session event readers."""
    kinds = (
        PbwCalculated,
        SettingChanged,
        ModeSelected,
        InspiratoryHold,
        ExpiratoryHold,
        BloodGasDrawn,
        BronchodilatorGiven,
        ManualBagging,
        TubeChecked,
        BreathSoundsChecked,
        SuctionPassed,
        AlarmSilenced,
    )
    app.insert_resource(RespiratoryReaders({k.__name__: app.event_reader(k) for k in kinds}))


def _pair(app: vrmed.App) -> tuple[Ventilator, Lung] | None:
    vents = app.query(Ventilator)
    if not vents:
        return None
    vent = vents[0][1]
    for _, (name, lung) in app.query(Name, Lung):
        if name.value == vent.patient:
            return vent, lung
    return None


@vrmed.system("logic", in_set="logic.physiology")
def ventilate(app: vrmed.App) -> None:
    """Advance the mechanics kernel to the current time; per completed breath, update the
    measured pressures and volumes, the gases (first-order approach) and the alarms."""
    pair = _pair(app)
    if pair is None:
        return
    vent, lung = pair
    t = float(app.clock.time)
    if lung.plug_at_s >= 0.0 and not lung.plugged and t >= lung.plug_at_s and lung.plug_resistance > 0:
        lung.plugged = True
        lung.plug_at_s = -1.0  # happens once
    c_l = lung.compliance_ml / 1000.0
    due = int(round((t + app.clock.dt) * SAMPLE_HZ)) - int(vent.state[4])
    if due <= 0:
        return
    vent.head, done = ventilate_kernel(
        due,
        1.0 / SAMPLE_HZ,
        vent.mode == "VC",
        vent.vt_ml / 1000.0,
        vent.pinsp,
        vent.peep,
        vent.rate,
        vent.ie,
        vent.p_high,
        resistance_now(lung),
        c_l,
        vent.state,
        vent.breath,
        vent.paw,
        vent.flow,
        vent.volume,
        vent.head,
    )
    vent.state[4] += due
    if done:
        vent.breaths += done
        lung.ppeak = float(vent.breath[0])
        lung.pplat = vent.peep + float(vent.breath[1]) / c_l
        lung.auto_peep = float(vent.breath[2]) / c_l
        lung.vte_ml = float(vent.breath[4]) * 1000.0
    if vent.breaths:
        dt = float(app.clock.dt)
        lung.paco2 = co2_step(lung, lung.paco2, alveolar_ventilation(lung, lung.vte_ml, vent.rate), dt)
        # oxygen equilibrates faster than the CO2 stores (small O2 store): first-order approach
        pao2_target = gas_exchange(lung, vent.fio2, lung.vte_ml, vent.rate, vent.peep + lung.auto_peep, lung.paco2)
        k = 1.0 - math.exp(-dt / (0.5 * lung.gas_tau_s))
        lung.pao2 += (pao2_target["pao2"] - lung.pao2) * k
        lung.etco2 = max(lung.paco2 - lung.et_gradient, 0.0)
        lung.spo2 = saturation(lung.pao2)
        lung.ph = 6.1 + math.log10(lung.hco3 / (0.0307 * lung.paco2))
    if done:
        _update_alarms(app, vent, lung)


def _update_alarms(app: vrmed.App, vent: Ventilator, lung: Lung) -> None:
    active = {
        "high_pressure": (lung.ppeak >= vent.p_high - 1e-6, lung.ppeak, vent.p_high),
        "low_vte": (lung.vte_ml < vent.low_vte_ml, lung.vte_ml, vent.low_vte_ml),
        "low_spo2": (lung.spo2 < 88.0, lung.spo2, 88.0),
    }
    for alarm, (on, value, limit) in active.items():
        if on and alarm not in vent.alarms:
            vent.alarms.append(alarm)
            app.send(VentilatorAlarm(alarm, round(value, 1), limit))
        elif not on and alarm in vent.alarms:
            vent.alarms.remove(alarm)
            app.send(VentilatorAlarmCleared(alarm))


@vrmed.system("logic", in_set="logic.physiology", after="ventilate")
def bedside_actions(app: vrmed.App) -> None:
    """Apply the learner's settings and treatments and answer measurements with events."""
    pair = _pair(app)
    readers = app.try_resource(RespiratoryReaders)
    if pair is None or readers is None:
        return
    vent, lung = pair
    r = readers.readers
    for _ in r["PbwCalculated"].read():
        pass  # recorded and scored; the ventilator does not use it
    for ev in r["ModeSelected"].read():
        if ev.mode in MODES:
            vent.mode = ev.mode
    for ev in r["SettingChanged"].read():
        rng = SETTING_RANGES.get(ev.setting)
        if rng is not None and rng[0] <= ev.value <= rng[1]:
            setattr(vent, ev.setting, float(ev.value))
    for _ in r["InspiratoryHold"].read():
        pbw = predicted_body_weight(lung.height_cm, lung.sex)
        total_peep = vent.peep + lung.auto_peep
        vt = lung.vte_ml if vent.mode == "PC" else vent.vt_ml
        app.send(
            PlateauMeasured(
                ppeak=round(lung.ppeak, 1),
                pplat=round(lung.pplat, 1),
                driving_pressure=round(lung.pplat - total_peep, 1),
                compliance_ml=round(lung.vte_ml / max(lung.pplat - total_peep, 1e-6), 1),
                vt_ml=round(vt, 0),
                vt_per_kg_pbw=round(vt / pbw, 2),
                peep=vent.peep,
                fio2=vent.fio2,
                peep_fio2_ok=peep_fio2_ok(vent.peep, vent.fio2),
            )
        )
    for _ in r["ExpiratoryHold"].read():
        app.send(TotalPeepMeasured(round(vent.peep + lung.auto_peep, 1), vent.peep, round(lung.auto_peep, 1)))
    for _ in r["BloodGasDrawn"].read():
        app.send(
            BloodGasResult(
                round(lung.ph, 2),
                round(lung.paco2, 1),
                round(lung.pao2, 1),
                round(lung.spo2, 1),
                round(lung.pao2 / vent.fio2, 0),
            )
        )
    for ev in r["BronchodilatorGiven"].read():
        if ev.drug == "salbutamol":
            lung.bronchodilated = True
            effect = "wheeze easing" if lung.bronchospasm > 0 else "no bronchospasm to relieve"
        else:
            effect = f"{ev.drug} does not relieve bronchospasm"
        app.send(ClinicalFinding("drug", effect))
    for _ in r["ManualBagging"].read():
        feel = "very stiff: hard to bag" if resistance_now(lung) > 30 else "bags easily"
        app.send(ClinicalFinding("bagging", feel))
    for _ in r["TubeChecked"].read():
        app.send(ClinicalFinding("tube", "tube 23 cm at the teeth as documented; capnography trace present"))
    for _ in r["BreathSoundsChecked"].read():
        if lung.bronchospasm > 0 and not lung.bronchodilated:
            sounds = "bilateral expiratory wheeze, prolonged expiration"
        elif lung.plugged:
            sounds = "equal but reduced bilaterally, coarse sounds over the trachea"
        else:
            sounds = "equal air entry bilaterally"
        app.send(ClinicalFinding("breath_sounds", sounds))
    for _ in r["SuctionPassed"].read():
        if lung.plugged:
            lung.plugged = False
            app.send(ClinicalFinding("suction", "thick mucus plug removed; catheter passes freely"))
            app.send(ObstructionCleared())
        else:
            app.send(ClinicalFinding("suction", "catheter passes freely; scant secretions"))
    for _ in r["AlarmSilenced"].read():
        vent.silenced_until = float(app.clock.time) + 120.0


#: The panel's waveform rows: (label, Ventilator buffer, lo, hi, colour, unit).
_TRACES = (
    ("Paw", "paw", 0.0, 50.0, (1.0, 0.85, 0.2, 1.0), "cmH2O"),
    ("Flow", "flow", -1.2, 1.2, (0.3, 0.9, 1.0, 1.0), "L/s"),
    ("Volume", "volume", 0.0, 900.0, (0.4, 1.0, 0.4, 1.0), "mL"),
)
_ALARM_TEXT = {"high_pressure": "PAW HIGH", "low_vte": "VTE LOW", "low_spo2": "SPO2 LOW"}


@vrmed.system("render", in_set="render.prepare")
def ventilator_panel(app: vrmed.App) -> None:
    """Show the ventilator's waveforms, measured values and alarms on the monitor panel
    (only when a renderer is present)."""
    if not app.has_resource(DrawList):
        return
    pair = _pair(app)
    if pair is None:
        return
    vent, lung = pair
    panel = app.try_resource(MonitorPanel)
    if panel is None:
        panel = MonitorPanel(
            traces=[VitalTrace(label, np.zeros(2), lo, hi, color, unit) for label, _, lo, hi, color, unit in _TRACES],
            view_rect=(0.01, 0.62, 0.98, 0.37),
            trace_fraction=0.6,
            text_size=16,
            readout_columns=3,
            header=True,
        )
        app.insert_resource(panel)
    for trace, (_, name, _, _, _, _) in zip(panel.traces, _TRACES):
        trace.samples = vent.window(name)
    alarms = [a for a in vent.alarms]
    panel.readouts = [
        MonitorReadout(
            "ppeak", "Ppeak", "cmH2O", f"{lung.ppeak:.0f}", alarm="high" if "high_pressure" in alarms else ""
        ),
        MonitorReadout("peep", "PEEP", "cmH2O", f"{vent.peep:.0f}", detail=f"iPEEP {lung.auto_peep:.1f}"),
        MonitorReadout("vte", "VTe", "mL", f"{lung.vte_ml:.0f}", alarm="medium" if "low_vte" in alarms else ""),
        MonitorReadout("rr", "RR", "/min", f"{vent.rate:.0f}", detail=f"I:E 1:{vent.ie:g}"),
        MonitorReadout("fio2", "FiO2", "%", f"{vent.fio2 * 100:.0f}", detail=vent.mode),
        MonitorReadout("spo2", "SpO2", "%", f"{lung.spo2:.0f}", alarm="high" if "low_spo2" in alarms else ""),
        MonitorReadout("etco2", "EtCO2", "mmHg", f"{lung.etco2:.0f}"),
    ]
    panel.alarms = [MonitorAlarm(_ALARM_TEXT[a], "high" if a != "low_vte" else "medium") for a in alarms]
    t = float(app.clock.time)
    panel.alarm_tone = "" if (not alarms or t < vent.silenced_until) else panel.alarms[0].priority
    panel.time_s = t
    panel.rhythm_label = f"{vent.mode} {vent.vt_ml:.0f} mL" if vent.mode == "VC" else f"PC {vent.pinsp:.0f} cmH2O"


# --------------------------------------------------------------------------- scoring


def evaluate(records: list[dict[str, Any]], end_time: float, scenario: Any) -> dict[str, Any]:
    """Rubric score, failed rules and the measurements the learner obtained."""
    out: dict[str, Any] = {}
    if scenario.rubric is not None:
        result = evaluate_rubric(scenario.rubric, records, end_time)
        out.update(score=result.score, passed=result.passed, failed_rules=[r.id for r in result.rules if not r.passed])
    for rec in records:
        kind = rec["type"].rsplit(":", 1)[-1]
        if kind in ("PlateauMeasured", "TotalPeepMeasured", "BloodGasResult"):
            out.setdefault("measurements", []).append({"t": round(rec["t"], 2), "type": kind, **rec["data"]})
    return out


def summary(app: vrmed.App) -> dict[str, Any]:
    """What `vrmed run respiratory/...` prints."""
    state = app.try_resource(ScenarioState)
    out: dict[str, Any] = {"outcome": state.outcome if state else None}
    out.update(evaluate(app.resource(SessionLog).events, float(app.clock.frame_time), app.resource(Scenario)))
    pair = _pair(app)
    if pair is not None:
        vent, lung = pair
        out["final"] = {
            "ppeak": round(lung.ppeak, 1),
            "pplat": round(lung.pplat, 1),
            "auto_peep": round(lung.auto_peep, 1),
            "vte_ml": round(lung.vte_ml),
            "spo2": round(lung.spo2, 1),
            "paco2": round(lung.paco2, 1),
        }
    return out


def score(log: SessionLog) -> dict[str, Any]:
    """The learning-records score of a stored session (docs/records.md)."""
    return record_score(log, Path(__file__).resolve().parent, evaluate)
