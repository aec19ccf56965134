"""Screen-space overlays: HUD text lands in its predicted rectangle, monitor traces put a
sine's peak and trough at the predicted pixels, readouts and the plugin's HUD pass.

Text needs Pillow (the font atlas); these tests are skipped without it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL", reason="overlay text needs Pillow")

from vrmed import App  # noqa: E402
from vrmed.components.scene.render import HudState, HudText, MonitorPanel, VitalTrace  # noqa: E402
from vrmed.render.overlay import PANEL_PAD, READOUT_COLORS, trace_rect  # noqa: E402

W, H = 320, 240
BG = (0.25, 0.25, 0.25)  # display grey background, no ground: a flat frame


@pytest.fixture(scope="module")
def gl(ctx):
    """A 320 x 240 renderer with a flat background and an overlay renderer on it."""
    from vrmed.components.scene.render import Camera
    from vrmed.render import Renderer
    from vrmed.render.overlay import OverlayRenderer

    r = Renderer(ctx, W, H, samples=0, ground=False, background=BG)
    ov = OverlayRenderer(ctx)

    def frame(draw) -> np.ndarray:
        r.begin(Camera())
        r.end()
        ov.begin(r.output)
        draw(ov)
        ov.end()
        return r.read().astype(int).copy()

    yield frame, ov
    ov.release()
    r.release()


def test_text_pixels_lie_in_the_anchored_rectangle(gl):
    """Text anchored top-left, centre and bottom-right covers its returned box: every
    changed pixel is inside it, the ink spans most of it, and the box has the measured
    size at the anchor point."""
    frame, ov = gl
    empty = frame(lambda o: None)
    for text, x, y, anchor in (
        ("Clip the duct", 20, 30, "tl"),
        ("00:42", 160, 120, "mc"),
        ("Score 87", 300, 220, "br"),
    ):
        boxes = []
        img = frame(lambda o: boxes.append(o.text(text, x, y, size=20, color=(1, 1, 1, 1), anchor=anchor)))
        left, top, right, bottom = boxes[0]
        w, h = ov.measure(text, 20)
        assert (right - left, bottom - top) == (w, h)
        fx, fy = {"l": 0, "c": 0.5, "r": 1}[anchor[1]], {"t": 0, "m": 0.5, "b": 1}[anchor[0]]
        assert abs(left + fx * w - x) <= 0.5 and abs(top + fy * h - y) <= 0.5
        rows, cols = np.nonzero((img != empty).any(axis=2))
        assert cols.min() >= left and cols.max() < right and rows.min() >= top and rows.max() < bottom, text
        assert cols.max() - cols.min() > 0.8 * w and rows.max() - rows.min() > 0.5 * h, text
        assert (img.min(axis=2) > 230).sum() > 40  # white ink, not just blended edges


def test_hud_instructions_timer_and_score_where_documented(gl):
    """HudState draws the instructions top-left inside the margin, the timer as M:SS and
    the score right-aligned top-right; nothing else on screen changes."""
    frame, ov = gl
    empty = frame(lambda o: None)
    hud = HudState(instructions="Retract the fundus", timer_s=125.9, score=87.0, size=16, margin=10)
    img = frame(lambda o: o.draw_hud(hud))
    changed = (img != empty).any(axis=2)
    ink = img.min(axis=2) > 200
    iw, ih = ov.measure("Retract the fundus", 16)
    x0 = y0 = 10 + PANEL_PAD
    assert ink[y0 : y0 + int(ih), x0 : x0 + int(iw)].sum() > 50
    tw, th = ov.measure("2:05", 16)
    sw, sh = ov.measure("Score 87", 16)
    tx1 = W - 10 - PANEL_PAD
    assert ink[y0 : y0 + int(th), int(tx1 - tw) : tx1].sum() > 15
    # instructions box, timer+score column, each with its backing box: nothing else changed
    allowed = np.zeros_like(changed)
    allowed[10 : y0 + int(ih) + PANEL_PAD + 1, 10 : x0 + int(iw) + PANEL_PAD + 1] = True
    allowed[10 : y0 + int(th + sh) + 4 * PANEL_PAD + 3, int(tx1 - max(tw, sw)) - PANEL_PAD - 1 : W - 10 + 1] = True
    assert not (changed & ~allowed).any()


def test_monitor_sine_trace_peaks_at_the_predicted_pixel(gl):
    """One period of a sine (201 samples, lo -1, hi 1) drawn as a 1.5 px line in its
    trace_rect: the topmost trace pixels sit at the rect's top at sample 50's column and
    the lowest at its bottom at sample 150's column (within 1.5 px)."""
    frame, ov = gl
    n = 201
    samples = np.sin(2 * np.pi * np.arange(n) / (n - 1))
    panel = MonitorPanel(
        rect=(20, 40, 280, 160),
        traces=[VitalTrace("Pleth", samples, -1.0, 1.0, (0.0, 1.0, 0.0, 1.0))],
        background=(0.0, 0.0, 0.0, 1.0),
    )
    img = frame(lambda o: o.draw_monitor(panel))
    left, top, right, bottom = trace_rect(panel, 0)
    green = (img[..., 1] > 60) & (img[..., 0] < 30) & (img[..., 2] < 30)
    green[:, : int(left + 0.15 * (right - left))] = False  # ignore the label
    rows, cols = np.nonzero(green)
    assert rows.min() + 0.5 >= top - 1.0 and abs(rows.min() + 0.5 - top) <= 1.0
    assert abs(rows.max() + 0.5 - bottom) <= 1.0
    peak_col = cols[rows == rows.min()].mean() + 0.5
    trough_col = cols[rows == rows.max()].mean() + 0.5
    assert abs(peak_col - (left + 50 * (right - left) / (n - 1))) <= 1.5
    assert abs(trough_col - (left + 150 * (right - left) / (n - 1))) <= 1.5
    # the line stays inside the trace's box and the panel
    assert cols.max() + 0.5 <= right + 1.0 and cols.min() >= left


