"""Distributed attachments: an organ held to the surrounding anatomy over a surface patch.

Pinning a few vertices puts the organ's weight through a few elements (point loads: issue #16
measured Green strains of 1.5 on the liver). A ligament patch instead ties every surface vertex
within ``radius`` of ``centre`` to where it is at rest by a zero-rest-length spring (a Winkler
foundation, the usual model of ligamentous and connective-tissue support): ``stiffness`` k is per
unit area (N/m per m^2 = Pa/m), vertex i gets k A_i (A_i a third of its boundary triangles'
area), so the patch carries a total force k A u under a uniform displacement u whatever the mesh.

It is a :class:`~vrmed.components.tissue.constraints.TissueConstraint` that the solver
integrates inside its compiled step (``solved_in_step``): each spring by backward Euler, folded
into the substep's prediction and into the vertex's inverse mass, ``1 / (m + h^2 k A_i)``, so the
tets see a vertex as heavy as its spring makes it (``systems.tissue.springs``,
``kernels.pull_springs``). A stiff patch therefore holds as pins do: a 6 cm cube hung by its
top at 1e9 Pa/m strains as it does pinned there (largest principal Green strain 0.0745),
where the springs projected after the tets (one XPBD iteration of their own, as before
2026-12-01) left 0.1076, 44 % more, at any stiffness. ``force`` (k, 3) is the force each spring
pulls its vertex with at the end of the last step, ``(anchor - x) k A_i`` (N). A pack declares
patches in YAML (``SoftBody.ligaments``, :class:`~vrmed.components.tissue.softbody.LigamentSpec`);
code calls :func:`attach_ligament_patch`, :func:`attach_ligament_below` or
:func:`attach_ligament_vertices`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from vrmed.fields import finite_vector, real_number
from vrmed.mesh import TetMesh

from .constraints import ConstraintError, TissueConstraint

if TYPE_CHECKING:
    from .softbody import SoftBody


def boundary_triangle_areas(points: np.ndarray, tets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The boundary triangles (t, 3) of the tets and their areas (t,) (m^2)."""
    tri = TetMesh(points, tets).boundary_triangles()
    p = points[tri]
    return tri, 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)


