"""The code-blue scene shows its patient monitor on screen when rendered."""

from __future__ import annotations

import numpy as np
import pytest


def test_code_blue_monitor_panel_draws_the_patient_waveforms():
    from vrmed.components.scene.render import MonitorPanel
    from vrmed.render import RenderPlugin, RenderUnavailable, create_context
    from vrmed.render.overlay import trace_rect
    from vrmed.session import build_session, open_target

    try:
        ctx = create_context("egl")
    except RenderUnavailable as exc:
        pytest.skip(f"no headless OpenGL: {exc}")
    pack, _ = open_target("emergency")
    session = build_session(pack, "code_blue", seed=0)
    try:
        plugin = RenderPlugin(640, 480, context=ctx, samples=0)
        session.app.add_plugin(plugin)
        session.run(seconds=3.0)
        panel = session.app.resource(MonitorPanel)
        assert panel.hr is not None and 0 <= panel.spo2 <= 100
        img = plugin.image()
        x0, y0, x1, y1 = (int(round(v)) for v in trace_rect(panel, 0))
        ecg_row = img[y0:y1, x0:x1, :3].astype(int)
        green = (ecg_row[..., 1] > 180) & (ecg_row[..., 0] < 150) & (ecg_row[..., 2] < 150)
        assert green.sum() > 100  # the ECG trace is drawn in its monitor green inside its row
        columns = np.flatnonzero(green.any(axis=0))
        assert columns.max() - columns.min() > 0.5 * (x1 - x0)  # across most of the row
    finally:
        session.close()
        ctx.release()
