"""The local intermediate representation the servo evaluates between physics steps.

Physics runs at tens to hundreds of Hz, the servo at 1-4 kHz. Sending the servo only the
last contact force makes the hand feel a staircase; instead the simulation sends a small
*local model* of the contact, valid near the tool's current position, and the servo
evaluates it at the device position every tick (the multirate "intermediate
representation" of Adachi, Kumano & Ogino 1995 and Mark et al. 1996; for deformable tissue
the local linear model of Cavusoglu & Tendick 2000).

Here that model is up to four primitives ``F = k max(0, (p - x).n) n - b (v.n) n`` (a
contact plane with the local tissue stiffness ``k``; *bilateral* primitives, used for tissue
held in a closed jaw, pull as well as push), a constant force and torque, an optional
virtual-coupling proxy, and an event cue. :class:`ContactLinearizer` builds a plane from what
physics reports for a tool (its position and the contact force on it at each physics tick):
the normal is the force direction, the stiffness the secant ``-d|F|/d depth`` between
quasi-static samples at successive tool poses (so it is the simulated tissue's own response,
including its geometric and material nonlinearity at that point), and the plane sits where
that stiffness gives exactly the simulated force at the tool's position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import kernels as K


@dataclass
class ContactPlane:
    """One primitive: a plane through ``point`` (m) with unit ``normal`` (pointing out of the
    tissue, the direction it pushes the tool), stiffness ``stiffness`` (N/m), damping
    ``damping`` (N s/m), and whether it also pulls (``bilateral``)."""

    point: np.ndarray
    normal: np.ndarray
    stiffness: float
    damping: float = 0.0
    bilateral: bool = False


@dataclass
class Cue:
    """An event-driven force transient: ``amplitude e^{-decay t} sin(2 pi frequency t)``
    along ``direction`` for ``duration`` s (``frequency`` 0: a decaying pulse)."""

    amplitude: float
    frequency: float
    decay: float
    duration: float
    direction: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))


@dataclass
class LocalModel:
    """What the servo renders until the next publication (world coordinates, SI)."""

    planes: list[ContactPlane] = field(default_factory=list)
    force: np.ndarray = field(default_factory=lambda: np.zeros(3))
    torque: np.ndarray = field(default_factory=lambda: np.zeros(3))
    proxy: np.ndarray = field(default_factory=lambda: np.zeros(3))
    coupling: tuple[float, float] = (0.0, 0.0)
    #: seconds to cross-fade from the previous model (one physics period keeps the force
    #: continuous; 0 switches at once, for a puncture or a tear where the drop is the cue)
    blend: float = 0.0
    cue: Cue | None = None
    cue_id: int = 0

    def write(self, slot: np.ndarray) -> None:
        """Serialise into a servo model slot (``kernels.M_*`` layout)."""
        slot[:] = 0.0
        n = min(len(self.planes), K.MAX_PLANES)
        slot[K.M_NPLANES] = n
        slot[K.M_BLEND] = self.blend if math.isfinite(self.blend) else 0.0
        for i, p in enumerate(self.planes[:n]):
            b0 = K.M_PLANES + i * K.P_STRIDE
            normal = np.asarray(p.normal, float)
            norm = float(np.linalg.norm(normal))
            slot[b0 : b0 + 3] = p.point
            slot[b0 + 3 : b0 + 6] = normal / norm if norm > 0 else 0.0
            slot[b0 + 6] = p.stiffness
            slot[b0 + 7] = p.damping
            slot[b0 + 8] = 1.0 if p.bilateral else 0.0
        slot[K.M_FORCE : K.M_FORCE + 3] = self.force
        slot[K.M_TORQUE : K.M_TORQUE + 3] = self.torque
        slot[K.M_PROXY : K.M_PROXY + 3] = self.proxy
        slot[K.M_KC], slot[K.M_BC] = self.coupling
        if self.cue is not None:
            c = self.cue
            slot[K.M_CUE_SEQ] = self.cue_id
            slot[K.M_CUE_AMP], slot[K.M_CUE_FREQ] = c.amplitude, c.frequency
            slot[K.M_CUE_DECAY], slot[K.M_CUE_DUR] = c.decay, c.duration
            d = np.asarray(c.direction, float)
            dn = float(np.linalg.norm(d))
            slot[K.M_CUE_DIR : K.M_CUE_DIR + 3] = d / dn if dn > 0 else 0.0

    def force_at(self, x: np.ndarray, v: np.ndarray | None = None, max_stiffness: float = math.inf) -> np.ndarray:
        """The model's force on a tool at ``x`` (m) moving at ``v`` (m/s), no cue (N)."""
        slot = np.zeros(K.M_SIZE)
        self.write(slot)
        out = np.zeros(3)
        K.model_force(
            slot, np.asarray(x, float), np.zeros(3) if v is None else np.asarray(v, float), max_stiffness, out
        )
        return out


