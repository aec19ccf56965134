"""The clip-lab badge is an overlay render pass added from outside vrmed: it is in the PNG
captures of the offscreen renderer and in both eyes of a headset session (vrmed's simulated
OpenXR runtime). Uses only the public pack API (``vrmed.api``); run it after installing the
distribution (``pip install ./examples/external_tools_pack``), from anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from vrmed_clip_lab import overlay

import vrmed.api as vm

W, H = 320, 240


def read_png(path: Path) -> np.ndarray:
    """A captured PNG as (H, W, 3) uint8 (decoded by Pillow, not by vrmed)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def badge_pixels(image: np.ndarray) -> np.ndarray:
    """Where the image has the badge's colour (to within 20 of each 8-bit channel)."""
    target = np.round(np.array(overlay.BADGE_COLOR[:3]) * 255)
    return (np.abs(image[..., :3].astype(int) - target) <= 20).all(axis=-1)


def capture_one_frame(tmp_path: Path, *, badge: bool, renderer_first: bool = False) -> np.ndarray:
    """Frame 0 of an App with a HUD (and the badge), captured by vrmed's offscreen renderer."""
    app = vm.App(seed=0)
    plugin = vm.RenderPlugin(W, H, samples=0, capture_dir=tmp_path)
    try:
        if renderer_first:
            app.add_plugin(plugin)
        if badge:
            overlay.install(app)
            app.resource(overlay.ClipCounter).clips = 2
        if not renderer_first:
            app.add_plugin(plugin)  # as `vrmed run --capture` does: after the pack's plugins
        app.insert_resource(vm.HudState(instructions="Clip the cystic duct", timer_s=65))
        try:
            app.run(frames=1)
        except vm.VrmedError as exc:  # RenderUnavailable: no EGL/Mesa here
            pytest.skip(f"no headless OpenGL: {exc}")
    finally:
        app.close()
    return read_png(tmp_path / "frame_000000.png")


def test_the_badge_is_in_the_captured_png_and_only_with_the_pass(tmp_path: Path) -> None:
    with_badge = capture_one_frame(tmp_path / "with", badge=True)
    without = capture_one_frame(tmp_path / "without", badge=False)
    assert with_badge.shape == (H, W, 3)
    rows, cols = np.nonzero(badge_pixels(with_badge))
    assert len(rows) > 200, "no badge in the capture"
    # in the bottom-right corner, 10 px from both edges (ClipBadgePass's margin)
    assert cols.max() == W - 11 and rows.max() == H - 11
    assert cols.min() > W / 2 and rows.min() > H / 2
    assert not badge_pixels(without).any()
    # the pass draws over the finished image: the HUD and the scene around it are untouched
    assert np.array_equal(with_badge[: H // 2], without[: H // 2])
    assert not np.array_equal(with_badge, without)


def test_the_badge_does_not_care_whether_the_renderer_came_first(tmp_path: Path) -> None:
    late = capture_one_frame(tmp_path / "late", badge=True)
    early = capture_one_frame(tmp_path / "early", badge=True, renderer_first=True)
    assert np.array_equal(late, early)


def test_headless_without_a_renderer_nothing_draws_the_pass() -> None:
    app = vm.App(seed=0)
    try:
        overlay.install(app)
        assert "clip_lab.badge" in vm.render_pipeline(app).names
        app.run(frames=3)  # nothing draws the pipeline: no GL is touched
    finally:
        app.close()


class EyeProbe:
    """An overlay pass after the badge that reads each view's finished image back: the image
    the headset renderer copies into that eye's swapchain right after the last pass."""

    name = "test.eye_probe"
    phase = "overlay"

    def __init__(self) -> None:
        self.images: dict[str, tuple[np.ndarray, tuple[int, int, int, int]]] = {}

    def draw(self, ctx: vm.PassContext) -> None:
        framebuffer = ctx.bind()  # draws the badge batched so far
        width, height = ctx.renderer.size
        data = framebuffer.read(viewport=(0, 0, width, height), components=3)
        image = np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1].copy()
        self.images[ctx.view] = (image, ctx.viewport)


@pytest.fixture
def probe_pack(tmp_path: Path) -> Path:
    """An empty content pack (a floor to look at) for a headset session."""
    root = tmp_path / "badge_probe"
    (root / "scenarios").mkdir(parents=True)
    (root / "pack.yaml").write_text(
        'name: badge_probe\nversion: 0.1.0\nengine: ">=0.1"\ntitle: Badge probe\n'
        "description: An empty room to look at the clip-lab badge in.\ndefault_scenario: room\n"
    )
    (root / "scenarios" / "room.yaml").write_text(
        "title: Room\ndescription: Nothing but the floor.\nduration: 1.0\nentities: []\n"
    )
    return root


@pytest.fixture
def simulated_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point OpenXR at vrmed's simulated runtime (``python -m vrmed.xr.sim`` prints its manifest)."""
    proc = subprocess.run([sys.executable, "-m", "vrmed.xr.sim"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"no simulated OpenXR runtime here: {proc.stderr.strip()}")
    monkeypatch.setenv("XR_RUNTIME_JSON", proc.stdout.strip())


@pytest.mark.parametrize("badge", [True, False], ids=["with_badge", "without"])
def test_the_badge_is_in_both_eyes_of_a_headset(probe_pack: Path, simulated_runtime: None, badge: bool) -> None:
    session = vm.build_session(vm.load_pack(probe_pack), input_kind="openxr")
    probe = EyeProbe()
    try:
        if getattr(session.app.resource(vm.InputPlugin).source, "gl_context", None) is None:
            pytest.skip("this OpenXR session cannot render (no EGL here)")
        if badge:
            overlay.install(session.app)
        vm.render_pipeline(session.app).add(probe)
        session.run(frames=2)
    finally:
        session.close()
    assert set(probe.images) == {"left", "right"}
    viewports = []
    for eye in ("left", "right"):
        image, (x, y, w, h) = probe.images[eye]
        height = image.shape[0]
        panel = image[height - (y + h) : height - y, x : x + w]  # the head-locked overlay panel, top row first
        found = badge_pixels(panel)
        if not badge:
            assert not badge_pixels(image).any()
            continue
        assert found.sum() > 20, f"no badge in the {eye} eye"
        assert badge_pixels(image).sum() == found.sum()  # all of it on the panel
        rows, cols = np.nonzero(found)
        assert cols.mean() > w / 2 and rows.mean() > h / 2  # the panel's bottom-right corner
        viewports.append((x, y, w, h))
    if badge:
        assert viewports[0][0] > viewports[1][0]  # each eye sees the panel from its own position
