"""``vrmed bench tool_press``: how fast tissue moves under a pressing tool (issue #16, item 3).

The outside check's press: each mesh scaled to 0.2 m (largest extent, bounding box centred),
liver material (E 5.4 kPa, nu 0.45, 1060 kg/m^3, no Rayleigh damping, ``velocity_damping`` 0),
its lowest 10 % of vertices pinned, no gravity, App defaults (900 Hz physics ticks, one substep
each, ``CollisionSettings()``). A 5 mm sphere (friction 0.05) starts 3 mm above the highest
surface vertex, is shown there 10 frames, goes down at ``speed`` for 40 mm past that vertex
(48 mm of travel) or until it feels 10 N, and is held 27 frames. Over the press and the hold,
per mesh and speed:

- ``frame_x``: the fastest vertex by its displacement over a frame / frame time, as a multiple of
  the tool's speed (what a viewer sees), with where it is (``frame_where``);
- ``last_x``: the fastest by the state's velocity, the last physics tick's (``last_where``);
- where: ``held`` (a contact pushed it in the last tick), ``heldtet`` (shares a tet with such a
  vertex), ``inv`` (in an inverted tet), ``flag`` (in a tet the inversion recovery flags),
  ``surf`` / ``int``, and its distance from the tool's centre in mm;
- ``force_n`` (largest tool force), ``inverted_max`` / ``inverted_end`` (tets), and
  ``still_gain_mj``: the largest rise of the body's mechanical energy (elastic + kinetic) over
  one physics tick while the tool is still (a still tool does no work, so with no other load
  that energy should only fall; a rise is energy the contact projection put in).

- ``inside_mm``: the deepest a sampled surface point (45 per face near the tool) got into the
  tool at a frame's end, until the first event; ``events``: each ``ToolInsideTissue`` (its
  reason) and ``TissuePunctured`` with the force it carried and the frame; ``ms_per_frame``:
  the wall time of ``app.step`` per press frame (first frames include compilation).

The ``block`` is issue #16's: 80 x 60 x 80 mm of 8 x 7.5 x 8 mm cells (not scaled), its bottom
layer pinned, the tool over its top face's centre (a vertex), pressed 40 mm below the top and no
further (at 2 m/s a frame's travel would take it to the pinned bottom). ``sweep=0`` / ``sweep=1``
sets ``CollisionSettings.sweep_contact`` (the tet sweep sees the tool; default: the setting's),
``friction=0`` / ``friction=1`` ``CollisionSettings.sweep_friction`` (the sweep's pushes carry the
tool's Coulomb friction). ``shaft=MM``: the tool is a probe, a vertical capsule of the sphere's
radius and that half length whose lower cap's centre takes the sphere's path (``inside_mm`` still
reads the surface against that cap's sphere only). ``offset=X,Z``: the tool's start moved by
(X, Z) mm across the press (the fast press on truthcylinder1 is chaotic: docs/physics.md "Warm
start", "A cost found after", reads it at nearby starts). ``ticks=1``: also
``tick_inside_mm``, the deepest the sampled surface got into the tool at any physics tick's end
(after the contacts, not only a frame's: the frame's end is a sample of the ticks), until the
first event (an event's own tick is not counted: its state is the one reported).

``--quick``: the box and the liver at 0.5 m/s only. Targets (``vrmed bench tool_press MESH ...``):
substrings of the mesh names to run. A hand is never still: ``jitter=MM`` adds to the held tool's
pose, each display frame of the hold, Gaussian noise of that standard deviation per axis (mm;
an optical tracker's 0.1-0.5 mm), seeded (``seed=N``, default 0); ``tremor=MM`` a 10 Hz sinusoid
of that amplitude along the press's axis (hand tremor, 8-12 Hz, 0.1-1 mm); both 0 by default
(the press as before, to the bit). The tool is then never still in the hold (the collision
world moves it across each frame's ticks), and ``still_gain_mj`` is the largest one-tick rise
in the hold, which then includes the moving tool's own work (``F dx``: ~10 N x 0.01 mm =
0.1 mJ a tick at 0.1 mm per frame). docs/physics.md, "Issue #16 at a glance" row "vertex
speeds", and docs/physics-log.md, "Where it stands: the detailed rows" and "Open in contact",
read these numbers.

``damping=S``: the liver material with that stiffness-proportional Rayleigh coefficient
(``Material.damping``, beta in seconds) instead of none; 0 (the default) is the undamped press
as before, to the bit. Real liver is viscoelastic: a loss tangent of about 0.24 at 40-100 Hz
(Sinkus et al., ISMRM 2006, abstract 2560: bovine liver, G''/G' = tan(0.15 pi / 2)), which at
the 8.5-20 Hz of the releases here is beta = tan(delta) / omega = 1.9-4.5 ms by the textbook
damping ratio beta omega / 2 = tan(delta) / 2 (docs/physics.md, "Vertex speeds under a slow
tool", measures the table at 2.5 and 4.5 ms; the engine's Rayleigh term damps a mode less than
that ratio, "Damping").

``trace=1``: what moved each row's fastest vertex (by displacement over a frame): the presses are
run again (they are deterministic), recording that vertex in every physics tick of its frame and
the frame before: its move by the tet solve and by the contacts projected after it (mm, and the
vectors), whether a contact pushed it, its speed after the tick; printed as notes, with the
frame's totals (the rows get ``frame_vertex`` and ``frame_k``, the press frame counted from the
first moving one).

``solve=1``: how far the tet solve alone (before the contacts) moves a vertex in a physics tick,
against the material's P-wave speed c_p = sqrt((lambda + 2 mu) / rho) (4.39 m/s for the liver
material: 4.88 mm a 900 Hz tick): ``solve_cp``, the largest such move / (c_p h); ``solve_over``,
the ticks whose largest move exceeded c_p h, and of those how many moved a vertex of a tet that
was inverted (``inv``) or below half its rest volume (``J<0.5``) at the tick's start. An elastic
release of uninverted tissue moves at strain x c_p, about c_p h a tick at most; the presses the
same, to the bit.

``energy=1``: the energy book of the press (the frames the tool moves down; no gravity, no
damping): ``work_mj``, the tool's work, each physics tick's reported contact force (what
haptics and the puncture check read) dotted with the tool's move over that tick; ``gain_mj``,
the body's elastic + kinetic energy at the press's end minus at its start (energy conservation:
at most ``work_mj``); ``velpass_mj``, the kinetic energy the contacts' velocity pass
(``kernels.contact_velocities``) added over the press, and ``velpass_n``, the largest net force
that pass put on the body in a tick (its sum m dv / h, reported in no contact force);
``solve_mj`` and ``proj_mj``, what the tet solve and the contact projection changed
(``gain_mj`` = ``solve_mj`` + ``proj_mj`` + ``velpass_mj``); ``velpass_top``, the four vertices
the velocity pass gave the most energy, with their mass and the length of the projection's
pushes on them, summed over the press, against the tool's travel. The presses the same, to the
bit. ``velocity=0``: ``CollisionSettings.velocity_pass`` off (the projection's velocities, kept
for comparison; default: the setting's).

``relax=N``: ``CollisionSettings.relax_sweeps`` N (4 measured; 0, the default: off): the tets the
contacts leave below half their rest volume are relaxed with the contacts in the same tick
(docs/physics.md, "Relaxing the tets under the contacts").

``rate=HZ``: the App's physics rate (``SimSettings.physics_rate``; 900, the default, one
substep a tick): the same presses with shorter ticks (docs/physics.md's glance row "vertex
speeds" reads the box at 3600 Hz). The column ``physics_hz`` then says which.

``hold=N``: ``CollisionSettings.hold_rounds`` N (0, the default: none; 3 measured): further
contact rounds in a tick whose contacts left the surface deeper than 0.5 mm in the tool
(docs/physics.md "Contact", "The contacts' tolerance checked on every tick").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from vrmed import App
from vrmed.benchmarks import mesh_path
from vrmed.benchmarks.tissue_catalogue import scaled
from vrmed.components.collision.collider import Collider
from vrmed.components.scene.core import Transform
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.errors import VrmedError
from vrmed.mesh import TetMesh, box_tets, load_tet_mesh, slab_tets
from vrmed.systems.collision.system import (
    CollisionPlugin,
    CollisionSettings,
    CollisionWorld,
    TissuePunctured,
    ToolInsideTissue,
)
from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings, elastic_energy, volume_ratios

LIVER = Material(5.4e3, 0.45, 1060.0)
RADIUS = 0.005
DEPTH = 0.04
MAX_FORCE = 10.0
HOLD = 27
#: the hand tremor's frequency (Hz; physiological tremor 8-12 Hz)
TREMOR_HZ = 10.0
FRAME = 1.0 / 90.0
#: (label, shipped file or None for a generated mesh)
MESHES = (
    ("box_tets 8x4x4", None),
    ("liver.msh", "liver.msh"),
    ("liver2.msh", "liver2.msh"),
    ("truthcylinder1.msh", "truthcylinder1.msh"),
    ("Armadillo_Tetra_4406.vtu", "Armadillo_Tetra_4406.vtu"),
    ("raptorTetra_19409.vtu", "raptorTetra_19409.vtu"),
    ("slab_tets", None),
    ("block 80x60x80", None),
)
#: barycentric samples per face (the surface points checked against the tool)
_G = np.array([(i / 8, j / 8) for i in range(9) for j in range(9 - i)])
SAMPLES = np.stack([1 - _G.sum(1), _G[:, 0], _G[:, 1]], axis=1)


def _mesh(label: str, file: str | None) -> TetMesh:
    """The mesh scaled to 0.2 m (largest extent) about its bounding box's centre."""
    if label.startswith("block"):
        # issue #16's block: 80 x 60 x 80 mm of 8 x 7.5 x 8 mm cells, not scaled (its lowest
        # 10 % is its bottom layer of vertices)
        return box_tets((0.08, 0.06, 0.08), (10, 8, 10))
    if file is not None:
        m = load_tet_mesh(mesh_path(file))
    elif label.startswith("box"):
        m = box_tets((0.2, 0.1, 0.1), (8, 4, 4))
    else:
        m = slab_tets((0.2, 0.2), 0.02, (10, 10), 2)
    return scaled(m)


