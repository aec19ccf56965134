"""The code-blue scene shows its patient monitor on screen when rendered, with what a real
monitor shows in VF during compressions (rules: tests/test_monitor_display.py)."""

from __future__ import annotations

import numpy as np
import pytest


def test_code_blue_monitor_panel_draws_the_patient_waveforms():
    from vrmed.components.scene.render import MonitorPanel
    from vrmed.render import RenderPlugin, RenderUnavailable, create_context
    from vrmed.render.overlay import panel_layout, trace_rect
    from vrmed.session import build_session, open_target

    try:
        ctx = create_context("egl")
    except RenderUnavailable as exc:
        pytest.skip(f"no headless OpenGL: {exc}")
    pack, _ = open_target("emergency")
    session = build_session(pack, "code_blue", seed=0)
    try:
        # the panel's traces and alarms are state of the simulation, not of the renderer, so a
        # frame a second is drawn (llvmpipe at 640x480 every frame was the test's whole cost)
        plugin = RenderPlugin(640, 480, context=ctx, samples=0, every=90)
        session.app.add_plugin(plugin)
        session.run(seconds=8.0)  # VF from 2 s, compressions from 4 s
        panel = session.app.resource(MonitorPanel)
        values = {r.key: r.value for r in panel.readouts}
        assert panel.rhythm_label == "VF" and panel.alarms[0].text == "VF" and panel.alarm_tone == "high"
        assert values["hr"] == "---" and values["spo2"] == "---" and panel.hr is None and panel.spo2 is None
        assert values["nibp"] == ""  # the first automatic cuff cycle is still running
        img = plugin.image()
        size = (img.shape[1], img.shape[0])
        x0, y0, x1, y1 = (int(round(v)) for v in trace_rect(panel, 0, size))
        ecg_row = img[y0:y1, x0:x1, :3].astype(int)
        green = (ecg_row[..., 1] > 180) & (ecg_row[..., 0] < 150) & (ecg_row[..., 2] < 150)
        assert green.sum() > 100  # the ECG trace is drawn in its monitor green inside its row
        columns = np.flatnonzero(green.any(axis=0))
        assert columns.max() - columns.min() > 0.5 * (x1 - x0)  # across most of the row
        x, y, w, _, _ = (int(v) for v in panel_layout(panel, size))
        header = img[y : y + 20, x : x + w // 2, :3].astype(int)
        red = (header[..., 0] > 70) & (header[..., 0] > 2 * header[..., 1]) & (header[..., 0] > 2 * header[..., 2])
        assert red.sum() > 100  # the VF alarm banner (red in both phases of its flash)
    finally:
        session.close()
        ctx.release()
