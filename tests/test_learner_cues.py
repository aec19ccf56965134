"""Cues leave the learner's screens once stale: the desktop HUD and the headset's guidance
panel show a cue for a fixed time after it was given (the log keeps every cue)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from vrmed.render.learner_hud import CUE_LINES, CUE_SHOW_S, LearnerHudPass
from vrmed.scenario.learner import Cue, LearnerView
from vrmed.xr.panels import CUES_SHOWN, PANEL_CUE_SHOW_S, HeadsetPanels


class RecordingOverlay:
    """Stands in for the overlay renderer: keeps the text drawn, measures 8 px a character."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def text(self, s: str, *args: Any, **kwargs: Any) -> None:
        self.texts.append(s)

    def rect(self, *args: Any, **kwargs: Any) -> None:
        pass

    def measure(self, s: str, size: float) -> tuple[float, float]:
        return 8.0 * len(s), float(size)


def view_with(*cues: tuple[float, str]) -> LearnerView:
    return LearnerView(cues=[Cue(t, text, "error", "rubric") for t, text in cues])


def test_recent_cues_keeps_the_newest_within_the_window():
    view = view_with((1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d"))
    view.time = 4.5
    assert [c.text for c in view.recent_cues(10.0, 3)] == ["b", "c", "d"]
    view.time = 10.5  # a and b are older than 8 s
    assert [c.text for c in view.recent_cues(8.0, 3)] == ["c", "d"]
    view.time = 30.0
    assert view.recent_cues(8.0, 3) == []
    assert view.recent_cues(100.0, 0) == []


def desktop_cues(view: LearnerView) -> list[str]:
    ov = RecordingOverlay()
    LearnerHudPass()._cues(ov, view, 600, 16, 4)  # type: ignore[arg-type]
    return [t for t in ov.texts if "instrument left the view" in t]


def test_the_desktop_hud_drops_a_cue_after_its_show_time():
    view = view_with((2.0, "instrument left the view"))
    view.time = 2.0 + CUE_SHOW_S - 0.5
    assert desktop_cues(view) == ["instrument left the view"]
    view.time = 2.0 + CUE_SHOW_S + 0.5
    assert desktop_cues(view) == []
    view.cues += [Cue(view.time - 0.1 * i, f"instrument left the view {i}", "warning", "x") for i in range(5)]
    assert len(desktop_cues(view)) == CUE_LINES


def panel_cues(view: LearnerView) -> list[str]:
    ov = RecordingOverlay()
    app = SimpleNamespace(resource=lambda kind: view)
    panel = SimpleNamespace(pixels=(1200, 900))
    HeadsetPanels._draw_guidance(None, app, ov, panel, None)  # type: ignore[arg-type]
    return [t for t in ov.texts if "left the view" in t]


def test_the_headset_guidance_panel_drops_a_cue_after_its_show_time():
    view = view_with((2.0, "instrument left the view"))
    view.time = 2.0 + PANEL_CUE_SHOW_S - 0.5
    assert [t.split(maxsplit=1)[1] for t in panel_cues(view)] == ["instrument left the view"]
    view.time = 2.0 + PANEL_CUE_SHOW_S + 0.5
    assert panel_cues(view) == []
    view.cues += [Cue(view.time - 0.1 * i, f"tool {i} left the view", "warning", "x") for i in range(5)]
    assert len(panel_cues(view)) == CUES_SHOWN
