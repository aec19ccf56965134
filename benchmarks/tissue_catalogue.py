"""Issue #16's stress catalogue over every shipped mesh: robustness from bad starts and under a
pressing tool, as an outside check measures it.

Every tet mesh in ``benchmarks/meshes/`` (the broken test files are refused with their MeshError
and listed) and three generated ones (a 0.2 x 0.1 x 0.1 m box of 8 x 4 x 4 cells, a 2 cm slab
and a cylinder), each centred and scaled so its largest extent is 0.2 m, liver material (E
5.4 kPa, nu 0.45, 1060 kg/m^3), the default 10 substeps per 1/90 s frame.

Free runs (``step_softbody``, velocity damping 5 /s, 4 s):

* ``gravity``: the 5 highest vertices pinned, gravity;
* ``crushed``: squashed to 2 % of its height about the vertices' mean plus 0.1 mm noise, no gravity;
* ``mirrored``: every vertex reflected through the plane x = the vertices' mean x (every tet
  inverted);
* ``half_mirrored``: only the vertices beyond that plane reflected (a tangled start).

Each reports: finite throughout, inverted tets at the start, at the end and the most in the last
second, the fastest vertex at the end (m/s) and, for the free starts, the RMS distance to the rest
shape after rigid alignment (mm: 0 is a full recovery; a body can end uninverted but tangled).

Tool runs (an App with the soft-body and collision plugins at its default 900 Hz, gravity off, the
lowest 10 % of the vertices pinned; a 5 mm sphere ``Collider`` 3 mm above the top vertex, shown at
that pose for 10 frames, then moved straight down):

* ``poke_0.5``, ``poke_2``: 20 mm into the surface at 0.5 / 2 m/s, held 0.3 s, lifted back at the
  same speed, 1.5 s at rest;
* ``press``: 40 mm at 0.5 m/s or until the tool feels 10 N, then as a poke;
* ``puncture``: the press with ``Material.puncture_force`` 1 N.

Each reports: frames whose end shows the sphere's centre enclosed by the tissue's surface (the
signed count of the tets containing it is not 0: the tissue closed over the tool or turned inside
out around it) before any ``TissuePunctured`` or ``ToolInsideTissue`` event (issue #16: "no tool
inside tissue without a puncture event"); the deepest the surface reached into the tool before
an event (mm; the docs' tolerance is 0.5); the events (``ToolInsideTissue`` with its reason); the
peak force the tool felt (N); the fastest vertex over the press as a multiple of the tool's speed,
both as its displacement over the frame and as its last substep's velocity; inverted tets at the
end. ::

    python -m vrmed.benchmarks.tissue_catalogue            # everything (a few minutes)
    python -m vrmed.benchmarks.tissue_catalogue --runs tool --mesh raptor truthcylinder1
    python -m vrmed.benchmarks.tissue_catalogue --runs crushed half_mirrored --json
    python -m vrmed.benchmarks.tissue_catalogue --runs crushed half_mirrored --pull-back  # SoftBody.recover_pull_back
    python -m vrmed.benchmarks.tissue_catalogue --runs crushed half_mirrored --volume-barrier  # opt-in barrier

docs/physics.md, "Robustness catalogue" and "Contact", quotes its tables.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from vrmed.app import App
from vrmed.benchmarks import mesh_path
from vrmed.components.collision.collider import Collider
from vrmed.components.scene.core import Transform
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.errors import VrmedError
from vrmed.mesh import TetMesh, box_tets, cylinder_tets, load_tet_mesh, slab_tets
from vrmed.systems.collision.system import CollisionPlugin, CollisionWorld, TissuePunctured, ToolInsideTissue
from vrmed.systems.tissue.finite import NonFiniteState
from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings, step_softbody, volume_ratios

#: Liver-like material of issue #16 (Pa, -, kg/m^3).
LIVER_E, LIVER_NU, LIVER_RHO = 5.4e3, 0.45, 1060.0
FRAME, SUBSTEPS = 1.0 / 90.0, 10
SIZE = 0.2  # m, largest extent after scaling
TOOL_RADIUS = 0.005  # m
FREE_RUNS = ("gravity", "crushed", "mirrored", "half_mirrored")
TOOL_RUNS = ("poke_0.5", "poke_2", "press", "puncture")


def shipped_meshes() -> Iterator[tuple[str, TetMesh | None, str]]:
    """(name, mesh or None, note) for every tet mesh file shipped with the benchmarks, then the
    generated box, slab and cylinder; a file the loader refuses comes with its error as note."""
    folder = mesh_path("liver.msh").parent
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".msh", ".vtu", ".vtk"):
            continue
        try:
            yield path.name, load_tet_mesh(path), "as shipped"
        except VrmedError as exc:
            yield path.name, None, f"refused: {str(exc).splitlines()[0][:110]}"
    yield "box 8x4x4", box_tets((0.2, 0.1, 0.1), (8, 4, 4)), "generated"
    yield "slab", slab_tets((0.2, 0.2), 0.02, (10, 10), 2), "generated"
    yield "cylinder", cylinder_tets(0.04, 0.2, 4, 12, 10, 1), "generated"


def scaled(mesh: TetMesh) -> TetMesh:
    """``mesh`` centred on the origin with its largest extent :data:`SIZE`."""
    p = np.asarray(mesh.points, dtype=np.float64)
    p = (p - 0.5 * (p.min(axis=0) + p.max(axis=0))) * (SIZE / np.ptp(p, axis=0).max())
    return TetMesh(points=p, tets=np.asarray(mesh.tets), source=mesh.source)


def liver(puncture_force: float | None = None) -> Material:
    """The liver-like material, optionally with a puncture threshold (N)."""
    return Material(LIVER_E, LIVER_NU, LIVER_RHO, puncture_force=puncture_force)


def rigid_rms(x: np.ndarray, rest: np.ndarray) -> float:
    """RMS distance (m) between ``x`` and ``rest`` after the best rotation and translation
    (Kabsch; reflections excluded, so a mirrored body does not count as recovered)."""
    a, b = x - x.mean(axis=0), rest - rest.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, 1.0, d]) @ vt
    return float(np.sqrt(((a @ r - b) ** 2).sum(axis=1).mean()))


def free_run(
    mesh: TetMesh,
    start: str,
    seconds: float = 4.0,
    damping: float = 5.0,
    pull_back: bool = False,
    volume_barrier: bool = False,
) -> dict[str, Any]:
    """One free run (see the module docstring) of ``mesh`` from ``start``; ``pull_back``,
    ``volume_barrier``: with the opt-in ``SoftBody.recover_pull_back`` / ``from_mesh(volume_barrier=True)``."""
    body = SoftBody.from_mesh(mesh, liver(), velocity_damping=damping, volume_barrier=volume_barrier)
    body.recover_pull_back = pull_back
    p = body.rest_points
    c = p.mean(axis=0)  # the outside check's centre: the mean of the vertices
    gravity = np.zeros(3)
    if start == "gravity":
        body.pin(np.argsort(-p[:, 1])[:5])
        gravity = np.array([0.0, -9.80665, 0.0])
    elif start == "crushed":
        noise = np.random.default_rng(0).normal(0.0, 1e-4, p.shape)
        body.x[:] = c + (p - c) * np.array([1.0, 0.02, 1.0]) + noise
    elif start == "mirrored":
        body.x[:, 0] = 2.0 * c[0] - p[:, 0]
    elif start == "half_mirrored":
        side = p[:, 0] > c[0]
        body.x[side, 0] = 2.0 * c[0] - p[side, 0]
    else:
        raise ValueError(f"unknown start {start!r} (one of {FREE_RUNS})")
    body.x_prev[:] = body.x
    inverted_start = int(np.count_nonzero(volume_ratios(body) <= 0))
    frames = int(round(seconds / FRAME))
    finite, worst_last_second = True, 0
    for k in range(frames):
        try:
            step_softbody(body, FRAME, SUBSTEPS, gravity)
        except NonFiniteState:  # the step names it; the catalogue counts it
            finite = False
            break
        if k >= frames - int(round(1.0 / FRAME)):
            worst_last_second = max(worst_last_second, int(np.count_nonzero(volume_ratios(body) <= 0)))
    out: dict[str, Any] = {"finite": finite, "inverted_start": inverted_start}
    if finite:
        out["inverted_end"] = int(np.count_nonzero(volume_ratios(body) <= 0))
        out["inverted_last_s"] = worst_last_second
        out["speed_end_m_s"] = float(np.linalg.norm(body.v, axis=1).max())
        if start != "gravity":
            out["rms_to_rest_mm"] = 1e3 * rigid_rms(body.x, p)
    return out


def point_triangle_distances(q: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Exact distances from point ``q`` to the triangles (``a``, ``b``, ``c``), each (k, 3)."""
    n = np.cross(b - a, c - a)
    nn = np.linalg.norm(n, axis=1)
    unit = n / np.where(nn > 0, nn, 1.0)[:, None]
    h = np.einsum("ij,ij->i", q - a, unit)
    foot = q - h[:, None] * unit

    def left_of(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", np.cross(p1 - p0, foot - p0), n) >= 0

    inside = left_of(a, b) & left_of(b, c) & left_of(c, a) & (nn > 0)

    def to_segment(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
        e = p1 - p0
        t = np.clip(np.einsum("ij,ij->i", q - p0, e) / np.maximum(np.einsum("ij,ij->i", e, e), 1e-300), 0.0, 1.0)
        return np.linalg.norm(q - (p0 + t[:, None] * e), axis=1)

    edges = np.minimum(np.minimum(to_segment(a, b), to_segment(b, c)), to_segment(c, a))
    return np.where(inside, np.abs(h), edges)


def signed_cover(x: np.ndarray, tets: np.ndarray, point: np.ndarray) -> int:
    """The signed count of the tets strictly containing ``point`` (+1 upright, -1 inverted): the
    winding number of the body's boundary around it (0 outside the surface, and in a fold whose
    upright and inverted tets overlap)."""
    corners = x[tets]
    d = np.stack([corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 0]], axis=2)
    det = np.linalg.det(d)
    ok = np.abs(det) > 1e-30
    bary = np.full((len(tets), 3), -1.0)
    bary[ok] = np.linalg.solve(d[ok], (point - corners[ok, 0])[:, :, None])[:, :, 0]
    hit = (bary > 0).all(axis=1) & (bary.sum(axis=1) < 1)
    return int(np.sign(det[hit]).sum())


@dataclass(frozen=True)
class ToolPlan:
    """A tool run: straight down at ``speed`` (m/s) ``depth`` (m) into the surface, or until it
    feels ``max_force`` (N); the body's ``puncture_force`` (N, None: never)."""

    speed: float
    depth: float
    max_force: float | None = None
    puncture_force: float | None = None


TOOL_PLANS = {
    "poke_0.5": ToolPlan(0.5, 0.020),
    "poke_2": ToolPlan(2.0, 0.020),
    "press": ToolPlan(0.5, 0.040, max_force=10.0),
    "puncture": ToolPlan(0.5, 0.040, puncture_force=1.0),
}


def tool_run(mesh: TetMesh, plan: ToolPlan) -> dict[str, Any]:
    """One tool run (see the module docstring) of ``mesh`` with ``plan``."""
    r = TOOL_RADIUS
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin())
    app.add_plugin(CollisionPlugin())
    app.resource(SoftBodySettings).gravity[:] = 0.0
    body = SoftBody.from_mesh(mesh, liver(plan.puncture_force))
    p = body.rest_points
    low = p[:, 1].min()
    body.pin(np.flatnonzero(p[:, 1] < low + 0.1 * np.ptp(p[:, 1])))
    app.spawn(body)
    faces = mesh.boundary_triangles()
    surface = np.unique(faces)
    start = p[surface[np.argmax(p[surface, 1])]] + np.array([0.0, r + 0.003, 0.0])
    pose = Transform(position=start.copy())
    tool = app.spawn(pose, Collider(shape="sphere", radius=r))
    world = app.resource(CollisionWorld)
    punctures, insides = app.event_reader(TissuePunctured), app.event_reader(ToolInsideTissue)
    step = plan.speed * FRAME
    frames_in = int(np.ceil((plan.depth + r + 0.003) / step))
    hold, rest = int(round(0.3 / FRAME)), int(round(1.5 / FRAME))
    app.step(10)  # the tool at its start pose first (no jump into the tissue)
    out: dict[str, Any] = {
        "finite": True,
        "enclosed_no_event": 0,
        "surface_in_tool_mm": 0.0,
        "punctured": 0,
        "inside_events": [],
        "peak_force_n": 0.0,
        "press_frame_x": 0.0,
        "press_substep_x": 0.0,
    }
    x_old, went_down, stopped = body.x.copy(), 0, False
    for k in range(frames_in + hold + frames_in + rest):
        if k < frames_in and not stopped:
            pose.position = pose.position - np.array([0.0, step, 0.0])
            went_down += 1
        elif frames_in + hold <= k < frames_in + hold + went_down:
            pose.position = pose.position + np.array([0.0, step, 0.0])
        try:
            app.step(1)
        except NonFiniteState:
            out["finite"] = False
            break
        out["punctured"] += len(punctures.read())
        out["inside_events"] += [e.reason for e in insides.read()]
        x = body.x
        if not np.isfinite(x).all():
            out["finite"] = False
            break
        force = float(np.linalg.norm(world.owner_force.get(tool, np.zeros(3))))
        out["peak_force_n"] = max(out["peak_force_n"], force)
        if plan.max_force is not None and force >= plan.max_force:
            stopped = True
        if k < frames_in + hold:
            frame_speed = float(np.linalg.norm(x - x_old, axis=1).max()) / FRAME
            out["press_frame_x"] = max(out["press_frame_x"], frame_speed / plan.speed)
            out["press_substep_x"] = max(
                out["press_substep_x"], float(np.linalg.norm(body.v, axis=1).max()) / plan.speed
            )
        x_old = x.copy()
        if out["punctured"] or out["inside_events"]:
            continue  # from an event on the tool passes through: nothing more to hold
        centre = pose.position
        near = np.linalg.norm(x[faces].mean(axis=1) - centre, axis=1) < 0.03
        if near.any():
            tri = faces[near]
            gap = point_triangle_distances(centre, x[tri[:, 0]], x[tri[:, 1]], x[tri[:, 2]]).min()
            out["surface_in_tool_mm"] = max(out["surface_in_tool_mm"], 1e3 * (r - float(gap)))
        if signed_cover(x, body.tets, centre) != 0:
            out["enclosed_no_event"] += 1
    out["inverted_end"] = int(np.count_nonzero(volume_ratios(body) <= 0))
    return out


