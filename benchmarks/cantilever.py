"""Cantilever mesh study: the tissue solver's clamped beam against Euler-Bernoulli and
Timoshenko, per Poisson's ratio and per number of linear tets through the thickness.

The beam of ``tests/test_tissue_accuracy.py`` (0.2 x 0.04 x 0.04 m, L/b = 5, ``5 N x N x N``
cells split into Kuhn tets, the x = 0 face pinned, E 5.4 kPa, 1060 kg/m^3, gravity scaled so the
Euler-Bernoulli tip ``q L^4 / (8 E I)`` is L / 500, mass damping at twice the first bending
frequency, which has no static effect) is started from the Euler-Bernoulli curve and stepped at
the default 10 substeps per 1/90 s frame; the tip is the mean y displacement of the x = L face.
Timoshenko's shear factor for a uniform load is ``1 + 4 E I / (kappa G A L^2)`` with Cowper's
(1966) ``kappa = 10 (1 + nu) / (12 + 11 nu)``. Linear tets lock in bending, and more so as nu
approaches 1/2 (volumetric locking: one volume constraint per tet over-constrains the mesh),
which is what the table shows (docs/physics.md, "Cantilever mesh study")::

    python -m vrmed.benchmarks.cantilever --nu 0.3 0.45 --cells 6 8 10
    python -m vrmed.benchmarks.cantilever --volume nodal --nu 0.3 0.45 0.49 --cells 4 6 8

``--volume nodal`` uses one volume constraint per vertex instead of per tet
(``SoftBody.from_mesh(volume="nodal")``, docs/physics.md "Nodal volume"), which does not lock.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import TetMesh, box_tets
from vrmed.systems.tissue.solver import step_softbody, volume_ratios

#: Liver-like stiffness and density (the docs' defaults for soft tissue).
E_PA, RHO = 5400.0, 1060.0
FRAME, SUBSTEPS = 1.0 / 90.0, 10


def _tip_face_forces(mesh: TetMesh, length: float, total: float) -> np.ndarray:
    """Consistent nodal forces (a third of each triangle's share per corner) of a uniform
    -y shear traction on the x = ``length`` face summing to ``total`` N."""
    tris = np.asarray(mesh.boundary_triangles())
    p = mesh.points
    tris = tris[np.all(np.abs(p[tris][:, :, 0] - length) < 1e-12, axis=1)]
    area = 0.5 * np.linalg.norm(np.cross(p[tris[:, 1]] - p[tris[:, 0]], p[tris[:, 2]] - p[tris[:, 0]]), axis=1)
    f = np.zeros_like(p)
    for k in range(3):
        np.add.at(f[:, 1], tris[:, k], -total * area / (3.0 * area.sum()))
    return f


def cantilever_ratio(
    cells: int,
    nu: float,
    frames: int = 300,
    width: float = 0.04,
    volume: str = "tet",
    slender: int = 5,
    load: str = "uniform",
    substeps: int = SUBSTEPS,
    soften: bool = True,
) -> dict[str, float]:
    """Tip deflection of the clamped beam with ``cells`` tets' cells through its thickness
    (``volume``: the body's volume term, ``SoftBody.from_mesh(volume=...)``; ``slender`` L/b,
    ``slender N x N x N`` cells; ``load`` "uniform", gravity, or "tip", a shear traction on the
    free end face with consistent nodal forces and no gravity, either sized so that
    Euler-Bernoulli's tip is L / 500; stepped at ``substeps`` per 1/90 s frame, the solver adding
    its own where ``accurate_substeps`` does; ``soften=False``: ``body.soften_slivers`` off), as
    a fraction of Euler-Bernoulli's and of Timoshenko's, its fastest vertex at the end (m/s; the
    reading is static only when it is small), its inverted tets and the substeps the solver ran."""
    length = slender * width
    mesh = box_tets((length, width, width), (slender * cells, cells, cells))
    inertia, mass_per_length = width**4 / 12.0, RHO * width * width
    tip_eb = length / 500.0
    omega = 3.516 * np.sqrt(E_PA * inertia / (mass_per_length * length**4))
    X = mesh.points[:, 0]
    if load == "tip":
        g, force = 0.0, tip_eb * 3.0 * E_PA * inertia / length**3
        curve = force * X**2 * (3.0 * length - X) / (6.0 * E_PA * inertia)
        shear_term = 3.0  # Timoshenko: tip = EB (1 + 3 E I / (kappa G A L^2)) for an end load
    elif load == "uniform":
        g = tip_eb * 8.0 * E_PA * inertia / (mass_per_length * length**4)
        curve = mass_per_length * g / (24 * E_PA * inertia) * X**2 * (X**2 - 4 * length * X + 6 * length**2)
        shear_term = 4.0  # 1 + 4 E I / (kappa G A L^2) for a uniform load
    else:
        raise ValueError(f"cantilever_ratio: load must be 'uniform' or 'tip', got {load!r}")
    body = SoftBody.from_mesh(
        mesh,
        Material(E_PA, nu, RHO),
        pins=np.flatnonzero(X < 1e-12),
        velocity_damping=2.0 * omega,
        volume=volume,
    )
    body.soften_slivers = soften
    if load == "tip":
        body.apply_force(np.arange(len(X)), _tip_face_forces(mesh, length, force))
    body.x[:, 1] -= curve
    body.x_prev[:] = body.x
    for _ in range(frames):
        step_softbody(body, FRAME, substeps, (0.0, -g, 0.0))
    tip = X > length - 1e-12
    ratio = float(-(body.x[tip, 1] - mesh.points[tip, 1]).mean() / tip_eb)
    kappa = 10.0 * (1.0 + nu) / (12.0 + 11.0 * nu)
    shear = 1.0 + shear_term * E_PA * inertia / (kappa * E_PA / (2.0 * (1.0 + nu)) * width * width * length**2)
    return {
        "tets": float(len(mesh.tets)),
        "eb": ratio,
        "timoshenko": ratio / shear,
        "speed": float(np.abs(body.v).max()),
        "inverted": float((volume_ratios(body) <= 0.0).sum()),
        "substeps": float(body.substep_plan[2]),
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    """``vrmed bench cantilever``: the beam at 6 tets' cells through its thickness (the docs'
    recommended mesh at nu 0.3; at nu 0.45 it needs the nodal volume term or 12 cells), nu 0.3 and
    0.45, per-tet and nodal volume term; ``--quick``: nu 0.3 at 4 cells, 60 frames (a smoke
    test: the beam has not settled)."""
    quick = bool(options.get("quick"))
    cases = [(0.3, 4, "tet")] if quick else [(nu, 6, vol) for nu in (0.3, 0.45) for vol in ("tet", "nodal")]
    rows = []
    for nu, cells, volume in cases:
        t0 = time.perf_counter()
        r = cantilever_ratio(cells, nu, 60 if quick else 300, volume=volume)
        rows.append(
            {
                "nu": nu,
                "cells_through": cells,
                "volume": volume,
                "tets": int(r["tets"]),
                "x_euler_bernoulli": round(r["eb"], 4),
                "x_timoshenko": round(r["timoshenko"], 4),
                "fastest_m_s": r["speed"],
                "inverted": int(r["inverted"]),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    notes = [
        "clamped 0.2 x 0.04 x 0.04 m beam, E 5.4 kPa, uniform load with Euler-Bernoulli tip L/500, "
        "10 substeps per 1/90 s frame, started from the EB curve; target: within 10 % of EB",
        "more cases: python -m vrmed.benchmarks.cantilever --nu 0.3 0.45 0.49 --cells 4 6 8 [--volume nodal]",
    ]
    return {"suite": "cantilever", "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> None:
    """Print the mesh study's table for the given Poisson's ratios and cell counts."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nu", type=float, nargs="+", default=[0.3, 0.45])
    ap.add_argument("--cells", type=int, nargs="+", default=[4, 6, 8])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--volume", choices=("tet", "nodal"), default="tet", help="volume term (SoftBody.volume)")
    ap.add_argument("--width", type=float, default=0.04, help="beam width and height b (m)")
    ap.add_argument("--slender", type=int, default=5, help="L / b (whole number)")
    ap.add_argument("--load", choices=("uniform", "tip"), default="uniform", help="gravity, or an end shear load")
    ap.add_argument("--substeps", type=int, default=SUBSTEPS, help="substeps asked for per 1/90 s frame")
    ap.add_argument("--no-soften", action="store_true", help="body.soften_slivers = False")
    args = ap.parse_args(argv)
    print(
        "| nu | cells through | tets | substeps run | x Euler-Bernoulli | x Timoshenko | fastest (m/s) | inverted | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for nu in args.nu:
        for n in args.cells:
            t0 = time.perf_counter()
            r = cantilever_ratio(
                n, nu, args.frames, args.width, args.volume, args.slender, args.load, args.substeps, not args.no_soften
            )
            print(
                f"| {nu} | {n} | {r['tets']:.0f} | {r['substeps']:.0f} | {r['eb']:.3f} | {r['timoshenko']:.3f} | "
                f"{r['speed']:.1e} | {r['inverted']:.0f} | {time.perf_counter() - t0:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