def _energy(body: SoftBody) -> float:
    """Elastic + kinetic energy (J)."""
    return float(elastic_energy(body)) + 0.5 * float((body.mass[:, None] * body.v**2).sum())


def press(
    label: str,
    file: str | None,
    speed: float,
    jitter: float = 0.0,
    tremor: float = 0.0,
    seed: int = 0,
    sweep: bool | None = None,
    sweep_friction: bool | None = None,
    shaft: float = 0.0,
    offset: tuple[float, float] = (0.0, 0.0),
    damping: float = 0.0,
    trace: tuple[int, int] | None = None,
    ticks: bool = False,
    solve: bool = False,
    energy: bool = False,
    velocity_pass: bool | None = None,
    relax: int = 0,
    rate: float | None = None,
    hold: int | None = None,
) -> dict[str, Any]:
    """One press of the module docstring on one mesh at ``speed`` (m/s); returns its row.
    ``jitter`` / ``tremor``: the held tool's tracker noise (m, standard deviation per axis per
    display frame) and 10 Hz tremor (m, amplitude along the press's axis); ``seed`` the noise's.
    ``sweep``: ``CollisionSettings.sweep_contact`` (None: its default); ``sweep_friction``:
    ``CollisionSettings.sweep_friction`` (None: its default). ``shaft`` > 0: the tool is a
    vertical capsule of the sphere's radius and that half length (m) whose lower cap's centre
    takes the sphere's path (a probe with its shaft), not a bare sphere. ``offset``: the tool's
    start moved by (x, z) (m) across the press (the same press a little to the side).
    ``damping``: the material's Rayleigh coefficient beta (s); 0: the undamped liver material.
    ``trace`` (vertex, frame): the row also gets ``frame_vertex`` and ``frame_k`` (the fastest
    vertex by displacement and its press frame) and ``trace``, vertex ``trace[0]``'s moves in
    each physics tick of press frames ``trace[1] - 1`` and ``trace[1]`` (:func:`_traced`);
    (-1, -1) records none (to find the vertex and frame first). The press is the same, to the
    bit.
    ``ticks``: also read the surface in the tool at every physics tick's end (after the
    contacts), until the first event: the row's ``tick_inside_mm``.
    ``solve``: also read each physics tick's move by the tet solve alone (before the contacts),
    against the P-wave speed: the row's ``solve_cp`` and ``solve_over`` (:func:`_solve_moves`).
    ``energy``: also the energy book of the press (the frames the tool moves down), the row's
    ``work_mj``, ``gain_mj``, ``solve_mj``, ``proj_mj``, ``velpass_mj``, ``velpass_n`` and
    ``velpass_top`` (:func:`_energy_book`). ``velocity_pass``: ``CollisionSettings.velocity_pass``
    (None: its default). ``relax``: ``CollisionSettings.relax_sweeps`` (0, the default: off).
    ``rate``: the App's physics rate in Hz (None: the default, 900). ``hold``:
    ``CollisionSettings.hold_rounds`` (None: its default, 0)."""
    rng = np.random.default_rng(seed)
    mesh = _mesh(label, file)
    app = App(seed=0) if rate is None else App(seed=0, rates={"physics": rate})
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    kw: dict[str, Any] = {"relax_sweeps": relax} if relax else {}
    if sweep is not None:
        kw["sweep_contact"] = sweep
    if sweep_friction is not None:
        kw["sweep_friction"] = sweep_friction
    if velocity_pass is not None:
        kw["velocity_pass"] = velocity_pass
    if hold is not None:
        kw["hold_rounds"] = hold
    settings = CollisionSettings(**kw)
    app.add_plugin(CollisionPlugin(settings))
    body = SoftBody.from_mesh(mesh, LIVER if damping == 0.0 else replace(LIVER, damping=damping))
    p = body.rest_points
    low = p[:, 1].min()
    body.pin(np.flatnonzero(p[:, 1] < low + 0.1 * (p[:, 1].max() - low)))
    ent = app.spawn(body)
    boundary = np.unique(np.asarray(mesh.boundary_triangles()))
    on_surface = np.zeros(len(p), dtype=bool)
    on_surface[boundary] = True
    top = boundary[np.argmax(p[boundary, 1])]
    if label.startswith("block"):  # the top face's centre (a vertex of the 10 x 10 grid)
        mid = 0.5 * (p.min(axis=0) + p.max(axis=0))
        up = boundary[p[boundary, 1] > p[:, 1].max() - 1e-9]
        top = up[np.argmin(np.linalg.norm(p[up][:, [0, 2]] - mid[[0, 2]], axis=1))]
    start = p[top] + np.array([offset[0], RADIUS + 0.003, offset[1]])
    # a shaft: the capsule's local z axis turned to world y (half a turn about (y + z) / sqrt 2),
    # its centre ``shaft`` above the tip's centre
    lift = np.array([0.0, shaft, 0.0])
    if shaft > 0.0:
        tf = Transform(position=start + lift, orientation=np.array([0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)]))
        tool = app.spawn(tf, Collider(shape="capsule", radius=RADIUS, half_length=shaft, friction=0.05))
    else:
        tf = Transform(position=start.copy())
        tool = app.spawn(tf, Collider(shape="sphere", radius=RADIUS, friction=0.05))
    world = app.resource(CollisionWorld)
    reader = app.event_reader(ToolInsideTissue)
    punct = app.event_reader(TissuePunctured)
    events: list[str] = []
    inside = 0.0
    elapsed = 0.0
    state: dict[str, Any] = {"still": False, "gain": 0.0, "last": None, "k": -1, "tick": 0, "moving": False}
    resolve = world.resolve
    traced_ticks: list[tuple[int, int, np.ndarray, np.ndarray, bool, float]] = []
    tv = -1 if trace is None else trace[0]
    x_end = np.zeros(3)  # vertex tv where the last tick's contacts left it
    tick_in: list[float] = []
    tick_state = {"done": not ticks}
    # solve=1: the positions where the last tick's contacts left the body, the largest move of
    # the tet solve in a tick, the ticks whose largest move exceeded c_p h, and of those the ones
    # whose vertex was in an inverted tet at the tick's start
    x_tick = body.x.copy()
    solved = {"max": 0.0, "over": 0, "inverted": 0, "crushed": 0}
    material = body.material
    c_p = float(np.sqrt((material.lam + 2.0 * material.mu) / material.density))
    # energy=1: the body's x and v before this tick's contacts, and the press's book
    x_pre, v_pre = body.x.copy(), body.v.copy()
    book: dict[str, Any] = {"work": 0.0, "solve": 0.0, "proj": 0.0, "velpass": 0.0, "velpass_n": 0.0, "e0": 0.0}
    book.update(end=0.0, pre=0.0, travel=0.0, vertex_ke=np.zeros(len(p)), vertex_push=np.zeros(len(p)))

    def resolve_and_watch(b: SoftBody, surf: Any, h: float) -> None:
        # the energy after each tick's contact (the end of the tick): its rise between ticks
        # while the tool is still
        if b is body and not tick_state["done"] and (any(world.pushed_through.values()) or world.punctured.get(ent)):
            tick_state["done"] = True  # an event at the last tick (sent after its contacts): not counted
            if tick_in:
                tick_in.pop()
        x_solved = b.x[tv].copy() if b is body and tv >= 0 else x_end
        if b is body and solve:
            _solve_moves(body, x_tick, c_p * h, solved)
        if b is body and energy and state["moving"]:
            x_pre[:] = body.x
            v_pre[:] = body.v
            book["pre"] = _energy(body)
        resolve(b, surf, h)
        e = _energy(body) if b is body else 0.0  # the body's energy at the tick's end
        if b is body and energy and state["moving"]:
            _energy_book(body, world, surf, world.primitives_of(tool), x_pre, v_pre, book["pre"], e, h, book)
        if b is body and solve:
            x_tick[:] = body.x
        if b is body and not tick_state["done"]:  # the tool's sphere (a shaft's lower cap) this tick
            slot = world.primitives_of(tool)[0]
            a, c = world.seg_a[slot], world.seg_b[slot]
            tick_in.append(_surface_in_tool(body, surf.faces, (a if a[1] <= c[1] else c).copy()))
        if b is body and tv >= 0:
            if trace is not None and state["k"] in (trace[1] - 1, trace[1]):
                # this tick's move of the traced vertex by the tet solve and by the contacts
                traced_ticks.append(
                    (
                        state["k"],
                        state["tick"],
                        x_solved - x_end,
                        body.x[tv] - x_solved,
                        bool(body.contact_hold[tv]),
                        float(np.linalg.norm(body.v[tv])),
                    )
                )
            x_end[:] = body.x[tv]
            state["tick"] += 1
        if b is body:
            if state["still"] and state["last"] is not None:
                state["gain"] = max(state["gain"], e - state["last"])
            state["last"] = e

    setattr(world, "resolve", resolve_and_watch)  # this world only (an instance attribute)  # noqa: B010
    try:
        app.step(10)  # the collision world sees the tool at its start pose first
        step = speed * FRAME
        n_in = int(np.ceil((DEPTH + RADIUS + 0.003) / step))
        pos = start.copy()
        stopped = False
        force = 0.0
        inv_max = 0
        best = {"frame": (0.0, ""), "last": (0.0, "")}
        fastest = (-1, -1)  # (vertex, frame) of best["frame"]
        x_old = body.x.copy()
        k_hold = 0
        for k in range(n_in + HOLD):
            moving = k < n_in and not stopped
            pos_before = pos.copy()
            if moving:
                pos = pos - np.array([0.0, step, 0.0])
                if label.startswith("block"):  # 40 mm below its top, not past it (60 mm tall)
                    pos[1] = max(pos[1], start[1] - (DEPTH + RADIUS + 0.003))
                k_hold = k + 1
            shown = pos.copy()
            if not moving and (jitter > 0.0 or tremor > 0.0):
                # the hand holding the tool: noise about the held pose, not a random walk
                shown += jitter * rng.standard_normal(3)
                shown[1] += tremor * np.sin(2.0 * np.pi * TREMOR_HZ * (k - k_hold + 1) * FRAME)
            tf.position = shown + lift
            state["still"] = not moving and k > 0
            state["moving"] = moving
            if energy and moving and k == 0:
                book["e0"] = book["end"] = _energy(body)
            state["k"], state["tick"] = k, 0
            t0 = time.perf_counter()
            app.step(1)
            elapsed += time.perf_counter() - t0
            for ev in reader.read():
                events.append(f"{ev.reason} {ev.force:.2f} N frame {k}")
            for hit in punct.read():
                events.append(f"punctured {hit.force:.2f} N frame {k}")
            if not events:  # surface points inside the tool (those near it), until an event
                inside = max(inside, _surface_in_tool(body, world.surfaces[ent].faces, shown))
            if energy and moving:
                book["travel"] += float(np.linalg.norm(pos - pos_before))
            f = float(np.linalg.norm(world.owner_force.get(tool, np.zeros(3))))
            force = max(force, f)
            stopped = stopped or (f >= MAX_FORCE and k < n_in)
            x = body.x
            last = np.linalg.norm(body.v, axis=1) / speed
            moved = np.linalg.norm(x - x_old, axis=1) / FRAME / speed
            inverted = volume_ratios(body) <= 0.0
            inv_max = max(inv_max, int(inverted.sum()))
            for key, arr in (("frame", moved), ("last", last)):
                i = int(np.argmax(arr))
                if arr[i] > best[key][0]:
                    best[key] = (float(arr[i]), _where(body, inverted, on_surface, i, pos))
                    if key == "frame":
                        fastest = (i, k)
            x_old = x.copy()
    finally:
        app.close()
    located: dict[str, Any] = {} if trace is None else {"frame_vertex": fastest[0], "frame_k": fastest[1]}
    if trace is not None:
        located["trace"] = _traced(traced_ticks, speed)
    row: dict[str, Any] = {
        "mesh": label,
        "speed_m_s": speed,
        "tets": int(body.tets.shape[0]),
        "frame_x": round(best["frame"][0], 2),
        "frame_where": best["frame"][1],
        "last_x": round(best["last"][0], 2),
        "last_where": best["last"][1],
        "force_n": round(force, 2),
        "inverted_max": inv_max,
        "inverted_end": int((volume_ratios(body) <= 0.0).sum()),
        "still_gain_mj": round(state["gain"] * 1e3, 2),
        "inside_mm": round(max(inside, 0.0) * 1e3, 3),
        "events": "; ".join(events),
        "ms_per_frame": round(elapsed / (n_in + HOLD) * 1e3, 2),
        **located,
    }
    if ticks:
        row["tick_inside_mm"] = round(max(tick_in + [0.0]) * 1e3, 3)
    if energy:
        row["work_mj"] = round(book["work"] * 1e3, 2)
        row["gain_mj"] = round((book["end"] - book["e0"]) * 1e3, 2)
        row["solve_mj"] = round(book["solve"] * 1e3, 2)
        row["proj_mj"] = round(book["proj"] * 1e3, 2)
        row["velpass_mj"] = round(book["velpass"] * 1e3, 2)
        row["velpass_n"] = round(book["velpass_n"], 2)
        # the vertices the velocity pass gave the most energy: vertex, mass (g), that energy (mJ),
        # its pushes (mm, summed over the press) against the tool's travel (mm)
        top = np.argsort(-book["vertex_ke"])[:4]
        row["velpass_top"] = (
            "; ".join(
                f"v{i} {body.mass[i] * 1e3:.2f} g +{book['vertex_ke'][i] * 1e3:.1f} mJ "
                f"pushed {book['vertex_push'][i] * 1e3:.2f} mm"
                for i in top
            )
            + f" (tool {book['travel'] * 1e3:.1f} mm)"
        )
    if solve:
        row["solve_cp"] = round(solved["max"], 2)
        row["solve_over"] = f"{solved['over']} ({solved['inverted']} inv, {solved['crushed']} J<0.5)"
    return row


