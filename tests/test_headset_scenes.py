"""Scenes a learner can see in the headset: every built-in scenario family, run with the
simulated OpenXR runtime (loaded through the Khronos loader) and headset rendering, shows
its task in BOTH submitted eye images.

* Laparoscopy (peg transfer, dissection): the OR monitor (``ScopeMonitor``; the
  scenarios place it in the default head's view with ``settings.scope_monitor``) shows
  the scope's image inside its projected quad: the rings' orange (``PlanarDrawStyle``)
  or the organs' colours (``prefabs/organs.yaml``); the instruments are drawn in the room.
* Clinical (code blue, triage, medication, deterioration): the patient and the key
  equipment, classified by chromaticity against the colours the packs' prefabs (and the
  triage scenario's clothes) declare.

The session is ``build_session(pack, scenario, input_source=...)`` with the source that
``--input openxr`` makes (``MotionScript(overrides=scenario.scripted_input)``: the default
head, the scenario's hands), on a simulated headset of EYE_W x EYE_H pixels per eye
(larger for laparoscopy: the rings are a few pixels on the monitor). Thresholds are about
half of what the scenes cover now (numbers in the comments, per eye).
Set ``VRMED_HEADSET_SHOTS=DIR`` to save both eyes of each scenario as ``DIR/hs_<name>.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

xr = pytest.importorskip("xr")
moderngl = pytest.importorskip("moderngl")

from vrmed.geometry import view_matrix  # noqa: E402
from vrmed.render.camera import project  # noqa: E402
from vrmed.render.scope_monitor import ScopeMonitor  # noqa: E402
from vrmed.session import build_session, open_target  # noqa: E402
from vrmed.xr import DeviceConfig, MotionScript, sim  # noqa: E402
from vrmed.xr.input import XrInputSource  # noqa: E402
from vrmed.xr.openxr_backend import OpenXrBackend  # noqa: E402

CONTENT = Path(__file__).resolve().parents[1] / "content"
EYE_W, EYE_H = 160, 120
LAP_W, LAP_H = 480, 360
FRAMES = 3
RING_ORANGE = (0.90, 0.18, 0.02)  # PlanarDrawStyle.object_color (systems/planar/draw.py)


# --- colours -----------------------------------------------------------------------------------


def srgb(linear) -> np.ndarray:
    c = np.clip(np.asarray(linear, float)[:3], 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def chroma(rgb: np.ndarray) -> np.ndarray:
    """r, g, b / (r + g + b): what shading (a white light's intensity) leaves alone."""
    rgb = np.asarray(rgb, float)
    return rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1e-6)


def prefab_colors(pack: str) -> dict[str, tuple[float, ...]]:
    """{prefab: VisualMesh colour (linear RGBA)} declared in ``content/<pack>/prefabs``."""
    out: dict[str, tuple[float, ...]] = {}
    for path in sorted((CONTENT / pack / "prefabs").glob("*.yaml")):
        for name, spec in (yaml.safe_load(path.read_text()) or {}).items():
            color = ((spec or {}).get("components") or {}).get("VisualMesh", {}).get("color")
            if color is not None:
                out[name] = tuple(color)
    return out


def classify(image: np.ndarray, palette: dict[str, tuple[float, ...]], tol: float = 0.035) -> dict[str, int]:
    """Pixels per palette entry: nearest in chromaticity (a neutral grey entry takes the
    floor, walls and metal), within ``tol``, not too dark to have a colour."""
    names = [*palette, "_grey"]
    keys = np.array([chroma(srgb(c)) for c in palette.values()] + [np.full(3, 1 / 3)])
    rgb = image[:, :, :3].astype(float) / 255.0
    pix = chroma(rgb).reshape(-1, 1, 3)
    dist = np.linalg.norm(pix - keys[None, :, :], axis=-1)
    best = dist.argmin(axis=1)
    ok = (dist.min(axis=1) < tol) & (rgb.reshape(-1, 3).sum(axis=1) > 0.25)
    counts = np.bincount(best[ok], minlength=len(names))
    return {n: int(k) for n, k in zip(names, counts) if n != "_grey"}


# --- running a scenario in the simulated headset ----------------------------------------------