def test_monitor_rows_readouts_alarm_and_decimation(gl):
    """Three traces stack in equal rows; each numeric readout is drawn in its monitor colour
    in the right part of the panel (the alarmed one in the alarm colour); a trace longer
    than MAX_TRACE_SAMPLES is decimated rather than refused."""
    frame, ov = gl
    t = np.linspace(0.0, 4.0, 5000)
    panel = MonitorPanel(
        rect=(10, 10, 300, 220),
        traces=[
            VitalTrace("II", np.sin(7 * t) ** 9, -1, 1),
            VitalTrace("Pleth", np.sin(7 * t), -1, 1),
            VitalTrace("CO2", 38.0 * (np.sin(1.5 * t) > 0), 0, 50),
        ],
        hr=72,
        spo2=88,
        sbp=120,
        dbp=80,
        etco2=38,
        alarm={"spo2"},
        background=(0, 0, 0, 1),
    )
    img = frame(lambda o: o.draw_monitor(panel))
    tops = [trace_rect(panel, i)[1] for i in range(3)]
    assert np.allclose(np.diff(tops), 220 / 3)
    x_split = 10 + 300 * panel.trace_fraction

    def count(color) -> int:
        c = (np.asarray(color[:3]) * 255).astype(int)
        region = img[10:230, int(x_split) : 310]
        return int((np.abs(region - c).max(axis=2) < 40).sum())

    assert count(READOUT_COLORS["hr"]) > 30
    assert count(panel.alarm_color) > 30  # SpO2 88 in alarm red
    assert count(READOUT_COLORS["spo2"]) < 5  # ... and not in its normal cyan
    assert count(READOUT_COLORS["nibp"]) > 30 and count(READOUT_COLORS["etco2"]) > 30
    with pytest.raises(ValueError):
        VitalTrace("bad", t, 1.0, 1.0)


def test_plugin_draws_hud_and_monitor_over_the_scene(ctx):
    """With HudState and MonitorPanel resources the plugin's frame shows HUD text and the
    panel; free HudText lines land at their anchor; the simulation state is unchanged."""
    from vrmed.render import RenderPlugin

    plugin = RenderPlugin(W, H, context=ctx, samples=0)
    app = App(seed=0)
    app.add_plugin(plugin)
    app.insert_resource(
        HudState(
            instructions="Step 1: insert the trocar",
            texts=[HudText("CENTRE", W / 2, H / 2, size=14, color=(1, 1, 0, 1), anchor="mc")],
        )
    )
    app.insert_resource(MonitorPanel(rect=(180, 150, 130, 80), traces=[VitalTrace("II", np.zeros(10), -1, 1)], hr=60))
    digest = app.state_digest()
    try:
        app.step(1)
        img = plugin.image().astype(int)
        assert (img[10:40, 10:150].min(axis=2) > 220).sum() > 40  # white instructions top-left
        yellow = (img[..., 0] > 200) & (img[..., 1] > 200) & (img[..., 2] < 80)
        rows, cols = np.nonzero(yellow)
        assert abs(cols.mean() - W / 2) < 6 and abs(rows.mean() - H / 2) < 6
        assert img[150:230, 180:310].mean() < 60  # the dark panel
        # one draw for every shape, one per font size in use (HUD 18, labels 11, text 14, readout)
        assert plugin.overlay.draw_calls == 1 + len(plugin.overlay._atlases) == 5
        assert app.state_digest() == digest
    finally:
        app.close()
    assert plugin.overlay is None


def test_text_without_pillow_is_a_clear_error(ctx, monkeypatch):
    """Without Pillow, making a font atlas raises a VrmedError that names the package."""
    import sys

    from vrmed.errors import VrmedError
    from vrmed.render.overlay import FontAtlas

    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(VrmedError, match="(?i)pillow"):
        FontAtlas(ctx, 12)