def _energy_book(
    body: SoftBody,
    world: CollisionWorld,
    surf: Any,
    prims: list[int],
    x_pre: np.ndarray,
    v_pre: np.ndarray,
    e_pre: float,
    e_end: float,
    h: float,
    book: dict[str, Any],
) -> None:
    """``press``'s ``energy``, after one contact resolve of a press tick (``x_pre``, ``v_pre``,
    ``e_pre``: the body and its energy before it, after the tet solve; ``e_end``: its energy
    after it, :func:`_energy`). Into ``book``: ``work``,
    the tool's work on the body, the reported force (``surf.force`` of the tool's primitives
    ``prims``, the force on the tool) dotted with the tool's move over the tick, negated;
    ``solve``, ``proj`` and ``velpass``, the energy the tet solve, the contact projection and its
    velocity pass (``kernels.contact_velocities``) changed (the projection sets v += dx / h for
    its every move dx, so the velocity after it is ``v_pre + (x - x_pre) / h``, and the pass's
    change is what is left of the tick's change in v); ``velpass_n``, the largest |sum m dv| / h
    of that pass in a tick, a force on the body no ``surf.force`` reports; per vertex, the
    kinetic energy the pass gave (``vertex_ke``) and the length of the projection's pushes
    (``vertex_push``); ``end``, ``e_end``."""
    force = np.zeros(3)
    for p in prims:
        if surf.count[p]:
            force += surf.force[p]
    move = world.seg_a[prims[0]] - world.seg_a0[prims[0]]
    book["work"] -= float(force @ move)
    push = body.x - x_pre
    v_proj = v_pre + push / h
    m = body.mass
    ke_pass = 0.5 * m * ((body.v**2).sum(axis=1) - (v_proj**2).sum(axis=1))
    # the elastic energy is the tick end's (the velocity pass moves no vertex)
    e_proj = e_end - float(ke_pass.sum())
    book["solve"] += e_pre - book["end"]
    book["proj"] += e_proj - e_pre
    book["velpass"] += float(ke_pass.sum())
    book["end"] = e_end
    impulse = (m[:, None] * (body.v - v_proj)).sum(axis=0)
    book["velpass_n"] = max(book["velpass_n"], float(np.linalg.norm(impulse)) / h)
    book["vertex_ke"] += ke_pass
    book["vertex_push"] += np.linalg.norm(push, axis=1)


