"""Render-only visual effects of the instruments: cautery smoke and bleeding at a tear.

Plain data (no renderer import): :class:`InstrumentEffects` is a resource of preallocated
ring buffers, filled by :func:`update_effects` from the instruments' events and the
simulation clock (deterministic: no random numbers, nothing read from the wall clock) and
drawn by :mod:`vrmed.systems.instruments.draw`. Nothing here changes component state or
sends events, so a session's log and digest are the same with or without effects.

- **Smoke**: each :class:`~vrmed.systems.instruments.system.TissueBurned` (at most one
  plume per body every :attr:`EffectSettings.smoke_interval` seconds while the hook keeps
  burning) starts a plume at the centroid of the newly burned tets: ``smoke_puffs`` grey
  spheres rising at ``smoke_rise`` m/s, drifting apart, growing and then shrinking away
  over ``smoke_life`` seconds. The renderer has no transparency, so "fading" is the puffs
  lightening and shrinking to nothing.
- **Blood**: each :class:`~vrmed.systems.instruments.system.TissueTorn` starts a pool at
  the tissue vertex nearest the tearing instrument's jaw: ``blood_drops`` red spheres, each
  anchored to one of the nearest surface-side vertices (so the pool follows the tissue as it
  moves), growing to ``blood_radius`` over ``blood_spread`` seconds, then staying.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vrmed.app import App
from vrmed.components.instruments.instrument import Instrument
from vrmed.components.tissue.softbody import SoftBody
from vrmed.events import EventReader

from .system import TissueBurned, TissueTorn, instrument_name

#: linear RGBA of fresh smoke (light grey) and of blood (dark arterial red)
SMOKE_COLOR = (0.42, 0.42, 0.42, 1.0)
SMOKE_FADED = (0.62, 0.62, 0.64, 1.0)
BLOOD_COLOR = (0.32, 0.008, 0.006, 1.0)


@dataclass(frozen=True)
class EffectSettings:
    """Sizes and timings of the effects (metres, seconds)."""

    smoke_plumes: int = 24  # ring buffer of plumes (the oldest is reused)
    smoke_puffs: int = 5  # spheres per plume
    smoke_life: float = 1.2
    smoke_interval: float = 0.15  # at most one plume per body this often
    smoke_rise: float = 0.02  # m/s
    smoke_radius: float = 0.003  # largest puff radius
    blood_pools: int = 8
    blood_drops: int = 6  # spheres per pool
    blood_radius: float = 0.0022
    blood_spread: float = 1.0  # s to reach full size
    blood_reach: float = 0.006  # drops anchor to vertices within this of the tear (m)


@dataclass
class InstrumentEffects:
    """The effects' state (a resource; plain data, preallocated): smoke plumes (origin,
    start time, in use) and blood pools (body entity, anchor vertex per drop, start time)."""

    settings: EffectSettings = field(default_factory=EffectSettings)
    smoke_origin: np.ndarray = field(init=False)
    smoke_start: np.ndarray = field(init=False)
    smoke_seq: np.ndarray = field(init=False)  # plume number (varies the puffs' drift)
    smoke_next: int = 0
    plumes_started: int = 0
    blood_body: np.ndarray = field(init=False)
    blood_anchor: np.ndarray = field(init=False)
    blood_start: np.ndarray = field(init=False)
    blood_next: int = 0
    pools_started: int = 0
    last_plume: dict[int, float] = field(default_factory=dict)
    burned: EventReader[TissueBurned] | None = None
    torn: EventReader[TissueTorn] | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.smoke_origin = np.zeros((s.smoke_plumes, 3))
        self.smoke_start = np.full(s.smoke_plumes, -np.inf)
        self.smoke_seq = np.zeros(s.smoke_plumes, np.int64)
        self.blood_body = np.full(s.blood_pools, -1, np.int64)
        self.blood_anchor = np.zeros((s.blood_pools, s.blood_drops), np.int64)
        self.blood_start = np.full(s.blood_pools, np.inf)

    def start_plume(self, origin: np.ndarray, t: float) -> None:
        """A smoke plume from ``origin`` (world m) at sim time ``t`` (reuses the oldest slot)."""
        k = self.smoke_next
        self.smoke_origin[k] = origin
        self.smoke_start[k] = t
        self.smoke_seq[k] = self.plumes_started
        self.plumes_started += 1
        self.smoke_next = (k + 1) % len(self.smoke_start)

    def start_pool(self, body: int, anchors: np.ndarray, t: float) -> None:
        """A blood pool on ``body`` with drops on vertices ``anchors`` (repeated to fill)."""
        k = self.blood_next
        self.blood_body[k] = body
        self.blood_anchor[k] = np.resize(anchors, self.blood_anchor.shape[1])
        self.blood_start[k] = t
        self.pools_started += 1
        self.blood_next = (k + 1) % len(self.blood_start)

    def live_plumes(self, t: float) -> np.ndarray:
        """Indices of plumes alive at ``t``."""
        age = t - self.smoke_start
        return np.flatnonzero((age >= 0.0) & (age < self.settings.smoke_life))


def _burn_centroid(body: SoftBody, tets: tuple[int, ...]) -> np.ndarray | None:
    local = np.flatnonzero(np.isin(body.tet_index, np.asarray(tets, np.int64)))
    if not len(local):
        return None
    return np.asarray(body.x[body.tets[local].ravel()].mean(axis=0), np.float64)


def _jaw_of(app: App, instrument: str) -> np.ndarray | None:
    for entity, inst in app.query(Instrument):
        if instrument_name(app, entity) == instrument:
            return np.asarray(inst.tip, np.float64)
    return None


def update_effects(app: App, fx: InstrumentEffects) -> None:
    """Start plumes and pools for this frame's TissueBurned / TissueTorn events (sim time)."""
    if fx.burned is None or fx.torn is None:
        fx.burned, fx.torn = app.event_reader(TissueBurned), app.event_reader(TissueTorn)
    t = float(app.clock.time)
    s = fx.settings
    for ev in fx.burned.read():
        if t - fx.last_plume.get(ev.body, -np.inf) < s.smoke_interval:
            continue
        body = app.try_get(ev.body, SoftBody)
        origin = _burn_centroid(body, ev.tets) if body is not None else None
        if origin is not None:
            fx.start_plume(origin, t)
            fx.last_plume[ev.body] = t
    for tear in fx.torn.read():
        body = app.try_get(tear.body, SoftBody)
        jaw = _jaw_of(app, tear.instrument)
        if body is None or jaw is None:
            continue
        d = np.linalg.norm(body.x - jaw, axis=1)
        near = np.flatnonzero(d <= d.min() + s.blood_reach)
        near = near[np.argsort(d[near], kind="stable")][: s.blood_drops]
        fx.start_pool(tear.body, near, t)


__all__ = ["BLOOD_COLOR", "SMOKE_COLOR", "EffectSettings", "InstrumentEffects", "update_effects"]
