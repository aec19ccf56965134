"""A free body the inversion recovery holds folded: pause the recovery so the elastic solve can
open the fold.

The recovery (``kernels.recover_pass``) lifts every flagged tet back to det F = ``RECOVER_J``
each substep. A body whose way back to its rest shape passes through flat tets, e.g. one half
reflected over the other (issue #16's "half-mirrored" start), can then settle where the tet sweep
flattens the same tets each substep and the recovery lifts them again: still, uninverted, but
folded, holding elastic energy with no load on it (the liver at 0.2 m: 0.67 J at rest, 54 mm from
its rest shape). The stable Neo-Hookean energy itself is finite and restoring through inversion
(Macklin & Müller 2021), so with the recovery paused the elastic solve opens such a fold (the
liver: to 1e-6 J, 0.07 mm, in under 2 s).

A free body (no pin, attachment, slide plane, added constraint or tool contact) at rest has no
load, so any elastic energy it holds there is a fold. :func:`release_if_held` watches a free
body with flagged tets: once its kinetic energy has stayed below :data:`HELD_KINETIC` x its
elastic energy for :data:`HELD_WAIT` s with that energy above :data:`HELD_ENERGY` x mu x its
volume, the recovery is paused for :data:`RELEASE_TIME` s; it pauses again only for a fold
holding under :data:`RELEASE_AGAIN` x the energy of the last pause (or over its inverse: a new
fold), so a fold the elastic solve cannot open either (a body folded through itself, which
no contact keeps apart) is paused at most a few times. Bodies that never sit still with
flagged tets step exactly as before. docs/physics.md, "Inversion recovery", "A fold the recovery
holds".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

from vrmed.components.tissue.softbody import SoftBody
from vrmed.systems.tissue import kernels as K

#: kinetic energy below this fraction of the elastic energy: the body is not moving (the
#: half-mirrored liver 4e-7 at rest; the half-mirrored cylinder_8x30x6, held in a flutter at
#: 0.2-0.3 m/s on a few vertices, 3e-5 to 6e-5)
HELD_KINETIC = 1.0e-3
#: elastic energy above this fraction of mu x the body's rest volume: a fold, not round-off
#: (the folds measured: 0.03-0.55)
HELD_ENERGY = 1.0e-4
#: seconds the body must sit still with flagged tets before the recovery is paused
HELD_WAIT = 0.3
#: seconds the recovery stays paused
RELEASE_TIME = 1.0
#: a further pause only for a fold holding below this fraction of the last pause's energy
RELEASE_AGAIN = 0.5


@njit(cache=True)
def kinetic_energy(v, mass):
    """1/2 sum m v^2 (J) of ``v`` ((n, 3)) with lumped ``mass`` ((n,)), without allocating."""
    e = 0.0
    for i in range(v.shape[0]):
        e += mass[i] * (v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1] + v[i, 2] * v[i, 2])
    return 0.5 * e


@njit(cache=True)
def momenta(x, v, mass, out):
    """Into ``out`` (9,): the centre of mass, the linear momentum and the angular momentum about
    the centre of mass of the vertices ``x`` moving at ``v`` with lumped ``mass``."""
    total = 0.0
    for k in range(9):
        out[k] = 0.0
    for i in range(x.shape[0]):
        total += mass[i]
        for a in range(3):
            out[a] += mass[i] * x[i, a]
            out[3 + a] += mass[i] * v[i, a]
    for a in range(3):
        out[a] /= total
    for i in range(x.shape[0]):
        rx, ry, rz = x[i, 0] - out[0], x[i, 1] - out[1], x[i, 2] - out[2]
        out[6] += mass[i] * (ry * v[i, 2] - rz * v[i, 1])
        out[7] += mass[i] * (rz * v[i, 0] - rx * v[i, 2])
        out[8] += mass[i] * (rx * v[i, 1] - ry * v[i, 0])


@njit(cache=True)
def _solve3(a, b):
    """a^-1 b for a symmetric positive semi-definite 3 x 3 matrix (an inertia tensor; Cramer's
    rule: numba's linalg needs SciPy, not a dependency); zeros where ``a`` is (nearly) singular."""
    det = (
        a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
        - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
        + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0])
    )
    out = np.zeros(3)
    scale = (a[0, 0] + a[1, 1] + a[2, 2]) / 3.0
    if not det > 1e-12 * scale * scale * scale:  # a body collapsed to a point or a line: no turn
        return out
    for k in range(3):
        m = a.copy()
        for r in range(3):
            m[r, k] = b[r]
        out[k] = (
            m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
            - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
            + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
        ) / det
    return out