def _solve_moves(body: SoftBody, x_tick: np.ndarray, step: float, solved: dict[str, Any]) -> None:
    """``press``'s ``solve``: the tet solve's moves this physics tick (``body.x`` after the solve,
    before the contacts, against ``x_tick``, where the last tick's contacts left it), as a
    multiple of ``step`` = c_p h (the P-wave speed times the tick): the largest so far into
    ``solved["max"]``; a tick whose largest move exceeds it counts in ``solved["over"]`` and, if
    that vertex was in an inverted tet (or one below half its rest volume) at the tick's start,
    in ``solved["inverted"]`` (``solved["crushed"]``). An elastic release of uninverted tissue moves
    at most strain x c_p, i.e. about c_p h a tick for strains of order one."""
    d = np.linalg.norm(body.x - x_tick, axis=1)
    i = int(np.argmax(d))
    solved["max"] = max(solved["max"], float(d[i]) / step)
    if d[i] <= step:
        return
    solved["over"] += 1
    tets = body.tets[(body.tets == i).any(axis=1)]
    e = x_tick[tets[:, 1:]] - x_tick[tets[:, :1]]
    e0 = body.rest_points[tets[:, 1:]] - body.rest_points[tets[:, :1]]
    j = float((np.linalg.det(e) / np.linalg.det(e0)).min())
    solved["inverted"] += int(j <= 0.0)
    solved["crushed"] += int(j < 0.5)


