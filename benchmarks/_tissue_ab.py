"""Paired A/B timing of two versions of the tissue kernels in one process (a development tool).

On a shared machine absolute times mean little: this steps copies of the same body with an
old ``kernels.py`` (loaded from a file) and with the installed one, in alternating batches, and
reports the median and quartiles of the paired new / old ratios, and whether the two ended
bit-identical. The method behind the kernel entries of docs/physics.md, "Benchmark"::

    git show <commit>:systems/tissue/kernels.py > /tmp/old_kernels.py
    python -m vrmed.benchmarks._tissue_ab /tmp/old_kernels.py --cases box1k,box10k,box50k,raptor

``--idle 0.9`` times a pair only when the CPUs were at least 90 % idle over the 0.3 s before it
(Linux ``/proc/stat``), for idle figures on a machine others use too. The old file must keep
``step_kernel``'s signature. Its numba cache is kept beside it (the first run compiles it).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import inspect
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numba
import numpy as np

from vrmed.benchmarks import tissue as B
from vrmed.components.tissue.softbody import SoftBody
from vrmed.mesh import box_tets, load_tet_mesh
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue.solver import _recovery_scratch, step_softbody, volume_ratios
from vrmed.systems.tissue.springs import NO_SPRINGS

#: case name -> box cells (0.2 m box, bottom pinned, as ``vrmed bench tissue``); "raptor" is
#: raptorTetra_19409 scaled to 0.8 m and released from a 10 % stretch, as in the benchmark;
#: "raptor_as_is" the benchmark's ``raptor_liver_as_is`` row (0.2 m, liver material, lowest 10 %
#: pinned, gravity, the file's own tets: the recovery and the step filter act in every substep;
#: ``--pairs 27 --batch 5`` steps its 270 frames); "box10k_nodal" the 10k box with the opt-in nodal
#: volume term (``SoftBody.from_mesh(volume="nodal")``: the old kernels must take the ``nodal`` tuple)
CASES = {
    "box1k": (6, 6, 5),
    "box10k": (12, 12, 12),
    "box10k_nodal": (12, 12, 12),
    "box50k": (20, 20, 21),
    "raptor": None,
    "raptor_as_is": None,
}


def load_kernels(path: str) -> ModuleType:
    """Import a kernels.py from ``path`` as a top-level module named after the file (beside the
    installed one). Registered in ``sys.modules`` under that name, as an import would, because
    numba's on-disk cache looks the module up by name when it loads a compiled function."""
    name = Path(path).stem
    if name in sys.modules:
        raise SystemExit(f"_tissue_ab: a module named {name!r} is already loaded; copy {path} to another file name")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"_tissue_ab: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def make_body(case: str) -> SoftBody:
    """The benchmark's body for ``case`` (see :data:`CASES`)."""
    cells = CASES[case]
    if cells is not None:
        return B._pinned_body(box_tets((0.2, 0.2, 0.2), cells), volume="nodal" if case.endswith("_nodal") else "tet")
    if case == "raptor_as_is":
        return B.raptor_liver_body(remesh=None)
    mesh = load_tet_mesh(B.RAPTOR)
    mesh.points = (mesh.points - mesh.points.mean(axis=0)) * (0.8 / float(np.ptp(mesh.points, axis=0).max()))
    return B._released_body(mesh)


def stepper(kernels: ModuleType, body: SoftBody) -> Callable[[], None]:
    """One frame of ``body`` by ``kernels.step_kernel`` (after one :func:`step_softbody` frame,
    which sets the body's per-substep factors). Kernels whose ``step_kernel`` takes the
    recovery's ``scratch`` get the body's kept one, as :func:`step_softbody` passes it
    (``solver._recovery_scratch``; older kernels build theirs each frame)."""
    step_softbody(body, B.FRAME, B.SUBSTEPS, B.GRAVITY)
    m = body.material
    state = (
        body.x,
        body.v,
        body.x_prev,
        body.inv_mass,
        body.external_force,
        body.lam,
        body.warm_d,
        body.warm_dx,
        body.warm_t,
    )
    model = (
        body.tets,
        body.dm_inv,
        body.alpha_dev,
        body.alpha_hyd,
        body.block_offsets,
        body.phase_offsets,
        body.recover_near,
        body.contact_hold,
    )
    args: tuple[object, ...] = (
        state,
        model,
        body.attachment.arrays(),
        body.slides.arrays(),
        B.GRAVITY,
        B.FRAME,
        B.SUBSTEPS,
        m.gamma,
        float(m.damping),
        float(body.velocity_damping),
        float(body.warm_start),
        bool(body.recover_inversions),
    )
    # the rest as the solver passes them (none left to a default: an omitted argument is a type of
    # its own, another compiled version); no volume barrier, released filter, pull-back or springs
    # in any case here, no held vertex: ``slow_held`` each file's own default, and kernels whose
    # default is None (before it and ``springs`` were run-time choices) get ``springs`` None
    held = inspect.signature(kernels.step_kernel.py_func).parameters["slow_held"].default
    nodal = None if body.nodal is None else body.nodal.arrays()
    args = (*args, None, nodal, False, None, None if held is None else NO_SPRINGS, held)
    if "scratch" in inspect.signature(kernels.step_kernel.py_func).parameters:
        return lambda: kernels.step_kernel(*args, _recovery_scratch(body))
    return lambda: kernels.step_kernel(*args)


