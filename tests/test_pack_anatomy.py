"""anatomy: named structures in layers from a labelled atlas (the meshes against the label
volume, relation answers against the atlas centroids), exact mesh picking (the structure
under the pointer, through peeled layers, against a reference ray cast), the slice of the source volume under
the clipping plane (transparent outside the head), the question bank checked at load time
with file:line errors, the quiz (correct passes, errors fail on the right rules),
per-structure mastery with spaced repetition, replay and xAPI; explore mode (grab/turn/scale
from recorded headset and desktop input, exact on replay), peeling as translucency, and the
slice drawn in the cut and as an inset (rendered headless and compared with the volume's
pixels)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import bilinear

from vrmed.api import ClipPlane, Interactable, Name, Transform, VisualMesh, pick_ray
from vrmed.mesh.pick import load_pick_mesh, ray_hit
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


MODEL_TO_MNI = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]) * 1000.0  # m (y up) -> MNI mm


@pytest.fixture(scope="module")
def atlas(pack):
    """The merged label volume (one id per structure) and each structure's voxels in MNI mm."""
    with np.load(pack.root / "assets" / "atlas_labels.npz") as data:
        labels, affine, names = data["labels"], data["affine"], [str(n) for n in data["names"]]
    voxels = {}
    for i, name in enumerate(names):
        ijk = np.argwhere(labels == i + 1)
        voxels[name] = ijk @ affine[:3, :3].T + affine[:3, 3]
    return voxels


def structures_of(pack, scenario: str) -> dict[str, dict]:
    """name -> {layer, mesh} of the scenario's Structure entities."""
    out = {}
    for entity in pack.scenario(scenario).entities:
        if "Structure" in entity.components:
            s = entity.components["Structure"]
            out[str(s["name"])] = {
                "layer": int(s.get("layer", 0)),
                "mesh": str(entity.components["VisualMesh"]["mesh"]),
            }
    return out


def test_meshes_are_the_atlas_structures(pack, atlas):
    """Every atlas structure's mesh encloses its labelled voxels: bounds within 2 mm of the
    voxels' extent and around their 1-99th percentile box, volume within 15 % of the voxel
    count; lobes and white matter lie on their own side of the midline; three layers."""
    found = structures_of(pack, "brain_quiz")
    assert len(atlas) == 25 and set(atlas) <= set(found)
    assert {s["layer"] for s in found.values()} == {0, 1, 2}
    for name, spec in found.items():
        mesh = trimesh.load(pack.root / spec["mesh"], process=False)
        mni = mesh.vertices @ MODEL_TO_MNI.T
        if name.endswith("_left"):
            assert mni[:, 0].max() < 1.5, name
        if name.endswith("_right"):
            assert mni[:, 0].min() > -1.5, name
        if name not in atlas:  # from the template's tissue maps: mL per side
            low, high = {"white_matter": (250, 400), "lateral_ventricle": (4, 12)}[name.rsplit("_", 1)[0]]
            assert low < mesh.volume * 1e6 < high, (name, mesh.volume * 1e6)
            continue
        vox = atlas[name]
        lo, hi = mni.min(axis=0), mni.max(axis=0)
        assert np.all(lo > vox.min(axis=0) - 2.0) and np.all(hi < vox.max(axis=0) + 2.0), name  # no overshoot
        bulk = np.percentile(vox, [1, 99], axis=0)  # the label's bulk lies inside (stray voxels aside)
        assert np.all(lo < bulk[0] + 1.0) and np.all(hi > bulk[1] - 1.0), name
        assert mesh.volume * 1e9 == pytest.approx(len(vox), rel=0.15), name  # 1 mm^3 voxels


#: The unit direction of each relation in MNI (x right, y anterior, z superior); medial and
#: lateral are along -|x| and +|x| (toward and away from the mid-sagittal plane).
DIRECTIONS = {"anterior": (1, 1), "posterior": (1, -1), "superior": (2, 1), "inferior": (2, -1)}


