"""The clinical feature's drawing: the bedside monitor on the screen-space panel.

This is the only clinical module that imports the renderer's data types; it adds nothing
when no renderer is present.
"""

from __future__ import annotations

import numpy as np

from vrmed.app import App
from vrmed.components.clinical.patient import PatientMonitor
from vrmed.components.scene.render import MonitorPanel, VitalTrace
from vrmed.render.drawlist import DrawList

from .context import Physiology

#: Monitor colours and ranges: ECG lead II in mV, pleth as a fraction, capnogram in mmHg.
_PANEL_TRACES = (
    ("II", "ecg", -0.5, 1.5, (0.25, 1.0, 0.35, 1.0)),
    ("Pleth", "pleth", 0.0, 1.0, (0.3, 0.85, 1.0, 1.0)),
    ("CO2", "co2", 0.0, 50.0, (1.0, 0.9, 0.3, 1.0)),
)


def monitor_panel_step(app: App) -> None:
    """When a renderer is present, show the first PatientMonitor on the screen-space
    monitor panel (waveforms and numbers, SpO2 below 90 % in the alarm colour)."""
    if not app.has_resource(DrawList):
        return
    monitors = app.query(PatientMonitor)
    if not monitors:
        return

    pop = app.resource(Physiology).population
    _, m = monitors[0]
    try:
        slot = pop.slot_of(m.patient)
    except KeyError:
        return
    panel = app.try_resource(MonitorPanel)
    if panel is None:
        panel = MonitorPanel(
            traces=[VitalTrace(label, np.zeros(2), lo, hi, color) for label, _, lo, hi, color in _PANEL_TRACES]
        )
        app.insert_resource(panel)
    for trace, (_, name, _, _, _) in zip(panel.traces, _PANEL_TRACES):
        trace.samples = m.window(name)
    panel.hr, panel.spo2, panel.etco2 = float(pop.hr[slot]), float(pop.spo2[slot]), float(pop.etco2[slot])
    panel.sbp, panel.dbp, panel.rr = float(pop.sbp[slot]), float(pop.dbp[slot]), float(pop.rr[slot])
    panel.alarm = {"spo2"} if pop.spo2[slot] < 90 else set()