def surface_vertex_areas(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Per vertex: a third of the area of its boundary triangles (m^2; 0 inside the body)."""
    tri, area = boundary_triangle_areas(points, tets)
    out = np.zeros(len(points))
    np.add.at(out, tri.ravel(), np.repeat(area / 3.0, 3))
    return out


@dataclass(eq=False)
class LigamentPatch(TissueConstraint):
    """Zero-rest-length springs from the surface vertices ``indices`` to fixed ``anchors`` (k, 3) m,
    compliance ``compliance`` (k,) m/N each; ``force`` (k, 3) N is the output."""

    name: ClassVar[str] = "ligament_patch"
    array_fields: ClassVar[tuple[str, ...]] = ("indices", "anchors", "compliance", "force")
    solved_in_step: ClassVar[bool] = True

    indices: np.ndarray
    anchors: np.ndarray
    compliance: np.ndarray
    force: np.ndarray

    def validate(self, n_vertices: int) -> None:
        """Check the indices, shapes and compliances against a body of ``n_vertices`` vertices."""
        super().validate(n_vertices)
        self.check_indices("indices", n_vertices)
        k = self.indices.shape[0]
        self.check_shape("anchors", (k, 3))
        self.check_shape("compliance", (k,))
        self.check_shape("force", (k, 3))
        self.check_compliance("compliance")

    @property
    def total_force(self) -> np.ndarray:
        """Sum of the spring forces on the body (N): what the anatomy holds the organ with."""
        return self.force.sum(axis=0)


def ligament_patch_on(body: SoftBody, indices: np.ndarray, stiffness: float) -> LigamentPatch:
    """Tie the surface vertices ``indices`` of ``body`` to their rest positions by springs of
    ``stiffness`` (Pa/m) times each vertex's area; adds the constraint and returns it."""
    area = surface_vertex_areas(body.rest_points, body.tets)
    idx = np.ascontiguousarray(indices, dtype=np.int64)
    patch = LigamentPatch(
        indices=idx,
        anchors=np.ascontiguousarray(body.rest_points[idx]),
        compliance=np.ascontiguousarray(1.0 / (stiffness * area[idx])),
        force=np.zeros((idx.size, 3)),
    )
    body.add_constraint(patch)
    return patch


def _stiffness(stiffness: float) -> float:
    return real_number(
        stiffness, "ligament patch: stiffness (Pa/m, N/m per m^2)", ConstraintError, minimum=0.0, above=True
    )


def attach_ligament_patch(
    body: SoftBody, centre: np.ndarray | tuple[float, float, float], radius: float, stiffness: float
) -> LigamentPatch:
    """Hold ``body`` by every surface vertex within ``radius`` m of ``centre`` (rest positions),
    each tied to its rest position by a spring of ``stiffness`` (Pa/m, per unit area) times its
    area; adds the constraint to the body and returns it. Raises :class:`ConstraintError`
    naming the argument if the patch would be empty or the numbers are not physical."""
    radius = real_number(radius, "ligament patch: radius (m)", ConstraintError, minimum=0.0, above=True)
    stiffness = _stiffness(stiffness)
    centre = finite_vector(centre, "ligament patch: centre (m, rest coordinates)", ConstraintError)
    area = surface_vertex_areas(body.rest_points, body.tets)
    dist = np.linalg.norm(body.rest_points - centre, axis=1)
    idx = np.flatnonzero((area > 0) & (dist <= radius))
    if idx.size == 0:
        nearest = float(dist[area > 0].min())
        raise ConstraintError(
            f"ligament patch: radius: no surface vertex within {radius} m of {list(np.round(centre, 4))}; "
            f"the nearest is {nearest:.4g} m away"
        )
    return ligament_patch_on(body, idx, stiffness)


def attach_ligament_below(body: SoftBody, height: float, stiffness: float) -> LigamentPatch:
    """Hold ``body`` by every surface vertex whose rest height (y, m) is below ``height``: an
    organ lying on the anatomy under it (the counterpart of ``SoftBodySpec.pin_below``), with
    springs of ``stiffness`` (Pa/m) per unit area. Raises :class:`ConstraintError` if no
    surface vertex lies that low, naming the lowest."""
    height = real_number(height, "ligament patch: below (m, a rest height)", ConstraintError)
    stiffness = _stiffness(stiffness)
    area = surface_vertex_areas(body.rest_points, body.tets)
    y = body.rest_points[:, 1]
    idx = np.flatnonzero((area > 0) & (y < height))
    if idx.size == 0:
        raise ConstraintError(
            f"ligament patch: below: no surface vertex lies below y = {height} m; "
            f"the lowest is at {float(y[area > 0].min()):.4g} m"
        )
    return ligament_patch_on(body, idx, stiffness)


def attach_ligament_vertices(body: SoftBody, vertices: np.ndarray | list[int], stiffness: float) -> LigamentPatch:
    """Hold ``body`` by the surface vertices ``vertices`` (indices), each tied to its rest position
    by a spring of ``stiffness`` (Pa/m) times its area: an attachment whose outline is known by
    vertex (a pack's hand-picked patch). Raises :class:`ConstraintError` naming the first index
    out of range or not on the surface (an interior vertex has no area to carry a spring)."""
    stiffness = _stiffness(stiffness)
    raw = np.asarray(vertices)
    if raw.ndim != 1 or raw.size == 0 or raw.dtype.kind not in "iu":
        raise ConstraintError(
            f"ligament patch: vertices must be a non-empty list of whole vertex indices, got {vertices!r}"
        )
    idx = np.unique(raw.astype(np.int64))
    n = body.rest_points.shape[0]
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise ConstraintError(
            f"ligament patch: vertices: index {int(bad[0])} is out of range (the body has {n} vertices)"
        )
    area = surface_vertex_areas(body.rest_points, body.tets)
    inner = idx[area[idx] <= 0]
    if inner.size:
        raise ConstraintError(
            f"ligament patch: vertices: vertex {int(inner[0])} is inside the body, not on its surface; "
            "a patch holds surface vertices (pin an interior vertex instead)"
        )
    return ligament_patch_on(body, idx, stiffness)
