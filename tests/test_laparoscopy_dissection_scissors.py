"""The laparoscopy pack's dissection with scissors: the scripted expert divides the marked
line with successive snips (TissueCut) and nothing explodes; the novice's snips off the line
are counted and cued; a learner who does nothing fails; determinism and re-scoring."""

from __future__ import annotations

import numpy as np
import pytest

from vrmed.analytics.motion import tracks_from_log
from vrmed.api import Keyframe, Name, ScriptedInput, SoftBody
from vrmed.components.tissue.softbody import Material
from vrmed.content.laparoscopy.systems import divided_area
from vrmed.mesh import box_tets
from vrmed.recording import SessionLog
from vrmed.records.scoring import score_log
from vrmed.session import build_session
from vrmed.systems.tissue.cutting import cut_body
from vrmed.systems.tissue.solver import volume_ratios

STEP = 0.25  # s between the checks of the tissue during a run


def gallbladder_pieces(app):
    names = {e: n.value for e, n in app.query(Name)}
    return [b for e, b in app.query(SoftBody) if names.get(e, "").startswith("gallbladder")]


def lip_gaps(body):
    """How far apart the two lips of every cut are (m): per rest position held by more than
    one vertex (a cut copies the vertices on it, at their rest positions), the largest
    distance between those vertices now."""
    _, group, count = np.unique(body.rest_points, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    return np.array(
        [np.ptp(body.x[group == g], axis=0).max() for g in np.flatnonzero(count > 1)]  # per axis: enough for 2
    )


def run(pack, name, input_source=None, seconds=None):
    """The whole scenario (or ``seconds``), in STEP chunks: the log, the inverted tets of the
    gallbladder (all its pieces) after each chunk, its pieces at the end and its cut's lip
    gaps at the end (lip_gaps)."""
    session = build_session(pack, name, seed=0, input_source=input_source)
    inverted = []
    try:
        total = session.scenario.duration if seconds is None else seconds
        for _ in range(int(round(total / STEP))):
            session.run(seconds=STEP)
            inverted.append(
                sum(int(np.count_nonzero(volume_ratios(b) <= 0.0)) for b in gallbladder_pieces(session.app))
            )
        pieces = [(b.x.copy(), b.n_tets) for b in gallbladder_pieces(session.app)]
        gaps = np.concatenate([lip_gaps(b) for b in gallbladder_pieces(session.app)])
        return session.finish(), inverted, pieces, gaps
    finally:
        session.close()


@pytest.fixture(scope="module")
def runs(laparoscopy_pack):
    return {name: run(laparoscopy_pack, name) for name in ("dissection_scissors", "dissection_scissors_novice")}


def kinds(log, kind):
    return [e for e in log.events if e["type"].endswith(":" + kind)]


def test_expert_retracts_and_divides_the_line_with_snips(laparoscopy_pack, runs):
    log = runs["dissection_scissors"][0]
    grasps = kinds(log, "InstrumentGrasped")
    assert len(grasps) == 1 and grasps[0]["data"]["target"] == "tissue"
    assert len(kinds(log, "TargetExposed")) == 1 and len(kinds(log, "TaskCompleted")) == 1
    snips = kinds(log, "TissueCut")
    assert len(snips) >= 4 and all(e["data"]["instrument"] == "scissors" for e in snips)
    assert not kinds(log, "TissueBurned") and not kinds(log, "DamageOutsideLine")
    divided = [e["data"]["fraction"] for e in kinds(log, "LineDivided")]
    assert divided == sorted(divided) and divided[-1] >= 0.75  # the scenario's complete_fraction
    done = kinds(log, "TaskCompleted")[0]["t"]
    crossing = next(e["t"] for e in kinds(log, "LineDivided") if e["data"]["fraction"] >= 0.75)
    assert done == pytest.approx(crossing, abs=0.02)  # completed by the snip that divided enough
    s = laparoscopy_pack.module.score(log)
    m = s["metrics"]
    assert s["passed"] and m["completed"] == 1.0 and 0 < s["score"] <= 100
    assert m["cut_outside"] == 0 and m["cut_inside"] > 0 and m["snips"] == len(snips)
    assert m["line_divided_fraction"] == divided[-1] and m["task_time_s"] < 15.0
    # over-strain counted per tet of the original mesh (a snip's subdivision does not multiply
    # it): the expert keeps well inside the rubric's limit (measured 97 of 250)
    assert m["overstrained"] < 0.5 * laparoscopy_pack.module.SCISSORS_TARGETS["overstrained"], m


def test_expert_scissors_go_home_over_the_gallbladder_not_through_it(laparoscopy_pack):
    """After the last snip the expert's closed blades rise behind the gallbladder and cross
    over it: every point of the scripted hinge path from the last closing on is outside the
    gallbladder lifted by the retraction (its faces at |z| = 12 mm, its top GB_TOP + 8 mm of
    lift + 5 mm for the blades, which point 12 degrees down). Straight home from behind the
    back face, they swept through it and, started 15 ms later, tore the grasp (13 N against 3 N;
    docs/laparoscopy.md). The script only: the outcome of the snips before is chaotic to the
    last bit (the +15 ms session's division, 0.78 of the section against the 0.75 required,
    flips with the process's compile order), so no shifted session is asserted here."""
    mod = laparoscopy_pack.module
    settings = laparoscopy_pack.scenario("dissection_scissors").settings
    tracks, _ = mod.dissection_script(settings, mod.STYLES[settings["trainee"]], seed=int(settings["seed"]))
    keys = tracks["right_hand"]
    last_close = max(
        k
        for k, key in enumerate(keys)
        if key.buttons.get("trigger", 0.0) >= 1.0 > keys[k - 1].buttons.get("trigger", 0.0)
    )
    p = np.array([key.position for key in keys[last_close:]])
    s = np.linspace(0.0, 1.0, 50)[:, None, None]
    path = (p[:-1][None] + s * (p[1:] - p[:-1])[None]).reshape(-1, 3)
    inside = (np.abs(path[:, 2]) < 0.012) & (path[:, 1] < mod.GB_TOP + 0.008 + 0.005)
    assert not inside.any(), path[inside][:3]
    assert any(np.allclose(q, mod.SCISSORS_HOME) for q in p)  # the path checked reaches home


def test_expert_snips_the_lower_layer_first(laparoscopy_pack):
    """From each face the expert's first snip takes the lower layer, the second the upper
    (SNIP_DEPTHS): upper first, the blades going in under the cut flap folded the tissue (on the
    AMD EPYC VM, at start shifts 0-45 ms: most tets inverted at once up to 8.0 %, the suite's limit
    6 %, and tets left inverted at the end; lower first 4.8 %; docs/laparoscopy.md, "Lower layer
    first"). The script only: the sessions' outcome is chaotic in the last bit."""
    mod = laparoscopy_pack.module
    settings = laparoscopy_pack.scenario("dissection_scissors").settings
    tracks, _ = mod.dissection_script(settings, mod.STYLES[settings["trainee"]], seed=int(settings["seed"]))
    keys = tracks["right_hand"]
    closings = [
        np.asarray(key.position)
        for k, key in enumerate(keys)
        if k and key.buttons.get("trigger", 0.0) >= 1.0 > keys[k - 1].buttons.get("trigger", 0.0)
    ]
    for side in (1.0, -1.0):  # front, back face
        y = [p[1] for p in closings if np.sign(p[2]) == side]
        assert len(y) == 2 and y[0] < y[1] - 0.004, (side, y)  # the lower layer (deeper) first


def test_no_tet_inverted_and_every_position_finite(runs):
    for name, (_, inverted, pieces, _) in runs.items():
        n_tets = sum(n for _, n in pieces)
        assert inverted[-1] == 0, name  # none left inverted
        # blades pushed into the tissue fold a few tets for a moment (measured on the kernels
        # without FMA: the expert, brisk snips, at most 19, 2.6 % of its tets at the end; the
        # novice 51, 5.9 %; docs/laparoscopy.md "Brisk snips and a look again")
        assert max(inverted) <= 0.06 * n_tets, (name, inverted)
        if name == "dissection_scissors":  # the expert's recover within 1 s (four checks); the
            # novice's slow blades held in the tissue keep up to 27 folded for 3 s (docs: Open)
            assert all(0 in inverted[k + 1 : k + 5] for k, n in enumerate(inverted[:-1]) if n), inverted
        for x, _ in pieces:  # no spikes: the gallbladder stays in the operating field
            assert np.isfinite(x).all() and np.abs(x).max() < 0.1, name


@pytest.mark.slow
def test_expert_started_10_ms_later_leaves_no_fold_over_a_second(laparoscopy_pack):
    """The expert's script started 10 ms later (as ``vrmed bench script_shifts
    laparoscopy/dissection_scissors 10`` runs it) passes and meets the fold checks above: a fold
    gone within four checks (1 s), none left at the end. Before (2026-12-01): a fold of 10-11
    tets for 2.75 s (6.5-9.25 s): the blades of the fourth snip, going in from the back face,
    pushed a light vertex of the third snip's cut 15 mm ahead of their tips and the closing cut
    round it; the solver would not untangle that fold while the bed plate held vertices of the
    underside outside it and the body moved (``solver._untangle_if_stuck``; now only a contact
    on the fold holds it, ``kernels.fold_held``). Measured after: the fold gone by the next check
    (4 tets inverted at the 6.34 s check, 0 at 6.59 s); ~20 s on the 2-core VM."""
    mod = laparoscopy_pack.module
    settings = laparoscopy_pack.scenario("dissection_scissors").settings
    style = mod.STYLES[settings["trainee"]]
    tracks, _ = mod.dissection_script(settings, style, seed=int(settings["seed"]), start=0.5 + 0.010)
    log, inverted, pieces, _ = run(laparoscopy_pack, "dissection_scissors", ScriptedInput(tracks))
    assert mod.score(log)["passed"]
    assert inverted[-1] == 0 and max(inverted) <= 0.06 * sum(n for _, n in pieces), inverted
    assert all(0 in inverted[k + 1 : k + 5] for k, n in enumerate(inverted[:-1]) if n), inverted


def test_novice_snips_off_the_line_are_counted_cued_and_cost(laparoscopy_pack, runs):
    log = runs["dissection_scissors_novice"][0]
    cues = kinds(log, "DamageOutsideLine")
    region = {int(t) for e in kinds(log, "AllowedRegion") for t in e["data"]["tets"]}
    cut = [int(t) for e in kinds(log, "TissueCut") for t in e["data"]["tets"]]
    novice = laparoscopy_pack.module.score(log)
    expert = laparoscopy_pack.module.score(runs["dissection_scissors"][0])
    assert cues and novice["metrics"]["cut_outside"] == sum(e["data"]["count"] for e in cues) > 0
    assert novice["metrics"]["cut_outside"] == sum(1 for t in cut if t not in region)
    assert novice["metrics"]["tip_out_of_view_s"] > 0 and not novice["passed"]
    # the learner is told live when a tip stays out of the laparoscope's view (the interaction
    # section's cue): the pack's tip_view_watch must be running (it was not registered before)
    assert kinds(log, "TipOutOfView")
    assert not kinds(runs["dissection_scissors"][0], "TipOutOfView")
    assert novice["score"] < expert["score"]
    for key in ("task_time_s", "cut_outside", "path_length_right_m", "idle_time_right_s"):
        assert expert["metrics"][key] < novice["metrics"][key], key


def test_a_learner_who_does_nothing_fails(laparoscopy_pack):
    still = {
        "left_hand": [Keyframe(0.0, (0.05, 0.08, 0.0))],
        "right_hand": [Keyframe(0.0, (-0.003, 0.06, 0.06))],
    }
    log, inverted, _, _ = run(laparoscopy_pack, "dissection_scissors", ScriptedInput(still), seconds=1.0)
    s = laparoscopy_pack.module.score(log)
    assert not kinds(log, "TaskCompleted") and not kinds(log, "TissueCut") and inverted[-1] == 0
    assert s["score"] == 0.0 and not s["passed"] and s["metrics"]["line_divided_fraction"] == 0.0


def test_same_seed_same_session_and_rescoring(laparoscopy_pack, runs, tmp_path):
    first = runs["dissection_scissors"][0]
    again = run(laparoscopy_pack, "dissection_scissors")[0]
    assert again.footer["digest"] == first.footer["digest"]
    assert again.event_records() == first.event_records()
    stored = SessionLog.read(first.write(tmp_path / "s.jsonl"))
    assert score_log(stored, laparoscopy_pack).to_dict() == score_log(first, laparoscopy_pack).to_dict()
    assert laparoscopy_pack.module.score(stored)["score"] == laparoscopy_pack.module.score(first)["score"]


def test_divided_area_of_a_cut_through_is_the_section():
    """A plane cut right through a 3 x 1 x 2 cm box across x: one lip of it is the 1 x 2 cm
    section (both lips: 2 cm^2 of cut faces, counted once); no cut, no area; a cut off the band
    is not counted (more cases: tests/test_tissue_crack.py)."""
    body = SoftBody.from_mesh(
        box_tets((0.03, 0.01, 0.02), (3, 1, 2), origin=(-0.015, 0.0, -0.01)), Material(5.4e3, 0.45, 1060.0)
    )
    assert divided_area(body, 0.0033, 0.002) == 0.0
    cut_body(body, np.array([0.0033, 0.005, -0.02]), np.array([0.0033, 0.005, 0.02]), np.array([1.0, 0.0, 0.0]), 0.05)
    assert divided_area(body, 0.0033, 0.002) == pytest.approx(0.01 * 0.02, rel=1e-9)
    assert divided_area(body, -0.008, 0.002) == 0.0


def test_the_expert_leaves_the_divided_line_open_in_view(laparoscopy_pack, runs):
    """After the snips the grasper keeps hold of the fundus and draws it on along the
    gallbladder's axis (OPEN_PULL), so the divided line gapes to the end of the session
    instead of falling back shut: the lips are apart (measured: up to 3.2 mm, 0.45 mm before
    the pull) and the scissors have left the line (their shaft would hide it from the scope)."""
    log, _, _, gaps = runs["dissection_scissors"]
    assert gaps.size >= 10 and gaps.max() >= 0.0015, gaps
    grasps = kinds(log, "InstrumentGrasped")
    assert not [e for e in kinds(log, "InstrumentReleased") if e["t"] > grasps[0]["t"]]  # held to the end
    scissors = tracks_from_log(log, ["right_hand"])["right_hand"]
    assert abs(scissors.p[-1, 0] - (-0.003)) > 0.02  # the hinge ends off the line at x = -3 mm


def test_cut_faces_are_drawn_in_the_cut_colour_and_the_skin_in_the_tissue_colour():
    """A cut box (the gallbladder's section and look) is drawn as two surfaces: its skin in the
    tissue's colour and the cut's faces (both lips of the 1.2 x 2 cm section, at rest) in the
    darker, redder, wetter cut colour; before the cut, one surface in the tissue's colour."""
    from vrmed import App
    from vrmed.components.tissue.appearance import TissueAppearance
    from vrmed.render.drawlist import DrawList
    from vrmed.systems.instruments.draw import cut_color, instruments_draw_system
    from vrmed.systems.instruments.plugin import InstrumentPlugin
    from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings

    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(InstrumentPlugin())
    draws = DrawList()
    app.insert_resource(draws)
    body = SoftBody.from_mesh(
        box_tets((0.03, 0.012, 0.02), (5, 2, 4), origin=(-0.015, 0.0, -0.01)), Material(8.0e3, 0.45, 1030.0)
    )
    green = (0.16, 0.27, 0.11, 1.0)
    entity = app.spawn(body, TissueAppearance(color=green, wetness=0.5))

    def drawn():
        draws.clear()
        instruments_draw_system(app)
        return {s.key: s for s in draws.surfaces if s.entity == entity}

    before = drawn()
    assert set(before) == {("vrmed.tissue", entity)} and before[("vrmed.tissue", entity)].color == green
    cut_body(body, np.array([-0.003, 0.006, -0.02]), np.array([-0.003, 0.006, 0.02]), np.array([1.0, 0, 0]), 0.05)
    after = drawn()
    skin, cut = after[("vrmed.tissue", entity)], after[("vrmed.tissue.cut", entity)]
    red = cut_color(green)
    assert skin.color == green and cut.color == red
    assert red[0] > red[1] > red[2] and sum(red[:3]) < 0.5 * sum(green[:3])  # redder and darker
    assert cut.wetness > skin.wetness
    area = {}
    for name, s in (("skin", skin), ("cut", cut)):
        tri = body.rest_points[s.faces]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        on_plane = np.all(np.abs(tri[:, :, 0] + 0.003) < 1e-12, axis=1)
        area[name] = 0.5 * np.linalg.norm(n[on_plane], axis=1).sum()
        if name == "cut":  # every cut face lies in the cut plane, facing along x
            assert on_plane.all() and np.all(np.abs(n[:, 0]) > 0.99 * np.linalg.norm(n, axis=1))
    assert area["cut"] == pytest.approx(2 * 0.012 * 0.02, rel=1e-9) and area["skin"] == 0.0


def test_a_look_again_snips_where_the_section_is_still_joined():
    """The expert's look at the section (resnip_where_joined): a gallbladder-sized box (the
    section 12 x 24 mm) cut through its upper part only is about half divided; the snip made
    again goes in low, where it is joined, and those blades (cut_body along them, as the
    scissors' closing does) divide part of the rest. With nothing joined there is no snip."""
    from vrmed.content.laparoscopy import systems as lap

    line_x = -0.0027  # off the mesh's cell faces, as the scenario's line
    body = SoftBody.from_mesh(
        box_tets((0.03, 0.012, 0.024), (10, 8, 16), origin=(-0.015, lap.GB_TOP - 0.012, -0.012)),
        Material(5.4e3, 0.45, 1060.0),
    )
    section = 0.012 * 0.024
    top = np.array([line_x, lap.GB_TOP - 0.0025, 0.0])
    cut_body(body, top + [0, 0, 0.02], top - [0, 0, 0.02], np.array([1.0, 0.0, 0.0]), 0.003)
    before = divided_area(body, line_x, 0.0065) / section
    assert 0.3 < before < 0.6, before
    side, depth, margin = lap.resnip_where_joined([body], line_x, 0.0065)
    assert depth >= 0.007 and margin in lap.RESNIP_MARGINS  # the blades' middle in the joined lower half
    drop = 0.5 * lap.SCISSORS_JAW * -lap.SCISSORS_DIR[1]
    hinge = np.array([line_x, lap.GB_TOP - depth + drop, side * (0.012 + margin)])
    tip = hinge + lap.SCISSORS_JAW * lap.SCISSORS_DIR * np.array([1.0, 1.0, side])
    cut_body(body, hinge, tip, np.array([1.0, 0.0, 0.0]), 0.003)
    after = divided_area(body, line_x, 0.0065) / section
    assert after > before + 0.1, (before, after)  # measured 0.38 -> 0.53: one side's half of the band
    whole = SoftBody.from_mesh(
        box_tets((0.03, 0.012, 0.024), (10, 8, 16), origin=(-0.015, lap.GB_TOP - 0.012, -0.012)),
        Material(5.4e3, 0.45, 1060.0),
    )
    through = np.array([line_x, lap.GB_TOP - 0.006, 0.0])
    cut_body(whole, through + [0, 0.02, 0], through - [0, 0.02, 0], np.array([1.0, 0.0, 0.0]), 0.03)
    assert divided_area(whole, line_x, 0.0065) / section == pytest.approx(1.0)
    assert lap.resnip_where_joined([whole], line_x, 0.0065) is None


def test_snips_made_again_leave_the_script_before_them_as_it_was(laparoscopy_pack):
    """A snip made again (ScissorsRecheck) is written after the four: every key up to the look
    (``recheck_at``, the closed blades out of the fourth snip's cut) is unchanged, the blades
    close once more, and the next look is after that snip; the novice does not look again."""
    mod = laparoscopy_pack.module
    settings = laparoscopy_pack.scenario("dissection_scissors").settings
    style = mod.STYLES["expert"]
    out, again = {}, {}
    keys, end = mod.dissection_script(settings, style, seed=0, out=out)
    more, end2 = mod.dissection_script(settings, style, seed=0, resnips=((1.0, 0.007, 0.007),), out=again)

    def closings(track):
        return [k.t for j, k in enumerate(track) if j and k.buttons["trigger"] >= 1.0 > track[j - 1].buttons["trigger"]]

    for hand in ("left_hand", "right_hand"):
        assert [k for k in more[hand] if k.t <= out["recheck_at"]] == [
            k for k in keys[hand] if k.t <= out["recheck_at"]
        ]
    assert len(closings(more["right_hand"])) == len(closings(keys["right_hand"])) + 1 == 5
    assert out["recheck_at"] < closings(more["right_hand"])[-1] < again["recheck_at"] < end2
    assert end2 > end and end2 + 0.05 < laparoscopy_pack.scenario("dissection_scissors").duration
    for name, looks in (("dissection_scissors", True), ("dissection_scissors_novice", False)):
        session = build_session(laparoscopy_pack, name, seed=0)
        try:
            recheck = session.app.resource(mod.LapTask).recheck
        finally:
            session.close()
        assert (recheck is not None) == looks, name
    assert recheck is None and mod.ScissorsRecheck(dict(settings), style, 0, keys).at == out["recheck_at"]
