"""The learner's HUD on the desktop: guidance, timer, cues, the action menu, the pointed-at
object, and the pause, scenario-chooser and end-of-session screens.

:class:`LearnerHudPass` (overlay phase, name ``"learner"``, placed after the built-in
``hud``; added by :class:`~vrmed.render.plugin.RenderPlugin`) draws, in the main view only
(a headset shows its own panels):

- top left: the current instruction, then the guidance steps, each marked by a shape and a
  word as well as a colour (``[x]`` done, ``>`` current, ``[ ]`` to do);
- top right: elapsed time / time limit (M:SS), the mode (FORMATIVE / EXAM) and, in a
  laparoscopy session, which instrument the mouse drives;
- bottom left: the newest cues (last :data:`CUE_SHOW_S` s), each with a severity word
  (ERROR / WARNING / INFO), a severity bar and a severity colour;
- the action menu (:class:`~vrmed.scenario.learner.MenuState`): numbered items, the
  highlighted one inverted and marked ``>``, and the keys that drive it;
- a tooltip with the label of the object under the pointer (``LearnerView.hover``);
- the :class:`DesktopOverlay` resource the play loop fills: notices (gamepad unplugged),
  the pause screen, the scenario chooser and the end-of-session result.

Everything is white or near-white text on near-opaque dark panels (contrast above 12:1,
WCAG 2.1 AAA asks 7:1), sized from the view height so it stays readable in any window.
Drawing reads the resources only; it never changes simulation state.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vrmed.components.scene import Interactable, Name

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.scenario.learner import LearnerView, MenuState

    from .overlay import OverlayRenderer
    from .passes import PassContext

#: Where LearnerView and MenuState live. The renderer does not import the scenario package
#: (it would close an import cycle: xr -> render -> scenario -> recording -> xr); a session
#: that has those resources has imported the module, so the pass finds it loaded.
LEARNER_MODULE = "vrmed.scenario.learner"


def _learner_types() -> tuple[Any, Any] | None:
    module = sys.modules.get(LEARNER_MODULE)
    return None if module is None else (module.LearnerView, module.MenuState)


#: Seconds a cue stays on the HUD.
CUE_SHOW_S = 8.0
#: Cues shown at once (newest last).
CUE_LINES = 3
#: Widest the guidance column (instruction and steps) grows, as a fraction of the view width.
GUIDANCE_WIDTH = 0.55
PANEL = (0.04, 0.05, 0.08, 0.82)
DIM = (0.0, 0.0, 0.0, 0.72)
TEXT = (1.0, 1.0, 1.0, 1.0)
MUTED = (0.82, 0.85, 0.9, 1.0)
HIGHLIGHT = (1.0, 0.86, 0.2, 1.0)
#: Severity: (word, colour of the bar and word).
SEVERITY_STYLE: dict[str, tuple[str, tuple[float, float, float, float]]] = {
    "error": ("ERROR", (1.0, 0.33, 0.28, 1.0)),
    "warning": ("WARNING", (1.0, 0.78, 0.15, 1.0)),
    "info": ("INFO", (0.35, 0.85, 1.0, 1.0)),
}


@dataclass
class DesktopOverlay:
    """What the play loop shows besides the simulation's own state (a resource, render only):
    the cursor position (window pixels), notices, the active instrument, the paused screen,
    the scenario chooser (title, items, highlighted index) and the end-of-session lines."""

    cursor: tuple[float, float] | None = None
    notices: list[str] = field(default_factory=list)
    active_instrument: str = ""
    paused: bool = False
    chooser_title: str = ""
    chooser: list[str] = field(default_factory=list)
    chooser_index: int = 0
    end_lines: list[str] = field(default_factory=list)
    keys_hint: str = "F1 actions  F5 pause  F8 restart  F2 scenarios  Esc quit"


def _mmss(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"


class LearnerHudPass:
    """Overlay pass drawing :class:`LearnerView`, :class:`MenuState` and
    :class:`DesktopOverlay` (see the module docstring)."""

    name = "learner"
    phase = "overlay"

    def draw(self, ctx: PassContext) -> None:
        """Draw the HUD for the main view (nothing in headset eyes or without a LearnerView)."""
        if ctx.view != "main":
            return
        app = ctx.app
        types = _learner_types()
        view = app.try_resource(types[0]) if types is not None else None
        desk = app.try_resource(DesktopOverlay)
        if view is not None and not view.person and desk is None:
            view = None  # a scripted learner's run (captures, CI): the scene, not a person's HUD
        if view is None and desk is None:
            return
        ov = ctx.overlay
        w, h = ctx.size
        size = max(13, round(h / 42))
        small = max(12, round(size * 0.85))
        pad = max(4, size // 3)
        if view is not None:
            self._guidance(ov, view, desk, w, size, small, pad)
            self._cues(ov, view, h, size, pad)
            menu = app.try_resource(types[1]) if types is not None else None
            if menu is not None and menu.open:
                ctx.flush()  # the menu panel covers the guidance text drawn so far
                ov = ctx.overlay
                self._menu(ov, menu, w, h, size, small, pad)
            if view.hover and (menu is None or not menu.open):
                self._tooltip(ctx, view.hover, desk, w, h, small, pad)
        if desk is None:
            return
        y: float = h - pad
        for notice in desk.notices[-2:]:
            box = _boxed(ov, f"NOTE  {notice}", w / 2, y, small, TEXT, "bc", pad)
            y = box[1] - 2 * pad
        if desk.paused or desk.chooser or desk.end_lines:
            ctx.flush()  # what follows dims everything drawn so far
            ov = ctx.overlay
            ov.rect(0, 0, w, h, DIM)
            if desk.chooser:
                self._chooser(ov, desk, w, h, size, small, pad)
            elif desk.end_lines:
                self._centre_block(ov, desk.end_lines, w, h, size, small, pad)
            else:
                self._centre_block(
                    ov,
                    [
                        "PAUSED",
                        "The simulation is stopped.",
                        "F5 resume   F8 restart   F2 choose a scenario   Esc quit",
                    ],
                    w,
                    h,
                    size,
                    small,
                    pad,
                )

    # -- parts ---------------------------------------------------------------------------------
    def _guidance(
        self,
        ov: OverlayRenderer,
        view: LearnerView,
        desk: DesktopOverlay | None,
        w: int,
        size: int,
        small: int,
        pad: int,
    ) -> None:
        lines: list[tuple[str, tuple[float, float, float, float]]] = []
        if view.instruction:
            lines.append((view.instruction, TEXT))
        current = view.current_step
        if view.mode == "formative":
            for i, (text, done) in enumerate(zip(view.steps, view.done)):
                if done:
                    lines.append((f"[x] {text}", MUTED))
                elif i == current:
                    lines.append((f" >  {text}", HIGHLIGHT))
                else:
                    lines.append((f"[ ] {text}", TEXT))
        y = float(pad)
        column = GUIDANCE_WIDTH * w  # wrapped to leave the top right and the menu free
        for text, color in lines:
            s = size if color is not MUTED else small
            box = _boxed(ov, "\n".join(_wrap(ov, text, s, column)), pad * 2, y + pad, s, color, "tl", pad)
            y = box[3] + pad
        right = [_mmss(view.time) + (f" / {_mmss(view.time_limit)}" if view.time_limit else "")]
        right.append("EXAM (no feedback)" if view.mode == "exam" else "FORMATIVE")
        if desk is not None and desk.active_instrument:
            right.append(f"mouse drives: {desk.active_instrument}")
        y = float(pad)
        for text in right:
            box = _boxed(ov, text, w - 2 * pad, y + pad, size, TEXT, "tr", pad)
            y = box[3] + pad
        if desk is not None and desk.keys_hint:
            _boxed(ov, desk.keys_hint, w - 2 * pad, y + pad, max(11, small - 2), MUTED, "tr", pad)

    def _cues(self, ov: OverlayRenderer, view: LearnerView, h: int, size: int, pad: int) -> None:
        recent = view.recent_cues(CUE_SHOW_S, CUE_LINES)
        y: float = h - 6 * pad - 2 * size
        for cue in reversed(recent):
            word, color = SEVERITY_STYLE.get(cue.severity, SEVERITY_STYLE["warning"])
            text = f"{word}: {cue.text}"
            tw, th = ov.measure(text, size)
            top = y - th
            ov.rect(pad, top - pad, tw + 4 * pad, th + 2 * pad, PANEL)
            ov.rect(pad, top - pad, pad, th + 2 * pad, color)  # the severity bar
            ov.text(word + ":", 3 * pad, top, size=size, color=color)
            ww, _ = ov.measure(word + ": ", size)
            ov.text(cue.text, 3 * pad + ww, top, size=size, color=TEXT)
            y = top - 3 * pad

    def _menu(self, ov: OverlayRenderer, menu: MenuState, w: int, h: int, size: int, small: int, pad: int) -> None:
        rows = [f"{i + 1}  {item.label}" if i < 9 else f"   {item.label}" for i, item in enumerate(menu.items)]
        hint = "1-9 or Up/Down + Enter choose   Backspace back   Esc close"
        widths = [ov.measure(r, size)[0] for r in rows] + [ov.measure(menu.title, size)[0], ov.measure(hint, small)[0]]
        line = ov.atlas(size).line_height + pad
        width = max(widths) + 6 * pad
        height = line * (len(rows) + 1) + ov.atlas(small).line_height + 4 * pad
        x = w - width - 2 * pad
        y = max(float(pad), (h - height) / 2)
        ov.rect(x, y, width, height, PANEL)
        ov.rect(x, y, width, line, (0.16, 0.2, 0.3, 0.95))
        ov.text(menu.title, x + 2 * pad, y + pad / 2, size=size, color=TEXT)
        for i, row in enumerate(rows):
            ry = y + line * (i + 1)
            if i == menu.index:  # inverted, and marked with '>' so it does not rely on colour
                ov.rect(x + pad, ry, width - 2 * pad, line, (0.95, 0.95, 0.95, 1.0))
                ov.text("> " + row, x + pad, ry + pad / 2, size=size, color=(0.0, 0.0, 0.0, 1.0))
            else:
                ov.text("  " + row, x + pad, ry + pad / 2, size=size, color=TEXT)
        ov.text(hint, x + 2 * pad, y + height - pad, size=small, color=MUTED, anchor="bl")

    def _tooltip(
        self, ctx: PassContext, entity: str, desk: DesktopOverlay | None, w: int, h: int, small: int, pad: int
    ) -> None:
        label = entity.replace("_", " ").capitalize()
        for ent, name in ctx.app.query(Name):
            if name.value == entity:
                inter = ctx.app.try_get(ent, Interactable)
                if inter is not None and inter.label:
                    label = str(inter.label)
                break
        text = f"{label}  (click: actions)"
        if desk is not None and desk.cursor is not None:
            x, y = desk.cursor
            x = min(max(x + 16, pad), w - pad)
            anchor = "tl" if x < w * 0.7 else "tr"
            _boxed(
                ctx.overlay, text, x if anchor == "tl" else x - 32, min(y + 16, h - 3 * small), small, TEXT, anchor, pad
            )
        else:
            _boxed(ctx.overlay, text, w / 2, h * 0.75, small, TEXT, "tc", pad)

    def _chooser(
        self, ov: OverlayRenderer, desk: DesktopOverlay, w: int, h: int, size: int, small: int, pad: int
    ) -> None:
        lines = [desk.chooser_title or "Choose a scenario"]
        rows = [f"{i + 1}  {item}" if i < 9 else f"   {item}" for i, item in enumerate(desk.chooser)]
        hint = "Up/Down + Enter or 1-9 start   Esc quit"
        line = ov.atlas(size).line_height + pad
        width = max([ov.measure(r, size)[0] for r in rows + lines] + [ov.measure(hint, small)[0]]) + 8 * pad
        height = line * (len(rows) + 2) + 2 * pad
        x, y = (w - width) / 2, max(float(pad), (h - height) / 2)
        ov.rect(x, y, width, height, PANEL)
        ov.text(lines[0], x + 2 * pad, y + pad, size=size, color=TEXT)
        for i, row in enumerate(rows):
            ry = y + line * (i + 1) + pad
            if i == desk.chooser_index:
                ov.rect(x + pad, ry, width - 2 * pad, line, (0.95, 0.95, 0.95, 1.0))
                ov.text("> " + row, x + 2 * pad, ry + pad / 2, size=size, color=(0.0, 0.0, 0.0, 1.0))
            else:
                ov.text("  " + row, x + 2 * pad, ry + pad / 2, size=size, color=TEXT)
        ov.text(hint, x + 2 * pad, y + height - pad, size=small, color=MUTED, anchor="bl")

    def _centre_block(
        self, ov: OverlayRenderer, lines: list[str], w: int, h: int, size: int, small: int, pad: int
    ) -> None:
        big = round(size * 1.4)
        sizes = [big] + [size] * (len(lines) - 2) + [small] if len(lines) > 1 else [big]
        heights = [ov.atlas(s).line_height + pad for s in sizes]
        width = max(ov.measure(t, s)[0] for t, s in zip(lines, sizes)) + 8 * pad
        height = sum(heights) + 2 * pad
        x, y = (w - width) / 2, (h - height) / 2
        ov.rect(x, y, width, height, PANEL)
        for text, s, lh in zip(lines, sizes, heights):
            ov.text(text, w / 2, y + pad, size=s, color=TEXT if s != small else MUTED, anchor="tc")
            y += lh


def _wrap(ov: OverlayRenderer, text: str, size: int, width: float) -> list[str]:
    """``text`` broken at spaces into lines at most ``width`` pixels wide (a longer word
    keeps its own line); continuation lines are indented to the first word's column."""
    words = text.split(" ")
    indent = "    " if text[:3] in ("[x]", "[ ]", " > ") else ""
    lines: list[str] = []
    line = ""
    for word in words:
        trial = f"{line} {word}" if line else word
        if line and ov.measure(trial, size)[0] > width:
            lines.append(line)
            line = indent + word
        else:
            line = trial
    lines.append(line)
    return lines


def _boxed(
    ov: OverlayRenderer,
    text: str,
    x: float,
    y: float,
    size: int,
    color: tuple[float, float, float, float],
    anchor: str,
    pad: int,
) -> tuple[float, float, float, float]:
    """Text on a dark panel ``pad`` pixels larger; returns the panel box."""
    tw, th = ov.measure(text, size)
    fx = {"l": 0.0, "c": 0.5, "r": 1.0}[anchor[1]]
    fy = {"t": 0.0, "m": 0.5, "b": 1.0}[anchor[0]]
    left, top = round(x - fx * tw), round(y - fy * th)
    ov.rect(left - pad, top - pad, tw + 2 * pad, th + 2 * pad, PANEL)
    ov.text(text, x, y, size=size, color=color, anchor=anchor)
    return left - pad, top - pad, left + tw + pad, top + th + pad


__all__ = ["CUE_SHOW_S", "SEVERITY_STYLE", "DesktopOverlay", "LearnerHudPass"]
