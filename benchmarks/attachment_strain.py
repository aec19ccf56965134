"""Issue #16 item 4, measured on the laparoscopy gallbladder: the strain at its attachment when it
hangs on its ligament patch and when the same vertices are pinned instead.

The laparoscopy pack's gallbladder is held to the liver bed by a ligament patch over 40 surface
vertices of its neck end and of its neck half's underside (``prefabs/organs.yaml``: 1e6 Pa/m,
14 cm^2). This suite builds the pack's hook dissection (``laparoscopy/dissection``, headless,
seed 0) and drives it with the grasper's retraction alone: the left hand's keys of the scenario's
own generated script (``dissection_script``: it grasps the fundus and lifts it 9 mm, up and away
from the line) up to the end of the lift, then held; the right hand (the hook) stays at its home
pose, so nothing but the grasper touches the tissue. It runs that twice: ``patch`` (the pack as
shipped) and ``pinned`` (before the first frame the patch is removed and its 40 vertices pinned
where they are, at rest: the attachment the pack had until 2026-12-01)::

    vrmed bench attachment_strain
    python -m vrmed.benchmarks.attachment_strain

and reports per attachment, at rest (at the script's start, 0.5 s, before the grasper moves) and
with the retraction held (:data:`HOLD_S` after the lift's end; the figures are steady by then):
the largest principal Green strain of the tets with a held vertex (``attach_*``) and of the
whole body (``body_*``; with the retraction held the most strained tet is at the grasper's jaw,
whose grasped vertices follow it exactly), the largest move of a held vertex from its rest
position (``neck_*_mm``; 0 when pinned), the largest rise of a gallbladder vertex (``lift_mm``:
the grasped fundus) and what the patch holds the gallbladder with (``patch_*_n``, the magnitude
of the springs' summed force; the pins' reaction is not measured).

``vrmed bench attachment_strain scissors`` adds the scissors expert (``laparoscopy/
dissection_scissors``, its own script, the session as the pack runs it) on each attachment at
the script's start shifted by 0, 5, ... 45 ms (the scenario setting ``script_start``, as
``vrmed bench script_shifts`` moves it): the largest attachment strain at the 0.25 s checks
before the first snip (the first check after which a ``TissueCut`` is in the log is left out),
when the open blades are at the line next to the attached underside (:data:`SHIFTS_MS`;
~5 s a session once compiled). docs/physics.md ("Distributed attachments") and
docs/laparoscopy.md ("The gallbladder on a ligament patch") quote these figures;
``tests/test_attachment_strain.py`` asserts what they show.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from vrmed.components.scene.core import Name
from vrmed.components.tissue.ligament import LigamentPatch
from vrmed.components.tissue.softbody import SoftBody
from vrmed.errors import VrmedError
from vrmed.input import Keyframe, ScriptedInput
from vrmed.packs.model import Pack
from vrmed.session import build_session, open_target
from vrmed.systems.tissue.solver import max_principal_strain

SCENARIO = "laparoscopy/dissection"
BODY = "gallbladder"
HELD = ("patch", "pinned")
#: how long the lifted fundus is held before the held figures are read (s); they are steady to
#: 4 digits 0.3 s after the lift's end (read every 0.25 s for 2 s after it, 2026-12-02)
HOLD_S = 0.5
SCISSORS = "dissection_scissors"
#: the scissors expert's checks' interval (s) and start shifts (ms): those of docs/laparoscopy.md's
#: table (and of ``vrmed bench script_shifts``' checks)
CHECK_S = 0.25
SHIFTS_MS = tuple(float(ms) for ms in range(0, 50, 5))


def retraction_keys(pack: Pack, name: str) -> tuple[dict[str, list[Keyframe]], float, float]:
    """The scenario's own scripted grasper up to the end of its lift, the hook left at home.

    Returns the tracks, the script's start (s: the last instant at rest) and the time the lift
    ends (s: the highest key with the jaw closed, the first of them if several)."""
    module = pack.module
    if module is None:
        raise ValueError(f"{name}: the pack has no Python module (its scripted trainee is in the laparoscopy pack's)")
    settings = pack.scenario(name).settings
    style = module.STYLES[str(settings.get("trainee", "expert"))]
    start = float(settings.get("script_start", 0.5))
    tracks, _ = module.dissection_script(settings, style, seed=int(settings.get("seed", 0)), start=start)
    left = tracks["left_hand"]
    closed = [i for i, k in enumerate(left) if k.buttons.get("trigger", 0.0) >= 1.0 and k.position is not None]
    if not closed:
        raise ValueError(f"{name}: the scripted grasper never closes its jaw")
    top = max(closed, key=lambda i: (left[i].position[1], -i))
    return {"left_hand": left[: top + 1], "right_hand": tracks["right_hand"][:1]}, start, left[top].t


def _measure(body: SoftBody, held: np.ndarray, held_tets: np.ndarray, patch: LigamentPatch | None) -> dict[str, float]:
    strain = max_principal_strain(body)
    neck = np.linalg.norm(body.x[held] - body.rest_points[held], axis=1)
    return {
        "attach": float(strain[held_tets].max()),
        "body": float(strain.max()),
        "neck_mm": 1e3 * float(neck.max()),
        "lift_mm": 1e3 * float((body.x[:, 1] - body.rest_points[:, 1]).max()),
        "patch_n": float(np.linalg.norm(patch.total_force)) if patch is not None else float("nan"),
    }


def _hold(body: SoftBody, held: str) -> tuple[LigamentPatch | None, np.ndarray, np.ndarray]:
    """Hang ``body`` (the gallbladder, no frame run yet) on ``held``; returns the patch (None when
    pinned), its vertices and the source ids of the tets with one of them."""
    patch = next(c for c in body.constraints if isinstance(c, LigamentPatch))
    vertices = patch.indices.copy()
    if held == "pinned":  # the same vertices held rigidly where they rest
        body.remove_constraint(patch)
        body.pin(vertices)
    # the tets with a held vertex, by their source ids (the order max_principal_strain reports)
    held_tets = body.tet_index[np.isin(body.tets, vertices).any(axis=1)]
    return (patch if held == "patch" else None), vertices, held_tets


def _gallbladder(app: Any) -> SoftBody:
    return next(app.get(e, SoftBody) for e, n in app.query(Name) if n.value == BODY)


def retraction(held: str = "patch", pack: Pack | None = None, hold_s: float = HOLD_S) -> dict[str, Any]:
    """The gallbladder under the dissection's retraction alone (module docstring), hung on its
    ``held`` attachment (``"patch"`` as shipped, ``"pinned"``: the patch's vertices pinned).

    Returns ``{"rest": ..., "held": ..., "vertices": n, "tets": n}``: at each instant the largest
    principal Green strain at the attachment (``attach``) and in the whole body (``body``), the
    largest move of a held vertex (``neck_mm``), the largest rise of a vertex (``lift_mm``) and the
    patch's force magnitude (``patch_n``, N; NaN when pinned). ``pack``: the laparoscopy pack
    (loaded when not given; it is not modified)."""
    if held not in HELD:
        raise ValueError(f"held must be one of {HELD}, got {held!r}")
    if pack is None:
        pack = open_target(SCENARIO)[0]
    name = SCENARIO.split("/", 1)[1]
    tracks, start, lifted = retraction_keys(pack, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the solver's stiff-tet warnings at load
        session = build_session(pack, name, seed=0, input_source=ScriptedInput(tracks))
        try:
            app = session.app
            body = _gallbladder(app)
            on_patch, vertices, held_tets = _hold(body, held)
            session.run(seconds=start)
            rest = _measure(body, vertices, held_tets, on_patch)
            session.run(seconds=lifted + hold_s - float(app.clock.time))
            retracted = _measure(body, vertices, held_tets, on_patch)
        finally:
            session.close()
    return {"rest": rest, "held": retracted, "vertices": int(vertices.size), "tets": int(held_tets.size)}


def before_first_snip(held: str, shift_ms: float, pack: Pack | None = None) -> dict[str, Any]:
    """The scissors expert's session (``laparoscopy/dissection_scissors``, seed 0, its script
    started ``shift_ms`` later) with the gallbladder on ``held``, up to its first snip.

    Returns ``attach``: the largest principal Green strain of the tets with a held vertex at the
    :data:`CHECK_S` checks before the first snip (a check whose interval holds a ``TissueCut``
    is left out), ``checks``: how many, ``snip_s``: the first snip's time (s; None if none
    before the scenario's end). ``pack``: the laparoscopy pack; its scenario setting
    ``script_start`` is moved for the run and put back."""
    if held not in HELD:
        raise ValueError(f"held must be one of {HELD}, got {held!r}")
    if pack is None:
        pack = open_target(SCENARIO)[0]
    scenario = pack.scenario(SCISSORS)
    duration = float(scenario.duration or 0.0)
    settings = scenario.settings
    given = settings.get("script_start")
    settings["script_start"] = float(0.5 if given is None else given) + shift_ms / 1000.0
    worst, checks, snip = 0.0, 0, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the solver's stiff-tet warnings at load
            session = build_session(pack, SCISSORS, seed=0)
            try:
                body = _gallbladder(session.app)
                _, _, held_tets = _hold(body, held)
                while float(session.app.clock.time) < duration - 1e-9:
                    session.run(seconds=CHECK_S)
                    cuts = [e for e in session.recorder.log.events if e["type"].endswith(":TissueCut")]
                    if cuts:
                        snip = float(cuts[0]["t"])
                        break
                    worst = max(worst, float(max_principal_strain(body)[held_tets].max()))
                    checks += 1
            finally:
                session.close()
    finally:
        if given is None:
            settings.pop("script_start")
        else:
            settings["script_start"] = given
    return {"attach": worst, "checks": checks, "snip_s": snip}


def run(options: dict[str, Any]) -> dict[str, Any]:
    """``vrmed bench attachment_strain [patch] [pinned] [scissors]`` (default both attachments,
    the retraction alone; ``scissors``: also the scissors expert before its first snip at each of
    :data:`SHIFTS_MS`; module docstring). ``--quick`` changes nothing: the retraction's runs are a
    few seconds each once compiled."""
    words = [str(t) for t in options.get("targets") or []]
    unknown = [t for t in words if t not in (*HELD, "scissors")]
    if unknown:
        raise VrmedError(f"bench attachment_strain: unknown target(s) {unknown}; choose from {[*HELD, 'scissors']}")
    targets = [t for t in words if t in HELD] or list(HELD)
    pack = open_target(SCENARIO)[0]
    rows: list[dict[str, Any]] = []
    for held in targets:
        t0 = time.perf_counter()
        r = retraction(held, pack)
        rest, ret = r["rest"], r["held"]
        rows.append(
            {
                "held": held,
                "attach_rest": round(rest["attach"], 4),
                "attach_held": round(ret["attach"], 4),
                "body_rest": round(rest["body"], 4),
                "body_held": round(ret["body"], 4),
                "neck_rest_mm": round(rest["neck_mm"], 3),
                "neck_held_mm": round(ret["neck_mm"], 3),
                "lift_mm": round(ret["lift_mm"], 2),
                "patch_rest_n": None if held == "pinned" else round(rest["patch_n"], 4),
                "patch_held_n": None if held == "pinned" else round(ret["patch_n"], 4),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    scissors: dict[str, list[float]] = {}
    if "scissors" in words:
        for held in targets:
            for ms in SHIFTS_MS:
                t0 = time.perf_counter()
                r = before_first_snip(held, ms, pack)
                scissors.setdefault(held, []).append(r["attach"])
                rows.append(
                    {
                        "held": held,
                        "scissors_shift_ms": ms,
                        "attach_before_snip": round(r["attach"], 4),
                        "checks": r["checks"],
                        "snip_s": None if r["snip_s"] is None else round(r["snip_s"], 4),
                        "seconds": round(time.perf_counter() - t0, 1),
                    }
                )
    notes = [
        f"{SCENARIO}, seed 0: the scripted grasper's retraction alone (fundus grasped and lifted 9 mm, "
        f"held {HOLD_S} s), the hook at home; attach_*: largest principal Green strain of the tets with a "
        "held vertex, body_*: of the whole body; rest: at the script's start (0.5 s)",
        "pinned: the patch's 40 vertices pinned at rest instead of the 1e6 Pa/m springs; the pins' reaction "
        "is not measured (patch_*_n '-')",
    ]
    for held, values in scissors.items():
        notes.append(
            f"scissors expert before its first snip, {held}: attach {min(values):.3g}-{max(values):.3g} over the "
            f"start shifts {SHIFTS_MS[0]:g}-{SHIFTS_MS[-1]:g} ms ({CHECK_S} s checks)"
        )
    return {"suite": "attachment_strain", "rows": rows, "notes": notes}


if __name__ == "__main__":
    from vrmed.bench import format_table  # deferred: only for running the module as a script

    result = run({})
    print(format_table(result["rows"]))
    for note in result["notes"]:
        print("  note:", note)
