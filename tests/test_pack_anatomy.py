"""anatomy: real geometry from the MNI ICBM152 template (sizes, the slice of the source
volume under the clipping plane), the question bank checked at load time with file:line
errors, the quiz (correct passes, errors fail on the right rules), per-structure mastery
with spaced repetition, replay and xAPI; explore mode (grab/turn/scale from recorded
headset and desktop input, exact on replay), peeling as translucency, and the slice drawn
in the cut and as an inset (rendered headless and compared with the volume's pixels)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import bilinear

from vrmed.api import ClipPlane, Interactable, Name, Transform, VisualMesh
from vrmed.packs.loader import PackError, load_pack
from vrmed.recording import SessionLog
from vrmed.records import build_statements, make_attempt
from vrmed.records.scoring import score_log
from vrmed.records.xapi import validate_statement
from vrmed.scenario import ScenarioState, evaluate_rubric
from vrmed.session import build_session, open_target, replay

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pack():
    return open_target("anatomy")[0]


def test_meshes_are_the_template_brain(pack):
    """Each hemisphere's outer surface spans the MNI152 brain: ~74 mm from the midline,
    ~180 mm front to back, ~160 mm tall; white matter lies inside the cortex's bounds."""
    bounds = {}
    for name in ("brain_left", "brain_right", "white_matter_left", "white_matter_right"):
        mesh = trimesh.load(pack.root / "assets" / f"{name}.obj")
        bounds[name] = mesh.bounds * 1000.0
    lo, hi = bounds["brain_left"]
    assert hi[0] <= 0.0 and 65 < -lo[0] < 80  # left of the midline
    assert 165 < hi[2] - lo[2] < 195 and 145 < hi[1] - lo[1] < 170
    assert np.allclose(bounds["brain_left"][:, 1:], bounds["brain_right"][:, 1:], atol=2.0)  # symmetric template
    for side in ("left", "right"):
        w, c = bounds[f"white_matter_{side}"], bounds[f"brain_{side}"]
        assert np.all(w[0] >= c[0] - 1e-6) and np.all(w[1] <= c[1] + 1e-6)


def test_question_bank_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "anatomy"
    shutil.copytree(REPO / "content" / "anatomy", bad, ignore=shutil.ignore_patterns("__pycache__"))
    path = bad / "scenarios" / "brain_quiz.yaml"
    text = path.read_text()
    text = text.replace("{kind: identify, structure: cortex_right}", "{kind: identify, structure: cortex_rigth}")
    text = text.replace("choices: [cortex_left, cortex_right]", "choices: [cortex_left, white_matter_left]")
    path.write_text(text)
    with pytest.raises(PackError) as err:
        load_pack(bad)
    message = str(err.value)
    assert "brain_quiz.yaml:" in message
    assert "question 1: unknown structure 'cortex_rigth'" in message
    assert "question 5: the answer 'cortex_right' is not among its choices" in message


@pytest.fixture(scope="module")
def runs(pack, tmp_path_factory):
    out = {}
    for name in ("brain_quiz", "brain_quiz_errors"):
        session = build_session(pack, name, seed=0, display_rate=10)
        try:
            session.run()
            log = session.finish()
            section = [c for _, c in session.app.query(pack.module.CrossSection)]
            out[name] = {
                "result": evaluate_rubric(session.scenario.rubric, log.events, float(session.app.clock.frame_time)),
                "outcome": session.app.resource(ScenarioState).outcome,
                "log": log.write(tmp_path_factory.mktemp(name) / "s.jsonl"),
                "slice": section[0].image.copy() if section else None,
                "enabled": {
                    n.value: t.enabled
                    for e, n in session.app.query(Name)
                    if (t := session.app.try_get(e, Interactable))
                },
                "alpha": {
                    n.value: round(float(v.color[3]), 3)
                    for e, n in session.app.query(Name)
                    if (v := session.app.try_get(e, VisualMesh))
                },
                "positions": {
                    tuple(round(float(c), 6) for c in session.app.get(e, Transform).position)
                    for e, _ in session.app.query(pack.module.Structure)
                },
            }
        finally:
            session.close()
    return out


ERRORS = {"accuracy", "identify_correct", "relations_correct", "no_side_confusion", "timely", "cross_section"}


