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
    PassContext,
    Scenario,
    ScenarioState,
    SessionLog,
    VitalTrace,
    evaluate_rubric,
    record_score,
    render_pipeline,
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

    ``compartments`` selects the mechanics: 1 (default) the single-compartment equation of
    motion; 2 two parallel RC units (``unit_compliance_ml``, ``unit_resistance``: each
    unit's compliance in mL/cmH2O and its own peripheral resistance in cmH2O per L/s)
    behind the shared airway resistance (``resistance`` + bronchospasm + plug), as in Otis
    et al. (1956) and Bates (2009, ch. 4): units with unequal time constants fill and empty
    out of step (pendelluft, frequency-dependent compliance). With two units
    ``compliance_ml`` is their sum (set here: static compliance).
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
    compartments: int = 1
    unit_compliance_ml: np.ndarray = vrmed.array_field((2,), (27.5, 27.5))
    unit_resistance: np.ndarray = vrmed.array_field((2,), (5.0, 5.0))
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
    #: two-compartment unit volumes (L above relaxation): now, end-inspiration, end-expiration
    units: np.ndarray = field(default_factory=lambda: np.zeros(6))
    #: zero-flow pressure P1 right after an inspiratory hold starts (cmH2O, two compartments)
    p_zero_flow: float = 0.0

    def __post_init__(self) -> None:
        if self.compartments not in (1, 2):
            raise ValueError(f"compartments must be 1 or 2, got {self.compartments!r}")
        if self.compartments == 2:
            uc, ur = np.asarray(self.unit_compliance_ml, float), np.asarray(self.unit_resistance, float)
            if uc.shape != (2,) or ur.shape != (2,) or not (np.all(uc > 0) and np.all(ur > 0)):
                raise ValueError(
                    "with compartments: 2, unit_compliance_ml and unit_resistance must be two positive numbers each"
                )
            self.compliance_ml = float(uc.sum())
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
    """The learner performs an end-inspiratory hold (plateau pressure) of ``seconds``
    (a two-compartment lung's plateau falls over the pause: pendelluft)."""

    seconds: float = 0.5


@dataclass(frozen=True)
class ExpiratoryHold(vrmed.Event):
    """The learner performs an end-expiratory hold (total PEEP, hence intrinsic PEEP) of
    ``seconds`` (a two-compartment lung's total PEEP rises over the pause: the slow unit
    empties into the fast one)."""

    seconds: float = 0.5


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
    #: length of the hold (s) the plateau was read after
    hold_s: float = 0.5


@dataclass(frozen=True)
class TotalPeepMeasured(vrmed.Event):
    """Result of an expiratory hold: total PEEP, the set PEEP and intrinsic (auto-)PEEP."""

    total_peep: float
    set_peep: float
    auto_peep: float
    #: length of the hold (s) the total PEEP was read after
    hold_s: float = 0.5


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


# --------------------------------------------------------------------------- two compartments


@njit(cache=True)
def unit_system(
    pressure_drive: bool, drive: float, r0: float, r1: float, r2: float, c1: float, c2: float
) -> tuple[float, float, float, float, float, float, float, float]:
    """The linear ODE ``dV/dt = A V + b`` of two parallel RC units (``r_i`` cmH2O s/L,
    ``c_i`` L/cmH2O, volumes ``V_i`` in L above relaxation) behind the airway resistance
    ``r0``, driven either by a pressure ``drive`` above PEEP at the airway opening
    (``pressure_drive``: PC inspiration, passive expiration with drive 0) or by an airway
    flow ``drive`` in L/s (VC inspiration; 0 in a hold). The node pressure ``P`` where the
    units branch satisfies Kirchhoff's current law; each unit's flow is ``(P - V_i/c_i)/r_i``.
    Returns ``(a11, a12, a21, a22, b1, b2, g, s)`` with ``P = (s + V1/(c1 r1) + V2/(c2 r2))/g``.
    """
    if pressure_drive and r0 <= 0.0:
        # no shared resistance: the node is the airway opening, the units are independent
        return -1.0 / (r1 * c1), 0.0, 0.0, -1.0 / (r2 * c2), drive / r1, drive / r2, 0.0, drive
    if pressure_drive:
        g = 1.0 / r0 + 1.0 / r1 + 1.0 / r2
        s = drive / r0
    else:
        g = 1.0 / r1 + 1.0 / r2
        s = drive
    a11 = (1.0 / (r1 * g) - 1.0) / (c1 * r1)
    a12 = 1.0 / (r1 * r2 * c2 * g)
    a21 = 1.0 / (r1 * r2 * c1 * g)
    a22 = (1.0 / (r2 * g) - 1.0) / (c2 * r2)
    return a11, a12, a21, a22, s / (r1 * g), s / (r2 * g), g, s


@njit(cache=True)
def _phi(lam: float, h: float) -> float:
    """``(exp(lam h) - 1)/lam``, the integral of ``exp(lam s)`` over [0, h] (h at lam = 0)."""
    if lam == 0.0:
        return h
    return math.expm1(lam * h) / lam


@njit(cache=True)
def unit_step(
    v1: float, v2: float, h: float, a11: float, a12: float, a21: float, a22: float, b1: float, b2: float
) -> tuple[float, float]:
    """Exact solution of ``dV/dt = A V + b`` over ``h`` s: ``V(h) = e^{Ah} V + phi(A, h) b``,
    both matrix functions by Sylvester's formula on A's eigenvalues (real for an RC network,
    distinct unless the units are uncoupled and identical, when A is a multiple of I)."""
    half = 0.5 * (a11 + a22)
    disc = 0.25 * (a11 - a22) ** 2 + a12 * a21
    root = math.sqrt(max(disc, 0.0))
    if root <= 1e-12 * (abs(half) + 1e-300):
        e, p = math.exp(half * h), _phi(half, h)
        return e * v1 + p * b1, e * v2 + p * b2
    l1, l2 = half + root, half - root
    e1, e2 = math.exp(l1 * h), math.exp(l2 * h)
    p1, p2 = _phi(l1, h), _phi(l2, h)
    d = l1 - l2
    ce1, ce0 = (e1 - e2) / d, (l1 * e2 - l2 * e1) / d
    cp1, cp0 = (p1 - p2) / d, (l1 * p2 - l2 * p1) / d
    n1 = ce0 * v1 + ce1 * (a11 * v1 + a12 * v2) + cp0 * b1 + cp1 * (a11 * b1 + a12 * b2)
    n2 = ce0 * v2 + ce1 * (a21 * v1 + a22 * v2) + cp0 * b2 + cp1 * (a21 * b1 + a22 * b2)
    return n1, n2


@njit(cache=True)
def unit_pressures(
    v1: float, v2: float, pressure_drive: bool, drive: float, r0: float, r1: float, r2: float, c1: float, c2: float
) -> tuple[float, float, float, float]:
    """Airway pressure above PEEP, airway flow (L/s) and the two unit flows for this state."""
    a11, a12, a21, a22, b1, b2, g, s = unit_system(pressure_drive, drive, r0, r1, r2, c1, c2)
    if pressure_drive and r0 <= 0.0:
        node = drive
    else:
        node = (s + v1 / (c1 * r1) + v2 / (c2 * r2)) / g
    q1 = (node - v1 / c1) / r1
    q2 = (node - v2 / c2) / r2
    q = q1 + q2
    return node + r0 * q, q, q1, q2


@njit(cache=True)
def ventilate2_kernel(
    n: int,
    dt: float,
    vc: bool,
    vt_l: float,
    pinsp: float,
    peep: float,
    rate: float,
    ie: float,
    p_high: float,
    r0: float,
    r1: float,
    r2: float,
    c1: float,
    c2: float,
    state: np.ndarray,
    units: np.ndarray,
    breath: np.ndarray,
    paw: np.ndarray,
    flow: np.ndarray,
    volume: np.ndarray,
    head: int,
) -> tuple[int, int]:
    """:func:`ventilate_kernel` for two parallel RC units behind the airway resistance
    ``r0`` (exact per step: :func:`unit_step`). ``units`` holds the unit volumes (L) now,
    at the last end-inspiration and at the last end-expiration; ``state[1]`` their sum.
    In VC the breath cycles off where Paw reaches ``p_high`` (found by bisection on the
    exact solution). Same outputs as :func:`ventilate_kernel`."""
    t_tot = 60.0 / rate
    t_i = t_tot / (1.0 + ie)
    flow_vc = vt_l / t_i
    tb = state[0]
    v1, v2 = units[0], units[1]
    peak = state[2]
    v_start = state[3]
    done = 0
    size = paw.shape[0]
    for _ in range(n):
        remaining = dt
        while remaining > 1e-12:
            if tb < t_i:
                h = min(remaining, t_i - tb)
                drive = flow_vc if vc else pinsp
                a11, a12, a21, a22, b1, b2, g, s = unit_system(not vc, drive, r0, r1, r2, c1, c2)
                n1, n2 = unit_step(v1, v2, h, a11, a12, a21, a22, b1, b2)
                if vc:
                    p_end = peep + unit_pressures(n1, n2, False, flow_vc, r0, r1, r2, c1, c2)[0]
                    if p_end >= p_high:
                        # cycle off where the (monotonic) rise crosses the limit
                        lo, hi = 0.0, h
                        if peep + unit_pressures(v1, v2, False, flow_vc, r0, r1, r2, c1, c2)[0] >= p_high:
                            hi = 0.0
                        for _k in range(60):
                            mid = 0.5 * (lo + hi)
                            m1, m2 = unit_step(v1, v2, mid, a11, a12, a21, a22, b1, b2)
                            if peep + unit_pressures(m1, m2, False, flow_vc, r0, r1, r2, c1, c2)[0] < p_high:
                                lo = mid
                            else:
                                hi = mid
                        v1, v2 = unit_step(v1, v2, hi, a11, a12, a21, a22, b1, b2)
                        peak = max(peak, p_high)
                        tb = t_i
                        remaining -= hi
                        units[2], units[3] = v1, v2
                        breath[1] = v1 + v2
                        breath[3] = v1 + v2 - v_start
                        continue
                    peak = max(peak, p_end)
                else:
                    peak = max(peak, peep + pinsp)
                v1, v2 = n1, n2
                tb += h
                remaining -= h
                if tb >= t_i:
                    units[2], units[3] = v1, v2
                    breath[1] = v1 + v2
                    breath[3] = v1 + v2 - v_start
            else:
                h = min(remaining, t_tot - tb)
                a11, a12, a21, a22, b1, b2, g, s = unit_system(True, 0.0, r0, r1, r2, c1, c2)
                v1, v2 = unit_step(v1, v2, h, a11, a12, a21, a22, b1, b2)
                tb += h
                remaining -= h
                if tb >= t_tot - 1e-12:
                    units[4], units[5] = v1, v2
                    breath[0] = peak
                    breath[2] = v1 + v2
                    breath[4] = breath[1] - (v1 + v2)
                    done += 1
                    tb = 0.0
                    peak = 0.0
                    v_start = v1 + v2
        if tb < t_i:
            if vc:
                p, q, q1, q2 = unit_pressures(v1, v2, False, flow_vc, r0, r1, r2, c1, c2)
            else:
                p, q, q1, q2 = unit_pressures(v1, v2, True, pinsp, r0, r1, r2, c1, c2)
        else:
            p, q, q1, q2 = unit_pressures(v1, v2, True, 0.0, r0, r1, r2, c1, c2)
        paw[head] = peep + p
        flow[head] = q
        volume[head] = (v1 + v2) * 1000.0
        head = (head + 1) % size
    state[0] = tb
    state[1] = v1 + v2
    state[2] = peak
    state[3] = v_start
    units[0], units[1] = v1, v2
    return head, done


@njit(cache=True)
def hold_kernel(
    v1: float, v2: float, r1: float, r2: float, c1: float, c2: float, dt: float, p: np.ndarray, q1: np.ndarray
) -> tuple[float, float]:
    """An airway occlusion (hold: zero airway flow) from unit volumes ``v1``, ``v2`` (L):
    fills ``p`` with the airway pressure above PEEP (= the node pressure: no flow through
    the airway resistance) and ``q1`` with unit 1's flow (L/s; unit 2's is ``-q1``: gas
    only moves between the units, pendelluft) at ``dt``, 2 dt, ...; returns the unit
    volumes at the end."""
    a11, a12, a21, a22, b1, b2, g, s = unit_system(False, 0.0, 0.0, r1, r2, c1, c2)
    for k in range(p.shape[0]):
        v1, v2 = unit_step(v1, v2, dt, a11, a12, a21, a22, b1, b2)
        pk, qk, f1, f2 = unit_pressures(v1, v2, False, 0.0, 0.0, r1, r2, c1, c2)
        p[k] = pk
        q1[k] = f1
    return v1, v2


def hold_pressures(v1: float, v2: float, lung: Lung, seconds: float) -> tuple[float, float]:
    """(P1, P2) above PEEP of a hold of ``seconds`` from unit volumes ``v1``, ``v2`` (L):
    P1 the zero-flow pressure the instant flow stops, P2 at the end of the hold (the
    plateau a ventilator reports). With equal time constants P1 = P2 = V/C; otherwise P
    relaxes from P1 towards (V1+V2)/(C1+C2) with the pendelluft time constant
    ``(R1+R2) C1 C2/(C1+C2)`` (Bates 2009, ch. 4)."""
    c1, c2 = (float(c) / 1000.0 for c in lung.unit_compliance_ml)
    r1, r2 = (float(r) for r in lung.unit_resistance)
    p1 = unit_pressures(v1, v2, False, 0.0, 0.0, r1, r2, c1, c2)[0]
    steps = max(1, int(round(seconds * SAMPLE_HZ)))
    p, q = np.zeros(steps), np.zeros(steps)
    hold_kernel(v1, v2, r1, r2, c1, c2, seconds / steps, p, q)
    return p1, float(p[-1])


def dynamic_mechanics(lung: Lung, rate: float) -> tuple[float, float]:
    """Dynamic (effective) resistance (cmH2O s/L) and compliance (mL/cmH2O) of the lung
    under sinusoidal ventilation at ``rate`` breaths/min: the real part of its input
    impedance ``Z = R0 + 1/(sum_i 1/(R_i + 1/(j w C_i)))`` and ``-1/(w Im Z)`` (Otis et al.
    1956). With equal unit time constants compliance is the static one at every rate; with
    unequal ones it falls as the rate rises (frequency dependence of compliance)."""
    w = 2.0 * math.pi * rate / 60.0
    if lung.compartments == 1:
        return resistance_now(lung), lung.compliance_ml
    y = sum(
        1.0 / (float(r) + 1.0 / (1j * w * float(c) / 1000.0))
        for r, c in zip(lung.unit_resistance, lung.unit_compliance_ml)
    )
    z = resistance_now(lung) + 1.0 / y
    return z.real, -1000.0 / (w * z.imag)


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
    pipeline = render_pipeline(app)  # plain data: costs nothing in a run without a renderer
    if LoopsPass.name not in pipeline.names:
        pipeline.add(LoopsPass(), after="monitor")


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
    settings = (vent.mode == "VC", vent.vt_ml / 1000.0, vent.pinsp, vent.peep, vent.rate, vent.ie, vent.p_high)
    if lung.compartments == 1:
        vent.head, done = ventilate_kernel(
            due, 1.0 / SAMPLE_HZ, *settings, resistance_now(lung), c_l, vent.state, vent.breath,
            vent.paw, vent.flow, vent.volume, vent.head,
        )  # fmt: skip
    else:
        (r1, r2), (c1, c2) = lung.unit_resistance, lung.unit_compliance_ml / 1000.0
        vent.head, done = ventilate2_kernel(
            due, 1.0 / SAMPLE_HZ, *settings, resistance_now(lung), r1, r2, c1, c2, vent.state, lung.units,
            vent.breath, vent.paw, vent.flow, vent.volume, vent.head,
        )  # fmt: skip
    vent.state[4] += due
    if done:
        vent.breaths += done
        lung.ppeak = float(vent.breath[0])
        lung.vte_ml = float(vent.breath[4]) * 1000.0
        if lung.compartments == 1:
            lung.pplat = vent.peep + float(vent.breath[1]) / c_l
            lung.p_zero_flow = lung.pplat
            lung.auto_peep = float(vent.breath[2]) / c_l
        else:
            # what the holds would read: the pressure after HOLD_S of occlusion (pendelluft)
            p1, p2 = hold_pressures(float(lung.units[2]), float(lung.units[3]), lung, HOLD_S)
            lung.p_zero_flow, lung.pplat = vent.peep + p1, vent.peep + p2
            lung.auto_peep = hold_pressures(float(lung.units[4]), float(lung.units[5]), lung, HOLD_S)[1]
        _update_loop(app, vent, int(vent.state[4]) - int(round(float(vent.state[0]) * SAMPLE_HZ)))
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


@dataclass
class BreathLoops:
    """The last completed breath's pressure-volume and flow-volume loops (a resource the
    ventilator screen draws; refilled once per breath, arrays reused).

    ``paw`` (cmH2O), ``flow`` (L/s, inspiration positive) and ``volume`` (mL above the
    end-expiratory volume at PEEP) are the breath's samples at :data:`SAMPLE_HZ`, the first
    ``n`` of each array valid; ``breath`` counts completed breaths. ``work_j`` is the work
    the ventilator did on the respiratory system over the breath's inspiration,
    ``integral (Paw - PEEP) dV`` in joules (1 cmH2O L = 0.0981 J), and
    ``dynamic_compliance_ml`` ``Vt / (Ppeak - PEEP)`` (mL/cmH2O)."""

    paw: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LOOP_SAMPLES))
    flow: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LOOP_SAMPLES))
    volume: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LOOP_SAMPLES))
    n: int = 0
    breath: int = 0
    peep: float = 0.0
    work_j: float = 0.0
    dynamic_compliance_ml: float = 0.0

    def loop(self, name: str) -> np.ndarray:
        """One of ``paw``, ``flow``, ``volume`` for the last breath (a view, not a copy)."""
        return getattr(self, name)[: self.n]