@pytest.fixture(scope="module")
def headset(tmp_path_factory):
    """``headset(target, size)`` -> (last submitted frame, runtime config, app resources)."""
    try:
        manifest = sim.write_manifest(tmp_path_factory.mktemp("xr-shim"))
    except sim.ShimBuildError as exc:
        pytest.skip(str(exc))
    from vrmed.render import context as render_context

    shots = os.environ.get("VRMED_HEADSET_SHOTS")
    cache: dict[str, tuple] = {}
    mp = pytest.MonkeyPatch()
    mp.setenv("XR_RUNTIME_JSON", str(manifest))

    def run(target: str, size: tuple[int, int]):
        if target in cache:
            return cache[target]
        pack, name = open_target(target)
        scenario = pack.scenario(name)
        rt, _ = sim.install(
            MotionScript(overrides=scenario.scripted_input),
            DeviceConfig(width=size[0], height=size[1]),
            manifest=manifest,
        )
        rt.keep_frames = FRAMES
        try:
            ctx = render_context.create_context("egl")
        except render_context.RenderUnavailable as exc:
            pytest.skip(f"no EGL context on this machine: {exc}")
        source = XrInputSource(OpenXrBackend(ctx))
        source.gl_context = ctx
        source.owns_context = True  # released after the backend when the source closes
        try:
            session = build_session(pack, name, input_source=source)  # adds headset rendering
            try:
                assert session.run(frames=FRAMES) == FRAMES
                monitor = session.app.try_resource(ScopeMonitor)
                corners = None if monitor is None else monitor.corners().copy()
            finally:
                session.close()
        finally:
            source.close()
        assert rt.errors == [], rt.errors[0]
        assert rt.frames_ended == FRAMES
        sub = rt.frames[-1]
        assert sub.layer_types[0] == "projection" and set(sub.images) == {0, 1}  # then the panels (quads)
        if shots:
            from PIL import Image

            both = np.concatenate([sub.images[0], sub.images[1]], axis=1)[:, :, :3]
            Image.fromarray(both).save(Path(shots) / f"hs_{target.split('/')[-1]}.png")
        cache[target] = (sub, rt.config, corners)
        return cache[target]

    yield run
    mp.undo()


def quad_mask(sub, config, eye: int, corners: np.ndarray, shrink: float = 0.0) -> np.ndarray:
    """Pixels inside the projected monitor quad of ``eye`` (``shrink``: fraction cut off
    each side, to leave the bezel out)."""
    h, w = sub.images[eye].shape[:2]
    pose = sub.poses[eye]
    vp = config.eye_fov(eye).projection(0.05, 100.0) @ view_matrix(np.asarray(pose.position), pose.orientation)
    centre = corners.mean(axis=0)
    pts = project(centre + (1.0 - 2.0 * shrink) * (corners - centre), vp, w, h)
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    inside = np.ones((h, w), bool)
    n = len(pts)
    d0, d1 = pts[1] - pts[0], pts[2] - pts[1]
    sign = np.sign(d0[0] * d1[1] - d0[1] * d1[0])
    for i in range(n):  # convex polygon: on the same side of every edge
        a, b = pts[i], pts[(i + 1) % n]
        inside &= sign * ((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])) >= 0
    return inside


# --- laparoscopy: the OR monitor and the instruments ------------------------------------------


def warm(image: np.ndarray) -> np.ndarray:
    """Orange/red pixels (the rings, the cavity and liver): red well above blue and green.
    The scope image on the monitor is dim and its small objects are blended with their
    surroundings, so a hue test, not the declared colour's chromaticity."""
    rgb = image[:, :, :3].astype(int)
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    return (r - b > 25) & (r - g > 15) & (r > 40)


def greenish(image: np.ndarray) -> np.ndarray:
    """The gallbladder's green (and its marked line's yellow-green)."""
    rgb = image[:, :, :3].astype(int)
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    return (g - b > 15) & (g - r > 5)


def check_monitor(sub, config, corners, least: dict) -> dict[int, dict[str, int]]:
    """``least``: {name: (mask function, least pixels inside the screen)} for each eye."""
    seen = {}
    for eye in (0, 1):
        image = sub.images[eye]
        screen = quad_mask(sub, config, eye, corners, shrink=0.02)
        assert screen.sum() > 2000, f"eye {eye}: the monitor is not in view ({screen.sum()} px)"
        seen[eye] = {name: int((fn(image) & screen).sum()) for name, (fn, _) in least.items()}
        short = {k: (seen[eye][k], n) for k, (_, n) in least.items() if seen[eye][k] < n}
        assert not short, f"eye {eye}: too few pixels on the monitor (seen, least): {short}"
        # the instruments in the room: dark shafts on the light floor, outside the monitor
        room = ~quad_mask(sub, config, eye, corners, shrink=-0.08)
        dark = (image[:, :, :3].astype(int).sum(axis=-1) < 3 * 90) & room
        assert dark.sum() > 60, f"eye {eye}: no instruments in the room ({dark.sum()} dark px)"
        seen[eye]["instruments"] = int(dark.sum())
    assert not np.array_equal(sub.images[0], sub.images[1])
    return seen


