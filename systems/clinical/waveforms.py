"""The bedside monitor's signals: synthesised waveforms (ECG, plethysmogram for SpO2,
capnogram for EtCO2) and the non-invasive blood pressure cuff (:class:`NibpCuffs`).

Deterministic functions of time and the patient's current state (no RNG), vectorised over
the sample times, so a monitor panel can ask for any window at any sample rate:

- ECG: sums of Gaussian waves (P, Q, R, S, T) over the cardiac phase, the shape used by
  McSharry et al. (2003, ECGSYN); VF is a sum of incommensurate 4-7 Hz sines with a
  drifting amplitude, pulseless VT a wide sinusoid at the VT rate, asystole a flat line
  with slow baseline wander, PEA organised complexes without a pulse. Chest compressions
  add a large artefact at the compression rate (why rhythm checks pause compressions).
- Pleth: one skewed pulse per beat, amplitude proportional to perfusion; flat in arrest
  unless compressions are generating flow (then one pulse per compression).
- Capnogram: flat inspiration, expiratory upstroke to an alveolar plateau ending at the
  EtCO2 value, then a steep inspiratory downstroke; flat when there is no ventilation.

The ring buffers of a :class:`PatientMonitor` are filled with running phases (a
:class:`MonitorTrack` per monitor), so a rate that changes between frames bends the
waveform smoothly instead of jumping, and each breath's end-tidal CO2 is recorded as a
capnometer reads it (the value at the end of the expiratory plateau): the number the
monitor shows is the last breath on its trace.

NIBP is measured, not read off the model: a cuff cycle (started by ``NibpRequested`` or
the automatic interval of a patient with a monitor) takes ``cycle_s`` and then reports
``NibpMeasured`` with the pressures at that moment, or a failed cycle when there are no
pulse oscillations to find (cardiac arrest, where compressions make no usable reading).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.clinical.patient import ARREST_FIRST, RHYTHMS, PatientMonitor, PatientPopulation
from vrmed.events import EventInbox

from . import events as ev
from .context import Physiology

if TYPE_CHECKING:
    from vrmed.app import App

#: (phase centre, width, amplitude mV) of the P, Q, R, S, T waves of a normal beat.
_PQRST = ((0.16, 0.025, 0.15), (0.245, 0.008, -0.12), (0.26, 0.01, 1.2), (0.275, 0.009, -0.25), (0.52, 0.045, 0.3))
#: Compression rate drawn on the monitor during CPR (/min); the model keeps quality, not rate.
CPR_DISPLAY_RATE = 110.0
#: Peak-to-peak compression artefact on the ECG (mV): compressions swamp a surface ECG.
CPR_ARTEFACT_MV = 0.9
#: Breath timing: I:E 1:2, expiration at most EXPIRATION_MAX_S (a slow breath's extra time
#: is spent at baseline before it, so apnoea reads as baseline, not as an endless plateau),
#: with an expiratory upstroke of UPSTROKE_S.
_INSPIRATION = 1.0 / 3.0
EXPIRATION_MAX_S = 4.0
UPSTROKE_S = 0.3
#: Pleth amplitude (fraction of baseline perfusion) below which there is no pulsatile signal.
PLETH_MIN = 0.1


def ecg(rhythm: str, hr: float, t: np.ndarray, phase: np.ndarray | None = None) -> np.ndarray:
    """ECG lead II (mV) at times ``t`` (s) for a rhythm and heart rate (/min). ``phase``
    (cardiac cycles, same shape as ``t``) replaces ``t * hr / 60`` for organised rhythms,
    so a monitor can keep the beat continuous while the rate changes."""
    t = np.asarray(t, dtype=float)
    if rhythm == "vf":
        envelope = 0.35 + 0.15 * np.sin(2 * np.pi * 0.3 * t)
        return (
            envelope
            * (
                np.sin(2 * np.pi * 4.9 * t)
                + 0.6 * np.sin(2 * np.pi * 6.3 * t + 1.0)
                + 0.4 * np.sin(2 * np.pi * 4.1 * t + 2.0)
            )
            / 2.0
        )
    if rhythm == "pvt":
        vt_phase = t * max(hr, 150.0) / 60.0 if phase is None else phase
        return 1.0 * np.sin(2 * np.pi * vt_phase)
    if rhythm == "asystole":
        return 0.03 * np.sin(2 * np.pi * 0.25 * t)
    cycle = (t * max(hr, 1.0) / 60.0 if phase is None else phase) % 1.0
    out = np.zeros_like(t)
    for centre, width, amp in _PQRST:
        out += amp * np.exp(-0.5 * ((cycle - centre) / width) ** 2)
    return out


def cpr_artefact(phase: np.ndarray) -> np.ndarray:
    """Compression artefact on the ECG (mV), one rounded swing per compression ``phase`` cycle."""
    return CPR_ARTEFACT_MV * (np.sin(np.pi * (np.asarray(phase) % 1.0)) ** 2 - 0.5)


def pleth(perfusion: float, rate_per_min: float, t: np.ndarray, phase: np.ndarray | None = None) -> np.ndarray:
    """Plethysmogram (arbitrary units, 0..perfusion) with one pulse per beat or compression
    (``phase``, in pulse cycles, replaces ``t * rate / 60``)."""
    t = np.asarray(t, dtype=float)
    if perfusion <= 0.0 or rate_per_min <= 0.0:
        return np.zeros_like(t)
    cycle = (t * rate_per_min / 60.0 if phase is None else phase) % 1.0
    upstroke = np.clip(cycle / 0.15, 0.0, 1.0)
    decay = np.exp(-np.clip(cycle - 0.15, 0.0, None) / 0.3)
    notch = 0.1 * np.exp(-0.5 * ((cycle - 0.45) / 0.04) ** 2)
    return perfusion * (upstroke * decay + notch)


def capnogram(etco2: float, rr: float, t: np.ndarray, phase: np.ndarray | None = None) -> np.ndarray:
    """CO2 (mmHg) at times ``t``: 0 in inspiration, then an expiratory upstroke to an
    alveolar plateau that rises gently to exactly ``etco2`` at the end of expiration (the
    end-tidal value, at the end of each breath cycle). Expiration takes the last two thirds
    of the cycle, at most :data:`EXPIRATION_MAX_S`. ``phase`` (breath cycles) replaces
    ``t * rr / 60``."""
    t = np.asarray(t, dtype=float)
    if rr <= 0.5 or etco2 <= 0.0:
        return np.zeros_like(t)
    period = 60.0 / rr
    expiration = min(EXPIRATION_MAX_S, (1.0 - _INSPIRATION) * period) / period  # fraction of the cycle
    start = 1.0 - expiration
    upstroke = min(UPSTROKE_S / period, 0.5 * expiration)
    cycle = (t * rr / 60.0 if phase is None else phase) % 1.0
    rise = np.clip((cycle - start) / upstroke, 0.0, 1.0)
    plateau = 0.95 + 0.05 * np.clip((cycle - start - upstroke) / (expiration - upstroke), 0.0, 1.0)
    return np.where(cycle < start, 0.0, etco2 * rise * plateau)


def pulse_amplitude(pop: PatientPopulation, slot: int) -> tuple[float, float]:
    """(pleth amplitude as a fraction of baseline perfusion, pulses per minute) of one
    patient: beats scaled by MAP over its baseline while perfusing; in arrest only
    compressions move blood (0.3 of normal at best CPR, at the compression rate)."""
    if int(pop.rhythm[slot]) >= ARREST_FIRST:
        if pop.cpr[slot]:
            return 0.3 * float(pop.cpr_quality[slot]), CPR_DISPLAY_RATE
        return 0.0, 0.0
    map_now = pop.dbp[slot] + (pop.sbp[slot] - pop.dbp[slot]) / 3.0
    map_0 = pop.dbp_0[slot] + (pop.sbp_0[slot] - pop.dbp_0[slot]) / 3.0
    return float(min(1.2, map_now / max(map_0, 1.0))), float(pop.hr[slot])


@dataclass
class MonitorTrack:
    """Running waveform state of one monitor: the phases (in cycles) its traces continue
    from, and what its capnometer last saw: ``breath_t``, the time the last breath's
    expiration ended, and ``end_tidal``, its CO2 then (mmHg). ``started`` is when the
    monitor began (the apnoea delay counts from there until a first breath)."""

    cardiac: float = 0.0
    resp: float = 0.0
    compression: float = 0.0
    breath_t: float = math.nan
    end_tidal: float = math.nan
    started: float = math.nan
    #: The clock time of the last update: a second update at the same (or an earlier) time
    #: appends nothing, so redrawing a paused frame cannot change the traces a replay checks.
    updated_at: float = -math.inf


@dataclass
class MonitorTracks:
    """The :class:`MonitorTrack` of every PatientMonitor entity (a resource, made by
    :func:`monitor_step`; display state, outside the physiology model)."""

    by_entity: dict[int, MonitorTrack] = field(default_factory=dict)


def monitor_strip(
    pop: PatientPopulation,
    slot: int,
    t0: float,
    seconds: float,
    rate_hz: float = 250.0,
    track: MonitorTrack | None = None,
) -> dict[str, np.ndarray]:
    """Waveforms of one patient for ``seconds`` from ``t0`` at ``rate_hz``: keys t, ecg,
    pleth, co2. With a ``track`` the beats, compressions and breaths continue from its
    phases (the phases at ``t0``; advanced in place to the sample after the strip) and a
    breath whose expiration ends in the strip updates its end-tidal record; without one,
    phases are ``t * rate / 60``."""
    n = int(round(seconds * rate_hz))
    t = t0 + np.arange(n) / rate_hz
    rhythm = RHYTHMS[int(pop.rhythm[slot])]
    hr, rr, etco2 = float(pop.hr[slot]), float(pop.rr[slot]), float(pop.etco2[slot])
    arrest = int(pop.rhythm[slot]) >= ARREST_FIRST
    flow, pulse_rate = pulse_amplitude(pop, slot)
    beat_rate = max(hr, 150.0) if rhythm == "pvt" else max(hr, 1.0)
    if track is None:
        beat = breath = squeeze = None
        co2 = capnogram(etco2, rr, t)
    else:
        k = np.arange(n, dtype=float)
        beat = track.cardiac + k * (beat_rate / 60.0 / rate_hz)
        squeeze = track.compression + k * (CPR_DISPLAY_RATE / 60.0 / rate_hz)
        # one sample more, the one before t0, to see a breath that ends between two strips
        breath = track.resp + np.arange(-1, n, dtype=float) * (rr / 60.0 / rate_hz)
        co2_ext = capnogram(etco2, rr, t, breath[1:]) if n else np.zeros(0)
        ends = np.flatnonzero(np.floor(breath[1:]) > np.floor(breath[:-1]))  # first sample of a new breath
        if len(ends) and rr > 0.5 and etco2 > 0.0:
            j = int(ends[-1])  # the breath's last expiratory sample is j - 1 (-1: the one before t0)
            track.breath_t = float(t0 + (j - 1) / rate_hz)
            track.end_tidal = float(capnogram(etco2, rr, t[:1], breath[j : j + 1])[0])
        co2 = co2_ext
        track.cardiac = float(track.cardiac + n * beat_rate / 60.0 / rate_hz) % 1.0
        track.compression = float(track.compression + n * CPR_DISPLAY_RATE / 60.0 / rate_hz) % 1.0
        track.resp = float(track.resp + n * rr / 60.0 / rate_hz) % 1.0
    trace_ecg = ecg(rhythm, hr, t, beat)
    if pop.cpr[slot]:
        trace_ecg += cpr_artefact(t * CPR_DISPLAY_RATE / 60.0 if squeeze is None else squeeze)
    pulse_phase = None if track is None else (squeeze if arrest else beat)
    return {"t": t, "ecg": trace_ecg, "pleth": pleth(flow, pulse_rate, t, pulse_phase), "co2": co2}


def monitor_step(app: App) -> None:
    """Append the samples since the last frame to every PatientMonitor's ring buffers."""
    monitors = app.query(PatientMonitor)
    if not monitors:
        return

    pop = app.resource(Physiology).population
    tracks = app.try_resource(MonitorTracks)
    if tracks is None:
        tracks = MonitorTracks()
        app.insert_resource(tracks)
    now = float(app.clock.frame_time) if app.clock.stage == "" else app.clock.time
    for entity, m in monitors:  # a few monitors per scene
        try:
            slot = pop.slot_of(m.patient)
        except KeyError:
            continue
        track = tracks.by_entity.get(entity)
        if track is None:
            track = tracks.by_entity[entity] = MonitorTrack(started=m.t_last)
        if now <= track.updated_at:
            continue
        track.updated_at = now
        n_new = int((now - m.t_last) * m.rate_hz)
        if n_new <= 0:
            continue
        n_new = min(n_new, m.ecg.shape[0])
        strip = monitor_strip(pop, slot, m.t_last + 1.0 / m.rate_hz, n_new / m.rate_hz, m.rate_hz, track)
        k = len(strip["t"])
        idx = (m.head + np.arange(k)) % m.ecg.shape[0]
        m.ecg[idx], m.pleth[idx], m.co2[idx] = strip["ecg"], strip["pleth"], strip["co2"]
        m.head = int((m.head + k) % m.ecg.shape[0])
        m.t_last += k / m.rate_hz