def test_relation_answers_agree_with_the_atlas_centroids(pack, atlas):
    """Every relation question: its answer lies in the named direction from the reference
    structure (label centroids, by more than 2 mm; the ventricles' mesh centroids) and no
    other choice does; every structure a question bank names is a structure of its
    scenario; the bank asks about every kind of structure (lobes, cingulate, insula, the
    deep nuclei, brainstem and ventricles)."""
    centroid = {name: v.mean(axis=0) for name, v in atlas.items()}
    for name, spec in structures_of(pack, "brain_quiz").items():
        if name not in centroid:  # from the template's tissue maps (ventricles): the solid's centroid
            centroid[name] = trimesh.load(pack.root / spec["mesh"], process=False).center_mass @ MODEL_TO_MNI.T
    checked = 0
    for scenario in ("brain_quiz", "brain_quiz_errors"):
        found = structures_of(pack, scenario)
        quiz = next(e.components["Quiz"] for e in pack.scenario(scenario).entities if "Quiz" in e.components)
        for q in quiz["questions"]:
            assert {q["structure"], *q.get("choices", []), *([q["reference"]] if "reference" in q else [])} <= set(
                found
            )
            if q["kind"] != "relation" or "relation" not in q:
                continue
            ref, relation = q["reference"], q["relation"]

            def offset(name: str) -> float:
                if relation in ("deep", "superficial"):  # by layer: deep = a layer further in
                    d = found[name]["layer"] - found[ref]["layer"]
                    return 10.0 * (d if relation == "deep" else -d)
                a, b = centroid[name], centroid[ref]
                if relation in ("medial", "lateral"):
                    d = abs(b[0]) - abs(a[0])
                    return d if relation == "medial" else -d
                axis, sign = DIRECTIONS[relation]
                return sign * (a[axis] - b[axis])

            assert offset(q["structure"]) > 2.0, (scenario, q["prompt"])
            for other in q["choices"]:
                if other != q["structure"]:
                    assert offset(other) < 0.0, (scenario, q["prompt"], other)
            checked += 1
        asked = {q["structure"] for q in quiz["questions"]} | {q.get("reference") for q in quiz["questions"]}
        assert {"brainstem", "cingulate_right", "insula_left", "lateral_ventricle_left", "putamen_right"} <= asked
        assert {"thalamus_left", "pallidum_left", "caudate_right", "hippocampus_left", "amygdala_left"} <= asked
    assert checked == 14  # seven relations in each bank


def test_question_bank_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "anatomy"
    shutil.copytree(REPO / "content" / "anatomy", bad, ignore=shutil.ignore_patterns("__pycache__"))
    path = bad / "scenarios" / "brain_quiz.yaml"
    text = path.read_text()
    text = text.replace("{kind: identify, structure: frontal_right}", "{kind: identify, structure: frontal_rigth}")
    text = text.replace("choices: [hippocampus_right, caudate_right, occipital_right]", "choices: [hippocampus_right]")
    text = text.replace("relation: medial", "relation: medail")
    path.write_text(text)
    with pytest.raises(PackError) as err:
        load_pack(bad)
    message = str(err.value)
    assert "brain_quiz.yaml:" in message
    assert "question 1: unknown structure 'frontal_rigth'" in message
    assert "question 9: relation must be one of" in message and "'medail'" in message
    assert "question 10: the answer 'caudate_right' is not among its choices" in message


MNI_TO_MODEL = MODEL_TO_MNI.T / 1e6  # MNI mm -> model m (the inverse rotation)
STAND = np.array([0.0, 1.2, 0.0])  # every structure's Transform position


def pointer_rays(atlas) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World rays (origin, unit direction): forward (MNI anterior) from 0.3 m behind the
    model through the left thalamus's centroid; forward through the left thalamus's
    bounding box, past its surface, between the deep structures; and eight rays from 0.3 m
    away toward random points near the model's centre (seed 0)."""
    forward = np.array([0.0, 0.0, -1.0])
    thalamus = MNI_TO_MODEL @ atlas["thalamus_left"].mean(axis=0) + STAND
    rays = {"thalamus": (thalamus + [0.0, 0.0, 0.3], forward), "between": (np.array([-0.027, 1.218, 0.3]), forward)}
    rng = np.random.default_rng(0)
    for i in range(8):
        start = rng.normal(size=3)
        start = STAND + 0.3 * start / np.linalg.norm(start)
        aim = STAND + rng.uniform(-0.04, 0.04, 3) - start
        rays[f"random{i}"] = (start, aim / np.linalg.norm(aim))
    return rays


