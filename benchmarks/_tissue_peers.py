"""Peer runners for ``vrmed bench tissue --peers``: the same tet mesh and settings in NVIDIA
Newton (XPBD and VBD, warp on the CPU) and MuJoCo flex, timed in this process.

Private module (leading underscore) so ``vrmed bench`` does not list it as a suite. The peers are
optional (``pip install vrmed[peers]``) and imported lazily, only when a runner is called.

Every runner gets the same inputs as the vrmed case: rest points and tets (re-wound to positive
volume, which Newton needs: its XPBD kernel silently skips negative-volume tets), pinned vertex
indices, E, nu, density, the Rayleigh damping beta, gravity, the frame (1/90 s), the substeps
(10, one iteration each) and optional initial positions (the raptor's 10 % stretch). Each times
``frames`` frames after one warm-up frame (JIT/kernel load, reported separately as ``jit_s``),
then checks the positions for NaN and for blow-up (not ``stable``: non-finite, or a vertex moved
more than ``BLOWUP`` times the mesh's extent).

Every peer also runs issue #16's analytic 1 % bar (:func:`bar_scene`, :func:`bar_errors_of`), so
its speed is never reported without its accuracy; ``python -m vrmed.benchmarks._tissue_peers
--substeps 10,30,100`` (:func:`bar_sweep`) runs that bar at other substep counts.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vrmed.components.tissue.softbody import Material

#: a vertex further than this many mesh extents from its rest position means the run blew up
BLOWUP = 2.0


@dataclass
class Scene:
    """One benchmark case, engine-neutral."""

    points: np.ndarray  # (n, 3) rest positions, m
    tets: np.ndarray  # (m, 4), positively wound
    pins: np.ndarray  # vertex indices held fixed
    youngs_modulus: float
    poisson_ratio: float
    density: float
    damping: float  # Rayleigh stiffness-proportional beta, s
    gravity: np.ndarray
    frame: float
    substeps: int
    x0: np.ndarray | None = None  # initial positions if not the rest shape
    forces: np.ndarray | None = None  # (n, 3) constant external forces, N (the bar's end loads)
    iterations: int = 1  # solver iterations per substep where the engine has them (Newton); the benchmark uses 1

    @property
    def material(self) -> Material:
        """The same material as vrmed's, so both sides use one definition of the Lame parameters."""
        return Material(self.youngs_modulus, self.poisson_ratio, self.density, self.damping)

    @property
    def mu(self) -> float:
        """Lame shear modulus (Pa)."""
        return self.material.mu

    @property
    def lam(self) -> float:
        """Lame first parameter (Pa)."""
        return self.material.lam

    def lumped_mass(self) -> np.ndarray:
        """Per-vertex mass rho V / 4 summed over incident tets (what vrmed uses)."""
        p = self.points[self.tets]
        vol = np.abs(np.linalg.det(np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2))) / 6.0
        mass = np.zeros(len(self.points))
        np.add.at(mass, self.tets.ravel(), np.repeat(self.density * vol / 4.0, 4))
        return mass


