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
``--newton``: the Newton solve's frame cost against PD's on the 2.5 mm clamped gauze released
flat, in one process with the frames interleaved: over the first 0.5 s (swinging) and over 3-4 s
(near rest), and its Newton and CG iteration counts.

Run: ``python -m vrmed.systems.cloth.bench [--flap | --newton]``."""

from __future__ import annotations

import time

import numpy as np

from vrmed.components.cloth.sheet import ClothMaterial, ClothSheet

from .cutting import cut_cloth
from .solver import ClothSettings, elastic_energy, kinetic_energy, step_cloth

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


def newton_cost(cell: float = 0.0025) -> dict[str, float]:
    """The ``--newton`` measurement (docs/cloth.md, "Solver"); returns (and prints) one row."""
    kinds = ("pd", "newton")
    for m in kinds:  # compiled before timing
        step_cloth(
            ClothSheet.rectangle((0.1, 0.1), cell, ClothMaterial(), pin_edges=["u0", "u1"]), 1 / 90, 2, _G, method=m
        )
    sheets = {m: ClothSheet.rectangle((0.1, 0.1), cell, ClothMaterial(), pin_edges=["u0", "u1"]) for m in kinds}
    swing = dict.fromkeys(kinds, 0.0)
    rest = dict.fromkeys(kinds, 0.0)
    early = np.zeros(4)
    for f in range(360):
        for m, s in sheets.items():
            t = time.perf_counter()
            step_cloth(s, 1 / 90, 2, _G, method=m)
            spent = time.perf_counter() - t
            if f < 45:
                swing[m] += spent
            elif f >= 270:
                rest[m] += spent
        if f == 44:
            early = sheets["newton"].solver_cache["newton_stats"].copy()
    late = sheets["newton"].solver_cache["newton_stats"] - early
    row = {f"{m}_swinging_ms": swing[m] / 45 * 1000 for m in kinds}
    row.update({f"{m}_near_rest_ms": rest[m] / 90 * 1000 for m in kinds})
    row.update(
        swinging_ratio=swing["newton"] / swing["pd"],
        near_rest_ratio=rest["newton"] / rest["pd"],
        swinging_newton_its_per_step=early[0] / 90,
        swinging_cg_per_newton_it=early[1] / max(early[0], 1.0),
        later_newton_its_per_step=late[0] / 630,
        later_cg_per_newton_it=late[1] / max(late[0], 1.0),
    )
    print(", ".join(f"{key} {value:.3g}" for key, value in row.items()))
    return row


if __name__ == "__main__":
    import sys

    if "--flap" in sys.argv[1:]:
        flap()
    elif "--newton" in sys.argv[1:]:
        newton_cost()
    else:
        run()
