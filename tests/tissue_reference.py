"""References the tissue tests compare the solver with: the plain-numpy XPBD reference
(systems/tissue/reference.py) stepped as the kernel tests step it (test_softbody_kernels.py,
test_tissue_damping.py), and the rigid (Kabsch) fit that tells a rigid motion from a
deformation (test_softbody_validation.py, test_tissue_robustness.py)."""

from __future__ import annotations

import numpy as np

from vrmed.components.tissue.softbody import SoftBody
from vrmed.systems.tissue import reference as R


def kept_fractions(n_tets: int) -> np.ndarray:
    """Per-tet kept fractions of the warm start, 0.2 to 1 (some partial), laid out as the
    solver's ``SoftBody.warm_t``: a float32 column view of a wider array (``warm_d[:, 9]``).
    A kernel called with them and with every argument the solver passes (none left to its
    default) runs the very specialisation the solver compiles, which the numba cache then
    shares with every other tissue test, instead of one compiled for this test alone
    (~20 s each on a clean clone)."""
    store = np.zeros((n_tets, 10), dtype=np.float32)
    store[:, 9] = np.linspace(0.2, 1.0, n_tets)
    return store[:, 9]


def reference_frame(
    body: SoftBody,
    state: tuple[np.ndarray, ...],
    coloured: tuple[np.ndarray, ...],
    gravity: np.ndarray,
    dt: float,
    substeps: int,
    *,
    warm: float,
    warm_t: np.ndarray,
) -> None:
    """One frame of ``dt`` in ``substeps`` reference substeps, in place on ``state`` = (x, v,
    x_prev, lam, warm_dx, warm_d, near) (near: the inversion recovery's flags, kept across
    substeps as the kernels keep them); ``coloured`` = (tets, Q, alpha_dev, alpha_hyd,
    colour offsets), the tets in colour order. Substep s warm-starts with the fraction
    (s + 1) / substeps, as the kernels do."""
    x, v, x_prev, lam, warm_dx, warm_d, near = state
    tets, Q, a_dev, a_hyd, offsets = coloured
    m = body.material
    for s in range(substeps):
        R.substep(
            x,
            v,
            x_prev,
            body.inv_mass,
            body.external_force,
            gravity,
            tets,
            Q,
            a_dev,
            a_hyd,
            m.gamma,
            offsets,
            dt / substeps,
            m.damping,
            body.velocity_damping,
            lam=lam,
            warm_dx=warm_dx,
            warm=warm,
            warm_t=warm_t,
            warm_d=warm_d,
            near=near,
            frac=(s + 1.0) / substeps,
        )


def kabsch_residual(a: np.ndarray, b: np.ndarray) -> float:
    """Largest vertex distance between a and b after the best rigid alignment of a onto b
    (the rotation from the SVD of the cross-covariance, Kabsch 1976, Acta Cryst. A32:922; a
    reflection excluded by the determinant's sign, Kabsch 1978, Acta Cryst. A34:827)."""
    ac, bc = a - a.mean(0), b - b.mean(0)
    u, _, vt = np.linalg.svd(ac.T @ bc)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, 1.0, d]) @ vt
    return float(np.abs(ac @ r - bc).max())