def test_correct_learner_passes_and_errors_are_caught(runs):
    good, bad = runs["brain_quiz"], runs["brain_quiz_errors"]
    assert good["result"].passed and good["result"].score == 100.0 and good["outcome"] == "quiz_complete"
    assert not bad["result"].passed and {r.id for r in bad["result"].rules if not r.passed} == ERRORS


def test_peeling_lets_the_pointer_reach_the_layer_beneath(runs):
    """Peeled structures stop catching the pointer; they stay in place, translucent."""
    assert runs["brain_quiz"]["alpha"] == {
        "cortex_left": 0.3,
        "cortex_right": 0.3,
        "white_matter_left": 1.0,
        "white_matter_right": 1.0,
    }
    assert runs["brain_quiz"]["positions"] == {(0.0, 1.2, 0.0)}  # not lifted off the model
    assert runs["brain_quiz"]["enabled"] == {
        "cortex_left": False,
        "cortex_right": False,
        "white_matter_left": True,
        "white_matter_right": True,
    }
    assert all(runs["brain_quiz_errors"]["enabled"].values())  # never peeled


def test_cross_section_is_the_source_volume_slice(pack, runs):
    with np.load(pack.root / "assets" / "mni152_t1_2mm.npz") as data:
        t1, affine = data["t1"], data["affine"]
    k = int(round((10.0 - affine[2, 3]) / affine[2, 2]))  # the axial plane z = 10 mm (MNI)
    assert np.array_equal(runs["brain_quiz"]["slice"], t1[:, :, k])
    assert runs["brain_quiz"]["slice"].shape == t1.shape[:2] and runs["brain_quiz"]["slice"].max() > 100


