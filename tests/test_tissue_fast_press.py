"""The fast press on truthcylinder1 and the warm start's slow part (docs/physics.md "Warm start",
"A cost found after"; issue #16 item 3): ``vrmed bench tool_press truthcylinder1`` at 2 m/s (the
5 mm sphere 40 mm into the mesh scaled to 0.2 m, liver material, lowest 10 % pinned) let 4.37 mm
of surface into the tool at one frame's end with no event, since the slow part of the
multipliers, which lags them by ~10 substeps (~22 mm of the tool's travel): a stale force where
the tool is. Tets with a vertex a tool contact held in the last tick now keep no slow part
(``solver.SLOW_HELD``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tissue_reference import kept_fractions

from vrmed.benchmarks.tool_press import press
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue import solver
from vrmed.systems.tissue.solver import step_softbody


@pytest.mark.parametrize("offset_mm", [(0.0, 0.0), (-1.0, 0.0), (-1.0, -0.5), (0.5, 0.5)])
def test_truthcylinder1s_fast_press_keeps_the_surface_out_of_the_tool_or_reports_it(
    offset_mm: tuple[float, float],
) -> None:
    """The bench's 40 mm press at 2 m/s, from the bench's start and from two starts 1 mm to the
    side: at every frame's end before the first ``ToolInsideTissue`` the sampled surface is at
    most the contact's stated tolerance (0.5 mm) inside the tool (``inside_mm`` is read until
    the first event). Measured (2026-12-01, ``vrmed bench tool_press truthcylinder1
    offset=X,Z``): before, 4.368 / 2.823 / 1.981 mm with no event at those starts; now 0 mm
    (``pushed_through`` at frame 1, 3.39 N) / 0.086 / 0.185 mm. The press is chaotic (the
    contacts after the solve push vertices 10-28 mm a tick at this speed): over 25 starts within
    1 mm, 5 let more than 0.5 mm in before any event (3 with none at all, largest 4.37 mm), now
    1 (0.92 mm, reported the next frame); with the slow part off in the whole body 2 (2.13 mm).
    Stop 42: with the tets of light vertices keeping nothing (``solver.LIGHT_WARM``) 4 of the
    25 (largest 2.58 mm, no event; the start +0.5, +0.5 mm: 0.83 mm), since they keep their warm
    start while a tool contact holds them (``solver._hold_light_tets``) 0 (largest 0.44 mm; that
    start 0 mm, ``pushed_through`` at frame 1)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the push-through warning, softening notes
        row = press("truthcylinder1.msh", "truthcylinder1.msh", 2.0, offset=(offset_mm[0] * 1e-3, offset_mm[1] * 1e-3))
    assert row["inside_mm"] <= 0.5, row