def idle_fraction(seconds: float = 0.3) -> float:
    """Fraction of CPU time spent idle over the next ``seconds`` (all CPUs, Linux /proc/stat)."""

    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        return ticks[3] + ticks[4], sum(ticks)  # idle + iowait, total

    a = read()
    time.sleep(seconds)
    b = read()
    return (b[0] - a[0]) / max(1, b[1] - a[1])


def compare(
    old: ModuleType, case: str, warm: float, pairs: int = 12, batch: int = 5, idle: float = 0.0, wait_s: float = 300.0
) -> dict:
    """Paired timing of ``old`` against the installed kernels on ``case``; returns the ratios
    (median and quartiles of the pairs, and of the total times: the mean frame's ratio, which is
    what a benchmark row's mean over a run that changes, as the raptor falling then resting,
    compares), the fastest batch of each (ms per frame), bit-identity, and for the
    installed kernels' body the most inverted tets after any batch, whether it stayed finite
    and its fastest vertex at the end. With
    ``idle`` > 0 a pair is timed only after :func:`idle_fraction` reached it (for at most
    ``wait_s`` seconds in all; ``pairs`` in the result counts the pairs timed)."""
    base = make_body(case)
    base.warm_start = warm
    body_old, body_new = copy.deepcopy(base), copy.deepcopy(base)
    step_old, step_new = stepper(old, body_old), stepper(K, body_new)
    step_old()
    step_new()
    ratios, ms_old, ms_new = [], [], []
    worst = 0
    give_up = time.time() + wait_s
    for p in range(pairs):
        while idle > 0.0 and idle_fraction() < idle and time.time() < give_up:
            pass
        if idle > 0.0 and time.time() >= give_up:
            break
        times = {}
        for name, step in (
            (("old", step_old), ("new", step_new)) if p % 2 == 0 else (("new", step_new), ("old", step_old))
        ):
            t = time.perf_counter()
            for _ in range(batch):
                step()
            times[name] = (time.perf_counter() - t) / batch * 1e3
        ratios.append(times["new"] / times["old"])
        worst = max(worst, int(np.count_nonzero(volume_ratios(body_new) <= 0.0)))
        ms_old.append(times["old"])
        ms_new.append(times["new"])
    if not ratios:
        raise SystemExit(f"_tissue_ab: the CPUs were never {idle:.0%} idle within {wait_s:g} s ({case})")
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    same = all(np.array_equal(getattr(body_old, a), getattr(body_new, a)) for a in ("x", "v", "lam", "warm_d"))
    return {
        "case": case,
        "warm_start": warm,
        "threads": numba.get_num_threads(),
        "pairs": len(ratios),
        "new_over_old": round(float(med), 3),
        "quartiles": (round(float(q1), 3), round(float(q3), 3)),
        "total_new_over_old": round(sum(ms_new) / sum(ms_old), 3),  # the mean frame's ratio
        "fastest_ms_old": round(min(ms_old), 3),
        "fastest_ms_new": round(min(ms_new), 3),
        "bit_identical": same,
        "max_abs_dx": float(np.abs(body_old.x - body_new.x).max()),
        "max_inverted_new": worst,
        "finite_new": bool(np.all(np.isfinite(body_new.x))),
        "max_speed_new_m_s": round(float(np.linalg.norm(body_new.v, axis=1).max()), 5),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m vrmed.benchmarks._tissue_ab", description=__doc__.split("\n")[0])
    parser.add_argument("old", help="path of the old kernels.py")
    parser.add_argument("--cases", default="box1k,box10k,raptor", help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--warm", default="1", help="comma-separated warm_start values (1 default, 0 plain XPBD)")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=5, help="frames per timed batch")
    parser.add_argument("--threads", type=int, default=0, help="numba threads (0: numba's default)")
    parser.add_argument("--idle", type=float, default=0.0, help="time a pair only at this idle CPU fraction")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if args.threads:
        numba.set_num_threads(args.threads)
    old = load_kernels(args.old)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the raptor's stiffness-ratio warning
        for case in cases:
            for warm in (float(w) for w in args.warm.split(",")):
                print(compare(old, case, warm, args.pairs, args.batch, args.idle), flush=True)


if __name__ == "__main__":
    main()