#: Most samples kept per loop: a whole breath at 6/min at :data:`SAMPLE_HZ`.
MAX_LOOP_SAMPLES = 1000
#: Length of the holds (s) behind the plateau and total-PEEP readings of a two-compartment
#: lung: a short pause, so pendelluft is still under way when units' time constants differ.
HOLD_S = 0.5
#: Shortest and longest hold (s) a ventilator's hold key gives (a longer request is cut).
HOLD_RANGE = (0.1, 10.0)


def _hold_seconds(seconds: float) -> float:
    """A requested hold length within :data:`HOLD_RANGE`."""
    return float(min(max(float(seconds), HOLD_RANGE[0]), HOLD_RANGE[1]))


#: cmH2O x L in joules (98.0665 Pa x 1e-3 m^3).
CMH2O_L_J = 0.0980665


def _update_loop(app: vrmed.App, vent: Ventilator, end_sample: int) -> None:
    """Copy the breath that ended at absolute sample ``end_sample`` out of the ring buffers."""
    loops = app.try_resource(BreathLoops)
    if loops is None:
        loops = BreathLoops()
        app.insert_resource(loops)
    size = vent.paw.shape[0]
    n = min(int(round(60.0 / vent.rate * SAMPLE_HZ)), end_sample, size, MAX_LOOP_SAMPLES)
    # the kernel writes absolute sample k (0-based) at ring index k % size (head starts at 0)
    idx = np.arange(end_sample - n, end_sample) % size
    np.take(vent.paw, idx, out=loops.paw[:n])
    np.take(vent.flow, idx, out=loops.flow[:n])
    np.take(vent.volume, idx, out=loops.volume[:n])
    loops.n, loops.breath, loops.peep = n, vent.breaths, vent.peep
    if n > 1:
        loops.volume[:n] -= loops.volume[:n].min()
        dv = np.diff(loops.volume[:n]) / 1000.0
        p_mid = 0.5 * (loops.paw[1:n] + loops.paw[: n - 1]) - vent.peep
        loops.work_j = float(np.sum(p_mid * np.maximum(dv, 0.0))) * CMH2O_L_J
        swing = float(loops.paw[:n].max()) - vent.peep
        loops.dynamic_compliance_ml = float(loops.volume[:n].max()) / swing if swing > 0 else 0.0


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
    for ev in r["InspiratoryHold"].read():
        hold = _hold_seconds(ev.seconds)
        pbw = predicted_body_weight(lung.height_cm, lung.sex)
        pplat, auto_peep = lung.pplat, lung.auto_peep
        if lung.compartments == 2 and vent.breaths:  # what a pause of this length reads (pendelluft)
            pplat = vent.peep + hold_pressures(float(lung.units[2]), float(lung.units[3]), lung, hold)[1]
            auto_peep = hold_pressures(float(lung.units[4]), float(lung.units[5]), lung, hold)[1]
        total_peep = vent.peep + auto_peep
        vt = lung.vte_ml if vent.mode == "PC" else vent.vt_ml
        app.send(
            PlateauMeasured(
                ppeak=round(lung.ppeak, 1),
                pplat=round(pplat, 1),
                driving_pressure=round(pplat - total_peep, 1),
                compliance_ml=round(lung.vte_ml / max(pplat - total_peep, 1e-6), 1),
                vt_ml=round(vt, 0),
                vt_per_kg_pbw=round(vt / pbw, 2),
                peep=vent.peep,
                fio2=vent.fio2,
                peep_fio2_ok=peep_fio2_ok(vent.peep, vent.fio2),
                hold_s=hold,
            )
        )
    for ev in r["ExpiratoryHold"].read():
        hold = _hold_seconds(ev.seconds)
        auto_peep = lung.auto_peep
        if lung.compartments == 2 and vent.breaths:  # the slow unit keeps emptying into the fast one
            auto_peep = hold_pressures(float(lung.units[4]), float(lung.units[5]), lung, hold)[1]
        app.send(TotalPeepMeasured(round(vent.peep + auto_peep, 1), vent.peep, round(auto_peep, 1), hold_s=hold))
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