def test_a_fast_press_whose_surface_closes_over_the_tool_between_frames_is_reported() -> None:
    """The bench's 40 mm press at 2 m/s from 1 mm and 0.5 mm to the side (``vrmed bench tool_press
    truthcylinder1 offset=1,0.5``): the contacts turned the surface inside out around the tool's
    centre (winding number -1) at the 9th tick of frame 1, and by that frame's last tick, the only
    one the push-through check ran on, the tissue had slid off the tool's centre (winding 0) with
    1.56 mm of surface still inside the tool, and then off the tool (22 mm clear in the hold): no
    event at all. The check now also runs on every tick whose contacts met the tool deeper than
    the stated tolerance (``collision.system.PUSHED_CHECK_DEPTH``, 0.5 mm), on that tick's end
    state: ``ToolInsideTissue(pushed_through)`` in frame 1 (4.70 N), and the deepest surface in the
    tool before it is frame 0's, 0.453 mm (2026-12-02). Read at every tick's end (``ticks``) it
    was up to 3.626 mm inside the tool before the event (frame 1's 2nd tick); since the contacts'
    tolerance is read after every tick's contacts (a tick that breaks it reports the tool on that
    tick) at most 0.5 mm (0.453 mm with the opt-in ``CollisionSettings.hold_rounds`` 3, 2026-12-02):
    a frame's end is a sample of its ticks, so the ticks' reading is never below the frames'."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the push-through warning, softening notes
        row = press("truthcylinder1.msh", "truthcylinder1.msh", 2.0, offset=(1e-3, 0.5e-3), ticks=True)
    assert "pushed_through" in row["events"], row
    assert row["inside_mm"] <= 0.5, row
    assert row["tick_inside_mm"] >= row["inside_mm"], row


@pytest.mark.parametrize("hold", [None, 3])
@pytest.mark.parametrize(
    ("speed", "offset_mm"), [(2.0, (0.0, 0.0)), (2.0, (-0.5, -1.0)), (2.0, (-1.0, 1.0)), (0.5, (-1.0, -1.0))]
)
def test_no_tick_leaves_the_surface_in_the_tool_beyond_the_tolerance_without_an_event(
    speed: float, offset_mm: tuple[float, float], hold: int | None
) -> None:
    """Issue #16 item 3's bound read at every physics tick, not only at frames' ends: after each
    tick's contacts the sampled surface is at most the stated tolerance (0.5 mm) inside the tool
    until the first event (``tick_inside_mm``; the event's own tick is the one it reports). The
    worst starts of the 25 (``vrmed bench tool_press truthcylinder1 offset=X,Z ticks=1``), before
    the contacts' further rounds (``CollisionSettings.hold_rounds``) and the report on the tick
    they fail (2026-12-02): 2 m/s 0, 0: 4.109 mm (frame 1's 9th tick, a face the neighbours'
    pushes past the tool dragged in after the first pass found it out of contact); -0.5, -1:
    3.479 mm and no event at all; -1, +1: 3.071 mm (both faces of a ridge the tool was behind
    left it to the other), reported the next frame; 0.5 m/s -1, -1: 3.652 mm, no event. With the
    default (``hold_rounds`` 0) a tick that leaves the surface deeper than the tolerance is
    reported on that tick; with 3 rounds (opt-in) the contacts hold those starts: 0.000 / 0.039 /
    0.144 / 0.236 mm."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the push-through warning, softening notes
        row = press(
            "truthcylinder1.msh",
            "truthcylinder1.msh",
            speed,
            offset=(offset_mm[0] * 1e-3, offset_mm[1] * 1e-3),
            ticks=True,
            hold=hold,
        )
    assert row["tick_inside_mm"] <= 0.5, row
    assert row["inside_mm"] <= 0.5, row


def test_contact_residual_is_the_overlap_of_tool_and_nearest_face() -> None:
    """``kernels.contact_residual`` (what the contacts' tolerance is checked on): a 5 mm sphere
    whose centre is 3 mm above a face's interior overlaps it by 2 mm; a face 6 mm away not at
    all; a box primitive is not read."""
    from vrmed.systems.collision import kernels as CK  # deferred: only this test calls the kernel

    x = np.array([[-0.01, 0.0, -0.01], [0.01, 0.0, -0.01], [0.0, 0.0, 0.01], [0.0, -0.009, 0.0]])
    faces = np.array([[0, 2, 1], [0, 1, 3]])
    centre = np.array([[0.0, 0.003, 0.0], [0.0, 0.003, 0.0]])
    kind = np.array([CK.KIND_CAPSULE, CK.KIND_BOX])
    out, skip = np.zeros(2), np.zeros(2, dtype=np.bool_)
    pair_prim, pair_face = np.array([0, 1]), np.array([0, 0])
    worst = CK.contact_residual(x, faces, 2, pair_prim, pair_face, kind, centre, centre, np.full(2, 0.005), skip, out)
    assert worst == pytest.approx(0.002) and out[0] == pytest.approx(0.002) and out[1] == 0.0
    far = centre + np.array([0.0, 0.003, 0.0])
    assert CK.contact_residual(x, faces, 1, pair_prim, pair_face, kind, far, far, np.full(2, 0.005), skip, out) == 0.0
    skip[0] = True  # a tool reported pushed through: read, not counted in the largest
    assert (
        CK.contact_residual(x, faces, 2, pair_prim, pair_face, kind, centre, centre, np.full(2, 0.005), skip, out)
        == 0.0
    )
    assert out[0] == pytest.approx(0.002)


def test_hold_rounds_is_validated() -> None:
    """``CollisionSettings.hold_rounds``: 0 by default (opt-in: with 3 the raptor pressed fast and
    lifted kept 2 tets inverted at rest), 3 allowed, a negative count refused."""
    from vrmed.components.collision.collider import CollisionError  # deferred: only this test needs it
    from vrmed.systems.collision.system import CollisionSettings  # deferred: with the error

    assert CollisionSettings().hold_rounds == 0 and CollisionSettings(hold_rounds=3).hold_rounds == 3
    with pytest.raises(CollisionError):
        CollisionSettings(hold_rounds=-1)


def test_a_body_no_tool_holds_steps_as_without_the_held_rule() -> None:
    """The rule reads the contacts' held vertices only: a body with the slow part (the liver bar
    of tests/test_tissue_accuracy.py's shape: light surface corners, ``lam`` of 4 columns) and no
    held vertex steps bit-identically with ``SLOW_HELD`` on and off, and a held vertex changes
    the step of that body (its tets there keep no slow part)."""
    mat = Material(5.4e3, 0.45, 1060.0)
    mesh = box_tets((0.02, 0.02, 0.1), (4, 4, 20))
    pins = np.flatnonzero(mesh.points[:, 2] < 1e-9)

    def run(on: bool, hold: bool) -> SoftBody:
        body = SoftBody.from_mesh(mesh, mat, pins=pins)
        body.accurate_substeps = False
        top = np.flatnonzero(mesh.points[:, 2] > 0.1 - 1e-9)
        body.apply_force(top, np.array([0.0, 0.0, 0.01 * 5.4e3 * 0.02 * 0.02 / len(top)]))
        saved = solver.SLOW_HELD
        solver.SLOW_HELD = on
        try:
            for k in range(30):
                if hold and k >= 10:  # as the contacts set it after each tick: one surface vertex
                    body.contact_hold = np.zeros(body.x.shape[0], dtype=np.bool_)
                    body.contact_hold[top[0]] = True
                step_softbody(body, 1.0 / 90.0, 10, np.zeros(3))
        finally:
            solver.SLOW_HELD = saved
        return body

    on, off = run(True, False), run(False, False)
    assert on.lam.shape[1] == K.LAM_COLUMNS  # the body has the slow part
    assert np.array_equal(on.x, off.x) and np.array_equal(on.lam, off.lam)
    held_on, held_off = run(True, True), run(False, True)
    assert not np.array_equal(held_on.x, held_off.x)


def test_the_held_rule_is_a_run_time_flag_of_the_one_compiled_step() -> None:
    """``held`` (``slow_held``) is a run-time flag, not a type switch: the sweep is compiled once
    for both values (a fresh dispatcher of ``solve_range``; its callees come from the numba
    cache), every ``solve_warm`` it calls gets the held vertices and the flag, and a body's first
    step with a held vertex compiles no new version of the step: as a type switch it compiled
    one there (~20 s of CPU on an empty numba cache, a freeze at a learner's first tool touch).
    Bodies no tool holds step as without the rule, bit-identically
    (:func:`test_a_body_no_tool_holds_steps_as_without_the_held_rule`)."""
    from numba import njit  # deferred: only this test compiles a kernel of its own
    from numba.core import types  # deferred: with njit, for reading the compiled calls

    m, n = 2, 4
    x, w, q = np.zeros((n, 3)), np.ones((n, 3)), np.zeros(m)
    # fmt: off
    args = (
        x, x.copy(), w, np.zeros((m, 4), np.int64), np.zeros((m, 3, 3)), q, q.copy(), np.zeros(m, np.bool_),
        np.zeros((m, K.LAM_COLUMNS)), np.zeros((m, 10), np.float32), kept_fractions(m), x.copy(), 1.0, 1.0, 0.0,
        1.0, 0, 0, False, None,
    )
    # fmt: on
    hold = np.zeros(n, np.bool_)
    sweep = njit(K.solve_range.py_func)
    for flag in (False, True):
        sweep(*args, flag, hold)
    assert len(sweep.signatures) == 1
    calltypes = sweep.overloads[sweep.signatures[0]].fndesc.calltypes.values()
    warm_calls = [sig for sig in calltypes if sig is not None and len(sig.args) == 21]  # solve_warm's
    assert warm_calls and all(
        isinstance(sig.args[-2], types.Array) and sig.args[-1] == types.boolean for sig in warm_calls
    )

    mesh = box_tets((0.02, 0.02, 0.1), (2, 2, 6))
    body = SoftBody.from_mesh(mesh, Material(5.4e3, 0.45, 1060.0), pins=np.flatnonzero(mesh.points[:, 2] < 1e-9))
    body.accurate_substeps = False
    step_softbody(body, 1.0 / 90.0, 10, np.zeros(3))
    compiled = len(K.step_kernel.signatures)
    body.contact_hold = np.zeros(body.x.shape[0], dtype=np.bool_)
    body.contact_hold[int(np.argmax(mesh.points[:, 2]))] = True  # a top vertex, as a tool contact sets it
    assert solver._slow_held(body)
    step_softbody(body, 1.0 / 90.0, 10, np.zeros(3))
    assert len(K.step_kernel.signatures) == compiled


def test_light_tets_keep_their_warm_start_only_while_a_tool_holds_them() -> None:
    """truthcylinder1 at 0.2 m (its rims: vertices below ``solver.LIGHT_WARM`` x the median mass):
    the tets of those vertices keep nothing (plain XPBD) until a tool contact holds one of their
    vertices (``SoftBody.contact_hold``), then the fraction their ratio allows, and nothing again
    ``solver.LIGHT_HELD_KEEP`` s after it lets go; every other tet keeps what
    ``warm_start_factors`` says throughout."""
    from vrmed.benchmarks.tool_press import _mesh  # deferred: only this test needs the bench's mesh

    body = SoftBody.from_mesh(_mesh("truthcylinder1.msh", "truthcylinder1.msh"), Material(5.4e3, 0.45, 1060.0))
    g = np.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # softening notes
        step_softbody(body, 1 / 90, 10, g)
    light = body.mass < solver.LIGHT_WARM * np.median(body.mass)
    light_tets = light[body.tets].any(axis=1)
    assert 0 < light.sum() < 0.1 * body.n_vertices
    base = body.warm_t.copy()
    assert np.all(base[light_tets] == 0.0) and np.any(base[~light_tets] > 0.0)
    v = int(np.flatnonzero(light)[0])
    held = (body.tets == v).any(axis=1)
    body.contact_hold[v] = True
    step_softbody(body, 1 / 90, 10, g)
    assert np.all(body.warm_t[held] > 0.0), body.warm_t[held]
    assert np.array_equal(body.warm_t[~held], base[~held])
    kept = body.warm_t[held].copy()
    body.contact_hold[:] = False
    step_softbody(body, 1 / 90, 10, g)
    assert np.array_equal(body.warm_t[held], kept)  # kept a while after the tool lets go
    for _ in range(int(np.ceil(solver.LIGHT_HELD_KEEP * 90))):
        step_softbody(body, 1 / 90, 10, g)
    assert np.array_equal(body.warm_t, base)


def test_the_energy_option_leaves_the_press_as_it_was() -> None:
    """``vrmed bench tool_press energy=1`` only reads the press: the box's row at 0.5 m/s has the
    same values as without it (all but the wall time) plus the book, whose gain is the sum of
    what the tet solve, the contact projection and its velocity pass changed."""
    plain = press("box_tets 8x4x4", None, 0.5)
    booked = press("box_tets 8x4x4", None, 0.5, energy=True)
    for key in set(plain) - {"ms_per_frame"}:
        assert booked[key] == plain[key], key
    book = {"work_mj", "gain_mj", "solve_mj", "proj_mj", "velpass_mj", "velpass_n", "velpass_top"}
    assert set(booked) - set(plain) == book
    parts = booked["solve_mj"] + booked["proj_mj"] + booked["velpass_mj"]
    assert parts == pytest.approx(booked["gain_mj"], abs=0.02)  # the three parts are the gain


def test_the_press_energy_book_closes_without_the_velocity_pass_gain() -> None:
    """Energy conservation of the box pressed at 0.5 m/s (no gravity, no damping: the body's
    energy gain is at most the tool's work, equal less the integrator's dissipation). The tool's
    work by the reported contact force over its path is 69.1 mJ; the body gains 121.7 mJ, of
    which the contacts' velocity pass added 74.9 mJ as kinetic energy with no reported force
    (it sets each vertex of a pushed face to the tool's normal velocity, also the far corners
    the push barely moved: docs/physics.md "Contact", "Energy of a press"). Without that the
    book closes: 121.7 - 74.9 = 46.8 mJ <= 69.1 mJ (measured 2026-12-02)."""
    row = press("box_tets 8x4x4", None, 0.5, energy=True)
    assert row["work_mj"] > 0.0 and row["gain_mj"] > 0.0  # the tool pressed and the body took it
    assert row["gain_mj"] - row["velpass_mj"] <= row["work_mj"]


@pytest.mark.xfail(strict=True, reason="the velocity pass adds kinetic energy no reported force pays for")
def test_the_press_gains_no_more_energy_than_the_tool_does_work() -> None:
    """The same press: the body's energy gain at most the tool's work (121.7 mJ against 69.1 mJ
    today). Strict xfail: passes the day the velocity pass stops adding energy (or its impulses
    are reported), then this mark must go."""
    row = press("box_tets 8x4x4", None, 0.5, energy=True)
    assert row["gain_mj"] <= row["work_mj"]
