"""Synthesised monitor waveforms: ECG, plethysmogram (SpO2) and capnogram (EtCO2).

Deterministic functions of time and the patient's current state (no RNG), vectorised over
the sample times, so a monitor panel can ask for any window at any sample rate:

- ECG: sums of Gaussian waves (P, Q, R, S, T) over the cardiac phase, the shape used by
  McSharry et al. (2003, ECGSYN); VF is a sum of incommensurate 4-7 Hz sines with a
  drifting amplitude, pulseless VT a wide sinusoid at the VT rate, asystole a flat line
  with slow baseline wander, PEA organised complexes without a pulse.
- Pleth: one skewed pulse per beat, amplitude proportional to perfusion; flat in arrest
  unless compressions are generating flow (then one pulse per compression).
- Capnogram: flat inspiration, expiratory upstroke to an alveolar plateau at the EtCO2
  value, then a steep inspiratory downstroke; flat when there is no ventilation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.clinical.patient import RHYTHMS, PatientMonitor, PatientPopulation

from .context import Physiology

if TYPE_CHECKING:
    from vrmed.app import App

#: (phase centre, width, amplitude mV) of the P, Q, R, S, T waves of a normal beat.
_PQRST = ((0.16, 0.025, 0.15), (0.245, 0.008, -0.12), (0.26, 0.01, 1.2), (0.275, 0.009, -0.25), (0.52, 0.045, 0.3))


def ecg(rhythm: str, hr: float, t: np.ndarray) -> np.ndarray:
    """ECG lead II (mV) at times ``t`` (s) for a rhythm and heart rate (/min)."""
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
        return 1.0 * np.sin(2 * np.pi * (max(hr, 150.0) / 60.0) * t)
    if rhythm == "asystole":
        return 0.03 * np.sin(2 * np.pi * 0.25 * t)
    phase = (t * max(hr, 1.0) / 60.0) % 1.0
    out = np.zeros_like(t)
    for centre, width, amp in _PQRST:
        out += amp * np.exp(-0.5 * ((phase - centre) / width) ** 2)
    return out


def pleth(perfusion: float, rate_per_min: float, t: np.ndarray) -> np.ndarray:
    """Plethysmogram (arbitrary units, 0..perfusion) with one pulse per beat or compression."""
    t = np.asarray(t, dtype=float)
    if perfusion <= 0.0 or rate_per_min <= 0.0:
        return np.zeros_like(t)
    phase = (t * rate_per_min / 60.0) % 1.0
    upstroke = np.clip(phase / 0.15, 0.0, 1.0)
    decay = np.exp(-np.clip(phase - 0.15, 0.0, None) / 0.3)
    notch = 0.1 * np.exp(-0.5 * ((phase - 0.45) / 0.04) ** 2)
    return perfusion * (upstroke * decay + notch)


def capnogram(etco2: float, rr: float, t: np.ndarray) -> np.ndarray:
    """CO2 (mmHg) at times ``t``: 0 in inspiration, plateau at ``etco2`` in expiration."""
    t = np.asarray(t, dtype=float)
    if rr <= 0.5 or etco2 <= 0.0:
        return np.zeros_like(t)
    phase = (t * rr / 60.0) % 1.0
    # inspiration 0-0.33 (I:E 1:2); expiration rises over 0.05 then a gently sloped plateau
    exp_phase = np.clip((phase - 0.33) / 0.05, 0.0, 1.0)
    plateau = 0.95 + 0.05 * np.clip((phase - 0.38) / 0.6, 0.0, 1.0)
    return np.where(phase < 0.33, 0.0, etco2 * exp_phase * plateau)


def monitor_strip(
    pop: PatientPopulation, slot: int, t0: float, seconds: float, rate_hz: float = 250.0
) -> dict[str, np.ndarray]:
    """Waveforms of one patient for ``seconds`` from ``t0`` at ``rate_hz``: keys t, ecg, pleth, co2."""
    t = t0 + np.arange(int(round(seconds * rate_hz))) / rate_hz
    rhythm = RHYTHMS[int(pop.rhythm[slot])]
    arrest = rhythm in ("vf", "pvt", "asystole", "pea")
    if arrest:
        flow = 0.3 * float(pop.cpr_quality[slot]) if pop.cpr[slot] else 0.0
        pulse_rate = 110.0 if pop.cpr[slot] else 0.0
    else:
        map_now = pop.dbp[slot] + (pop.sbp[slot] - pop.dbp[slot]) / 3.0
        map_0 = pop.dbp_0[slot] + (pop.sbp_0[slot] - pop.dbp_0[slot]) / 3.0
        flow = float(min(1.2, map_now / max(map_0, 1.0)))
        pulse_rate = float(pop.hr[slot])
    return {
        "t": t,
        "ecg": ecg(rhythm, float(pop.hr[slot]), t),
        "pleth": pleth(flow, pulse_rate, t),
        "co2": capnogram(float(pop.etco2[slot]), float(pop.rr[slot]), t),
    }


def monitor_step(app: App) -> None:
    """Append the samples since the last frame to every PatientMonitor's ring buffers."""
    monitors = app.query(PatientMonitor)
    if not monitors:
        return

    pop = app.resource(Physiology).population
    now = float(app.clock.frame_time) if app.clock.stage == "" else app.clock.time
    for _, m in monitors:  # a few monitors per scene
        try:
            slot = pop.slot_of(m.patient)
        except KeyError:
            continue
        n_new = int((now - m.t_last) * m.rate_hz)
        if n_new <= 0:
            continue
        n_new = min(n_new, m.ecg.shape[0])
        strip = monitor_strip(pop, slot, m.t_last + 1.0 / m.rate_hz, n_new / m.rate_hz, m.rate_hz)
        k = len(strip["t"])
        idx = (m.head + np.arange(k)) % m.ecg.shape[0]
        m.ecg[idx], m.pleth[idx], m.co2[idx] = strip["ecg"], strip["pleth"], strip["co2"]
        m.head = int((m.head + k) % m.ecg.shape[0])
        m.t_last += k / m.rate_hz