#: The ventilator screen's loop panels as fractions of the view (x, y, width, height),
#: just above the monitor panel on the right: pressure-volume, then flow-volume.
LOOP_VIEW_RECTS: dict[str, tuple[float, float, float, float]] = {
    "pv": (0.58, 0.30, 0.205, 0.31),
    "fv": (0.79, 0.30, 0.205, 0.31),
}
#: Each loop's axes: (x buffer, x lo, x hi, y buffer, y lo, y hi, colour, label). P-V:
#: pressure across, volume up (as ventilators draw it); F-V: volume across, flow up.
LOOP_AXES: dict[str, tuple[str, float, float, str, float, float, tuple[float, float, float, float], str]] = {
    "pv": ("paw", 0.0, 50.0, "volume", 0.0, 900.0, (1.0, 0.45, 0.1, 1.0), "P-V  cmH2O / mL"),
    "fv": ("volume", 0.0, 900.0, "flow", -1.2, 1.2, (0.85, 0.35, 1.0, 1.0), "F-V  mL / L/s"),
}
_LOOP_PAD = 0.08  # fraction of the box kept clear around the plot area


def loop_plot_rect(which: str, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Pixel box (left, top, right, bottom) of loop ``which`` (``pv``/``fv``) in a view of
    ``size`` (width, height): x lo at left, x hi at right, y hi at top, y lo at bottom."""
    fx, fy, fw, fh = LOOP_VIEW_RECTS[which]
    w, h = float(size[0]), float(size[1])
    x0, y0, bw, bh = fx * w, fy * h, fw * w, fh * h
    pad = _LOOP_PAD * min(bw, bh)
    return x0 + pad, y0 + 2.5 * pad, x0 + bw - pad, y0 + bh - pad


class LoopsPass:
    """Overlay pass ``respiratory.loops``: the last breath's pressure-volume and flow-volume
    loops (:class:`BreathLoops`) in two boxes above the monitor panel (the ventilator
    screen's loop view), with the zero-flow line of the F-V loop. Draws nothing until a
    breath has completed. Scratch arrays are kept, so a frame allocates nothing."""

    name = "respiratory.loops"
    phase = "overlay"

    def __init__(self) -> None:
        self._x = np.zeros(MAX_LOOP_SAMPLES)
        self._y = np.zeros(MAX_LOOP_SAMPLES)

    def draw(self, ctx: PassContext) -> None:
        """Draw both loops into this view."""
        loops = ctx.app.try_resource(BreathLoops)
        if loops is None or loops.n < 2:
            return
        ov = ctx.overlay
        size = ctx.size
        text = max(6, round(11 * size[1] / 480))
        n = loops.n
        for which, (xb, xlo, xhi, yb, ylo, yhi, color, label) in LOOP_AXES.items():
            fx, fy, fw, fh = LOOP_VIEW_RECTS[which]
            ov.rect(fx * size[0], fy * size[1], fw * size[0], fh * size[1], (0.02, 0.03, 0.04, 0.85))
            left, top, right, bottom = loop_plot_rect(which, size)
            ov.text(label, fx * size[0] + 4, fy * size[1] + 2, size=text, color=(0.8, 0.8, 0.8, 1.0))
            axis = (0.35, 0.35, 0.38, 1.0)
            zero_y = bottom - (0.0 - ylo) / (yhi - ylo) * (bottom - top)
            ov.rect(left, min(max(zero_y, top), bottom), right - left, 1.0, axis)  # x axis at y = 0
            ov.rect(left, top, 1.0, bottom - top, axis)  # y axis at x = lo
            x, y = self._x[:n], self._y[:n]
            np.subtract(loops.loop(xb), xlo, out=x)
            np.multiply(x, (right - left) / (xhi - xlo), out=x)
            np.add(x, left, out=x)
            np.clip(x, left, right, out=x)
            np.subtract(loops.loop(yb), ylo, out=y)
            np.multiply(y, -(bottom - top) / (yhi - ylo), out=y)
            np.add(y, bottom, out=y)
            np.clip(y, top, bottom, out=y)
            ov.polyline(x, y, color, width=max(1.5, 2.0 * size[1] / 480))


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