@njit(cache=True)
def restore_momenta(x, v, mass, target):
    """Add one rigid velocity ``u + omega x (x - c)`` to every vertex so the body's linear and
    angular momentum (about its centre of mass) become ``target[3:6]`` and ``target[6:9]``: it
    changes no strain and no relative motion, only the body's net motion."""
    now = np.empty(9)
    momenta(x, v, mass, now)
    total = mass.sum()
    inertia = np.zeros((3, 3))
    for i in range(x.shape[0]):
        r = (x[i, 0] - now[0], x[i, 1] - now[1], x[i, 2] - now[2])
        rr = r[0] * r[0] + r[1] * r[1] + r[2] * r[2]
        for a in range(3):
            inertia[a, a] += mass[i] * rr
            for b in range(3):
                inertia[a, b] -= mass[i] * r[a] * r[b]
    dl = np.empty(3)
    for a in range(3):
        dl[a] = target[6 + a] - now[6 + a]
    omega = _solve3(inertia, dl)
    for i in range(x.shape[0]):
        rx, ry, rz = x[i, 0] - now[0], x[i, 1] - now[1], x[i, 2] - now[2]
        v[i, 0] += (target[3] - now[3]) / total + omega[1] * rz - omega[2] * ry
        v[i, 1] += (target[4] - now[4]) / total + omega[2] * rx - omega[0] * rz
        v[i, 2] += (target[5] - now[5]) / total + omega[0] * ry - omega[1] * rx


def paused_momenta(body: SoftBody, gravity: np.ndarray) -> np.ndarray | None:
    """Before a step: the free body's centre of mass and momenta (:func:`momenta`) while its
    recovery is paused and nothing external acts on it (no gravity, no external force), else None.

    Why: the kernels' momentum repair (``kernels.momentum_repair``) runs only with the recovery,
    and the tet projections conserve angular momentum about the positions they are taken at, not
    about the substep's start: the fold opening at ~0.1 m/s would leak some into the body's net
    motion (the half-mirrored torus gained angular momentum in 1 frame of 4 s)."""
    if not body.recover_paused > 0.0 or gravity.any() or body.external_force.any():
        return None
    out = np.empty(9)
    momenta(body.x, body.v, body.mass, out)
    return out


def keep_paused_momenta(body: SoftBody, before: np.ndarray, decay: float) -> None:
    """After such a step: the body's momenta become those ``before`` it times ``decay`` (the
    velocity drag's over the step), by one rigid velocity (:func:`restore_momenta`)."""
    target = before * decay
    restore_momenta(body.x, body.v, body.mass, target)


def recovering(body: SoftBody) -> bool:
    """Whether the step runs the inversion recovery: ``body.recover_inversions`` and not paused."""
    return bool(body.recover_inversions) and not body.recover_paused > 0.0


def is_free(body: SoftBody) -> bool:
    """No pin, attachment, slide plane, added constraint or vertex a tool pushed in the last tick."""
    return (
        not body.constraints
        and body.kin_idx.shape[0] == 0
        and body.slide_idx.shape[0] == 0
        and not body.pinned.any()
        and not K.any_flagged(body.contact_hold)
    )


def release_if_held(body: SoftBody, dt: float, elastic_energy: Callable[[SoftBody], float]) -> None:
    """After a step of ``dt`` s: count down a pause of the recovery, or start one where a free
    body sits still with flagged tets holding elastic energy (see the module docstring).
    ``elastic_energy(body)`` is the solver's (J), passed in to keep the imports one way."""
    if body.recover_paused > 0.0:
        body.recover_paused = max(0.0, body.recover_paused - dt)
        body.held_time = 0.0
        return
    if not (body.recover_inversions and K.any_flagged(body.recover_near) and is_free(body)):
        body.held_time = 0.0
        return
    # windows of HELD_WAIT s: the elastic energy at a window's start (at most two evaluations a
    # window, whatever the step rate), spoiled (-1) by any step whose kinetic energy is not small
    if body.held_time == 0.0:
        body.held_energy = elastic_energy(body)
    body.held_time += dt
    if not kinetic_energy(body.v, body.mass) < HELD_KINETIC * body.held_energy:
        body.held_energy = -1.0
    if body.held_time < HELD_WAIT:
        return
    body.held_time = 0.0
    if body.held_energy < HELD_ENERGY * body.material.mu * float(body.rest_volume.sum()):
        return  # moved in the window, or no fold's worth of energy
    energy = elastic_energy(body)
    last = body.release_energy
    if last > 0.0 and RELEASE_AGAIN * last <= energy <= last / RELEASE_AGAIN:
        return  # the last pause did not open this fold: leave it to the recovery
    body.release_energy = energy
    body.recover_paused = RELEASE_TIME