def _surface_in_tool(body: SoftBody, faces: np.ndarray, centre: np.ndarray) -> float:
    """How deep (m) the sampled surface near the tool is inside its sphere about ``centre``
    (negative: its gap), as ``inside_mm`` reads it at a frame's end; -inf with no face near."""
    near = np.linalg.norm(body.x - centre, axis=1) < RADIUS + 0.03
    sel = faces[near[faces].any(axis=1)]
    if not sel.shape[0]:
        return float("-inf")
    pts = np.einsum("sk,fkc->fsc", SAMPLES, body.x[sel]).reshape(-1, 3)
    return RADIUS - float(np.linalg.norm(pts - centre, axis=1).min())


def _traced(ticks: list[tuple[int, int, np.ndarray, np.ndarray, bool, float]], speed: float) -> list[str]:
    """One line per physics tick of a traced vertex (``press``'s ``trace``): the press frame and
    tick, the tick's move by the tet solve and by the contacts after it (mm, and the vectors), whether
    a contact pushed it, and its speed after the tick / the tool's; then the frame's totals."""
    lines = []
    for k, j, solve, contact, held, v in ticks:
        lines.append(
            f"frame {k} tick {j}: solve {np.linalg.norm(solve) * 1e3:.2f} mm {np.round(solve * 1e3, 2)}, "
            f"contacts {np.linalg.norm(contact) * 1e3:.2f} mm {np.round(contact * 1e3, 2)}"
            f"{', held' if held else ''}, then {v / speed:.2f}x"
        )
    if ticks:
        last = ticks[-1][0]
        solve = sum((t[2] for t in ticks if t[0] == last), np.zeros(3))
        contact = sum((t[3] for t in ticks if t[0] == last), np.zeros(3))
        moved = float(np.linalg.norm(solve + contact))
        lines.append(
            f"frame {last}: solve {np.linalg.norm(solve) * 1e3:.2f} mm, contacts "
            f"{np.linalg.norm(contact) * 1e3:.2f} mm, displacement {moved * 1e3:.2f} mm = {moved / FRAME / speed:.2f}x"
        )
    return lines


