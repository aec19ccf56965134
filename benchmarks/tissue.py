"""``vrmed bench tissue``: XPBD soft-tissue solver speed (numba) against a plain-numpy baseline.

Cases, all at 10 XPBD substeps per 1/90 s frame (the engine default: 900 Hz physics):
tet boxes (0.2 m) of ~1k, ~10k and ~50k tets, bottom 10 % pinned, sagging under gravity,
E = 10 kPa, nu = 0.45, rho = 1000 kg/m^3 (soft tissue); the ~10k box again with the opt-in nodal
volume term (``box 10k nodal``: no numpy baseline, which has none); and SOFA's raptorTetra_19409.vtu scaled
to 0.8 m, free, no gravity, released from a 10 % stretch, E = 1 kPa (brain-like): its sliver
tets make stiffer settings exceed the solver's stability ratio at 10 substeps.
Reported per case: ms per frame (mean over the timed frames, after one warm-up frame),
frames/s, substeps/s, the same case with the warm start off (``plain_ms_per_frame``) and on
one thread (``one_thread_ms_per_frame``), the
error of issue #16's 1 % bar test at these settings (``bar_error_pct``, :func:`bar_errors`),
and the numpy baseline (same mesh, same substeps, vectorised per colour)
as a ratio numpy_ms / numba_ms. JIT: the first call in this process (cache load or compile) and,
unless quick, a cold compile and a cached start measured in fresh subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable

import numba
import numpy as np

from vrmed.benchmarks import mesh_path
from vrmed.benchmarks.tissue_accuracy import run_bar
from vrmed.components.collision.tissue_contact import TissueContact
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import TetMesh, box_tets, lattice_remesh, load_tet_mesh
from vrmed.systems.collision.tissue_contact import TissueContactWorld, solve_tissue_contacts
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue import reference as R
from vrmed.systems.tissue.solver import (
    step_softbody,
    stiffness_ratio,
    tet_stress,
    volume_ratios,
    warm_start_factors,
)

FRAME = 1.0 / 90.0
SUBSTEPS = 10
MATERIAL = Material(youngs_modulus=1.0e4, poisson_ratio=0.45, density=1000.0, damping=0.001)
GRAVITY = np.array([0.0, -9.81, 0.0])  # y-up
RAPTOR = mesh_path("raptorTetra_19409.vtu")  # shipped in benchmarks/meshes/ (SOFA, LGPL-2.1)

#: (case name, box cells) -> 6 * nx * ny * nz tets in a 0.2 m box
BOXES = [("box 1k", (6, 6, 5)), ("box 10k", (12, 12, 12)), ("box 50k", (20, 20, 21))]

_STARTUP_SCRIPT = """
import time, numpy as np
t0 = time.perf_counter()
from vrmed.mesh import box_tets
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.systems.tissue.solver import step_softbody
t1 = time.perf_counter()
body = SoftBody.from_mesh(box_tets((0.2, 0.2, 0.2), (12, 12, 12)), Material(1e4, 0.45, 1000.0))
t2 = time.perf_counter()
step_softbody(body, 1 / 90, 10)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


RAPTOR_MATERIAL = Material(youngs_modulus=1.0e3, poisson_ratio=0.45, density=1000.0, damping=0.001)


def _pinned_body(mesh: TetMesh, volume: str = "tet") -> SoftBody:
    y = mesh.points[:, 1]
    pins = np.flatnonzero(y <= y.min() + 0.1 * (y.max() - y.min()))
    return SoftBody.from_mesh(mesh, MATERIAL, pins=pins, volume=volume)


def _pinned_nodal_body(mesh: TetMesh) -> SoftBody:
    """:func:`_pinned_body` with the opt-in nodal volume term (``SoftBody.from_mesh(volume="nodal")``)."""
    return _pinned_body(mesh, volume="nodal")