def run_catalogue(
    runs: tuple[str, ...] = FREE_RUNS + TOOL_RUNS,
    meshes: tuple[str, ...] = (),
    report: Callable[[dict[str, Any]], None] | None = None,
    pull_back: bool = False,
    volume_barrier: bool = False,
) -> list[dict[str, Any]]:
    """Run ``runs`` on every shipped mesh whose name contains one of ``meshes`` (all if empty);
    return one row per (mesh, run), each also passed to ``report`` as it is measured. ``pull_back``:
    the free runs with the opt-in ``SoftBody.recover_pull_back``; ``volume_barrier``: with the
    opt-in volume barrier."""
    rows = []
    for name, mesh, note in shipped_meshes():
        if meshes and not any(m in name for m in meshes):
            continue
        if mesh is None:
            rows.append({"mesh": name, "run": "-", "note": note})
            if report:
                report(rows[-1])
            continue
        body_mesh = scaled(mesh)
        for run in runs:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the solver's sliver and the collision's push-through warnings
                if run in FREE_RUNS:
                    result = free_run(body_mesh, run, pull_back=pull_back, volume_barrier=volume_barrier)
                else:
                    result = tool_run(body_mesh, TOOL_PLANS[run])
            row = {"mesh": name, "run": run, "tets": len(body_mesh.tets), **result}
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            if report:
                report(row)
    return rows


