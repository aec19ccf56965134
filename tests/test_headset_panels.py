"""World-space panels in the headset: the guidance panel, the patient monitor and the action
menu reach the simulated OpenXR runtime as composition quad layers (checked by the runtime's
xrEndFrame), where the pointer placed them, with the size that makes body text subtend
BODY_TEXT_DEG, and with their content drawn: the menu row the controller ray is on is
highlighted in the submitted image."""

from __future__ import annotations

import math

import numpy as np
import pytest

xr = pytest.importorskip("xr")
pytest.importorskip("moderngl")

from test_headset_code_blue import HEAD_POSE, RATE, Person  # noqa: E402

from vrmed.session import build_session, open_target  # noqa: E402
from vrmed.xr import DeviceConfig, MotionScript, sim  # noqa: E402
from vrmed.xr.input import XrInputSource  # noqa: E402
from vrmed.xr.openxr_backend import OpenXrBackend  # noqa: E402
from vrmed.xr.panels import HIGHLIGHT, HeadsetPanels  # noqa: E402
from vrmed.xr.pointer import BODY_TEXT_DEG, BODY_TEXT_PX, MENU_DISTANCE_M, PointerState, menu_layout  # noqa: E402


@pytest.mark.slow
def test_panels_are_quad_layers_where_the_pointer_hits_them(manifest, monkeypatch):
    from vrmed.render import context as render_context

    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    person = Person()
    person.act(0.5, "defibrillator")  # pick it: its menu opens; then aim at row 2 ("Analyse rhythm")
    person.clicks.append((1.5, person_row_point(2)))
    rt, _ = sim.install(MotionScript(person.motion), DeviceConfig(width=96, height=96, rate=RATE), manifest=manifest)
    rt.keep_frames = 2
    try:
        ctx = render_context.create_context("egl")
    except render_context.RenderUnavailable as exc:
        pytest.skip(f"no EGL context: {exc}")
    source = XrInputSource(OpenXrBackend(ctx))
    source.gl_context, source.owns_context = ctx, True
    pack, _ = open_target("emergency")
    try:
        session = build_session(pack, "code_blue", input_source=source, display_rate=RATE)
        try:
            session.run(frames=math.ceil(1.5 * RATE) + 1)  # past 1.5 s: the menu is open, the ray on row 2
            pointer = session.app.resource(PointerState)
            panels = dict(pointer.panels)
            plugin = session.app.resource(HeadsetPanels)
            drawn, redraws, submissions = plugin.submitted, plugin.redraws, plugin.submissions
        finally:
            session.close()
    finally:
        source.close()
    assert rt.errors == [], rt.errors[0]
    sub = rt.frames[-1]
    assert drawn == ("guidance", "monitor", "menu")
    # the monitor's traces move every frame; the guidance and menu only when they change
    frames = math.ceil(1.5 * RATE) + 1
    assert frames < redraws < submissions
    assert sub.layer_types == ("projection", "quad", "quad", "quad")
    for quad, name in zip(sub.quads, drawn):
        panel = panels[name]
        assert quad.size == pytest.approx(panel.size, rel=1e-6)
        assert quad.world_pose.position == pytest.approx(panel.position, abs=1e-5)
        assert quad.image.shape == (panel.pixels[1], panel.pixels[0], 4)
        assert quad.image[:, :, :3].std() > 10  # text and boxes, not a blank texture
        # body text subtends BODY_TEXT_DEG from the eyes at the panel's distance
        distance = math.dist(HEAD_POSE.position, panel.position)
        text_m = panel.size[1] / panel.pixels[1] * BODY_TEXT_PX
        assert math.degrees(2 * math.atan(text_m / 2 / distance)) == pytest.approx(BODY_TEXT_DEG, rel=0.01)
    assert math.dist(HEAD_POSE.position, panels["menu"].position) == pytest.approx(MENU_DISTANCE_M, rel=1e-6)
    # the highlighted row of the submitted menu image is the one the ray is on (row 2)
    menu_img = sub.quads[2].image.astype(float)
    highlight = np.array(HIGHLIGHT[:3]) * 255
    rows = menu_layout(3)
    hit = [cmd for cmd, top, bottom in rows if np.abs(menu_img[int(top) + 4, 4, :3] - highlight).max() < 40]
    assert hit == ["menu.choose:2"], hit


def person_row_point(n: int):
    from vrmed.xr.pointer import menu_panel, menu_row_centre

    return menu_row_centre(menu_panel(HEAD_POSE.position, HEAD_POSE.orientation), f"menu.choose:{n}", 3)