class ContactLinearizer:
    """Builds the contact plane of one tool from physics-rate (position, force) reports.

    ``default_stiffness`` (N/m) is used until two quasi-static samples at different tool
    poses give a secant; estimates are limited to ``[min_stiffness, max_stiffness]`` and
    smoothed with weight ``smoothing`` (0: keep the first, 1: take each new one). Forces
    below ``threshold`` (N) mean no contact.
    """

    def __init__(
        self,
        *,
        default_stiffness: float = 200.0,
        min_stiffness: float = 10.0,
        max_stiffness: float = 5000.0,
        smoothing: float = 0.5,
        damping: float = 0.0,
        threshold: float = 1e-4,
        min_travel: float = 2e-5,
    ) -> None:
        self.default_stiffness = default_stiffness
        self.min_stiffness, self.max_stiffness = min_stiffness, max_stiffness
        self.smoothing, self.damping, self.threshold = smoothing, damping, threshold
        self.min_travel = min_travel
        self.stiffness: float | None = None
        self._pose: np.ndarray | None = None  # the tool pose of the latest reports
        self._force = np.zeros(3)  # the latest force at that pose (settles over the ticks)
        self._settled: tuple[np.ndarray, np.ndarray] | None = None  # previous pose, its last force

    def reset(self) -> None:
        """Forget the contact (tool left the tissue, or the tissue was punctured)."""
        self.stiffness = None
        self._pose = None
        self._settled = None

    def update(self, point: np.ndarray, force: np.ndarray, *, bilateral: bool = False) -> ContactPlane | None:
        """Report the tool position (m) and the contact force on it (N) at one physics
        tick; returns the plane to render, or None when there is no contact."""
        x = np.asarray(point, float)
        f = np.asarray(force, float)
        mag = float(np.linalg.norm(f))
        if not (math.isfinite(mag) and np.isfinite(x).all()) or mag < self.threshold:
            self.reset()
            return None
        n = f / mag
        if self._pose is not None and float(np.linalg.norm(x - self._pose)) > 1e-9:
            # The tool moved: the force at the previous pose has settled as far as it will.
            prev = (self._pose, self._force.copy())
            if self._settled is not None:
                x0, f0 = self._settled
                x1, f1 = prev
                travel = -float((x1 - x0) @ n)  # deeper along -n is positive
                if abs(travel) >= self.min_travel:
                    k = (float(f1 @ n) - float(f0 @ n)) / travel
                    if math.isfinite(k) and k > 0:
                        k = min(max(k, self.min_stiffness), self.max_stiffness)
                        self.stiffness = (
                            k if self.stiffness is None else (1 - self.smoothing) * self.stiffness + self.smoothing * k
                        )
            self._settled = prev
        self._pose = x.copy()
        self._force = f.copy()
        k_use = self.stiffness if self.stiffness is not None else self.default_stiffness
        k_use = min(max(k_use, self.min_stiffness), self.max_stiffness)
        depth = mag / k_use
        return ContactPlane(x + depth * n, n, k_use, self.damping, bilateral)
