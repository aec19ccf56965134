"""The clinical scenes show what is scored: the room, the patient and the equipment.

Small offscreen captures (160 x 120, triage 320 x 240, no MSAA) of the scenarios' own
cameras. A pixel belongs to a declared colour when its *linear* chromaticity (r, g, b over
their sum) is within ``CHROMA_TOL`` of that colour's: lighting scales a lit surface's
brightness but keeps its chromaticity, so the colours declared in the packs' YAML (or in
``systems/clinical/draw.py``) classify the image. Each count is also checked to be 0 with
the scene's meshes removed: what the scenes showed before they had any (an empty floor).
The mesh files are checked to load and to be what their generator scripts make.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from vrmed.components import Name, Transform, VisualMesh
from vrmed.components.clinical.patient import Casualty
from vrmed.geometry import quat_matrix
from vrmed.mesh import load_surface_mesh
from vrmed.render.camera import project
from vrmed.systems.clinical.draw import PAD_PLACES, TAG_CENTRE, TAG_SIZE, TRIAGE_TAG_COLORS

REPO = Path(__file__).resolve().parents[1]
PACKS = ("emergency", "nursing")
#: Largest distance between a pixel's linear chromaticity and a declared colour's.
CHROMA_TOL = 0.04
#: Below this linear brightness (r + g + b) a pixel's chromaticity is too noisy to classify.
MIN_BRIGHTNESS = 0.02


# --- assets -------------------------------------------------------------------------------


def generator(pack: str):
    """The pack's ``assets/make_assets.py`` as a module (asset folders are not packages)."""
    path = REPO / "content" / pack / "assets" / "make_assets.py"
    spec = importlib.util.spec_from_file_location(f"make_assets_{pack}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    keep, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ among the pack's assets
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = keep
    return module


@pytest.mark.parametrize("pack", PACKS)
def test_every_asset_loads_is_small_and_documented(pack):
    folder = REPO / "content" / pack / "assets"
    files = sorted(folder.glob("*.obj"))
    assert len(files) >= 15
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for path in files:
        assert path.stat().st_size < 200_000, path.name
        mesh = load_surface_mesh(path)
        assert len(mesh.triangles) > 0
        extent = mesh.points.max(axis=0) - mesh.points.min(axis=0)
        assert extent.max() < 11.0, f"{path.name}: not in metres?"  # the largest model is a 2.5 m bus section
        assert path.name in readme, f"{path.name} is not listed in assets/README.md"


@pytest.mark.parametrize("pack", PACKS)
def test_generator_reproduces_the_committed_meshes(pack):
    folder = REPO / "content" / pack / "assets"
    built = generator(pack).build()
    assert sorted(f"{name}.obj" for name in built) == sorted(p.name for p in folder.glob("*.obj"))
    for name, mesh in built.items():
        stored = load_surface_mesh(folder / f"{name}.obj")
        assert (len(stored.points), len(stored.triangles)) == (len(mesh.vertices), len(mesh.faces)), name
        assert np.allclose(stored.points, mesh.vertices, atol=1e-4), name  # written to 0.1 mm


# --- captures -----------------------------------------------------------------------------


class Capture:
    """A scenario session with a renderer that draws frame 0 and, on request, one frame later."""

    def __init__(self, gl, target: str, size: tuple[int, int] = (160, 120), keep_meshes: bool = True) -> None:
        from vrmed.render import RenderPlugin
        from vrmed.session import build_session, open_target

        pack, scenario = open_target(target)
        self.session = build_session(pack, scenario, display_rate=5)
        self.app = self.session.app
        if not keep_meshes:  # the scene as it was before it had any meshes
            for entity, _ in self.app.query(VisualMesh):
                self.app.commands.remove_component(entity, VisualMesh)
            self.app.commands.apply()
        self.plugin = RenderPlugin(*size, context=gl, samples=0, every=10**9)
        self.app.add_plugin(self.plugin)
        self.session.run(frames=1)  # frame 0 is drawn

    def at(self, seconds: float) -> np.ndarray:
        """Run to ``seconds`` of simulated time and draw that frame (H, W, 3 uint8)."""
        rate = 5
        frames = round(seconds * rate) - self.app.clock.frame
        self.session.run(frames=frames - 1)
        self.plugin.every = 1
        self.session.run(frames=1)
        self.plugin.every = 10**9
        return self.plugin.image()

    def close(self) -> None:
        self.session.close()


def linear(img: np.ndarray) -> np.ndarray:
    """sRGB uint8 pixels to linear floats."""
    c = img.astype(np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def chroma(rgb) -> np.ndarray:
    rgb = np.asarray(rgb, np.float64)[..., :3]
    return rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1e-9)


def mask(img: np.ndarray, color) -> np.ndarray:
    """Pixels whose linear chromaticity is within CHROMA_TOL of ``color`` (linear RGB)."""
    lin = linear(img)
    near = np.linalg.norm(chroma(lin) - chroma(color), axis=-1) < CHROMA_TOL
    return near & (lin.sum(axis=-1) > MIN_BRIGHTNESS)


def color_of(app, name: str) -> np.ndarray:
    """The declared (YAML) colour of the entity called ``name``."""
    for entity, n in app.query(Name):
        if n.value == name:
            return app.get(entity, VisualMesh).color
    raise KeyError(name)


def scene_rows(img: np.ndarray) -> np.ndarray:
    """The part of the image above the monitor panel (its bottom 37 %, all views)."""
    return img[: int(img.shape[0] * 0.6)]


def test_code_blue_shows_the_patient_on_the_bed_and_the_defibrillator(ctx):
    """Default view, frame 0, above the monitor panel (160 x 72 pixels): at least 300
    pixels of the patient's skin, 70 of the defibrillator's yellow body, 500 of the red
    crash cart and 70 of the blue bag-valve-mask (about half of what each covers); none of
    them without the meshes."""
    for keep in (True, False):
        cap = Capture(ctx, "emergency/code_blue", keep_meshes=keep)
        try:
            img = scene_rows(cap.plugin.image())
            colors = {
                n: color_of(cap.app, n) if keep else None
                for n in ("patient", "defibrillator", "crash_cart", "bag_valve_mask")
            }
        finally:
            cap.close()
        if keep:
            counts = {n: int(mask(img, c).sum()) for n, c in colors.items()}
            assert counts["patient"] >= 300, counts
            assert counts["defibrillator"] >= 70, counts
            assert counts["crash_cart"] >= 500 and counts["bag_valve_mask"] >= 70, counts
            declared = colors
        else:
            assert {n: int(mask(img, c).sum()) for n, c in declared.items()} == dict.fromkeys(declared, 0)


def test_pads_appear_on_the_chest_once_attached(ctx):
    """The sternal pad's centre, projected into the view, is skin before ``PadsAttached``
    (t = 20 s) and pad white after it."""
    from vrmed.systems.clinical.draw import CHEST_HALF_DEPTH, CHEST_HALF_WIDTH, PAD_COLOR

    cap = Capture(ctx, "emergency/code_blue")
    try:
        (entity, tf), *_ = [(e, cap.app.get(e, Transform)) for e, n in cap.app.query(Name) if n.value == "patient"]
        x, z = PAD_PLACES[0]
        a, b = CHEST_HALF_DEPTH, CHEST_HALF_WIDTH
        y = -a + a * np.sqrt(1.0 - (z / b) ** 2) + 0.01
        centre = quat_matrix(tf.orientation) @ np.array([x, y, z]) + tf.position
        skin = color_of(cap.app, "patient")
        before = cap.at(19.0)
        after = cap.at(21.0)
        u, v = project(centre[None, :], cap.plugin.renderer.view_proj, 160, 120)[0]
        window = (slice(int(v) - 1, int(v) + 2), slice(int(u) - 1, int(u) + 2))
        assert mask(before[window], skin).sum() >= 7  # 3 x 3 around the pad's centre: skin
        assert mask(after[window], skin).sum() == 0
        assert mask(after[window], PAD_COLOR).sum() >= 7
    finally:
        cap.close()


def tag_centres(app) -> dict[str, np.ndarray]:
    """Each casualty's tag card centre (its top face) in world space."""
    out = {}
    local = np.asarray(TAG_CENTRE) + [0.0, TAG_SIZE[1] / 2.0, 0.0]
    for entity, (_, tf) in app.query(Casualty, Transform):
        out[app.get(entity, Name).value] = quat_matrix(tf.orientation) @ local + tf.position
    return out


def test_triage_tags_take_the_colour_of_the_category_given(ctx):
    """Before anyone is tagged there is no red, yellow or green tag in view and every card
    is blank (white); after the scripted learner has tagged all twelve, each card shows its
    category's colour at its projected centre; red covers at least 120 pixels, yellow 20
    and green 50 (of 320 x 240; about half of what they cover)."""
    w, h = 320, 240
    cap = Capture(ctx, "emergency/triage", size=(w, h))
    try:
        before = cap.plugin.image()
        centres = tag_centres(cap.app)
        after = cap.at(305.0)
        pix = project(np.array(list(centres.values())), cap.plugin.renderer.view_proj, w, h)
        tagged = {
            r["data"]["patient"]: r["data"]["category"]
            for r in cap.session.recorder.log.events
            if r["type"].endswith(":TriageTagged")
        }
    finally:
        cap.close()
    assert len(tagged) == 12
    colored = ("immediate", "delayed", "minor")
    for category, least in zip(colored, (120, 20, 50)):
        assert mask(before, TRIAGE_TAG_COLORS[category]).sum() == 0, category
        assert mask(after, TRIAGE_TAG_COLORS[category]).sum() >= least, category
    blank = TRIAGE_TAG_COLORS[None]
    for name, (u, v) in zip(centres, pix):
        assert 0 <= u < w and 0 <= v < h, f"{name}'s tag is out of view"
        px = (int(v), int(u))
        assert mask(before[px][None], blank).all(), f"{name}: {before[px]} before tagging"
        category = tagged[name]
        if category in colored:
            assert mask(after[px][None], TRIAGE_TAG_COLORS[category]).all(), f"{name} ({category}): {after[px]}"
        else:  # expectant: black
            assert linear(after[px]).max() < 0.02, f"{name} ({category}): {after[px]}"


def test_medication_round_shows_patient_wristband_and_cart(ctx):
    """The nurse's view (320 x 240: the wristband is small): at least 250 pixels of the
    patient's skin, 8 of her red allergy wristband and 3000 of the medication cart's blue
    drawers (about half of what each covers); none of them without the meshes."""
    counts = {}
    for keep in (True, False):
        cap = Capture(ctx, "nursing/medication", size=(320, 240), keep_meshes=keep)
        try:
            img = cap.plugin.image()
            if keep:
                declared = {n: color_of(cap.app, n) for n in ("patient", "wristband_allergy", "med_cart_drawers")}
        finally:
            cap.close()
        counts[keep] = {n: int(mask(img, c).sum()) for n, c in declared.items()}
    assert counts[True]["patient"] >= 250, counts
    assert counts[True]["wristband_allergy"] >= 8, counts
    assert counts[True]["med_cart_drawers"] >= 3000, counts
    assert counts[False] == dict.fromkeys(declared, 0), counts


def test_tags_follow_the_latest_tag_and_pads_go_on_the_named_patient():
    """Without GL: a re-tagged casualty's card takes the new colour; pads are drawn only on
    the patient ``PadsAttached`` names (all patients when it names none), and only on
    patients that are shown (with a VisualMesh)."""
    from vrmed import App
    from vrmed.components.clinical.patient import Patient
    from vrmed.render import DrawList
    from vrmed.systems.clinical import events as ev
    from vrmed.systems.clinical.physiology import PhysiologyPlugin

    app = App(seed=0)
    try:
        app.add_plugin(PhysiologyPlugin())
        draws = DrawList()
        app.insert_resource(draws)
        body = "body.obj"  # never loaded: no renderer draws it here
        a = app.spawn(Name("a"), Transform(), Patient(), Casualty(), VisualMesh(body))
        b = app.spawn(Name("b"), Transform(position=np.array([1.0, 0.22, 0.0])), Patient(), VisualMesh(body))
        app.spawn(Name("hidden"), Transform(), Patient(), Casualty())

        def frame() -> dict:
            draws.clear()
            app.step()
            return {s.key: s for s in draws.surfaces}

        shown = frame()
        assert set(shown) == {("triage_tag", a)}
        assert shown["triage_tag", a].color == TRIAGE_TAG_COLORS[None]
        for category in ("minor", "immediate"):  # re-tagged: the latest tag shows
            app.send(ev.TriageTagged("a", category))
            assert frame()["triage_tag", a].color == TRIAGE_TAG_COLORS[category]
        app.send(ev.PadsAttached("b"))
        shown = frame()
        assert ("defib_pads", b) in shown and ("defib_pads", a) not in shown
        pads = shown["defib_pads", b]
        assert pads.entity == b and pads.positions[:, 0].min() > 0.7  # on b, 1 m along x
        app.send(ev.PadsAttached())
        assert {k for k in frame() if k[0] == "defib_pads"} == {("defib_pads", a), ("defib_pads", b)}
    finally:
        app.close()
