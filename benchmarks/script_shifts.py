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
0.25 s check (the worst body) and the number at the end (all bodies)::

    vrmed bench script_shifts laparoscopy/dissection_scissors 0 5 10 15 20 25 30 35 40 45
    vrmed bench script_shifts laparoscopy/dissection_scissors_novice 0 20

(shifts in ms; none given: 0 and 20). docs/laparoscopy.md quotes these tables.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from vrmed.components.tissue.softbody import SoftBody
from vrmed.errors import VrmedError
from vrmed.session import build_session, open_target
from vrmed.systems.tissue.solver import volume_ratios

DEFAULT_SHIFTS_MS = (0.0, 20.0)
CHECK_S = 0.25


def shifted_run(target: str, shift_ms: float) -> dict[str, Any]:
    """One run of ``target`` (``PACK/SCENARIO``) with its ``script_start`` moved by ``shift_ms``."""
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
            for _ in range(int(round(scenario.duration / CHECK_S))):
                session.run(seconds=CHECK_S)
                counts = [
                    (int(np.count_nonzero(volume_ratios(b) <= 0)), b.n_tets) for _, b in session.app.query(SoftBody)
                ]
                worst_pct = max([worst_pct] + [100.0 * i / n for i, n in counts if n])
                end_inverted = sum(i for i, _ in counts)
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
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def run(options: dict[str, Any]) -> dict[str, Any]:
    """``vrmed bench script_shifts PACK/SCENARIO [MS ...]`` (default the scissors dissection at 0
    and 20 ms; ``--quick``: its first 0 ms run only)."""
    targets = list(options.get("targets") or [])
    scene = targets[0] if targets else "laparoscopy/dissection_scissors"
    try:
        shifts = [float(t) for t in targets[1:]] or list(DEFAULT_SHIFTS_MS)
    except ValueError as exc:
        raise VrmedError(f"bench script_shifts: shifts are numbers of milliseconds ({exc})") from None
    if options.get("quick"):
        shifts = shifts[:1]
    rows = [shifted_run(scene, ms) for ms in shifts]
    notes = [
        "script_start moved by shift_ms (the pack's scripted trainee must read it); inverted_max_pct: the "
        f"worst soft body's inverted tets at any {CHECK_S} s check; inverted_end: all bodies at the end",
    ]
    return {"suite": "script_shifts", "rows": rows, "notes": notes}
