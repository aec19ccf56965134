"""Ligament patches inside the compiled step: their springs merged per vertex, the inverse masses
the step solves with and the backward-Euler factors (:func:`kernels.pull_springs`).

A zero-rest-length spring of stiffness k from vertex i (mass m) to a fixed anchor a is linear, so
backward Euler integrates it exactly inside the substep's implicit solve: the substep minimises
``m / (2 h^2) |x - y|^2 + k / 2 |x - a|^2 + E_tets(x)`` (y the inertial target), and the first two
terms are ``(m + h^2 k) / (2 h^2) |x - y'|^2`` plus a constant with ``y' = y + h^2 k / (m + h^2 k)
(a - y)``. So the prediction moves to y' and the tets are solved with the inverse mass
``1 / (m + h^2 k)``: no iteration of the springs' own, and as k grows the vertex becomes a pin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.components.tissue.constraints import ConstraintError, TissueConstraint
from vrmed.components.tissue.ligament import LigamentPatch
from vrmed.components.tissue.softbody import SoftBody
from vrmed.systems.tissue import kernels as K


@dataclass(eq=False)
class SpringScratch:
    """A body's ligament springs merged per vertex (``SoftBody.spring_scratch``): ``indices`` (k,)
    the vertices, ``stiffness`` (k,) N/m and ``anchors`` (k, 3) m (the stiffness-weighted anchor
    where patches share a vertex), ``factors`` (k, 3) for :func:`kernels.pull_springs`,
    ``inv_mass`` (n, 3) the inverse masses the step solves with; ``slots`` maps each patch's
    springs to rows; ``key`` says which patches it was built for."""

    key: tuple[tuple[int, int, int], ...]
    indices: np.ndarray
    stiffness: np.ndarray
    anchors: np.ndarray
    factors: np.ndarray
    inv_mass: np.ndarray
    slots: list[np.ndarray]


#: The kernels' ``springs`` for a body without ligament patches: no spring (the solver passes it
#: rather than None, so a body with springs and one without step in one compiled version of the
#: step: ``kernels.step_kernel``). Never written: the kernels read ``springs`` only.
NO_SPRINGS = (np.zeros(0, dtype=np.int64), np.zeros((0, 3)), np.zeros((0, 3)))


def added_constraints(body: SoftBody) -> list[TissueConstraint]:
    """The constraints of ``body`` that the step projects with their own kernels (everything but
    the ligament patches it integrates itself). A type that claims ``solved_in_step`` without
    being one the solver knows is refused: it would never be projected."""
    out = []
    for c in body.constraints:
        if not getattr(type(c), "solved_in_step", False):  # (a list edited by hand may hold any object)
            out.append(c)
        elif not isinstance(c, LigamentPatch):
            raise ConstraintError(
                f"{type(c).__qualname__} ({c.name!r}) sets solved_in_step, which only vrmed's own ligament "
                "patches may: give it a kernel and leave solved_in_step False"
            )
    return out


def _patches(body: SoftBody) -> list[LigamentPatch]:
    return [c for c in body.constraints if isinstance(c, LigamentPatch)]


def _build(body: SoftBody, patches: list[LigamentPatch], key: tuple[tuple[int, int, int], ...]) -> SpringScratch:
    """A new scratch for ``patches`` (allocates: only when the patches change)."""
    idx = np.unique(np.concatenate([p.indices for p in patches]))
    slots = [np.ascontiguousarray(np.searchsorted(idx, p.indices), dtype=np.int64) for p in patches]
    k = idx.size
    return SpringScratch(
        key=key,
        indices=np.ascontiguousarray(idx, dtype=np.int64),
        stiffness=np.zeros(k),
        anchors=np.zeros((k, 3)),
        factors=np.zeros((k, 3)),
        inv_mass=np.zeros_like(body.inv_mass),
        slots=slots,
    )


def solve_springs(body: SoftBody, h: float) -> tuple[np.ndarray, tuple[np.ndarray, ...]] | None:
    """For a body with ligament patches: the inverse masses its step solves with and the kernels'
    ``springs`` tuple for substep ``h`` (refreshed from the patches' current anchors and
    compliances: no allocation unless the patches changed); None for a body without."""
    patches = _patches(body)
    if not patches:
        body.spring_scratch = None
        return None
    key = tuple((id(p), p.indices.size, body.n_vertices) for p in patches)
    sc = body.spring_scratch
    if not isinstance(sc, SpringScratch) or sc.key != key or sc.inv_mass.shape != body.inv_mass.shape:
        sc = body.spring_scratch = _build(body, patches, key)
    sc.stiffness[:] = 0.0
    sc.anchors[:] = 0.0
    for p, slot in zip(patches, sc.slots):
        K.gather_springs(slot, p.compliance, p.anchors, sc.stiffness, sc.anchors)
    K.spring_masses(body.inv_mass, sc.inv_mass, sc.indices, sc.stiffness, h, sc.factors, sc.anchors)
    return sc.inv_mass, (sc.indices, sc.anchors, sc.factors)


def update_spring_forces(body: SoftBody) -> None:
    """Each ligament patch's ``force``: its springs' pull at the step's end (N)."""
    for p in _patches(body):
        K.spring_forces(body.x, p.indices, p.anchors, p.compliance, p.force)