def pick_checks(pack, app, rays) -> dict:
    """What the pointer picks along each ray (entity, distance m), the cost of one pick
    over every structure (us), and with the peel's Interactable switch overridden, whether
    a translucent layer is passed through (default) or caught (``pick_translucent``)."""
    out: dict = {"picks": {k: pick_ray(app, o, d) for k, (o, d) in rays.items()}}
    clip = app.try_resource(ClipPlane)  # brain_quiz shows a slice: the structures are cut
    out["clip"] = clip.plane if clip is not None and clip.enabled else None
    origin, direction = rays["thalamus"]
    for ray in ("thalamus", "between"):
        pick_ray(app, *rays[ray])
        start = time.perf_counter()
        for _ in range(20):
            pick_ray(app, *rays[ray])
        out[f"us_{ray}"] = (time.perf_counter() - start) / 20 * 1e6
    targets = [app.get(e, Interactable) for e, _ in app.query(pack.module.Structure)]
    enabled = [t.enabled for t in targets]
    meshes = [load_pick_mesh(t.mesh) for t in targets]  # prepared at load: cached
    start = time.perf_counter()
    for _ in range(20):
        for mesh in meshes:  # the kernel alone, in the structures' shared frame (model = world - stand)
            ray_hit(mesh, origin - STAND, direction)
    out["us_kernel"] = (time.perf_counter() - start) / 20 * 1e6
    try:
        for t in targets:
            t.enabled = True  # only the drawn colour decides now
        out["translucent"] = pick_ray(app, origin, direction)[0]
        for t in targets:
            t.pick_translucent = True
        out["translucent_pickable"] = pick_ray(app, origin, direction)[0]
    finally:
        for t, on in zip(targets, enabled):
            t.enabled, t.pick_translucent = on, False
    return out