# -- non-invasive blood pressure ------------------------------------------------------------
#: Oscillometric cuff cycle (s): inflate above systolic, deflate in steps while reading the
#: oscillations (adult monitors typically take 20-45 s; our choice 30 s).
NIBP_CYCLE_S = 30.0
#: Automatic measurement interval (s); monitors offer 1 min to hours (5 min: our choice).
NIBP_INTERVAL_S = 300.0


@dataclass
class NibpReading:
    """One finished cuff cycle: simulation time ``t`` (s), and systolic, diastolic and mean
    pressure (mmHg, rounded as displayed), or ``ok`` False when no pulse was found."""

    t: float
    ok: bool
    sbp: float = 0.0
    dbp: float = 0.0
    mean: float = 0.0


@dataclass
class NibpCuffs:
    """The NIBP cuffs of the monitored patients (a resource; keys are patient entity names).

    ``interval_s`` is the automatic cycle for every patient with a ``PatientMonitor``
    (first cycle when the monitor starts; 0 = manual only, by ``NibpRequested``),
    ``cycle_s`` how long one measurement takes. ``running`` holds the start time of each
    cycle in progress, ``next_auto`` the next automatic start, ``last`` the last reading.
    """

    inbox: EventInbox
    interval_s: float = NIBP_INTERVAL_S
    cycle_s: float = NIBP_CYCLE_S
    running: dict[str, float] = field(default_factory=dict)
    next_auto: dict[str, float] = field(default_factory=dict)
    last: dict[str, NibpReading] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.interval_s < 0 or self.cycle_s <= 0:
            raise ValueError(f"need interval_s >= 0 and cycle_s > 0, got {self.interval_s}, {self.cycle_s}")