def make_scene(
    points: np.ndarray,
    tets: np.ndarray,
    pins: np.ndarray,
    material,
    gravity: np.ndarray,
    frame: float,
    substeps: int,
    x0: np.ndarray | None = None,
    forces: np.ndarray | None = None,
) -> Scene:
    """A :class:`Scene` from vrmed's inputs; tets are re-wound so every one has positive volume."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    tets = np.array(tets, dtype=np.int64)
    p = points[tets]
    det = np.linalg.det(np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2))
    neg = det < 0
    tets[neg, 1], tets[neg, 2] = tets[neg, 2].copy(), tets[neg, 1].copy()
    return Scene(
        points,
        tets,
        np.asarray(pins, dtype=np.int64),
        material.youngs_modulus,
        material.poisson_ratio,
        material.density,
        material.damping,
        np.asarray(gravity, dtype=np.float64),
        frame,
        substeps,
        None if x0 is None else np.ascontiguousarray(x0, dtype=np.float64),
        None if forces is None else np.ascontiguousarray(forces, dtype=np.float64),
    )


def _result(scene: Scene, x: np.ndarray, first: float, ms: float, build: float) -> dict:
    x = np.asarray(x, dtype=np.float64)
    finite = bool(np.all(np.isfinite(x)))
    extent = float(np.ptp(scene.points, axis=0).max())
    disp = float(np.abs(x - scene.points).max()) if finite else float("nan")
    return {
        "ms": ms,
        "first_s": first,
        "build_s": build,
        "finite": finite,
        "stable": finite and disp < BLOWUP * extent,
        "max_disp_mm": disp * 1e3,
        "x": x,  # final positions (for the bar test's errors; not a row column)
    }


def _time(frame: Callable[[], None], frames: int, sync: Callable[[], None] = lambda: None) -> tuple[float, float]:
    """(first frame s, mean ms per frame after it). The heap is frozen first: with numba loaded
    (tens of thousands of tracked objects), Python's cyclic GC, triggered by the small objects
    each warp launch allocates, made Newton's 1k frames 4.5 ms instead of 1.5 ms; a peer in its
    own application would not pay for vrmed's heap. vrmed's step allocates nothing."""
    gc.collect()
    gc.freeze()
    try:
        t = time.perf_counter()
        frame()
        sync()
        first = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(frames):
            frame()
        sync()
        return first, (time.perf_counter() - t) / frames * 1e3
    finally:
        gc.unfreeze()


def run_newton(scene: Scene, frames: int, solver: str = "xpbd") -> dict:
    """Newton ``add_soft_mesh`` + ``SolverXPBD``/``SolverVBD`` on device "cpu", 1 iteration per substep.

    k_mu, k_lambda = Lame mu, lambda of (E, nu); k_damp = beta * mu (Newton's XPBD damping is
    gamma = k_damp / (k dt), so this is vrmed's beta / h on the deviatoric term); pins get mass 0;
    particle_radius = 0 (otherwise the XPBD solver runs particle-particle contacts between the
    vertices, with its 0.1 m default radius on 3 cm spacing: the box explodes); no collision
    pipeline, no ground.
    """
    _quiet_warp()
    import newton  # deferred: optional peer engine (vrmed[peers])
    import warp as wp  # deferred: optional peer engine (vrmed[peers])

    t0 = time.perf_counter()
    up = newton.Axis.Y
    builder = newton.ModelBuilder(up_axis=up, gravity=tuple(float(g) for g in scene.gravity))
    builder.add_soft_mesh(
        pos=wp.vec3(0.0, 0.0, 0.0),
        rot=wp.quat_identity(),
        scale=1.0,
        vel=wp.vec3(0.0, 0.0, 0.0),
        vertices=scene.points.tolist(),
        indices=scene.tets.ravel().tolist(),
        density=scene.density,
        k_mu=scene.mu,
        k_lambda=scene.lam,
        k_damp=scene.damping * scene.mu,
        add_surface_mesh_edges=False,
        particle_radius=0.0,
    )
    for i in scene.pins:
        builder.particle_mass[int(i)] = 0.0
    if solver == "vbd":
        builder.color()
    with wp.ScopedDevice("cpu"):
        model = builder.finalize(device="cpu")
        if solver == "vbd":
            sol = newton.solvers.SolverVBD(
                model,
                iterations=scene.iterations,
                particle_enable_self_contact=False,
                particle_enable_tile_solve=False,
            )
        else:
            sol = newton.solvers.SolverXPBD(model, iterations=scene.iterations)
        states = [model.state(), model.state()]
        control = model.control()
        if scene.x0 is not None:
            states[0].particle_q.assign(wp.array(scene.x0.astype(np.float32), dtype=wp.vec3, device="cpu"))
        h = scene.frame / scene.substeps

        loads = None if scene.forces is None else wp.array(scene.forces.astype(np.float32), dtype=wp.vec3, device="cpu")

        def frame() -> None:
            for _ in range(scene.substeps):
                states[0].clear_forces()
                if loads is not None:  # external forces are per state and cleared every substep
                    wp.copy(states[0].particle_f, loads)
                sol.step(states[0], states[1], control, None, h)
                states.reverse()

        build = time.perf_counter() - t0
        first, ms = _time(frame, frames, wp.synchronize)
        res = _result(scene, states[0].particle_q.numpy(), first, ms, build)
        res["iterations"] = scene.iterations
        return res


def run_mujoco(scene: Scene, frames: int) -> dict:
    """MuJoCo ``flexcomp type="direct" dim="3"`` with ``<elasticity young poisson damping=beta>``.

    timestep = frame / substeps, ``mj_step`` ``substeps`` times per frame (MuJoCo has no inner
    iterations for flex elasticity: passive forces, default Euler integrator); pins by
    ``<pin id>``; contacts disabled (no ground, no self-collision); vertex body masses set to the
    same lumped rho V / 4 as vrmed (flexcomp's ``mass`` spreads the total evenly over vertices).
    """
    import mujoco  # deferred: optional peer engine (vrmed[peers])

    t0 = time.perf_counter()
    mass = scene.lumped_mass()
    pts = " ".join(repr(float(v)) for v in scene.points.ravel())
    elems = " ".join(str(int(i)) for i in scene.tets.ravel())
    pin = f'<pin id="{" ".join(str(int(i)) for i in scene.pins)}"/>' if scene.pins.size else ""
    g = " ".join(repr(float(v)) for v in scene.gravity)
    xml = f"""<mujoco model="vrmed-bench-tissue">
  <option timestep="{scene.frame / scene.substeps!r}" gravity="{g}"><flag contact="disable"/></option>
  <worldbody>
    <flexcomp name="tissue" type="direct" dim="3" radius="0.001" mass="{float(mass.sum())!r}"
              point="{pts}" element="{elems}">
      <elasticity young="{scene.youngs_modulus!r}" poisson="{scene.poisson_ratio!r}" damping="{scene.damping!r}"/>
      <contact contype="0" conaffinity="0" selfcollide="none"/>
      <edge equality="false"/>
      {pin}
    </flexcomp>
  </worldbody>
</mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    vb = model.flex_vertbodyid[model.flex_vertadr[0] : model.flex_vertadr[0] + model.flex_vertnum[0]]
    free = vb > 0
    model.body_mass[vb[free]] = mass[free]
    if scene.x0 is not None:
        # each free vertex is a body with 3 slide joints (x, y, z): qpos is the offset from rest
        for v in np.flatnonzero(free):
            adr = model.jnt_qposadr[model.body_jntadr[vb[v]]]
            data.qpos[adr : adr + 3] = scene.x0[v] - scene.points[v]
    if scene.forces is not None:  # constant loads on the vertex bodies (world frame, kept between steps)
        data.xfrc_applied[vb[free], :3] = scene.forces[free]
    mujoco.mj_forward(model, data)

    bad = [
        int(w)
        for w in (mujoco.mjtWarning.mjWARN_BADQACC, mujoco.mjtWarning.mjWARN_BADQVEL, mujoco.mjtWarning.mjWARN_BADQPOS)
    ]
    unstable_at: list[float] = []
    done = [0]

    def frame() -> None:
        for _ in range(scene.substeps):
            mujoco.mj_step(model, data)
        done[0] += 1
        # On NaN/Inf/huge qacc MuJoCo warns and *resets the state to rest* (mj_resetData, which
        # also zeroes data.time), so the final positions look fine: read the warning counters
        # instead (one array read a frame) and report the end of the frame it happened in.
        if not unstable_at and any(data.warning[w].number for w in bad):
            unstable_at.append(done[0] * scene.frame)

    build = time.perf_counter() - t0
    first, ms = _time(frame, frames)
    x = np.array(data.flexvert_xpos).reshape(-1, 3)
    res = _result(scene, x, first, ms, build)
    if unstable_at:
        res["stable"] = False
        res["unstable_at_s"] = unstable_at[0]
        res["resets"] = int(sum(data.warning[w].number for w in bad))
    return res


#: issue #16's bar test for every engine: a 0.1 x 0.02 x 0.02 m bar of 4 x 4 x 20 cells (1920 tets),
#: E 5.4 kPa, nu 0.45, 1060 kg/m^3, free, no gravity, a 1 % dead-load traction (E / 100) on both
#: ends as nodal forces; BAR_FRAMES frames at the benchmark's frame and substeps, then the axial
#: strain against 1 % and the lateral contraction against nu (linear elasticity). Rayleigh
#: beta BAR_DAMPING s (stiffness-proportional: no effect on the static answer) damps the first
#: axial mode (pi / L sqrt(E / rho) = 71 rad/s, damping ratio 0.18) out well within the run.
BAR_SIZE = (0.02, 0.02, 0.1)
BAR_CELLS = (4, 4, 20)
BAR_FRAMES = 300
BAR_DAMPING = 0.005


def bar_scene(frame: float, substeps: int, nu: float = 0.45) -> Scene:
    """The engine-neutral bar :class:`Scene` (see :data:`BAR_SIZE`)."""
    from vrmed.mesh import box_tets  # deferred: keep this module's import light (peer runners only)

    E, length = 5.4e3, BAR_SIZE[2]
    mesh = box_tets(BAR_SIZE, BAR_CELLS)
    pts, tri = mesh.points, mesh.boundary_triangles()
    forces = np.zeros_like(pts)
    for value in (0.0, length):
        sel = tri[np.all(np.abs(pts[tri][:, :, 2] - value) < 1e-12, axis=1)]
        area = 0.5 * np.linalg.norm(np.cross(pts[sel[:, 1]] - pts[sel[:, 0]], pts[sel[:, 2]] - pts[sel[:, 0]]), axis=1)
        np.add.at(forces[:, 2], sel.ravel(), np.repeat((1.0 if value > 0 else -1.0) * 0.01 * E * area / 3.0, 3))
    return make_scene(
        pts,
        mesh.tets,
        np.zeros(0, dtype=np.int64),
        Material(E, nu, 1060.0, BAR_DAMPING),
        np.zeros(3),
        frame,
        substeps,
        forces=forces,
    )


def bar_errors_of(scene: Scene, x: np.ndarray) -> dict[str, float | None]:
    """Relative errors (%) of final positions ``x`` of :func:`bar_scene`: ``axial_pct`` (strain
    vs 1 %) and ``nu_pct`` (lateral contraction / axial strain vs nu); None if not finite."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return {"axial_pct": None, "nu_pct": None}
    pts, w, length = scene.points, BAR_SIZE[0], BAR_SIZE[2]
    top, bottom = pts[:, 2] > length - 1e-12, pts[:, 2] < 1e-12
    right, left = pts[:, 0] > w - 1e-12, pts[:, 0] < 1e-12
    axial = (x[top, 2].mean() - x[bottom, 2].mean()) / length - 1.0
    lateral = (x[right, 0].mean() - x[left, 0].mean()) / w - 1.0
    nu_err = float(100 * (-lateral / axial / scene.poisson_ratio - 1.0)) if axial != 0 else None
    return {
        "axial_pct": round(float(100 * (axial / 0.01 - 1.0)), 2),
        "nu_pct": None if nu_err is None else round(nu_err, 2),
    }


def bar_error_pct(errors: dict[str, float | None]) -> float | None:
    """The largest |error| (%) of :func:`bar_errors_of`'s result; None if any is missing."""
    vals = list(errors.values())
    return None if any(v is None for v in vals) else round(max(abs(float(v)) for v in vals), 2)  # type: ignore[arg-type]


#: (row label, module that must be importable, runner(scene, frames) -> result dict)
PEERS: list[tuple[str, str, Callable[[Scene, int], dict]]] = [
    ("Newton XPBD (cpu)", "newton", lambda s, f: run_newton(s, f, "xpbd")),
    ("Newton VBD (cpu)", "newton", lambda s, f: run_newton(s, f, "vbd")),
    ("MuJoCo flex", "mujoco", run_mujoco),
]


def _quiet_warp() -> None:
    """Keep warp's init banner off stdout (it would corrupt ``--json``); before newton imports it."""
    try:
        import warp  # deferred: optional peer engine (vrmed[peers])
    except Exception:
        return
    if hasattr(warp, "LOG_WARNING"):  # warp >= 1.1x: log levels
        warp.config.log_level = max(warp.config.log_level, warp.LOG_WARNING)
    warp.config.quiet = True  # older warp


def installed() -> dict[str, str | None]:
    """{module: version} for the importable peers, None where not importable."""
    out: dict[str, str | None] = {}
    _quiet_warp()
    for module in ("newton", "warp", "mujoco"):
        try:
            mod = importlib.import_module(module)
        except Exception:  # missing, or broken (e.g. a CUDA-only build)
            out[module] = None
        else:
            out[module] = str(getattr(mod, "__version__", "?"))
    return out


def bar_sweep(
    substeps: list[int],
    frames: int = BAR_FRAMES,
    frame: float = 1.0 / 90.0,
    engines: str = "",
    damping: float = BAR_DAMPING,
    iterations: int = 1,
) -> list[dict]:
    """Every installed peer on :func:`bar_scene` at each substep count (same 1/90 s frame): the
    bar errors where the run stayed stable, so one can see whether a peer that is unstable or
    wrong at the benchmark's 10 substeps converges with more (and that its setup is right).

    ``engines``: keep only labels containing this text (case-insensitive); ``damping``: the
    Rayleigh beta (s) instead of :data:`BAR_DAMPING` (an explicit integrator such as MuJoCo's
    needs h < ~2 / (beta omega_max^2) as well as the undamped step limit); ``iterations``: solver
    iterations per substep for the engines that have them (Newton; MuJoCo's explicit step has
    none). Each row: ``engine``, ``substeps``, ``iterations`` (what the engine used), ``ms`` per
    frame, ``stable``, ``axial_pct``, ``nu_pct`` (None when not stable), ``drift_mm`` (the
    centroid's displacement: the loads are balanced, so any drift is the solver's),
    ``unstable_at_s`` (MuJoCo's reset time, where it reset), or ``error``.
    """
    versions = installed()
    rows: list[dict] = []
    for label, module, runner in PEERS:
        if versions.get(module) is None or engines.lower() not in label.lower():
            continue
        for n in substeps:
            scene = dataclasses.replace(bar_scene(frame, n), damping=damping, iterations=iterations)
            row: dict = {"engine": label, "substeps": n, "beta_s": damping}
            try:
                r = runner(scene, frames)
            except Exception as exc:  # a peer failing must not end the sweep
                row["error"] = f"{type(exc).__name__}: {exc}"[:200]
                rows.append(row)
                continue
            errors = bar_errors_of(scene, r["x"]) if r["stable"] else {"axial_pct": None, "nu_pct": None}
            drift = float(np.linalg.norm((r["x"] - scene.points).mean(axis=0))) if r["finite"] else float("nan")
            row.update(iterations=r.get("iterations", "-"), ms=round(r["ms"], 3), stable=r["stable"])
            row.update(errors, drift_mm=round(drift * 1e3, 3))
            if "unstable_at_s" in r:
                row["unstable_at_s"] = round(r["unstable_at_s"], 4)
            rows.append(row)
    return rows


def _pct(value: float | None) -> str:
    """A signed percentage for the table ("+0.00", not "-0.0", for a rounded zero); "-" for None."""
    return "-" if value is None else f"{value + 0.0:+.2f}"


def main(argv: list[str] | None = None) -> int:
    """``python -m vrmed.benchmarks._tissue_peers --substeps 10,30,100``: :func:`bar_sweep` as a table."""
    import argparse  # deferred: command-line use only

    parser = argparse.ArgumentParser(prog="python -m vrmed.benchmarks._tissue_peers", description=bar_sweep.__doc__)
    parser.add_argument("--substeps", default="10,30,100", help="comma-separated substeps per 1/90 s frame")
    parser.add_argument("--frames", type=int, default=BAR_FRAMES, help="frames per run (default %(default)s)")
    parser.add_argument("--engine", default="", help="only peers whose label contains this text")
    parser.add_argument("--beta", type=float, default=BAR_DAMPING, help="Rayleigh beta, s (default %(default)s)")
    parser.add_argument("--iterations", type=int, default=1, help="Newton solver iterations per substep (default 1)")
    args = parser.parse_args(argv)
    try:
        substeps = [int(s) for s in args.substeps.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--substeps must be comma-separated integers, got {args.substeps!r}")
    if not substeps or min(substeps) < 1:
        parser.error("--substeps needs at least one count >= 1")
    if args.frames < 1:
        parser.error("--frames must be >= 1")
    if not args.beta >= 0.0:
        parser.error("--beta must be >= 0 s")
    if args.iterations < 1:
        parser.error("--iterations must be >= 1")
    rows = bar_sweep(substeps, args.frames, engines=args.engine, damping=args.beta, iterations=args.iterations)
    if not rows:
        print("no peer installed (pip install vrmed[peers]) or none matches --engine")
        return 1
    head = ("engine", "substeps", "iterations", "beta s", "ms/frame", "stable", "axial error %", "nu error %")
    print("| " + " | ".join(head) + " | centroid drift mm |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['engine']} | {r['substeps']} | | {r['beta_s']} | error: {r['error']} | | | | |")
            continue
        when = f" (reset at {r['unstable_at_s']} s)" if "unstable_at_s" in r else ""
        stable = "yes" if r["stable"] else "no" + when
        print(
            f"| {r['engine']} | {r['substeps']} | {r['iterations']} | {r['beta_s']} | {r['ms']} | {stable} | "
            f"{_pct(r['axial_pct'])} | {_pct(r['nu_pct'])} | {r['drift_mm']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
