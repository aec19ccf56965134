"""Frame time of the cloth solve (docs/cloth.md, "Measured"): a 10 x 10 cm gauze clamped on two
edges at 2.5 and 1.5 mm cells, :class:`~vrmed.systems.cloth.solver.ClothSettings` defaults
(2 implicit steps x 1 local-global iteration per 1/90 s frame), timed in one process for the
solves side by side: Projective Dynamics with the global solve one coordinate at a time (the
solver before :func:`~vrmed.systems.cloth.pd.band_solve3`), with the three coordinates in one
sweep (the default), the quasi-Newton solve (L-BFGS, 2 iterations per step) and the Newton
solve (at most 2 iterations per step); the median of
3 runs of 90 frames after 90 warm-up frames (runs interleaved, so load changes hit all alike),
then the refactoring time and one snip's cost. ``--flap``: a 6 x 6 cm flap (5 mm cells) pinned
on one edge and released horizontal, 2 steps per frame, per solve: when its free edge passes
45 deg, its angle at 0.3, 0.5 and 1 s (a rigid plate hinged at an edge: 45 deg at 0.081 s),
the largest rise of its total energy (kinetic + elastic + gravity) over the release value in the
same run without air damping, and the solve's time per frame over the first second (swinging).
``--steps``: the limp flap's 45 deg time and the frame cost of PD with more steps per frame
("small steps", Macklin et al. 2019) against 2 PD steps, paired in one process on the 2.5 mm
clamped gauze released flat (first 0.5 s, swinging, and 3-4 s, near rest).
``--newton``: the Newton solve's frame cost against PD's on the 2.5 mm clamped gauze released
flat, in one process with the frames interleaved: over the first 0.5 s (swinging) and over 3-4 s
(near rest), its Newton and CG iteration counts and the share of the Hessian's elements
recomputed per iteration, with the Hessian kept across steps (the default) and assembled
afresh at every iteration (``hessian_tolerance=0``, as before). ``--precond``: on the same
gauze (5 mm cells) swinging under the Newton solve, how many conjugate-gradient iterations the
step's Newton system needs to the solve's 5 % residual with the PD factor as preconditioner
(the solver's), with a per-vertex-frame split (the PD factor on the tangential part, an exact
factor of the normal block N^T H N on the normal one) and with the Hessian's own factor (dense
numpy: a study of the next preconditioner, not the solver's code).

Run: ``python -m vrmed.systems.cloth.bench [--flap | --steps | --newton | --precond]``."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from vrmed.components.cloth.sheet import ClothMaterial, ClothSheet

from . import pd
from .cutting import cut_cloth
from .solver import ClothSettings, elastic_energy, elastic_hessian, kinetic_energy, step_cloth

_G = np.array([0.0, -9.80665, 0.0])

#: (label, step_cloth keyword arguments) of the solves compared
SOLVES: tuple[tuple[str, dict], ...] = (
    ("pd_one_coordinate_ms", {"method": "pd", "multi_rhs": False}),
    ("pd_ms", {"method": "pd"}),
    ("quasi_newton_2it_ms", {"method": "quasi_newton", "iterations": 2}),
    ("newton_2it_ms", {"method": "newton", "iterations": 2}),
)


def run(cells: tuple[float, ...] = (0.0025, 0.0015)) -> list[dict[str, float]]:
    """Measure each cell size; returns one row per size (and prints it)."""
    settings = ClothSettings()
    k, it = settings.steps_per_frame, settings.iterations
    rows = []
    for cell in cells:
        sheets = []
        for _, kw in SOLVES:
            s = ClothSheet.rectangle((0.1, 0.1), cell, ClothMaterial(), pin_edges=["u0", "u1"])
            for _ in range(90):
                step_cloth(s, 1 / 90, k, _G, **{"iterations": it, **kw})
            sheets.append(s)
        times: list[list[float]] = [[] for _ in SOLVES]
        for _ in range(3):
            for j, (_, kw) in enumerate(SOLVES):
                t = time.perf_counter()
                for _ in range(90):
                    step_cloth(sheets[j], 1 / 90, k, _G, **{"iterations": it, **kw})
                times[j].append((time.perf_counter() - t) / 90 * 1000)
        s = sheets[1]
        n, sag = s.n_vertices, -1000 * float(s.x[:, 1].min())
        s.solver_cache.clear()
        t = time.perf_counter()
        step_cloth(s, 1 / 90, k, _G, iterations=it)
        refactor = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        cut_cloth(s, np.array([0.0431, 0.0, 0.02]), np.array([0.0431, 0.0, 0.036]), np.array([1.0, 0, 0]), 0.003)
        snip = (time.perf_counter() - t) * 1000
        row: dict[str, float] = {"cell_mm": cell * 1000, "vertices": n}
        row.update({label: float(np.median(ts)) for (label, _), ts in zip(SOLVES, times, strict=True)})
        row.update(refactor_frame_ms=refactor, snip_ms=snip, sag_mm_at_3s=sag)
        print(", ".join(f"{key} {value:.4g}" for key, value in row.items()))
        rows.append(row)
    return rows


FLAP_SOLVES: tuple[tuple[str, str, int], ...] = (
    ("pd 1 iteration", "pd", 1),
    ("pd 2 iterations", "pd", 2),
    ("quasi-Newton 2 iterations", "quasi_newton", 2),
    ("quasi-Newton 3 iterations", "quasi_newton", 3),
    ("Newton 1 iteration", "newton", 1),
    ("Newton 2 iterations", "newton", 2),
    ("Newton 3 iterations", "newton", 3),
)


def flap(seconds: float = 6.0) -> list[dict[str, float]]:
    """The released flap of docs/cloth.md ("Solver") for each of :data:`FLAP_SOLVES`."""
    rows = []
    for label, method, its in FLAP_SOLVES:
        s = ClothSheet.rectangle((0.06, 0.06), 0.005, ClothMaterial(), pin_edges=["u0"])
        edge = np.abs(s.rest[:, 0] - 0.06) < 1e-9
        row: dict[str, float] = {"t45_s": float("nan")}
        step_cloth(s, 1 / 90, 2, _G, iterations=its, method=method)  # compiled before timing
        s = ClothSheet.rectangle((0.06, 0.06), 0.005, ClothMaterial(), pin_edges=["u0"])
        spent = 0.0
        for f in range(int(seconds * 90)):
            t = time.perf_counter()
            step_cloth(s, 1 / 90, 2, _G, iterations=its, method=method)
            if f < 90:
                spent += time.perf_counter() - t
            angle = float(np.degrees(np.arctan2(-s.x[edge, 1].mean(), s.x[edge, 0].mean())))
            if angle > 45.0 and np.isnan(row["t45_s"]):
                row["t45_s"] = (f + 1) / 90
            if f + 1 in (27, 45, 90):
                row[f"deg_at_{(f + 1) / 90:.1f}s"] = angle
            if not np.isnan(row["t45_s"]) and f + 1 >= 90:
                break
        row["ms_per_frame"] = spent / 90 * 1000
        row["max_energy_rise_uJ"] = _energy_rise(method, its) * 1e6
        print(label + ": " + ", ".join(f"{key} {value:.3g}" for key, value in row.items()))
        rows.append(row)
    return rows


def _energy_rise(method: str, its: int, seconds: float = 2.0) -> float:
    """The flap without air damping: the largest total energy (J) above the release value."""
    s = ClothSheet.rectangle((0.06, 0.06), 0.005, ClothMaterial(damping=0.0), pin_edges=["u0"])

    def total() -> float:
        return kinetic_energy(s) + elastic_energy(s)[0] - float(s.mass @ s.x @ _G)

    e0, rise = total(), -np.inf
    for _ in range(int(seconds * 90)):
        step_cloth(s, 1 / 90, 2, _G, iterations=its, method=method)
        rise = max(rise, total() - e0)
    return float(rise)


#: (label, method, steps per frame) of ``--steps``
STEP_SOLVES: tuple[tuple[str, str, int], ...] = (
    ("pd_2", "pd", 2),
    ("pd_4", "pd", 4),
    ("pd_8", "pd", 8),
    ("pd_16", "pd", 16),
    ("pd_32", "pd", 32),
)


def small_steps(seconds: float = 1.0) -> list[dict[str, float]]:
    """The ``--steps`` measurement (docs/cloth.md, "Solver"): per entry of :data:`STEP_SOLVES`,
    the limp flap's (bending 1e-7 N m, air damping as the material's default) 45 deg time and
    the frame cost against 2 PD steps; returns (and prints) one row each."""
    rows = []
    for _, method, steps in STEP_SOLVES:
        s = ClothSheet.rectangle((0.06, 0.06), 0.005, ClothMaterial(bending_stiffness=1e-7), pin_edges=["u0"])
        edge = np.abs(s.rest[:, 0] - 0.06) < 1e-9
        t45 = float("nan")
        for f in range(int(seconds * 90)):
            step_cloth(s, 1 / 90, steps, _G, method=method)
            if np.degrees(np.arctan2(-s.x[edge, 1].mean(), s.x[edge, 0].mean())) > 45.0:
                t45 = (f + 1) / 90
                break
        rows.append({"t45_s": t45})

    def clamped() -> ClothSheet:
        return ClothSheet.rectangle((0.1, 0.1), 0.0025, ClothMaterial(), pin_edges=["u0", "u1"])

    for _, method, steps in STEP_SOLVES:  # compiled before timing
        step_cloth(clamped(), 1 / 90, steps, _G, method=method)
    sheets = [clamped() for _ in STEP_SOLVES]
    swing = np.zeros(len(STEP_SOLVES))
    rest = np.zeros(len(STEP_SOLVES))
    for f in range(360):
        for j, (_, method, steps) in enumerate(STEP_SOLVES):
            t = time.perf_counter()
            step_cloth(sheets[j], 1 / 90, steps, _G, method=method)
            spent = time.perf_counter() - t
            if f < 45:
                swing[j] += spent
            elif f >= 270:
                rest[j] += spent
    for j, (label, _, _) in enumerate(STEP_SOLVES):
        rows[j].update(
            swinging_ms=swing[j] / 45 * 1000,
            swinging_ratio=swing[j] / swing[0],
            near_rest_ms=rest[j] / 90 * 1000,
            near_rest_ratio=rest[j] / rest[0],
            sag_mm_at_4s=-1000 * float(sheets[j].x[:, 1].min()),
        )
        print(label + ": " + ", ".join(f"{key} {value:.3g}" for key, value in rows[j].items()))
    return rows


def newton_cost(cell: float = 0.0025) -> dict[str, float]:
    """The ``--newton`` measurement (docs/cloth.md, "Solver"); returns (and prints) one row."""
    kinds: dict[str, dict] = {
        "pd": {"method": "pd"},
        "newton": {"method": "newton"},
        "newton_fresh": {"method": "newton", "hessian_tolerance": 0.0},
    }
    for kw in kinds.values():  # compiled before timing
        step_cloth(ClothSheet.rectangle((0.1, 0.1), cell, ClothMaterial(), pin_edges=["u0", "u1"]), 1 / 90, 2, _G, **kw)
    sheets = {m: ClothSheet.rectangle((0.1, 0.1), cell, ClothMaterial(), pin_edges=["u0", "u1"]) for m in kinds}
    swing = dict.fromkeys(kinds, 0.0)
    rest = dict.fromkeys(kinds, 0.0)
    early = {m: np.zeros(5) for m in kinds}
    for f in range(360):
        for m, s in sheets.items():
            t = time.perf_counter()
            step_cloth(s, 1 / 90, 2, _G, **kinds[m])
            spent = time.perf_counter() - t
            if f < 45:
                swing[m] += spent
            elif f >= 270:
                rest[m] += spent
            if f == 44 and m != "pd":
                early[m] = s.solver_cache["newton_stats"].copy()
    row: dict[str, float] = {f"{m}_swinging_ms": swing[m] / 45 * 1000 for m in kinds}
    row.update({f"{m}_near_rest_ms": rest[m] / 90 * 1000 for m in kinds})
    for m in ("newton", "newton_fresh"):
        s = sheets[m]
        late = s.solver_cache["newton_stats"] - early[m]
        elements = len(s.triangles) + len(s.bend_vertex)
        row.update(
            {
                f"{m}_swinging_ratio": swing[m] / swing["pd"],
                f"{m}_near_rest_ratio": rest[m] / rest["pd"],
                f"{m}_swinging_its_per_step": early[m][0] / 90,
                f"{m}_swinging_cg_per_it": early[m][1] / max(early[m][0], 1.0),
                f"{m}_swinging_recomputed_share": early[m][4] / max(early[m][0], 1.0) / elements,
                f"{m}_later_its_per_step": late[0] / 630,
                f"{m}_later_cg_per_it": late[1] / max(late[0], 1.0),
                f"{m}_later_recomputed_share": late[4] / max(late[0], 1.0) / elements,
            }
        )
    print(", ".join(f"{key} {value:.3g}" for key, value in row.items()))
    return row


def preconditioner_study(cell: float = 0.005, frames: tuple[int, ...] = (3, 10, 20, 40)) -> list[dict[str, float]]:
    """The ``--precond`` measurement (docs/cloth.md, "Solver", "Kept Hessian"): CG iterations
    to the solve's 5 % residual on the Newton system (M / h^2 + K) d = grad g of the step after
    each of ``frames`` (the clamped gauze released flat, Newton solve); dense numpy, allocates."""
    s = ClothSheet.rectangle((0.1, 0.1), cell, ClothMaterial(), pin_edges=["u0", "u1"])
    done, rows = 0, []
    for frame in frames:
        while done < frame:
            step_cloth(s, 1 / 90, 2, _G, method="newton")
            done += 1
        row = {"frame": float(frame), **_pcg_counts(s, 1 / 180)}
        print(", ".join(f"{key} {value:.3g}" for key, value in row.items()))
        rows.append(row)
    return rows


def _pcg_counts(s: ClothSheet, h: float) -> dict[str, float]:
    """:func:`preconditioner_study` at the sheet's state: PCG iterations with each preconditioner."""
    c = s.solver_cache
    n, fixed = s.n_vertices, c["fixed"]
    free = ~fixed
    x0 = np.where(fixed[:, None], s.x, s.x + h * s.v)  # the step's first iterate and target
    y = np.where(fixed[:, None], s.x, s.x + h * s.v + h * h * _G)
    b = (elastic_energy(s, x0, exact=False)[1] + (s.mass / h**2)[:, None] * (x0 - y))[free].ravel()
    idx = np.flatnonzero(np.repeat(free, 3))
    hess = (elastic_hessian(s, x0) + np.kron(np.diag(s.mass / h**2), np.eye(3)))[np.ix_(idx, idx)]
    tri = x0[s.triangles]
    nrm = np.zeros((n, 3))
    np.add.at(nrm, s.triangles.ravel(), np.repeat(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), 3, 0))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    normal = np.zeros((3 * n, n))  # column i: vertex i's normal
    normal[3 * np.arange(n)[:, None] + np.arange(3), np.arange(n)[:, None]] = nrm
    normal = normal[np.ix_(idx, np.flatnonzero(free))]
    l_normal = np.linalg.cholesky(normal.T @ hess @ normal)
    l_exact = np.linalg.cholesky(hess)
    z = np.zeros((n, 3))

    def pd_factor(r: np.ndarray) -> np.ndarray:
        q = np.zeros((n, 3))
        q[free] = r.reshape(-1, 3)
        pd._precondition(c["band"], c["perm"], fixed, q, z)
        return q[free].ravel()

    def split(r: np.ndarray) -> np.ndarray:
        rn = normal.T @ r
        t = pd_factor(r - normal @ rn)
        return t - normal @ (normal.T @ t) + normal @ np.linalg.solve(l_normal.T, np.linalg.solve(l_normal, rn))

    def exact(r: np.ndarray) -> np.ndarray:
        return np.linalg.solve(l_exact.T, np.linalg.solve(l_exact, r))

    return {
        name: float(_pcg(hess, b, prec))
        for name, prec in (("pd_factor", pd_factor), ("split", split), ("exact", exact))
    }


def _pcg(a: np.ndarray, b: np.ndarray, prec: Callable[[np.ndarray], np.ndarray], limit: int = 200) -> int:
    """Preconditioned CG iterations on a d = b from d = 0 to |r| <= pd.CG_TOLERANCE |b| (``limit`` at most)."""
    d, r = np.zeros_like(b), b.copy()
    p = prec(r)
    rz = r @ p
    for k in range(limit):
        ap = a @ p
        al = rz / (p @ ap)
        d += al * p
        r -= al * ap
        if np.linalg.norm(r) <= pd.CG_TOLERANCE * np.linalg.norm(b):
            return k + 1
        zz = prec(r)
        rz, rz_old = r @ zz, rz
        p = zz + rz / rz_old * p
    return limit


if __name__ == "__main__":
    import sys

    if "--flap" in sys.argv[1:]:
        flap()
    elif "--steps" in sys.argv[1:]:
        small_steps()
    elif "--newton" in sys.argv[1:]:
        newton_cost()
    elif "--precond" in sys.argv[1:]:
        preconditioner_study()
    else:
        run()