def _where(body: SoftBody, inverted: np.ndarray, on_surface: np.ndarray, i: int, tool: np.ndarray) -> str:
    """Where vertex ``i`` is (see the module docstring)."""
    tets = body.tets
    n = body.x.shape[0]
    hold = body.contact_hold if body.contact_hold.shape[0] == n else np.zeros(n, dtype=bool)
    mine = (tets == i).any(axis=1)
    parts = ["held"] if hold[i] else (["heldtet"] if hold[tets[mine]].any() else [])
    if inverted[mine].any():
        parts.append("inv")
    if body.recover_near.shape[0] == tets.shape[0] and body.recover_near[mine].any():
        parts.append("flag")
    parts.append("surf" if i < on_surface.shape[0] and on_surface[i] else "int")
    return f"{','.join(parts)} {np.linalg.norm(body.x[i] - tool) * 1e3:.0f} mm"


#: the ``KEY=VALUE`` options of ``vrmed bench tool_press`` (the module docstring says what each does)
OPTIONS = (
    "jitter",
    "tremor",
    "seed",
    "sweep",
    "friction",
    "shaft",
    "offset",
    "damping",
    "trace",
    "ticks",
    "solve",
    "energy",
    "velocity",
    "relax",
    "rate",
    "hold",
)


def check_targets(words: list[str]) -> None:
    """Refuse a word of ``vrmed bench tool_press MESH ... KEY=VALUE ...`` that the presses would
    ignore: an option not in :data:`OPTIONS`, or a mesh word that is part of no mesh's name
    (case-sensitive). Both ran before without it (a typo ``relx=4`` printed the plain presses, an
    ``armadillo`` none), so a documented command with a typo looked like a reproduction."""
    unknown = sorted({w.split("=", 1)[0] for w in words if "=" in w} - set(OPTIONS))
    if unknown:
        raise VrmedError(
            f"bench tool_press: unknown option(s) {', '.join(unknown)}; known: {', '.join(k + '=' for k in OPTIONS)}"
        )
    for word in words:
        if "=" not in word and not any(word in label for label, _ in MESHES):
            raise VrmedError(
                f"bench tool_press: {word!r} is part of no mesh's name; meshes: {', '.join(m for m, _ in MESHES)}"
            )


