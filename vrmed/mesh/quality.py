"""Tetrahedron quality checks: signed volumes, inverted and degenerate elements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.mesh.meshtypes import MeshError

#: A tet whose normalised volume quality |q| is below this is treated as degenerate (flat).
#: q = 6*sqrt(2)*V / l_rms^3 is 1 for a regular tet and 0 for a flat one.
DEGENERATE_QUALITY = 1e-4


def signed_volumes(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Signed volume of each tet, det[x1-x0, x2-x0, x3-x0] / 6 (positive = right-handed)."""
    p = points[tets]
    e1, e2, e3 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]
    return np.einsum("ij,ij->i", np.cross(e1, e2), e3) / 6.0


def tet_quality(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Signed normalised volume quality 6*sqrt(2)*V / l_rms^3: 1 regular, 0 flat, < 0 inverted."""
    p = points[tets]
    pairs = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
    l2 = sum(np.einsum("ij,ij->i", p[:, a] - p[:, b], p[:, a] - p[:, b]) for a, b in pairs)
    lrms = np.sqrt(l2 / 6.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = 6.0 * np.sqrt(2.0) * signed_volumes(points, tets) / lrms**3
    return np.where(lrms > 0, q, 0.0)


@dataclass
class TetQualityReport:
    """Indices of inverted and degenerate tets plus the quality range of the rest."""

    inverted: np.ndarray
    degenerate: np.ndarray
    min_quality: float
    mean_quality: float

    @property
    def ok(self) -> bool:
        """True when no tet is inverted or degenerate."""
        return self.inverted.size == 0 and self.degenerate.size == 0


def check_tets(points: np.ndarray, tets: np.ndarray) -> TetQualityReport:
    """Classify tets: degenerate (|q| < DEGENERATE_QUALITY or a repeated node), inverted (q < 0)."""
    tets = np.asarray(tets)
    q = tet_quality(points, tets)
    s = np.sort(tets, axis=1)
    repeated = np.any(s[:, 1:] == s[:, :-1], axis=1)
    degenerate = repeated | (np.abs(q) < DEGENERATE_QUALITY) | ~np.isfinite(q)
    inverted = (q < 0) & ~degenerate
    good = q[~degenerate]
    return TetQualityReport(
        inverted=np.flatnonzero(inverted),
        degenerate=np.flatnonzero(degenerate),
        min_quality=float(np.abs(good).min()) if good.size else 0.0,
        mean_quality=float(np.abs(good).mean()) if good.size else 0.0,
    )


def _listing(idx: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    return shown + (f", ... ({idx.size} in all)" if idx.size > limit else "")


def validate_tets(
    points: np.ndarray,
    tets: np.ndarray,
    where: str,
    *,
    fix_inverted: bool = False,
    drop_degenerate: bool = False,
    notes: list[str] | None = None,
    element_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Return tets with consistent positive orientation or raise :class:`MeshError`.

    A mesh whose tets are *all* negatively oriented just uses the other winding convention and
    is flipped silently (recorded in ``notes``). A mix of orientations means some elements are
    genuinely inverted: that is an error unless ``fix_inverted``. Degenerate (flat) tets have no
    rest shape the solver could restore, so they are an error unless ``drop_degenerate``.
    ``element_ids`` are the ids the file used, for the message.
    """
    notes = notes if notes is not None else []
    tets = np.array(tets, dtype=np.int64, copy=True)
    if tets.size == 0:
        raise MeshError(f"{where}: the mesh has no tetrahedra; nothing to simulate.")
    if tets.min() < 0 or tets.max() >= len(points):
        raise MeshError(
            f"{where}: tetrahedra refer to node indices outside 0..{len(points) - 1}; "
            "the connectivity does not match the node list. Re-export the mesh."
        )
    if not np.all(np.isfinite(points)):
        bad = np.flatnonzero(~np.all(np.isfinite(points), axis=1))
        raise MeshError(f"{where}: nodes {_listing(bad)} have non-finite coordinates.")
    rep = check_tets(points, tets)

    def name(idx: np.ndarray) -> str:
        txt = _listing(idx)
        if element_ids is not None:
            txt += " (file element ids " + _listing(element_ids[idx]) + ")"
        return txt

    problems = []
    if rep.degenerate.size and not drop_degenerate:
        problems.append(
            f"{rep.degenerate.size} degenerate (zero-volume or repeated-node) tetrahedra at "
            f"indices {name(rep.degenerate)}: pass drop_degenerate=True to remove them or fix "
            "the mesh"
        )
    n_valid = tets.shape[0] - rep.degenerate.size
    all_negative = rep.inverted.size == n_valid and n_valid > 0
    if rep.inverted.size and not all_negative and not fix_inverted:
        problems.append(
            f"{rep.inverted.size} inverted (negative-volume) tetrahedra among "
            f"{n_valid} at indices {name(rep.inverted)}: pass fix_inverted=True to reorder "
            "their nodes, or repair the mesh"
        )
    if problems:
        raise MeshError(f"{where}: " + "; ".join(problems) + ".")
    if rep.inverted.size:
        tets[rep.inverted] = tets[rep.inverted][:, [0, 2, 1, 3]]
        notes.append(
            "all tets were negatively oriented; flipped to positive"
            if all_negative
            else f"flipped {rep.inverted.size} inverted tets: {_listing(rep.inverted)}"
        )
    if rep.degenerate.size:
        notes.append(f"dropped {rep.degenerate.size} degenerate tets: {_listing(rep.degenerate)}")
        tets = np.delete(tets, rep.degenerate, axis=0)
    return np.ascontiguousarray(tets)