def test_peg_transfer_monitor_shows_the_rings_and_the_instruments(headset):
    # 480 x 360 per eye: ring orange 18-20 px on the screen (two 8 mm rings, partly behind the
    # left grasper's shaft); instruments ~100 dark px in the room
    sub, config, corners = headset("laparoscopy/peg_transfer_quick", (LAP_W, LAP_H))
    assert corners is not None
    check_monitor(sub, config, corners, {"rings": (warm, 8)})


def test_dissection_monitor_shows_the_organs_and_the_instruments(headset):
    # 480 x 360 per eye: cavity and liver ~8850 px, gallbladder ~180 px on the screen;
    # instruments ~300 dark px in the room
    sub, config, corners = headset("laparoscopy/dissection", (LAP_W, LAP_H))
    assert corners is not None
    check_monitor(sub, config, corners, {"organs": (warm, 4000), "gallbladder": (greenish, 80)})


# --- clinical: the patient and the key equipment ----------------------------------------------


def check_eyes(sub, palette, least: dict[str, int]) -> None:
    for eye in (0, 1):
        seen = classify(sub.images[eye], palette)
        short = {k: (seen[k], n) for k, n in least.items() if seen[k] < n}
        assert not short, f"eye {eye}: too few pixels (seen, least): {short}; all: {seen}"
    assert not np.array_equal(sub.images[0], sub.images[1])


def test_code_blue_patient_defibrillator_and_crash_cart_in_both_eyes(headset):
    sub, _, _ = headset("emergency/code_blue", (EYE_W, EYE_H))
    c = prefab_colors("emergency")
    palette = {
        k: c[k]
        for k in ("adult_inpatient", "defibrillator", "crash_cart", "patient_trousers", "bed_blanket", "wall_back")
    }
    palette["bag_valve_mask"] = c["bag_valve_mask"]
    # per eye: patient skin ~3000 px, defibrillator 536, crash cart 1087-1803, trousers 1815-2559
    check_eyes(
        sub, palette, {"adult_inpatient": 1400, "defibrillator": 250, "crash_cart": 500, "patient_trousers": 800}
    )


def test_triage_casualties_in_both_eyes(headset):
    sub, _, _ = headset("emergency/triage", (EYE_W, EYE_H))
    c = prefab_colors("emergency")
    palette = {"skin": c["casualty_skin"]}
    scenario = yaml.safe_load((CONTENT / "emergency" / "scenarios" / "triage.yaml").read_text())
    for ent in scenario["entities"]:  # each casualty's clothes
        color = ((ent.get("components") or {}).get("VisualMesh") or {}).get("color")
        if color is not None:
            palette.setdefault(f"clothes_{tuple(color)}", tuple(color))
    # left eye: skin 641 px; clothes of five casualties 70-1089 px each
    check_eyes(sub, palette, {"skin": 300})
    for eye in (0, 1):
        seen = classify(sub.images[eye], palette)
        clothes = [k for k, n in seen.items() if k.startswith("clothes_") and n >= 30]
        assert len(clothes) >= 3, (eye, seen)


@pytest.mark.parametrize("scenario", ["medication", "deterioration"])
def test_nursing_patient_and_ward_equipment_in_both_eyes(headset, scenario):
    sub, _, _ = headset(f"nursing/{scenario}", (EYE_W, EYE_H))
    c = prefab_colors("nursing")
    palette = {
        k: c[k]
        for k in (
            "ward_patient",
            "patient_gown",
            "patient_blanket",
            "med_cart_drawers",
            "locker",
            "sharps_bin",
            "wristband_allergy",
            "wall_back",
        )
    }
    # the scenario's scripted head stands at the foot of the bed looking 20 degrees down
    # (160x120 per eye): skin ~139 px, blanket ~2890, cart drawers ~1158
    check_eyes(sub, palette, {"ward_patient": 60, "patient_blanket": 1000, "med_cart_drawers": 400})


def test_nursing_medication_cart_in_both_eyes(headset):
    sub, _, _ = headset("nursing/medication", (EYE_W, EYE_H))
    c = prefab_colors("nursing")
    palette = {k: c[k] for k in ("ward_patient", "patient_gown", "patient_blanket", "med_cart_drawers", "wall_back")}
    check_eyes(sub, palette, {"med_cart_drawers": 50})