def _number(
    kv: dict[str, str], key: str, default: Any, cast: Callable[[str], Any], ok: Callable[[Any], bool], need: str
) -> Any:
    """Option ``key`` of ``kv`` as ``cast`` gives it (``default`` when absent), or a
    ``VrmedError`` saying what it needs (``need``) when it does not parse or ``ok`` refuses it,
    not a raw traceback at the command line."""
    if key not in kv:
        return default
    try:
        value = cast(kv[key])
    except ValueError:
        value = None
    if value is None or value != value or not ok(value):  # (value != value: a NaN)
        raise VrmedError(f"bench tool_press: {key}= needs {need}, got {kv[key]!r}")
    return value


def run(options: dict[str, Any]) -> dict[str, Any]:
    """The press on every mesh (or the targets' / the quick set) at 0.5 and 2 m/s."""
    words = list(options.get("targets") or [])
    check_targets(words)
    targets = [t for t in words if "=" not in t]
    meshes = [m for m in MESHES if not targets or any(t in m[0] for t in targets)]
    speeds: tuple[float, ...] = (0.5, 2.0)
    if options.get("quick"):
        meshes, speeds = [MESHES[0], MESHES[1]], (0.5,)
    kv = dict(t.split("=", 1) for t in words if "=" in t)
    jitter = _number(kv, "jitter", 0.0, float, lambda v: v >= 0.0, "a standard deviation >= 0 in mm") * 1e-3
    tremor = _number(kv, "tremor", 0.0, float, lambda v: v >= 0.0, "an amplitude >= 0 in mm") * 1e-3
    seed = _number(kv, "seed", 0, int, lambda v: True, "an integer")
    sweep = None if "sweep" not in kv else kv["sweep"] not in ("0", "off", "false")
    friction = None if "friction" not in kv else kv["friction"] not in ("0", "off", "false")
    shaft = _number(kv, "shaft", 0.0, float, lambda v: v >= 0.0, "a half length >= 0 in mm") * 1e-3
    try:
        ox, oz = (float(v) * 1e-3 for v in kv.get("offset", "0,0").split(","))
    except ValueError:
        raise VrmedError(f"bench tool_press: offset=X,Z needs two numbers in mm, got {kv['offset']!r}") from None
    damping = _number(kv, "damping", 0.0, float, lambda v: v >= 0.0, "a Rayleigh beta >= 0 in seconds")
    traced = kv.get("trace", "0") not in ("0", "off", "false")
    ticks = kv.get("ticks", "0") not in ("0", "off", "false")
    solve = kv.get("solve", "0") not in ("0", "off", "false")
    energy = kv.get("energy", "0") not in ("0", "off", "false")
    velocity = None if "velocity" not in kv else kv["velocity"] not in ("0", "off", "false")
    relax = _number(kv, "relax", 0, int, lambda v: v >= 0, "a count of sweeps >= 0")
    rate = _number(kv, "rate", None, float, lambda v: v > 0.0, "a physics rate > 0 in Hz")
    hold = _number(kv, "hold", None, int, lambda v: v >= 0, "a count of rounds >= 0")
    args = (jitter, tremor, seed, sweep, friction, shaft, (ox, oz), damping)
    rows = [
        press(label, file, sp, *args, (-1, -1) if traced else None, ticks, solve, energy, velocity, relax, rate, hold)
        for label, file in meshes
        for sp in speeds
    ]
    lines: list[str] = []
    if traced:  # the same presses again (deterministic), recording each fastest vertex's ticks
        for i, (label, file) in enumerate(m for m in meshes for _ in speeds):
            row = rows[i]
            row.pop("trace")
            again = press(
                label,
                file,
                row["speed_m_s"],
                *args,
                (row["frame_vertex"], row["frame_k"]),
                ticks,
                solve,
                energy,
                velocity,
                relax,
                rate,
                hold,
            )
            head = f"{label} {row['speed_m_s']:g} m/s: vertex {row['frame_vertex']}, press frame {row['frame_k']}"
            same = "" if again["frame_x"] == row["frame_x"] else " (the rerun differed!)"
            lines += [head + same] + ["  " + t for t in again["trace"]]
    if damping > 0.0:
        for row in rows:
            row["damping_s"] = damping
    if rate is not None:
        for row in rows:
            row["physics_hz"] = rate
    if hold is not None:
        for row in rows:
            row["hold_rounds"] = hold
    if jitter > 0.0 or tremor > 0.0:
        for row in rows:
            row["jitter_mm"], row["tremor_mm"] = jitter * 1e3, tremor * 1e3
    notes = [
        "frame_x: fastest displacement over a frame / frame time, last_x: fastest last-tick velocity, "
        "both / tool speed, over the press and 27 held frames",
        "still_gain_mj: largest rise of elastic + kinetic energy over one tick while the tool is still",
        f"App defaults{'' if rate is None else ' but the physics rate'}: {900 if rate is None else rate:g} Hz "
        "physics ticks of one substep; liver material "
        + (f"with Rayleigh damping beta {damping:g} s" if damping > 0.0 else "without damping"),
    ]
    if solve:
        notes.append(
            "solve_cp: the largest move of a vertex by the tet solve in one physics tick (before the contacts) / "
            "(c_p h), c_p = sqrt((lambda + 2 mu) / rho) the P-wave speed, h the tick; solve_over: the ticks whose "
            "largest such move exceeded c_p h (of them: its vertex in an inverted tet, in one below J 0.5, at the "
            "tick's start)"
        )
    if energy:
        notes.append(
            "work_mj: the reported contact force . the tool's move, summed over the press's ticks; gain_mj: the "
            "body's elastic + kinetic energy gained over the press; velpass_mj: the kinetic energy the contacts' "
            "velocity pass added; velpass_n: its largest net force on the body in a tick (in no reported force); "
            "solve_mj / proj_mj: what the tet solve / the contact projection changed; velpass_top: the vertices the "
            "pass gave the most energy (mass, energy, the projection's pushes on them over the press)"
        )
    if traced:
        notes.append(
            "trace: the fastest vertex by displacement, each physics tick of its frame and the one before: "
            "its move by the tet solve and by the contacts after it"
        )
        notes += lines
    if jitter > 0.0 or tremor > 0.0:
        notes.append(
            f"held tool: Gaussian noise {jitter * 1e3:g} mm per axis per frame (seed {seed}), 10 Hz tremor "
            f"{tremor * 1e3:g} mm along the press; still_gain_mj then includes the tool's own work"
        )
    return {"suite": "tool_press", "rows": rows, "notes": notes}