def _expand(words: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split suite arguments into (runs, mesh filters): 'free', 'tool' and run names are runs,
    anything else filters the meshes by name."""
    runs: list[str] = []
    meshes: list[str] = []
    for w in words:
        group = {"free": FREE_RUNS, "tool": TOOL_RUNS}.get(w, (w,) if w in FREE_RUNS + TOOL_RUNS else ())
        if group:
            runs.extend(group)
        else:
            meshes.append(w)
    return tuple(runs) or FREE_RUNS + TOOL_RUNS, tuple(meshes)


def run(options: dict[str, Any]) -> dict[str, Any]:
    """``vrmed bench tissue_catalogue [RUN|free|tool|MESH ...]``: the catalogue's rows (all meshes
    and runs by default; a few minutes); ``--quick``: the generated box crushed and poked at 2 m/s."""
    runs: tuple[str, ...]
    meshes: tuple[str, ...]
    if options.get("quick"):
        runs, meshes = ("crushed", "poke_2"), ("box",)
    else:
        runs, meshes = _expand(list(options.get("targets") or []))
    rows = run_catalogue(runs, meshes)
    notes = [
        "meshes scaled to 0.2 m, E 5.4 kPa, nu 0.45, 1060 kg/m^3, 10 substeps per 1/90 s frame; "
        "free runs 4 s at velocity damping 5 /s; tool: 5 mm sphere, App at 900 Hz, no gravity, lowest 10 % pinned",
        "targets (issue #16): finite; inverted_end 0; enclosed_no_event 0; surface_in_tool_mm <= 0.5; "
        "press_frame_x / press_substep_x a small multiple (docs: 4x)",
    ]
    return {"suite": "tissue_catalogue", "rows": rows, "notes": notes}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return ",".join(value) or "-"
    return str(value)


def main(argv: list[str] | None = None) -> None:
    """Print the catalogue (one line per mesh and run, or JSON lines with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--runs",
        nargs="+",
        default=["free", "tool"],
        help=f"'free', 'tool' or run names: {', '.join(FREE_RUNS + TOOL_RUNS)}",
    )
    ap.add_argument("--mesh", nargs="+", default=[], help="only meshes whose name contains one of these")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--pull-back", action="store_true", help="free runs with SoftBody.recover_pull_back (opt-in)")
    ap.add_argument("--volume-barrier", action="store_true", help="free runs with the opt-in volume barrier")
    args = ap.parse_args(argv)
    runs, meshes = _expand(args.runs)
    unknown = [w for w in args.runs if w not in ("free", "tool") + FREE_RUNS + TOOL_RUNS]
    if unknown:
        ap.error(f"unknown run {unknown[0]!r}: one of free, tool, {', '.join(FREE_RUNS + TOOL_RUNS)}")

    def report(row: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print("  ".join(f"{k}={_cell(v)}" for k, v in row.items()), flush=True)

    run_catalogue(runs, tuple(args.mesh), report, pull_back=args.pull_back, volume_barrier=args.volume_barrier)


if __name__ == "__main__":
    main()
