"""How robust a scripted trainee's outcome is: the same scenario with its script started a few
milliseconds later.

A scripted session (a cut, a snip) can turn on the last bits of the tissue's state, so one run
says little about the technique; shifting the script's start by 5 ms steps moves every contact
by a fraction of a tick and shows how often the technique succeeds. For packs whose scripted
trainee reads the scenario setting ``script_start`` (s; the laparoscopy pack's dissections, 0.5 s
by default), this suite runs the scenario once per shift with ``script_start`` moved by it and
reports, per shift: the pack's own score (``passed``, ``score``, when the pack module has
``score(log)``), ``TaskCompleted`` events, the last ``LineDivided`` fraction when the pack sends
one, and the soft bodies' inverted tets: the most, as a percentage of the body's tets, at any
0.25 s check (the worst body) and the number at the end (all bodies); and at the end, how far
a vertex is out of its 1-ring at most (:func:`ring_offsets`: its displacement from rest less
the mean displacement of the other corners of its tets), over the vertices born in a cut
(``ring_cut_mm``: a cut-born vertex a tool dragged off and left there, docs/laparoscopy.md "The
drag, instrumented"; ``ring_cut_rest_mm``: that vertex's distance from its rest position) and
over the others (``ring_other_mm``)::

    vrmed bench script_shifts laparoscopy/dissection_scissors 0 5 10 15 20 25 30 35 40 45
    vrmed bench script_shifts laparoscopy/dissection_scissors_novice 0 20
    vrmed bench script_shifts laparoscopy/dissection_scissors 10 scissors_friction=0.05

(shifts in ms; none given: 0 and 20). ``scissors_friction=F``: every instrument whose tool is
``scissors`` with contact friction F instead of its own (``Instrument.friction``; column
``scissors_friction``). docs/laparoscopy.md quotes these tables.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from vrmed.components.instruments.instrument import Instrument
from vrmed.components.tissue.softbody import SoftBody
from vrmed.errors import VrmedError
from vrmed.session import build_session, open_target
from vrmed.systems.tissue.solver import volume_ratios

DEFAULT_SHIFTS_MS = (0.0, 20.0)
CHECK_S = 0.25


def ring_offsets(body: SoftBody) -> np.ndarray:
    """Per vertex (m): how far its displacement from rest is from the mean displacement of its
    1-ring, taken over the other corners of every tet it is a corner of (a neighbour counted once
    per tet the two share); 0 for a vertex in no tet.

    A vertex the tissue around it carries along has a small offset however far the body moved;
    a large one is a vertex pulled out of its ring (dragged by a tool, a spike). It compares
    displacements, so a translation leaves it 0 but a turn by a small angle a shows as about a
    times the vertex's distance from its ring's centroid (a fraction of a cell)."""
    u = body.x - body.rest_points
    t = np.asarray(body.tets, dtype=np.int64)
    n = body.n_vertices
    corners = np.bincount(t.ravel(), minlength=n).astype(float)  # tets per vertex
    tet_sum = u[t].sum(axis=1)  # (m, 3): each tet's four corners' displacements summed
    ring = np.zeros((n, 3))
    for axis in range(3):  # per vertex: its tets' sums less itself once per tet
        ring[:, axis] = np.bincount(t.ravel(), weights=np.repeat(tet_sum[:, axis], 4), minlength=n)
    ring -= corners[:, None] * u
    inner = corners > 0
    out = np.zeros(n)
    out[inner] = np.linalg.norm(u[inner] - ring[inner] / (3.0 * corners[inner, None]), axis=1)
    return out


def shifted_run(target: str, shift_ms: float, scissors_friction: float | None = None) -> dict[str, Any]:
    """One run of ``target`` (``PACK/SCENARIO``) with its ``script_start`` moved by ``shift_ms``
    (and, when ``scissors_friction`` is given, every ``scissors`` instrument with that friction)."""
    pack, name = open_target(target)
    name = name or pack.default_scenario
    scenario = pack.scenarios.get(name) if name else None
    if scenario is None or scenario.duration is None:
        raise VrmedError(f"bench script_shifts needs a scenario with a duration; {target} has none")
    settings = scenario.settings
    given = settings.get("script_start")
    settings["script_start"] = float(0.5 if given is None else given) + shift_ms / 1000.0
    t0 = time.perf_counter()
    worst_pct, end_inverted = 0.0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the solver's stiff-tet warnings, once per cut
        session = build_session(pack, name, seed=0)
        try:
            if scissors_friction is not None:  # read by the instruments' system every frame
                for _, inst in session.app.query(Instrument):
                    if inst.tool == "scissors":
                        inst.friction = scissors_friction
            for _ in range(int(round(scenario.duration / CHECK_S))):
                session.run(seconds=CHECK_S)
                counts = [
                    (int(np.count_nonzero(volume_ratios(b) <= 0)), b.n_tets) for _, b in session.app.query(SoftBody)
                ]
                worst_pct = max([worst_pct] + [100.0 * i / n for i, n in counts if n])
                end_inverted = sum(i for i, _ in counts)
            ring_cut, ring_cut_rest, ring_other = 0.0, 0.0, 0.0
            for _, b in session.app.query(SoftBody):
                off = ring_offsets(b)
                born = b.cut_born if b.cut_born.size == b.n_vertices else np.zeros(b.n_vertices, bool)
                if born.any() and off[born].max() > ring_cut:
                    k = int(np.flatnonzero(born)[np.argmax(off[born])])
                    ring_cut, ring_cut_rest = float(off[k]), float(np.linalg.norm(b.x[k] - b.rest_points[k]))
                ring_other = max(ring_other, float(off[~born].max(initial=0.0)))
            log = session.finish()
        finally:
            session.close()
            if given is None:
                settings.pop("script_start")
            else:
                settings["script_start"] = given
    kinds = [e["type"].rsplit(":", 1)[-1] for e in log.events]
    divided = [e["data"]["fraction"] for e in log.events if e["type"].endswith(":LineDivided")]
    row: dict[str, Any] = {"scene": target, "shift_ms": shift_ms}
    if scissors_friction is not None:
        row["scissors_friction"] = scissors_friction
    score = getattr(pack.module, "score", None) if pack.module is not None else None
    if callable(score):
        s = score(log)
        row["passed"] = bool(s.get("passed"))
        row["score"] = round(float(s.get("score", 0.0)), 1)
    row["completed"] = kinds.count("TaskCompleted")
    if divided:
        row["divided"] = round(float(divided[-1]), 3)
    row["inverted_max_pct"] = round(worst_pct, 1)
    row["inverted_end"] = end_inverted
    row["ring_cut_mm"] = round(1e3 * ring_cut, 2)
    row["ring_cut_rest_mm"] = round(1e3 * ring_cut_rest, 2)
    row["ring_other_mm"] = round(1e3 * ring_other, 2)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def run(options: dict[str, Any]) -> dict[str, Any]:
    """``vrmed bench script_shifts PACK/SCENARIO [MS ...] [scissors_friction=F]`` (default the
    scissors dissection at 0 and 20 ms; ``--quick``: its first 0 ms run only)."""
    words = [str(t) for t in options.get("targets") or []]
    kv = dict(t.split("=", 1) for t in words if "=" in t)
    unknown = sorted(set(kv) - {"scissors_friction"})
    if unknown:
        raise VrmedError(f"bench script_shifts: unknown option(s) {unknown}; known: scissors_friction=F")
    try:
        friction = None if "scissors_friction" not in kv else float(kv["scissors_friction"])
    except ValueError:
        friction = math.nan
    if friction is not None and not friction >= 0.0:
        raise VrmedError(f"bench script_shifts: scissors_friction must be >= 0, got {kv['scissors_friction']!r}")
    targets = [t for t in words if "=" not in t]
    scene = targets[0] if targets else "laparoscopy/dissection_scissors"
    try:
        shifts = [float(t) for t in targets[1:]] or list(DEFAULT_SHIFTS_MS)
    except ValueError as exc:
        raise VrmedError(f"bench script_shifts: shifts are numbers of milliseconds ({exc})") from None
    if options.get("quick"):
        shifts = shifts[:1]
    rows = [shifted_run(scene, ms, friction) for ms in shifts]
    notes = [
        "script_start moved by shift_ms (the pack's scripted trainee must read it); inverted_max_pct: the "
        f"worst soft body's inverted tets at any {CHECK_S} s check; inverted_end: all bodies at the end",
        "ring_cut_mm / ring_other_mm: at the end, the largest distance of a vertex's displacement from the "
        "mean displacement of the other corners of its tets, over the vertices born in a cut / the others "
        "(all soft bodies); ring_cut_rest_mm: the distance of the ring_cut_mm vertex from its rest position",
    ]
    return {"suite": "script_shifts", "rows": rows, "notes": notes}