def patient_name(pop: PatientPopulation, slot: int) -> str:
    """The entity name of the patient in ``slot`` ("" if none)."""
    for name, s in pop.slots.items():
        if s == slot:
            return name
    return ""


def nibp_step(app: App) -> None:
    """Start cuff cycles (learner requests, automatic interval) and finish those whose
    cycle time is up with ``NibpMeasured`` (logic stage, after the physiology step)."""
    cuffs = app.resource(NibpCuffs)  # inserted by PhysiologyPlugin.build
    pop = app.resource(Physiology).population
    now = app.clock.time
    for e in cuffs.inbox.drain():
        try:
            name = patient_name(pop, pop.slot_of(e.patient))
        except KeyError:
            continue
        if name not in cuffs.running:
            cuffs.running[name] = now
            if cuffs.interval_s > 0:  # as on monitors, a manual start restarts the automatic series
                cuffs.next_auto[name] = now + cuffs.interval_s
    if cuffs.interval_s > 0:
        for _, m in app.query(PatientMonitor):  # a few monitors per scene
            try:
                name = patient_name(pop, pop.slot_of(m.patient))
            except KeyError:
                continue
            due = cuffs.next_auto.setdefault(name, now)
            if now >= due:
                cuffs.running.setdefault(name, now)
                cuffs.next_auto[name] = due + cuffs.interval_s * max(1, math.ceil((now - due) / cuffs.interval_s))
    if not cuffs.running:
        return
    done = [name for name, started in cuffs.running.items() if now - started >= cuffs.cycle_s - 1e-9]
    for name in done:
        del cuffs.running[name]
        slot = pop.slots.get(name)
        if slot is None:
            continue
        if int(pop.rhythm[slot]) >= ARREST_FIRST:  # no pulse oscillations in the cuff: the cycle fails
            reading = NibpReading(now, False)
        else:
            sbp, dbp = round(float(pop.sbp[slot])), round(float(pop.dbp[slot]))
            reading = NibpReading(now, True, sbp, dbp, round(dbp + (sbp - dbp) / 3.0))
        cuffs.last[name] = reading
        app.send(ev.NibpMeasured(name, reading.sbp, reading.dbp, reading.mean, reading.ok))