@pytest.mark.slow
def test_mastery_spaced_repetition_replay_and_xapi(pack, runs):
    logs = [SessionLog.read(runs[n]["log"]) for n in ("brain_quiz_errors", "brain_quiz")]  # then a better session
    m = pack.module.mastery(logs)
    # cortex_right (questions 1 and 5): both wrong in the first session, both right in the second
    assert m["cortex_right"]["attempts"] == 4 and m["cortex_right"]["correct"] == 2 and m["cortex_right"]["box"] == 2
    assert m["white_matter_right"]["box"] == 2 and m["white_matter_right"]["review_in_days"] == 3
    # white_matter_left: missed (box 0), then right three times: box 3, review in 7 days
    assert m["white_matter_left"]["box"] == 3 and m["white_matter_left"]["review_in_days"] == 7
    only_errors = pack.module.mastery(logs[:1])
    plan = pack.module.review_plan(logs[:1])
    assert plan[0] in {n for n, s in only_errors.items() if s["box"] == 0} and "white_matter_right" not in plan[:2]
    result, again = replay(logs[0])
    again.close()
    assert result.ok, result.first_difference
    scored = score_log(logs[0])
    assert not scored.passed and scored.metrics["accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    statements = build_statements(make_attempt(logs[0], "l-" + "0" * 32, scored), "https://lms.example.org/")
    assert statements and all(validate_statement(s) == [] for s in statements)


def test_every_scripted_action_is_offered_to_a_person(pack):
    actions = pack.scenario("brain_quiz").interaction.actions
    for name in ("brain_quiz", "brain_quiz_errors"):
        for act in pack.scenario(name).learner:
            ok = False
            for spec in actions:
                if spec.event is not act.event:
                    continue
                if spec.target_field is not None:
                    ok |= act.fields[spec.target_field] in spec.at
                else:
                    ok |= all(act.fields.get(k) == v for k, v in spec.fields.items()) and all(
                        act.fields.get(n) in values for n, values in spec.options
                    )
            assert ok, (name, act.event.__name__, act.fields)


# --------------------------------------------------------------------------- explore mode, drawn slice


@pytest.fixture(scope="module")
def explored(pack, tmp_path_factory):
    """brain_explore run to its end (open until the module is done, for drawing)."""
    session = build_session(pack, "brain_explore", seed=0, display_rate=10)
    try:
        session.run()
        log = session.finish()
        yield {"session": session, "log": log.write(tmp_path_factory.mktemp("explore") / "s.jsonl")}
    finally:
        session.close()


def yaw_quat(angle: float) -> np.ndarray:
    return np.array([np.cos(angle / 2), 0.0, np.sin(angle / 2), 0.0])


def test_grab_turn_and_scale_follow_the_recorded_input_exactly(pack, explored):
    """The right controller's grip carries the model a quarter turn about the hand (the hand
    turns 90 deg about +y at 0 m, 1.2 m, 0.05 m), a desktop drag adds 0.5 rad about the
    vertical and the wheel scales it 1.5 times: every structure ends at the analytic pose.
    The replay of the recorded session is exact."""
    app = explored["session"].app
    hand, start = np.array([0.0, 1.2, 0.05]), np.array([0.0, 1.2, 0.0])
    quarter = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # +90 deg about y
    expected_position = hand + quarter @ (start - hand)
    for entity, _ in app.query(pack.module.Structure):
        tf = app.get(entity, Transform)
        assert np.allclose(tf.position, expected_position, atol=1e-9)
        assert np.allclose(tf.orientation, yaw_quat(np.pi / 2 + 0.5), atol=1e-9)
        assert np.allclose(tf.scale, 1.5)
    result, again = replay(SessionLog.read(explored["log"]))
    again.close()
    assert result.ok, result.first_difference


def test_desktop_drag_and_wheel_become_recorded_view_targets():
    """At the desktop, mouse motion while view.grab (middle button) is held and the wheel
    become the cumulative view.yaw/view.pitch/view.scale targets of the recorded sample."""
    from vrmed.desktop.source import DESKTOP, DesktopInput

    source = DesktopInput(mode="clinical")
    assert source.sample(0.0, 0).get(DESKTOP) is None  # nothing moved: nothing sent
    source._motion = [40.0, 0.0]  # moved without holding the grab button: not a turn
    assert source.sample(0.1, 1).get(DESKTOP) is None
    source._held.add("mouse_middle")
    source._motion, source._wheel = [100.0, -20.0], 8.0
    buttons = source.sample(0.2, 2)[DESKTOP]["buttons"]
    assert buttons == pytest.approx({"view.yaw": 0.5, "view.pitch": -0.1, "view.scale": 2.0})


def quad_coordinates(model: np.ndarray, view_proj: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """For each pixel centre, the quad-local (x, y) where its ray meets the quad's plane."""
    w, h = size
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    ndc = np.stack([u / w * 2 - 1, 1 - v / h * 2], -1).reshape(-1, 2)
    inverse = np.linalg.inv(view_proj)

    def unproject(z: float) -> np.ndarray:
        p = np.c_[ndc, np.full(len(ndc), z), np.ones(len(ndc))] @ inverse.T
        return p[:, :3] / p[:, 3:]

    near, far = unproject(-1.0), unproject(1.0)
    origin, normal = model[:3, 3], np.cross(model[:3, 0], model[:3, 1])
    t = ((origin - near) @ normal) / ((far - near) @ normal)
    hit = near + t[:, None] * (far - near)
    return np.linalg.lstsq(model[:3, :2], (hit - origin).T, rcond=None)[0].T.reshape(h, w, 2)


def draw(app, ctx, camera, size=(160, 160)) -> tuple[np.ndarray, np.ndarray]:
    """One frame of the session's pipeline (scene and overlays); returns the image and the
    view-projection it was drawn with."""
    from vrmed.api import render_pipeline
    from vrmed.render import Renderer, RenderTarget

    target = RenderTarget(Renderer(ctx, *size, samples=0))
    try:
        pipeline = render_pipeline(app)
        target.draw_scene(app, pipeline, "main", None, camera=camera)
        target.draw_overlays(app, pipeline)
        return target.renderer.read().astype(float).copy(), target.renderer.view_proj.copy()
    finally:
        target.release()


def test_slice_is_drawn_in_the_cut_and_as_an_inset(pack, explored, ctx):
    """Looking straight down on the model cut at MNI z = 10 mm: the meshes above the plane
    are clipped away and the quad in the cut shows the template's slice (the drawn pixels
    against the slice resampled at each pixel's point of the quad: correlation > 0.999); the
    inset at the bottom left shows the same slice."""
    from vrmed.api import Camera

    app = explored["session"].app
    cs = app.query(pack.module.CrossSection)[0][1]
    model = pack.module.slice_model(app)
    assert model is not None and cs.axis == "z"
    clip = app.resource(ClipPlane)
    centre = model[:3, 3]
    assert clip.plane[:3] == pytest.approx((0.0, -1.0, 0.0)) and clip.plane[3] == pytest.approx(centre[1])
    camera = Camera(position=centre + [0.0, 0.6, 0.0], target=centre, up=np.array([0.0, 0.0, -1.0]), fov_deg=40.0)
    size = (160, 160)
    shot, view_proj = draw(app, ctx, camera, size)
    rows, cols = cs.image.shape
    local = quad_coordinates(model, view_proj, size)
    inside = (np.abs(local[..., 0]) < 0.5 - 1 / cols) & (np.abs(local[..., 1]) < 0.5 - 1 / rows)
    x0, y0, iw, ih = pack.module.inset_rect(cs.image.shape, size)
    inside[int(y0) - 4 :] = False  # the inset and its caption
    window = pack.module.SLICE_WINDOW
    grey = np.clip((cs.image.astype(float) - window[0]) / window[1] + 0.5, 0.0, 1.0) * 255.0
    expected = bilinear(grey, (0.5 - local[..., 1]) * rows - 0.5, (local[..., 0] + 0.5) * cols - 0.5)
    assert inside.sum() > 5000
    assert np.corrcoef(shot[..., 0][inside], expected[inside])[0, 1] > 0.999  # measured 0.999998
    assert np.abs(shot[..., 0][inside] - expected[inside]).mean() < 0.5  # LSB; measured 0.12
    # the inset: the same slice stretched over its rectangle
    x0, y0, iw, ih = (int(v) for v in (x0, y0, iw, ih))
    ty = (np.arange(ih) + 0.5) / ih * rows - 0.5
    tx = (np.arange(iw) + 0.5) / iw * cols - 0.5
    inset = bilinear(grey, *np.meshgrid(ty, tx, indexing="ij"))
    assert np.abs(shot[y0 : y0 + ih, x0 : x0 + iw, 0] - inset).max() <= 1.0


def test_peeled_cortex_shows_the_white_matter_through_it(pack, explored, ctx):
    """From the learner's side with no cut: the translucent (peeled) cortex lets the white
    matter show; the frame lies between the opaque-cortex frame and the cortex-less one."""
    from vrmed.api import Camera

    app = explored["session"].app
    clip, cs = app.resource(ClipPlane), app.query(pack.module.CrossSection)[0][1]
    axis, clip.enabled, cs.axis = cs.axis, False, ""  # the whole model, no slice
    cortex = [app.get(e, VisualMesh) for e, s in app.query(pack.module.Structure) if s.layer == 0]
    camera = Camera(position=np.array([-0.05, 1.35, 0.65]), target=np.array([-0.05, 1.2, 0.05]), fov_deg=45.0)
    frames = {}
    try:
        for alpha in (0.3, 1.0, 0.0):
            for mesh in cortex:
                mesh.color[3] = alpha
            frames[alpha] = draw(app, ctx, camera, (96, 96))[0]
    finally:
        for mesh in cortex:
            mesh.color[3] = 0.3
        clip.enabled, cs.axis = True, axis
    peeled, opaque, bare = frames[0.3], frames[1.0], frames[0.0]
    covered = np.abs(opaque - bare).sum(axis=2) > 30  # where the cortex hides something else
    assert covered.sum() > 300
    between = np.abs(peeled - bare)[covered].mean() < np.abs(opaque - bare)[covered].mean()
    assert between and np.abs(peeled - opaque)[covered].mean() > 10


def test_two_grips_scale_the_model_about_the_hands_midpoint(pack):
    """Both controllers squeezed and moved apart from 0.2 m to 0.3 m: the model grows 1.5
    times about the hands' midpoint; released hands leave it as it is."""
    from vrmed.api import InputState

    ex = pack.module.Explore(min_scale=0.5, max_scale=3.0)
    ex.position, ex.scale = np.array([0.0, 1.2, 0.0]), 1.0
    inputs = InputState()

    def hands(half_gap: float, squeeze: float = 1.0) -> None:
        for name, sign in (("left_hand", -1.0), ("right_hand", 1.0)):
            inputs.apply({name: {"position": [sign * half_gap, 1.2, 0.1], "buttons": {"squeeze": squeeze}}})
        pack.module._explore_hands(ex, inputs)

    hands(0.1)  # take hold
    hands(0.15)  # 0.2 m -> 0.3 m apart
    assert ex.scale == pytest.approx(1.5)
    assert np.allclose(ex.position, [0.0, 1.2, 0.1 + 1.5 * (0.0 - 0.1)])  # scaled about (0, 1.2, 0.1)
    hands(0.3, squeeze=0.2)  # let go and move: nothing changes
    assert ex.scale == pytest.approx(1.5) and not ex.held