@pytest.fixture(scope="module")
def runs(pack, atlas, tmp_path_factory):
    out = {}
    rays = pointer_rays(atlas)
    for name in ("brain_quiz", "brain_quiz_errors"):
        session = build_session(pack, name, seed=0, display_rate=10)
        try:
            session.run()
            log = session.finish()
            picking = pick_checks(pack, session.app, rays)
            section = [c for _, c in session.app.query(pack.module.CrossSection)]
            out[name] = {
                "rays": rays,
                "picking": picking,
                "result": evaluate_rubric(session.scenario.rubric, log.events, float(session.app.clock.frame_time)),
                "outcome": session.app.resource(ScenarioState).outcome,
                "log": log.write(tmp_path_factory.mktemp(name) / "s.jsonl"),
                "slice": section[0].image.copy() if section else None,
                "mask": section[0].mask.copy() if section else None,
                "layers": {s.name: s.layer for _, s in session.app.query(pack.module.Structure)},
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
    """Peeling layer 1 (the white matter) peels the lobes above it too: those stop catching
    the pointer and turn translucent, in place; the deep structures stay opaque and
    pickable (the learner then points at the thalamus)."""
    run = runs["brain_quiz"]
    layers = run["layers"]
    assert run["alpha"] == {n: (0.3 if layer <= 1 else 1.0) for n, layer in layers.items()}
    assert run["enabled"] == {n: layer > 1 for n, layer in layers.items()}
    assert run["positions"] == {(0.0, 1.2, 0.0)}  # not lifted off the model
    assert all(runs["brain_quiz_errors"]["enabled"].values())  # never peeled


def first_hit(triangles: np.ndarray, origin: np.ndarray, direction: np.ndarray, plane=None) -> float:
    """Reference ray cast, independent of Moller-Trumbore: each triangle's plane met by the
    ray, the point kept if its barycentric coordinates (trimesh) are all >= 0 (and, with a
    clip ``plane`` (nx, ny, nz, d), if n . p + d >= 0)."""
    normal = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    nd = normal @ direction
    ok = np.abs(nd) > 1e-18
    t = np.einsum("ij,ij->i", normal, triangles[:, 0] - origin) / np.where(ok, nd, 1.0)
    ok &= t > 0.0
    if not ok.any():
        return np.inf
    points = origin + t[ok, None] * direction
    bary = trimesh.triangles.points_to_barycentric(triangles[ok], points)
    inside = np.all(bary >= -1e-9, axis=1)
    if plane is not None:
        inside &= points @ np.asarray(plane[:3]) + plane[3] >= 0.0
    return float(t[ok][inside].min()) if inside.any() else np.inf


def test_pointer_picks_the_structure_under_it_exactly(pack, runs):
    """Mesh targets: a ray from behind through the left thalamus picks the occipital lobe
    while the lobes are there, and the thalamus once they are peeled (translucent: passed
    through unless the target sets pick_translucent); a ray through the thalamus's bounding
    box but past its surface picks nothing; every pick (name and distance, 1e-9 m) equals
    a reference cast over the opaque, enabled structures' triangles (plane + barycentric),
    keeping only hits on the drawn side of brain_quiz's clip plane (its slice is shown)."""
    assert runs["brain_quiz"]["picking"]["clip"] is not None and runs["brain_quiz_errors"]["picking"]["clip"] is None
    found = structures_of(pack, "brain_quiz")
    triangles = {}
    for name, spec in found.items():
        mesh = trimesh.load(pack.root / spec["mesh"], process=False)
        triangles[name] = mesh.triangles + STAND
    peeled, whole = runs["brain_quiz"]["picking"], runs["brain_quiz_errors"]["picking"]
    assert whole["picks"]["thalamus"][0] == "occipital_left"
    assert peeled["picks"]["thalamus"][0] == "thalamus_left"
    assert peeled["translucent"] == "thalamus_left" and peeled["translucent_pickable"] == "occipital_left"
    assert whole["translucent"] == whole["translucent_pickable"] == "occipital_left"  # opaque: no change
    origin, direction = runs["brain_quiz"]["rays"]["between"]
    lo, hi = (
        triangles["thalamus_left"].reshape(-1, 3).min(axis=0),
        triangles["thalamus_left"].reshape(-1, 3).max(axis=0),
    )
    assert lo[0] < origin[0] < hi[0] and lo[1] < origin[1] < hi[1]  # inside the old pointer box's shadow
    assert peeled["picks"]["between"] == (None, np.inf) and whole["picks"]["between"][0] is not None
    for run in ("brain_quiz", "brain_quiz_errors"):
        r = runs[run]
        pickable = [n for n in found if r["enabled"][n] and r["alpha"][n] == 1.0]
        for ray, (origin, direction) in r["rays"].items():
            hits = {n: first_hit(triangles[n], origin, direction, r["picking"]["clip"]) for n in pickable}
            name = min(hits, key=hits.get)
            got = r["picking"]["picks"][ray]
            if hits[name] == np.inf:
                assert got == (None, np.inf), (run, ray)
            else:
                assert got[0] == name and got[1] == pytest.approx(hits[name], abs=1e-9), (run, ray, got, hits[name])
    # the cost of one pick over all 29 structures (none peeled): reported in docs/anatomy.md
    print(
        f"pick us: {whole['us_thalamus']:.0f} (hit), {whole['us_between']:.0f} (through), "
        f"kernel over the 29 meshes {whole['us_kernel']:.0f}"
    )
    assert whole["us_thalamus"] < 20000 and whole["us_between"] < 20000


def test_pointer_passes_through_the_cut_away_half(pack, explored):
    """With the model turned, scaled and cut at MNI z = 10 mm (brain_explore), a ray from
    above onto the cut picks the structure whose kept (drawn) part it meets first: the same
    structure and distance (1e-9 m) as the reference cast over the opaque, enabled surfaces
    in their explored pose, keeping only hits on the drawn side of the plane; without the
    cut the ray stops earlier, on the removed half."""
    app = explored["session"].app
    clip = app.resource(ClipPlane)
    centre = pack.module.slice_model(app)[:3, 3]
    origin, down = centre + np.array([0.004, 0.3, 0.006]), np.array([0.0, -1.0, 0.0])
    got = pick_ray(app, origin, down)
    hits = {}
    for e, s in app.query(pack.module.Structure):
        inter, visual, tf = app.get(e, Interactable), app.get(e, VisualMesh), app.get(e, Transform)
        if not inter.enabled or visual.color[3] < 1.0:
            continue
        local = trimesh.load(str(inter.mesh), process=False).triangles * (tf.scale * visual.scale)
        rot = trimesh.transformations.quaternion_matrix(tf.orientation)[:3, :3]
        hits[s.name] = first_hit(local @ rot.T + tf.position, origin, down, clip.plane)
    name = min(hits, key=hits.get)
    assert np.isfinite(hits[name]) and got[0] == name and got[1] == pytest.approx(hits[name], abs=1e-9)
    clip.enabled = False
    try:
        uncut = pick_ray(app, origin, down)
    finally:
        clip.enabled = True
    assert uncut[1] < got[1] - 0.005  # the removed half lies above the cut


def test_mesh_target_errors_name_file_and_line(tmp_path):
    """A mesh target with a bad shape name, without its mesh, or with a file that is not a
    surface fails at load with the prefab file and line."""
    bad = tmp_path / "anatomy"
    shutil.copytree(REPO / "content" / "anatomy", bad, ignore=shutil.ignore_patterns("__pycache__"))
    path = bad / "prefabs" / "structures.yaml"
    text = path.read_text()
    text = text.replace("{label: Left frontal lobe, shape: mesh, mesh: assets/frontal_left.ply}", "{shape: cone}")
    text = text.replace("{label: Left parietal lobe, shape: mesh, mesh: assets/parietal_left.ply}", "{shape: mesh}")
    text = text.replace("mesh: assets/temporal_left.ply}", "mesh: assets/README.md}")
    path.write_text(text)
    with pytest.raises(PackError) as err:
        load_pack(bad)
    message = str(err.value)
    lines = text.splitlines()
    for needle, problem in (
        ("{shape: cone}", "shape must be one of box, sphere, mesh, got 'cone'"),
        ("{shape: mesh}", "shape: mesh needs `mesh:`"),
        ("mesh: assets/README.md}", "README.md"),
    ):
        line = next(i + 1 for i, t in enumerate(lines) if needle in t)
        assert f"structures.yaml:{line}" in message and problem in message, (needle, message)


def test_cross_section_is_the_source_volume_slice(pack, runs):
    with np.load(pack.root / "assets" / "mni152_t1_2mm.npz") as data:
        t1, affine, head = data["t1"], data["affine"], data["mask"]
    k = int(round((10.0 - affine[2, 3]) / affine[2, 2]))  # the axial plane z = 10 mm (MNI)
    assert np.array_equal(runs["brain_quiz"]["slice"], t1[:, :, k])
    assert runs["brain_quiz"]["slice"].shape == t1.shape[:2] and runs["brain_quiz"]["slice"].max() > 100
    mask = runs["brain_quiz"]["mask"]
    assert np.array_equal(mask, head[:, :, k])
    # the head mask: the air around the head is outside (dark), the whole head inside
    assert t1[:, :, k][mask == 0].mean() < 5 and 0.3 < mask.mean() < 0.8
    assert np.percentile(t1[:, :, k][mask == 1], 5) > 5


@pytest.mark.slow
def test_mastery_spaced_repetition_replay_and_xapi(pack, runs):
    logs = [SessionLog.read(runs[n]["log"]) for n in ("brain_quiz_errors", "brain_quiz")]  # then a better session
    m = pack.module.mastery(logs)
    # frontal_right (question 1): wrong in the first session, right in the second: box 1
    assert m["frontal_right"]["attempts"] == 2 and m["frontal_right"]["correct"] == 1 and m["frontal_right"]["box"] == 1
    # pallidum_left (question 4): right in both sessions: box 2, review in 3 days
    assert m["pallidum_left"]["box"] == 2 and m["pallidum_left"]["review_in_days"] == 3
    assert m["hippocampus_right"]["box"] == 2 and m["thalamus_left"]["box"] == 1
    only_errors = pack.module.mastery(logs[:1])
    plan = pack.module.review_plan(logs[:1])
    assert plan[0] in {n for n, s in only_errors.items() if s["box"] == 0} and "pallidum_left" not in plan[:2]
    result, again = replay(logs[0])
    again.close()
    assert result.ok, result.first_difference
    scored = score_log(logs[0])
    assert not scored.passed and scored.metrics["accuracy"] == pytest.approx(8 / 16, abs=1e-3)
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
    are clipped away and the quad in the cut shows the template's slice inside the head (the
    drawn pixels against the slice resampled at each pixel's point of the quad: correlation
    > 0.999) and is transparent outside it (there the frame is the frame drawn without the
    quad, not the volume's black field); the inset at the bottom left shows the same slice."""
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
    texel_rows, texel_cols = (0.5 - local[..., 1]) * rows - 0.5, (local[..., 0] + 0.5) * cols - 0.5
    expected = bilinear(grey, texel_rows, texel_cols)
    head = bilinear(cs.mask.astype(float), texel_rows, texel_cols)  # the filtered alpha
    shown, clear = inside & (head > 0.999), inside & (head < 0.25)
    assert shown.sum() > 2000 and clear.sum() > 1000
    assert np.corrcoef(shot[..., 0][shown], expected[shown])[0, 1] > 0.999  # measured 0.99996 (2695 pixels)
    assert np.abs(shot[..., 0][shown] - expected[shown]).mean() < 0.5  # LSB; measured 0.25
    image, cs.image = cs.image, np.zeros((0, 0), np.uint8)  # the same frame without the quad
    try:
        bare = draw(app, ctx, camera, size)[0]
    finally:
        cs.image = image
    assert np.abs(shot - bare)[clear].max() <= 1.0  # transparent outside the head (measured 0 over 3353 pixels)
    assert np.abs(shot - bare)[shown].mean() > 20.0  # and the slice drawn inside it
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