def _released_body(mesh: TetMesh) -> SoftBody:
    body = SoftBody.from_mesh(mesh, RAPTOR_MATERIAL)
    body.x[:, 2] *= 1.1
    body.x_prev[:] = body.x
    return body


#: Issue #16's robustness target: the raptor at liver stiffness (E 5.4 kPa, nu 0.45, 1060 kg/m^3)
#: scaled to 0.2 m, under gravity with its lowest 10 % pinned, at >= 60 frames/s with no inverted tet.
LIVER_MATERIAL = Material(youngs_modulus=5.4e3, poisson_ratio=0.45, density=1060.0, damping=0.001)
#: lattice cube edge (m) the raptor_liver case rebuilds the raptor with (lattice_remesh): its
#: stiffness ratio at liver stiffness and 10 substeps is then 0.27 (< SLIVER_RATIO: nothing softened)
RAPTOR_LIVER_CELL = 0.005


def raptor_liver_body(remesh: float | None = RAPTOR_LIVER_CELL, velocity_damping: float = 5.0) -> SoftBody:
    """The body of :func:`raptor_liver_row` before its first step (also stepped by
    ``vrmed.benchmarks._tissue_ab``'s ``raptor_as_is`` case, ``remesh=None``)."""
    mesh = load_tet_mesh(RAPTOR)
    mesh.points = (mesh.points - mesh.points.mean(axis=0)) * (0.2 / float(np.ptp(mesh.points, axis=0).max()))
    if remesh is not None:
        mesh = lattice_remesh(mesh, remesh)
    y = mesh.points[:, 1]
    pins = np.flatnonzero(y <= y.min() + 0.1 * float(np.ptp(y)))
    body = SoftBody.from_mesh(mesh, LIVER_MATERIAL, pins=pins, velocity_damping=velocity_damping)
    body.recover_inversions = True
    return body


