"""Render passes: one pipeline of passes drawn for the desktop/offscreen view and for each
headset eye; packs add passes by name; the ``render.overlay`` set runs before capture and
present, so what it changes is in this frame's PNG.

Pixel checks are on real frames (EGL/llvmpipe), read back from PNG captures and from the
images the simulated OpenXR runtime received."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

moderngl = pytest.importorskip("moderngl")

from vrmed import App  # noqa: E402
from vrmed.components.scene.render import Camera, HudState, HudText  # noqa: E402
from vrmed.errors import ConfigError  # noqa: E402
from vrmed.geometry import view_matrix  # noqa: E402
from vrmed.input import InputPlugin  # noqa: E402
from vrmed.render import RenderPlugin  # noqa: E402
from vrmed.render.camera import project  # noqa: E402
from vrmed.render.drawlist import DrawList  # noqa: E402
from vrmed.render.passes import (  # noqa: E402
    PassContext,
    RenderPass,
    RenderPipeline,
    default_pipeline,
    render_pipeline,
)
from vrmed.xr import HEAD, LEFT_HAND, RIGHT_HAND, DeviceConfig, MotionScript, Pose, sim  # noqa: E402
from vrmed.xr.input import XrInputSource  # noqa: E402
from vrmed.xr.openxr_backend import OpenXrBackend  # noqa: E402
from vrmed.xr.render import add_headset_rendering  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
W, H = 160, 120
YELLOW = (1.0, 1.0, 0.0, 1.0)


def load_clip_lab_overlay():
    """The example distribution's overlay module, loaded from its file (it imports only vrmed.api)."""
    path = REPO / "examples" / "external_tools_pack" / "vrmed_clip_lab" / "overlay.py"
    spec = importlib.util.spec_from_file_location("clip_lab_overlay_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


clip_lab = load_clip_lab_overlay()


@pytest.fixture(scope="module")
def ctx():
    try:
        context = moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as exc:
        pytest.skip(f"no EGL context on this machine: {exc}")
    yield context
    context.release()


def read_png(path: Path) -> np.ndarray:
    """A captured PNG as (H, W, 3) uint8, decoded by Pillow (not by vrmed)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def magenta(image: np.ndarray) -> np.ndarray:
    """Pixels of the clip-lab badge colour (0.85, 0.10, 0.75)."""
    rgb = image[..., :3].astype(int)
    return (rgb[..., 0] > 190) & (rgb[..., 1] < 60) & (rgb[..., 2] > 160)


def badge_margin(view_height: int) -> int:
    """The clip-lab badge's distance from the view's edges (its margin scales with the view)."""
    return round(10 * view_height / clip_lab.REFERENCE_HEIGHT)


def yellow(image: np.ndarray) -> np.ndarray:
    rgb = image[..., :3].astype(int)
    return (rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] < 80)


class Recorder:
    """An overlay pass that draws nothing and records what it was given."""

    phase = "overlay"

    def __init__(self, name: str = "test.recorder") -> None:
        self.name = name
        self.calls: list[tuple[int, str, bool, tuple[int, int], tuple[int, int, int, int]]] = []

    def draw(self, ctx: PassContext) -> None:
        is_app_pipeline = ctx.pipeline is ctx.app.resource(RenderPipeline)
        self.calls.append((ctx.frame, ctx.view, is_app_pipeline, ctx.size, ctx.viewport))


class Named:
    """A pass that does nothing (for ordering tests)."""

    def __init__(self, name: str, phase: str = "overlay") -> None:
        self.name, self.phase = name, phase

    def draw(self, ctx: PassContext) -> None:
        pass


# -- the pipeline as data ------------------------------------------------------------------------
def test_builtin_passes_and_one_pipeline_per_app() -> None:
    app = App()
    pipeline = render_pipeline(app)
    assert pipeline.names == ("scene", "monitor", "hud")
    assert render_pipeline(app) is pipeline is app.resource(RenderPipeline)
    assert [p.phase for p in pipeline] == ["scene", "overlay", "overlay"]
    assert all(isinstance(p, RenderPass) for p in pipeline)
    assert render_pipeline(App()) is not pipeline  # per App, never shared


def test_passes_are_placed_by_phase_and_by_name() -> None:
    pipeline = default_pipeline()
    pipeline.add(Named("late"))  # no anchor: the end of its phase
    pipeline.add(Named("shapes", "scene"))  # a scene pass always goes before the overlays
    pipeline.add(Named("badge"), after="hud")
    pipeline.add(Named("backdrop"), before="monitor")
    pipeline.add(Named("sky", "scene"), before="scene")
    assert pipeline.names == ("sky", "scene", "shapes", "backdrop", "monitor", "hud", "badge", "late")
    assert [p.name for p in pipeline.passes("scene")] == ["sky", "scene", "shapes"]
    assert pipeline.passes("overlay") is pipeline.passes("overlay")  # no per-frame copy
    assert pipeline.remove("monitor").name == "monitor" and "monitor" not in pipeline
    assert pipeline.get("badge").name == "badge" and len(pipeline) == 7


def test_pipeline_mistakes_are_clear_errors() -> None:
    pipeline = default_pipeline()
    with pytest.raises(ConfigError, match=r"named 'hud' is already in the pipeline \(scene, monitor, hud\)"):
        pipeline.add(Named("hud"))
    with pytest.raises(ConfigError, match=r"no render pass named 'hdu' to place 'badge' after; .*scene, monitor, hud"):
        pipeline.add(Named("badge"), after="hdu")
    with pytest.raises(ConfigError, match="not both"):
        pipeline.add(Named("badge"), after="hud", before="monitor")
    with pytest.raises(ConfigError, match=r"'shapes' \(phase 'scene'\) cannot be placed relative to 'hud'"):
        pipeline.add(Named("shapes", "scene"), after="hud")
    with pytest.raises(ConfigError, match="phase must be one of scene, overlay, got 'overlays'"):
        pipeline.add(Named("badge", "overlays"))
    with pytest.raises(ConfigError, match="has no draw"):
        pipeline.add(type("NoDraw", (), {"name": "x", "phase": "overlay"})())
    with pytest.raises(ConfigError, match="needs a non-empty str `name`"):
        pipeline.add(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no render pass named 'nope' to remove"):
        pipeline.remove("nope")
    with pytest.raises(ConfigError, match="unknown render phase"):
        pipeline.passes("post")
    assert pipeline.names == ("scene", "monitor", "hud")  # nothing half-added


# -- the desktop/offscreen view ----------------------------------------------------------------
def test_a_render_overlay_system_is_seen_in_this_frames_capture(ctx, tmp_path) -> None:
    """A system in render.overlay (after the scene is drawn) that sets the HUD: its text is in
    the PNG of the same frame. Before the render.present set, capture ran in render.draw."""
    plugin = RenderPlugin(W, H, context=ctx, samples=0, capture_dir=tmp_path)
    app = App(seed=0)
    app.add_plugin(plugin)

    def late_hud(app: App) -> None:
        if not app.has_resource(HudState):
            app.insert_resource(HudState())
        app.resource(HudState).texts = [HudText("LATE", W / 2, H / 2, size=14, color=YELLOW, anchor="mc")]

    app.add_system(late_hud, in_set="render.overlay", name="test.late_hud")
    try:
        app.run(frames=1)
        order = app.system_order()["render"]
        assert order.index("render.draw") < order.index("test.late_hud") < order.index("render.present")
    finally:
        app.close()
    img = read_png(tmp_path / "frame_000000.png")
    rows, cols = np.nonzero(yellow(img))
    assert len(rows) > 20, "the HUD text set in render.overlay is not in the frame's capture"
    assert abs(cols.mean() - W / 2) < 6 and abs(rows.mean() - H / 2) < 6


def test_pack_passes_draw_in_the_scene_and_over_it(ctx, tmp_path) -> None:
    """A scene pass draws 3D with ctx.renderer where ctx.view_proj projects it; the clip-lab
    overlay pass puts its badge into the bottom-right corner of the capture; without the
    pass (same scene) there is no badge."""
    seen: dict[str, np.ndarray] = {}

    class BlueBall:
        name, phase = "test.ball", "scene"

        def draw(self, ctx: PassContext) -> None:
            ctx.renderer.draw_spheres(np.array([[0.1, 0.05, 0.0]]), 0.05, (0.1, 0.2, 0.95, 1.0))
            seen["view_proj"] = ctx.view_proj.copy()
            assert ctx.view == "main" and ctx.size == (W, H) and ctx.framebuffer is ctx.renderer.fbo

    images = []
    for with_badge in (True, False):
        app = App(seed=0)
        if with_badge:
            clip_lab.install(app)  # before the renderer exists, as a pack plugin would
        plugin = RenderPlugin(W, H, context=ctx, samples=0, capture_dir=tmp_path / str(with_badge))
        app.add_plugin(plugin)
        app.spawn(Camera(position=np.array([0.0, 0.3, 0.7]), target=np.array([0.0, 0.05, 0.0])))
        render_pipeline(app).add(BlueBall())
        try:
            app.run(frames=1)
        finally:
            app.close()
        images.append(read_png(tmp_path / str(with_badge) / "frame_000000.png"))
    with_pass, without = images
    (bx, by) = project(np.array([[0.1, 0.05, 0.0]]), seen["view_proj"], W, H)[0].astype(int)
    for img in images:
        assert img[by, bx, 2] > img[by, bx, 0] + 60  # the scene pass's ball
    rows, cols = np.nonzero(magenta(with_pass))
    assert len(rows) > 100
    margin = badge_margin(H)
    assert cols.max() == W - margin - 1 and rows.max() == H - margin - 1  # in the bottom-right corner
    assert not magenta(without).any()
    assert np.array_equal(with_pass[: H // 2], without[: H // 2])  # nothing else changed


def test_overlay_drawing_is_refused_in_the_scene_phase_and_errors_name_the_pass(ctx) -> None:
    class Misplaced:
        name, phase = "test.misplaced", "scene"

        def draw(self, ctx: PassContext) -> None:
            ctx.overlay.rect(0, 0, 4, 4, YELLOW)

    app = App()
    app.add_plugin(RenderPlugin(W, H, context=ctx, samples=0))
    render_pipeline(app).add(Misplaced())
    try:
        with pytest.raises(ConfigError, match="only a pass with phase = 'overlay'") as info:
            app.run(frames=1)
        assert "in render pass 'test.misplaced' (scene phase, main view)" in info.value.__notes__
    finally:
        app.close()


def test_raw_gl_overlay_pass_draws_after_the_batched_overlays(ctx) -> None:
    """ctx.bind() first draws what earlier passes batched in ctx.overlay, so a raw-GL pass
    lands on top of them, inside the view's viewport."""

    class YellowBox:
        name, phase = "test.box", "overlay"

        def draw(self, ctx: PassContext) -> None:
            ctx.overlay.rect(0, 0, W, H, YELLOW)

    class GreenClear:
        name, phase = "test.green", "overlay"

        def draw(self, ctx: PassContext) -> None:
            fb = ctx.bind()
            fb.clear(0.0, 1.0, 0.0, 1.0, viewport=(0, 0, W // 2, H))  # the left half, GL pixels

    plugin = RenderPlugin(W, H, context=ctx, samples=0)
    app = App()
    app.add_plugin(plugin)
    render_pipeline(app).add(YellowBox())
    render_pipeline(app).add(GreenClear())
    try:
        app.run(frames=1)
        img = plugin.image().astype(int)
    finally:
        app.close()
    assert (img[:, : W // 2] == (0, 255, 0)).all()
    assert yellow(img[:, W // 2 :]).all()


# -- the headset: the same pipeline in each eye ---------------------------------------------------
EYE = 256


def still_head(t: float):
    return {
        HEAD: Pose((0.0, 1.6, 0.0)).as_sample(),
        LEFT_HAND: Pose((-0.2, 1.0, -0.3)).as_sample(),
        RIGHT_HAND: Pose((0.2, 1.0, -0.3)).as_sample(),
    }


def panel_right_edge(rt: sim.SimRuntime, submitted, eye: int, head: np.ndarray) -> float:
    """Pixel x of the right edge of the head-locked overlay panel (default: 1.5 m ahead, 50
    degrees wide) in ``eye``'s image, from the pose the runtime got in the layer."""
    pose = submitted.poses[eye]
    vp = rt.config.eye_fov(eye).projection(0.05, 100.0) @ view_matrix(pose.position, pose.orientation)
    half = 1.5 * math.tan(math.radians(25.0))
    corners = head + np.array([[half, half * 0.75, -1.5], [half, -half * 0.75, -1.5]])
    return float(project(corners, vp, EYE, EYE)[:, 0].max())


def test_one_pipeline_draws_the_window_view_and_both_eyes(manifest, monkeypatch, ctx, tmp_path) -> None:
    """The desktop capture and both eyes run the App's one pipeline (main, left, right each
    frame); the pack's badge is in the PNG and in both images the runtime received, on the
    head-locked panel, which each eye sees from its own position (stereo disparity)."""
    pytest.importorskip("xr")  # pyopenxr: the Khronos loader the backend drives
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    rt, _ = sim.install(MotionScript(still_head), DeviceConfig(ipd=0.064, width=EYE, height=EYE), manifest=manifest)
    source = XrInputSource(OpenXrBackend(ctx))
    source.gl_context = ctx  # the test owns the context
    recorder = Recorder()
    desktop = RenderPlugin(W, H, context=ctx, samples=0, capture_dir=tmp_path)
    desktop.clear_draws = False  # xr.present draws the same DrawList and clears it
    app = App(seed=1)
    try:
        app.add_plugin(InputPlugin(source))
        add_headset_rendering(app, source)
        app.add_plugin(desktop)
        clip_lab.install(app)
        render_pipeline(app).add(recorder)
        app.add_system(
            lambda a: a.resource(DrawList).add_spheres(np.array([[0.0, 1.4, -1.0]]), 0.05, (0.9, 0.1, 0.1, 1.0)),
            in_set="render.prepare",
            name="test.ball",
        )
        app.run(frames=2)
    finally:
        app.close()
    assert rt.errors == []
    for frame in (0, 1):
        calls = [c for c in recorder.calls if c[0] == frame]
        assert sorted(c[1] for c in calls) == ["left", "main", "right"]
        assert all(c[2] for c in calls)  # every view ran the App's RenderPipeline resource
    main = [c for c in recorder.calls if c[1] == "main"][-1]
    assert main[3] == (W, H) and main[4] == (0, 0, W, H)
    left, right = ([c for c in recorder.calls if c[1] == v][-1] for v in ("left", "right"))
    assert left[4] != right[4] and left[3][0] < EYE // 2  # a panel inside each eye, seen differently

    png = read_png(tmp_path / "frame_000001.png")
    assert magenta(png).sum() > 100
    submitted = rt.frames[-1]
    head = np.array([0.0, 1.6, 0.0])
    edges = []
    for eye in (0, 1):
        image = submitted.images[eye]
        mask = magenta(image)
        assert mask.sum() > 100, f"no badge in eye {eye}"
        assert ((image[..., 0].astype(int) - image[..., 2]) > 60).sum() > 20  # and the scene's red ball
        right_edge = np.nonzero(mask.any(axis=0))[0].max() + 1
        panel_h = (left, right)[eye][4][3]
        expect = panel_right_edge(rt, submitted, eye, head) - badge_margin(panel_h)
        assert abs(right_edge - expect) <= 1.5, (eye, right_edge, expect)
        edges.append(right_edge)
    assert edges[0] - edges[1] > 2  # the left eye sees the panel further right: it fuses 1.5 m away