def raptor_liver_row(
    frames: int = 270,
    remesh: float | None = RAPTOR_LIVER_CELL,
    self_contact: float | None = None,
    velocity_damping: float = 5.0,
) -> dict:
    """The ``raptor_liver`` case: raptorTetra_19409 scaled to 0.2 m, liver material, lowest 10 %
    pinned, gravity, ``velocity_damping`` 5 /s (so it comes to rest within the run; the robustness
    catalogue uses 8 /s), the
    inversion recovery on (``recover_inversions``), rebuilt as a
    ``remesh`` lattice (None: the file's own 19,409 tets, whose slivers are softened). Every frame
    is timed; ``inverted_tets`` is counted after the last frame, ``max_inverted_tets`` is the
    largest count seen after any frame, ``max_speed_m_s`` the fastest vertex at the end.
    ``self_contact`` (m, a ``TissueContact`` thickness; None: off, the default) steps the body
    substep by substep with its self-contact projected after each (as ``collision.tissue`` does
    at one substep per tick); ``contact_ms_per_frame`` is then that projection's cost.
    Measured on the raptor as shipped it makes things worse (docs/physics.md, "Inversion
    recovery"), so the row's default stays off."""
    body = raptor_liver_body(remesh, velocity_damping)
    g = np.array([0.0, -9.80665, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the as-is mesh warns about its slivers
        step_softbody(body, FRAME, SUBSTEPS, g)  # first call: JIT / cache load, untimed
    worst, elapsed, contact = 0, 0.0, 0.0
    rows = [(0, (body, TissueContact(thickness=self_contact, self_contact=True)))] if self_contact else []
    tcw = TissueContactWorld()
    for _ in range(frames):
        t = time.perf_counter()
        if rows:
            for _s in range(SUBSTEPS):
                step_softbody(body, FRAME / SUBSTEPS, 1, g)
                c = time.perf_counter()
                solve_tissue_contacts(tcw, rows, FRAME / SUBSTEPS)
                contact += time.perf_counter() - c
        else:
            step_softbody(body, FRAME, SUBSTEPS, g)
        elapsed += time.perf_counter() - t
        worst = max(worst, int(np.count_nonzero(volume_ratios(body) <= 0.0)))
    ms = elapsed / frames * 1e3
    return {
        "case": "raptor_liver" if remesh is not None else "raptor_liver_as_is",
        "tets": int(body.tets.shape[0]),
        "substeps": SUBSTEPS,
        "ms_per_frame": round(ms, 3),
        "frames_per_s": round(1e3 / ms, 1),
        "steps_per_s": round(SUBSTEPS * 1e3 / ms),
        "remesh_m": remesh,
        "inverted_tets": int(np.count_nonzero(volume_ratios(body) <= 0.0)),
        "max_inverted_tets": worst,
        "max_speed_m_s": round(float(np.linalg.norm(body.v, axis=1).max()), 4),
        "softened_fraction": round(body.softened_fraction, 4),
        "stiffness_ratio": round(stiffness_ratio(body, FRAME / SUBSTEPS), 3),
        "finite": bool(np.all(np.isfinite(body.x))),
        "self_contact_m": self_contact,
        "contact_ms_per_frame": round(contact / frames * 1e3, 3),
    }


def bar_errors(warm_start: float = 1.0, nu: float = 0.45) -> dict[str, float]:
    """Issue #16's bar test at the default substeps: relative errors (%) against linear elasticity.

    The bar of ``vrmed bench tissue_accuracy`` (:func:`~vrmed.benchmarks.tissue_accuracy.run_bar`:
    0.1 x 0.02 x 0.02 m, 4 x 4 x 20 cells, E 5.4 kPa, ``nu``, a 1 % dead-load traction E / 100 on
    both ends, 300 frames of 10 substeps): axial strain vs 1 %, lateral contraction vs nu, median
    Cauchy sigma_zz vs force / current area (the measured lateral stretch). ``warm_start`` 0 is
    plain XPBD.
    """
    axial, lateral, _, body, _ = run_bar(nu, warm_start=warm_start)
    traction = 0.01 * body.material.youngs_modulus
    cauchy = traction / (1.0 + lateral) ** 2  # force / current area
    stress = float(np.median(tet_stress(body)[:, 2, 2]))
    return {
        "axial_pct": round(100 * (axial / 0.01 - 1.0), 2),
        "nu_pct": round(100 * (-lateral / axial / nu - 1.0), 2),
        "stress_pct": round(100 * (stress / cauchy - 1.0), 2),
    }


def _time_numba(body: SoftBody, frames: int, gravity: np.ndarray) -> tuple[float, float]:
    """Return (first-call seconds, mean ms per frame over `frames` frames)."""
    t = time.perf_counter()
    step_softbody(body, FRAME, SUBSTEPS, gravity)
    first = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(frames):
        step_softbody(body, FRAME, SUBSTEPS, gravity)
    return first, (time.perf_counter() - t) / frames * 1e3


def _time_one_thread(body: SoftBody, frames: int, gravity: np.ndarray) -> float:
    """Mean ms per frame of ``body`` with numba limited to one thread (then restored): this over
    ``ms_per_frame`` is the parallel speed-up in the same run (below 1 when the other core was busy)."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return _time_numba(body, frames, gravity)[1]
    finally:
        numba.set_num_threads(threads)


def _time_numpy(body: SoftBody, frames: int, gravity: np.ndarray) -> float:
    """Mean ms per frame of the plain-numpy coloured Gauss-Seidel baseline (same substeps, same
    warm start as the numba solve)."""
    colour = R.greedy_colouring(body.tets, body.n_vertices)
    order = np.argsort(colour, kind="stable")
    tets, Q = body.tets[order], body.dm_inv[order]
    a_dev, a_hyd = body.alpha_dev[order], body.alpha_hyd[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(colour))])
    x, v, xp = body.x.copy(), np.zeros_like(body.x), body.x.copy()
    mat = body.material
    h = FRAME / SUBSTEPS
    warm = float(body.warm_start)
    lam, warm_d, warm_dx = np.zeros((len(tets), 2)), np.zeros((len(tets), 10), np.float32), np.zeros_like(x)
    warm_t = warm_start_factors(body, h)[order] * warm
    t = time.perf_counter()
    for _ in range(frames):
        for _ in range(SUBSTEPS):
            R.substep(
                x,
                v,
                xp,
                body.inv_mass,
                body.external_force,
                gravity,
                tets,
                Q,
                a_dev,
                a_hyd,
                mat.gamma,
                offsets,
                h,
                mat.damping,
                body.velocity_damping,
                lam=lam,
                warm_dx=warm_dx,
                warm=warm,
                warm_t=warm_t,
                warm_d=warm_d,
            )
    return (time.perf_counter() - t) / frames * 1e3


def _startup_times() -> tuple[list[float], list[float]]:
    """Cold (empty numba cache) and cached runs of a fresh interpreter: [import, build, first step]."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = []
        for _ in range(2):
            res = subprocess.run(
                [sys.executable, "-c", _STARTUP_SCRIPT], env=env, capture_output=True, text=True, check=True
            )
            out.append([float(v) for v in res.stdout.split()])
    return out[0], out[1]


_PEER_NOTES = [
    "peers: same points/tets, pins, E, nu, rho, Rayleigh damping, gravity (0, -9.81, 0), 1/90 s frame in "
    "10 substeps of 1 iteration, same number of timed frames after one warm-up frame (jit_s = that first "
    "frame: warp kernel compile or cache load, excluded from ms_per_frame); ratio_vs_vrmed = peer ms / vrmed ms "
    "(> 1: vrmed faster).",
    "Newton: ModelBuilder.add_soft_mesh (k_mu = mu, k_lambda = lambda, k_damp = beta mu, pins mass 0, "
    "particle_radius 0 = no particle self-contact), SolverXPBD(iterations=1) / SolverVBD(iterations=1, "
    "no self-contact), device cpu, no collision pipeline. MuJoCo: flexcomp type=direct dim=3, elasticity "
    "young/poisson/damping = beta, pin ids, contacts off, timestep frame/10, mj_step x10 (Euler), "
    "vertex masses set to vrmed's lumped rho V / 4.",
    "stable = finite and no vertex moved more than 2x the mesh extent (Newton clamps particle speed, so "
    "its blow-ups stay finite; MuJoCo resets a NaN state to rest and warns: unstable_at_s = end of the frame "
    "in which it first did); max_disp_mm = largest vertex displacement after the timed frames, an "
    "order-of-magnitude physics check: the boxes still oscillate then (vrmed settles at ~15 mm after 5 s; "
    "rho g L^2 / 2E = 20 mm), so tens of mm is right and metres or a collapsed box is not.",
    "peer timing runs with the Python heap frozen (gc.freeze): otherwise the cyclic GC, triggered by "
    "warp's per-launch allocations on the heap numba leaves, tripled Newton's 1k frame time.",
]


def _peer_notes(versions: dict[str, str | None]) -> list[str]:
    notes = []
    for label, module in (("MuJoCo flex", "mujoco"), ("Newton XPBD/VBD", "newton"), ("warp-lang", "warp")):
        if versions.get(module) is None:
            notes.append(f"peer {label}: not installed (pip install vrmed[peers])")
        else:
            notes.append(f"peer {label}: {module} {versions[module]} installed, compared in the rows")
    return notes


def _peer_rows(
    name: str,
    mesh: TetMesh,
    make: Callable[[TetMesh], SoftBody],
    gravity: np.ndarray,
    vrmed_ms: float,
    frames: int,
    versions: dict[str, str | None],
    bars: dict[str, dict] | None = None,
) -> list[dict]:
    """Rows for every installed peer on the same mesh, pins, material, gravity and substeps, each
    with the peer's error on issue #16's bar test (:func:`peer_bar_errors`, run once per peer and
    kept in ``bars``), so a fast configuration that gets the physics wrong shows it."""
    from vrmed.benchmarks import _tissue_peers as P  # deferred: optional peer engines, --peers only

    body = make(mesh)  # fresh: pins, material and (raptor) the stretched start
    moved = not np.array_equal(body.x, mesh.points)
    scene = P.make_scene(
        mesh.points,
        mesh.tets,
        np.flatnonzero(body.pinned),
        body.material,
        gravity,
        FRAME,
        SUBSTEPS,
        body.x.copy() if moved else None,
    )
    rows = []
    for label, module, runner in P.PEERS:
        if versions.get(module) is None:
            continue
        row: dict = {"case": name, "engine": label, "tets": mesh.n_tets, "substeps": SUBSTEPS}
        try:
            r = runner(scene, frames)
        except Exception as exc:  # a peer failing must not end the suite
            row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            rows.append(row)
            continue
        row.update(
            {
                "ms_per_frame": round(r["ms"], 3),
                "frames_per_s": round(1e3 / r["ms"], 1),
                "steps_per_s": round(SUBSTEPS * 1e3 / r["ms"]),
                "jit_s": round(r["first_s"], 3),
                "ratio_vs_vrmed": round(r["ms"] / vrmed_ms, 2),
                "finite": r["finite"],
                "stable": r["stable"],
                "max_disp_mm": round(r["max_disp_mm"], 2) if r["finite"] else None,
            }
        )
        if "unstable_at_s" in r:  # MuJoCo: blew up (NaN/Inf qacc) at this time and was reset to rest
            row["unstable_at_s"] = round(r["unstable_at_s"], 4)
            row["max_disp_mm"] = None  # positions after MuJoCo's reset say nothing
        if bars is None:
            bars = {}
        if label not in bars:
            bars[label] = peer_bar_errors(runner)
        row.update(bars[label])
        rows.append(row)
    return rows


def peer_bar_errors(runner: Callable[..., dict]) -> dict:
    """A peer's bar-test columns: ``bar_axial_pct``, ``bar_nu_pct`` and ``bar_error_pct`` (the
    largest |error|, %), from ``runner`` on :func:`vrmed.benchmarks._tissue_peers.bar_scene` at
    the benchmark's frame and substeps; None where the run failed or blew up (``bar_note`` says why)."""
    from vrmed.benchmarks import _tissue_peers as P  # deferred: optional peer engines, --peers only

    scene = P.bar_scene(FRAME, SUBSTEPS)
    try:
        r = runner(scene, P.BAR_FRAMES)
    except Exception as exc:  # a peer failing must not end the suite
        return {"bar_error_pct": None, "bar_note": f"{type(exc).__name__}: {exc}"[:200]}
    if not r.get("stable", True):  # blown up (or, MuJoCo, reset to rest): its positions say nothing
        when = f" at {r['unstable_at_s']:.4f} s" if "unstable_at_s" in r else ""
        return {"bar_axial_pct": None, "bar_nu_pct": None, "bar_error_pct": None, "bar_note": f"unstable{when}"}
    errors = P.bar_errors_of(scene, r["x"])
    out: dict = {"bar_axial_pct": errors["axial_pct"], "bar_nu_pct": errors["nu_pct"]}
    out["bar_error_pct"] = P.bar_error_pct(errors)
    if out["bar_error_pct"] is None:
        out["bar_note"] = "bar run not finite"
    return out


def run(options: dict) -> dict:
    """Run the suite; ``options``: ``quick`` (few frames, no subprocess JIT timing), ``peers``."""
    quick = bool(options.get("quick", False))
    frames = 5 if quick else 90
    np_frames = 1 if quick else 3
    cases: list[tuple[str, TetMesh, Callable[[TetMesh], SoftBody], np.ndarray]] = [
        (name, box_tets((0.2, 0.2, 0.2), cells), _pinned_body, GRAVITY)
        for name, cells in (BOXES[:1] if quick else BOXES)
    ]
    notes = [
        f"{SUBSTEPS} XPBD substeps (1 iteration each) per 1/90 s frame; boxes: 0.2 m, bottom pinned, "
        f"gravity, E = {MATERIAL.youngs_modulus:g} Pa; raptor: 0.8 m, free, released from a 10 % "
        f"stretch, E = {RAPTOR_MATERIAL.youngs_modulus:g} Pa; nu = 0.45, rho = 1000 kg/m^3. "
        "steps_per_s counts substeps.",
        "ratio_vs_numpy = numpy ms / numba ms (the numpy baseline is the same algorithm, vectorised per graph colour).",
    ]
    if not quick:
        # the 10k box with the opt-in nodal volume term (docs/physics.md, "Nodal volume (opt-in)")
        cases.append(("box 10k nodal", box_tets((0.2, 0.2, 0.2), BOXES[1][1]), _pinned_nodal_body, GRAVITY))
        raptor = load_tet_mesh(RAPTOR, scale=0.05)  # ~0.8 m long
        cases.append(("raptorTetra_19409", raptor, _released_body, np.zeros(3)))
    peers = bool(options.get("peers"))
    versions: dict[str, str | None] = {}
    if peers:
        from vrmed.benchmarks import _tissue_peers as P  # deferred: optional peer engines, --peers only

        versions = P.installed()
    rows = []
    peer_bars: dict[str, dict] = {}  # peer label -> its bar-test columns, run once per peer
    bar = bar_errors(1.0)
    bar_max_error = max(abs(v) for v in bar.values())
    plain_note = "not run in quick mode"
    if not quick:
        bar_plain = bar_errors(0.0)
        plain_note = f"{bar_plain['axial_pct']} / {bar_plain['nu_pct']} / {bar_plain['stress_pct']} %"
    notes.append(
        "bar_error_pct = largest |error| (%) of issue #16's 1 % bar test at nu 0.45 and these substeps "
        f"(axial / nu / stress: {bar['axial_pct']} / {bar['nu_pct']} / {bar['stress_pct']} %; "
        f"plain XPBD, warm_start = 0: {plain_note}). plain_ms_per_frame = the same case with "
        "warm_start = 0, same run."
    )
    notes.append(
        "one_thread_ms_per_frame = the warm-started body again with numba.set_num_threads(1), timed after "
        "ms_per_frame: one_thread / ms_per_frame is the parallel speed-up in this run (below 1 when the other "
        f"core was busy). Bodies under {K.PARALLEL_MIN_TETS} tets are swept serially on any thread count."
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the stiffness ratio is reported instead
        for k, (name, mesh, make, gravity) in enumerate(cases):
            body = make(mesh)
            first, ms = _time_numba(body, frames, gravity)
            plain = make(mesh)
            plain.warm_start = 0.0
            _, plain_ms = _time_numba(plain, frames, gravity)
            one_ms = _time_one_thread(body, frames, gravity)
            # the numpy baseline has no nodal volume term: not run for that row
            np_ms = _time_numpy(make(mesh), np_frames, gravity) if body.volume == "tet" else None
            rows.append(
                {
                    "case": name,
                    "tets": mesh.n_tets,
                    "substeps": SUBSTEPS,
                    "ms_per_frame": round(ms, 3),
                    "frames_per_s": round(1e3 / ms, 1),
                    "steps_per_s": round(SUBSTEPS * 1e3 / ms),
                    "jit_s": round(first, 3) if k == 0 else None,
                    "numpy_ms_per_frame": None if np_ms is None else round(np_ms, 1),
                    "ratio_vs_numpy": None if np_ms is None else round(np_ms / ms, 1),
                    "plain_ms_per_frame": round(plain_ms, 3),
                    "one_thread_ms_per_frame": round(one_ms, 3),
                    "bar_error_pct": bar_max_error,
                    "stiffness_ratio": round(stiffness_ratio(body, FRAME / SUBSTEPS), 3),
                    "finite": bool(np.all(np.isfinite(body.x))),
                }
            )
            if peers:  # the same columns as the peer rows, judged by the same stability test
                from vrmed.benchmarks import _tissue_peers as P  # deferred: optional peer engines, --peers only

                row = rows[-1]
                disp = float(np.abs(body.x - mesh.points).max())
                rows[-1] = {
                    "case": name,
                    "engine": "vrmed (numba)",
                    **{k: v for k, v in row.items() if k != "case"},
                    "ratio_vs_vrmed": 1.0,
                    "stable": row["finite"] and disp < P.BLOWUP * float(np.ptp(mesh.points, axis=0).max()),
                    "max_disp_mm": round(disp * 1e3, 2),
                }
                if any(versions.values()) and body.volume == "tet":  # (the box 10k rows already ran the peers)
                    rows.extend(_peer_rows(name, mesh, make, gravity, ms, frames, versions, peer_bars))
    if not quick:
        rows.append(raptor_liver_row())
        rows.append(raptor_liver_row(remesh=None))
        notes.append(
            "raptor_liver: raptorTetra_19409 at liver stiffness (E 5.4 kPa, nu 0.45, 1060 kg/m^3) scaled to 0.2 m, "
            f"lowest 10 % pinned, gravity, velocity_damping 5 /s, recover_inversions on, 270 frames (3 s) all timed, "
            "rebuilt at load as a "
            f"lattice of {RAPTOR_LIVER_CELL * 1e3:g} mm cubes (load_tet_mesh(..., remesh=)); raptor_liver_as_is: the "
            "file's own tets (slivers softened). inverted_tets after the last frame, max_inverted_tets after any frame."
        )
    notes.append(
        "jit_s (first row) = first step in this process: numba cache load, or compile if the cache is cold."
        + (
            " Peer rows: their first frame (warp kernel cache load; a cold warp cache compiles for "
            "~25 s the first time)."
            if peers
            else ""
        )
    )
    if quick:
        notes.append("quick mode: box 1k only, 5 frames, no cold/cached startup measurement")
    else:
        try:
            cold, cached = _startup_times()
            notes.append(
                f"startup, fresh interpreter, empty numba cache: import {cold[0]:.2f} s, build 10k body "
                f"{cold[1]:.2f} s, first step (JIT compile) {cold[2]:.2f} s"
            )
            notes.append(
                f"startup, fresh interpreter, warm numba cache: import {cached[0]:.2f} s, build {cached[1]:.2f} s, "
                f"first step {cached[2]:.2f} s; total to first step {sum(cached):.2f} s"
            )
            rows[0]["cold_jit_s"] = round(cold[2], 2)
            rows[0]["cached_start_s"] = round(sum(cached), 2)
        except (subprocess.CalledProcessError, OSError) as exc:
            notes.append(f"startup measurement failed: {exc}")
    if peers:
        notes.extend(_peer_notes(versions))
        if any(versions.values()):
            notes.extend(_PEER_NOTES)
            notes.append(
                "peer bar_error_pct: the same 1 % bar (1920 tets, E 5.4 kPa, nu 0.45, free, dead-load end "
                "tractions) in each peer, 300 frames at these substeps with Rayleigh beta 0.005 s for damping "
                "(vrmed's own row uses its mass damping and also checks its stress query); largest |error| of "
                "the axial strain and the lateral contraction (bar_axial_pct, bar_nu_pct)."
            )
    notes.append(
        f"numba threads: {numba.get_num_threads()} (threading layer {numba.threading_layer()}); "
        f"one parallel launch per frame (kernels.ONE_LAUNCH): {K.ONE_LAUNCH}"
    )
    return {"suite": "tissue", "rows": rows, "notes": notes}
