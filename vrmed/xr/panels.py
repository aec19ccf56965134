"""World-space panels in the headset: OpenXR composition quad layers.

:class:`HeadsetPanels` (added by :func:`vrmed.xr.render.add_headset_rendering`) draws, in
the render stage before ``xr.present``, each panel the pointer placed
(:class:`~vrmed.xr.pointer.PointerState`) into its own texture with the overlay drawer
(:class:`~vrmed.render.overlay.OverlayRenderer`), and hands it to the OpenXR backend as an
``XrCompositionLayerQuad`` (:meth:`~vrmed.xr.openxr_backend.OpenXrBackend.submit_quad`):

- ``menu`` — the action menu (:class:`~vrmed.scenario.learner.MenuState`) while it is open:
  title, one row per item, Back; the row a controller ray is on is highlighted;
- ``guidance`` — the :class:`~vrmed.scenario.learner.LearnerView`: instruction, the steps
  (done, current, to do), the clock against the time limit, the newest cues coloured by
  severity, what the ray points at, and the end reason and result when the session ends;
- ``monitor`` — the patient monitor (the ``MonitorPanel`` resource) when the scene has one;
  its head-locked copy is then left out of the eye images;
- ``session`` — the session menu (pause, restart, choose a scenario) while the headset play
  loop (:mod:`vrmed.xr.play`) shows it (:attr:`HeadsetPanels.session_menu`).

The compositor resamples quad layers once, at the display's resolution, instead of the
texture being drawn into the eye image and resampled again by the lens distortion, which
keeps small text sharp: the reason OpenXR has quad layers. The laparoscopy endoscope
monitor is a world-space quad of its own (:mod:`vrmed.render.scope_monitor`).

Sizes: every panel is laid out in pixels with body text :data:`~vrmed.xr.pointer.BODY_TEXT_PX`
high, and placed so that this text subtends :data:`~vrmed.xr.pointer.BODY_TEXT_DEG` at the
panel's distance (see :mod:`vrmed.xr.pointer` for why 1 degree).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from vrmed.components.scene.render import MonitorPanel
from vrmed.render.drawlist import DrawList

from ..geometry import quat_conjugate, quat_multiply, quat_rotate
from ..scenario.learner import LearnerView, MenuState
from .interface import Pose
from .pointer import BODY_TEXT_PX, MENU_ROW_PX, MENU_TITLE_PX, Panel, PointerState, menu_layout

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from vrmed.render.overlay import OverlayRenderer

BACKGROUND = (0.05, 0.07, 0.09, 0.92)
TITLE_BAND = (0.12, 0.2, 0.3, 1.0)
HIGHLIGHT = (0.2, 0.45, 0.75, 1.0)
SELECTED = (0.16, 0.28, 0.4, 1.0)
TEXT = (0.95, 0.96, 0.97, 1.0)
DIM = (0.6, 0.64, 0.68, 1.0)
DONE = (0.45, 0.85, 0.5, 1.0)
CURRENT = (1.0, 0.86, 0.3, 1.0)
SEVERITY_COLORS = {"info": (0.45, 0.8, 1.0, 1.0), "warning": (1.0, 0.8, 0.25, 1.0), "error": (1.0, 0.35, 0.3, 1.0)}
#: The controller rays drawn in the scene: radius (m), longest shown (m), colour (linear
#: RGBA) when a trigger press would do something and when it would not.
RAY_RADIUS_M = 0.002
RAY_SHOWN_M = 2.0
RAY_ON = (0.25, 0.6, 1.0, 1.0)
RAY_OFF = (0.7, 0.7, 0.7, 1.0)
#: Title text is 1.3x body text.
TITLE_PX = round(1.3 * BODY_TEXT_PX)
PAD = 14
#: How many of the newest cues the guidance panel lists.
CUES_SHOWN = 3
#: Seconds a cue stays on the guidance panel. Longer than the desktop HUD's 8 s: the panel
#: is placed in the room, and a learner with both hands in the task may look at it only
#: after the act; each line carries its clock time, so an old line reads as history.
PANEL_CUE_SHOW_S = 20.0


def wrap(text: str, width: float, measure: Any) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` pixels
    (``measure(line)`` -> pixels); a word longer than a line stands on its own line."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}" if line else word
            if line and measure(trial) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


class HeadsetPanels:
    """Plugin drawing the world-space panels into quad layers (see the module docstring).

    ``ctx``: the moderngl context of the OpenXR backend's swapchains; ``source``: the
    :class:`~vrmed.xr.input.XrInputSource` (its backend takes the quads, its comfort rig
    maps world poses into the tracking space the layers are given in).
    """

    def __init__(self, ctx: moderngl.Context, source: Any) -> None:
        self.ctx = ctx
        self.source = source
        self._overlay: OverlayRenderer | None = None
        self._targets: dict[tuple[int, int], Any] = {}
        #: Panels submitted in the latest frame, by name, and how many times one was drawn
        #: (a panel whose content did not change is shown again without drawing).
        self.submitted: tuple[str, ...] = ()
        self.redraws = 0
        self.submissions = 0
        self._keys: dict[str, Any] = {}
        #: The headset session menu (:class:`vrmed.xr.play.SessionMenu`) while it is shown
        #: (set by the play loop, never by a system: it is not simulation state), or None.
        self.session_menu: Any = None
        # the rays' capsule ends and colours, reused every frame
        self._ray_a = np.zeros((2, 3))
        self._ray_b = np.zeros((2, 3))
        self._ray_colors = np.zeros((2, 4))

    def build(self, app: Any) -> None:
        """Add ``xr.panels`` to the render stage: after ``render.prepare`` (which fills the
        monitor), before ``xr.present`` (which ends the frame with the layers); the plugin
        is also a resource (what it drew last: :attr:`submitted`)."""
        app.insert_resource(self)
        app.add_system(self._rays, in_set="render.prepare", name="xr.rays")
        app.add_system(self._step, stage="render", after="render.prepare", before="xr.present", name="xr.panels")

    def cleanup(self, app: Any) -> None:
        """Release the panel textures and the overlay drawer (not the context)."""
        for fbo in self._targets.values():
            for att in fbo.color_attachments:
                att.release()
            fbo.release()
        self._targets.clear()
        if self._overlay is not None:
            self._overlay.release()
            self._overlay = None

    # -- per frame ----------------------------------------------------------------------------
    def _rays(self, app: Any) -> None:
        """Draw each tracked controller's ray into the scene (DrawList capsules): up to what
        it hits, or :data:`RAY_SHOWN_M` when it hits nothing; a dot where it hits."""
        pointer = app.try_resource(PointerState)
        draws = app.try_resource(DrawList)
        if pointer is None or draws is None:
            return
        n = 0
        for ray in pointer.rays.values():
            if ray.origin == (0.0, 0.0, 0.0):
                continue  # never tracked
            length = min(ray.distance, RAY_SHOWN_M)
            self._ray_a[n] = ray.origin
            self._ray_b[n] = ray.origin
            self._ray_b[n] += length * np.asarray(ray.direction)
            self._ray_colors[n] = RAY_ON if ray.target is not None else RAY_OFF
            n += 1
        if n:
            draws.add_capsules(self._ray_a[:n], self._ray_b[:n], RAY_RADIUS_M, self._ray_colors[:n], shadow=False)
            draws.add_spheres(self._ray_b[:n], 3 * RAY_RADIUS_M, self._ray_colors[:n], shadow=False)

    def _step(self, app: Any) -> None:
        frame = self.source.open_frame
        pointer = app.try_resource(PointerState)
        self.submitted = ()
        if frame is None or not frame.should_render or pointer is None:
            return
        shown: list[str] = []
        panels = dict(pointer.panels)
        if self.session_menu is not None:
            panels["session"] = self.session_menu.panel
        for name in ("guidance", "monitor", "menu", "session"):  # back to front
            panel = panels.get(name)
            if panel is None or (name != "session" and not self._has_content(app, name)):
                self._keys.pop(name, None)
                continue
            if name == "session":
                key = self.session_menu.content_key()
            else:
                key = self._content_key(app, name, panel, pointer)
            if key is not None and self._keys.get(name) == key:
                # unchanged: the compositor shows the image it has (no drawing, no copy)
                self.source.backend.submit_quad(name, self._tracking_pose(panel), panel.size, None)
            else:
                fbo = self._target(panel.pixels)
                overlay = self._overlay_renderer()
                fbo.use()
                fbo.clear(*BACKGROUND)
                overlay.begin(fbo)
                getattr(self, f"_draw_{name}")(app, overlay, panel, pointer)
                overlay.end()
                self.source.backend.submit_quad(name, self._tracking_pose(panel), panel.size, fbo)
                self._keys[name] = key
                self.redraws += 1
            shown.append(name)
        self.submitted = tuple(shown)
        self.submissions += len(shown)

    @staticmethod
    def _content_key(app: Any, name: str, panel: Panel, pointer: PointerState) -> Any:
        """What a panel shows, to redraw it only when that changes (None: every frame, as
        the monitor's moving traces)."""
        if name == "menu":
            menu = app.resource(MenuState)
            aimed = tuple(sorted(r.target for r in pointer.rays.values() if r.target is not None))
            return (panel, menu.title, tuple(i.label for i in menu.items), menu.index, menu.pending, aimed)
        if name == "guidance":
            v = app.resource(LearnerView)
            last = (v.cues[-1].t, v.cues[-1].text) if v.cues else None
            return (
                panel, int(v.time), v.instruction, tuple(v.done), len(v.cues), last,
                v.hover, v.ended, v.end_reason, v.result, v.mode, v.paused,
            )  # fmt: skip
        return None

    @staticmethod
    def _has_content(app: Any, name: str) -> bool:
        if name == "menu":
            menu = app.try_resource(MenuState)
            return menu is not None and menu.open
        if name == "monitor":
            panel = app.try_resource(MonitorPanel)
            return panel is not None and panel.visible
        return app.try_resource(LearnerView) is not None

    def _tracking_pose(self, panel: Panel) -> Pose:
        """The panel's world pose in the runtime's tracking space (the inverse of the comfort rig)."""
        rig = getattr(self.source, "comfort", None)
        if rig is None or (rig.yaw == 0.0 and rig.position == (0.0, 0.0, 0.0)):
            return Pose(panel.position, panel.orientation)
        inv = quat_conjugate(rig.orientation)
        d = [panel.position[i] - rig.position[i] for i in range(3)]
        return Pose(quat_rotate(inv, d), quat_multiply(inv, panel.orientation))

    def _target(self, pixels: tuple[int, int]) -> Any:
        fbo = self._targets.get(pixels)
        if fbo is None:
            tex = self.ctx.texture(pixels, 4)
            fbo = self._targets[pixels] = self.ctx.framebuffer(color_attachments=[tex])
        return fbo

    def _overlay_renderer(self) -> OverlayRenderer:
        if self._overlay is None:
            # deferred: the overlay drawer loads moderngl shaders; only when a panel is drawn
            from vrmed.render.overlay import OverlayRenderer

            self._overlay = OverlayRenderer(self.ctx)
        return self._overlay

    # -- the panels -----------------------------------------------------------------------------
    def _draw_menu(self, app: Any, o: OverlayRenderer, panel: Panel, pointer: PointerState) -> None:
        menu = app.resource(MenuState)
        w, _ = panel.pixels
        o.rect(0, 0, w, MENU_TITLE_PX, TITLE_BAND)
        o.text(menu.title or "Actions", PAD, MENU_TITLE_PX / 2, size=TITLE_PX, color=TEXT, anchor="ml")
        aimed = {ray.target for ray in pointer.rays.values() if ray.target is not None}
        for i, (command, top, bottom) in enumerate(menu_layout(len(menu.items))):
            if command in aimed:
                o.rect(0, top + 1, w, bottom - top - 2, HIGHLIGHT)
            elif i == menu.index and i < len(menu.items):
                o.rect(0, top + 1, w, bottom - top - 2, SELECTED)
            if command == "menu.back":
                label = "< Back" if menu.pending is not None else "Close"
                o.text(label, PAD, (top + bottom) / 2, size=BODY_TEXT_PX, color=DIM, anchor="ml")
            else:
                label = f"{i + 1}  {menu.items[i].label}"
                o.text(label, PAD, (top + bottom) / 2, size=BODY_TEXT_PX, color=TEXT, anchor="ml")
        hidden = len(menu.items) - (len(menu_layout(len(menu.items))) - 1)
        if hidden > 0:  # more items than rows: say so rather than drop them silently
            y = MENU_TITLE_PX + (len(menu_layout(len(menu.items))) - 1) * MENU_ROW_PX
            o.text(f"+{hidden} more: use the desktop menu", w - PAD, y, size=BODY_TEXT_PX, color=DIM, anchor="br")

    def _draw_guidance(self, app: Any, o: OverlayRenderer, panel: Panel, pointer: PointerState) -> None:
        view = app.resource(LearnerView)
        w, h = panel.pixels
        body = BODY_TEXT_PX
        line_h = round(1.25 * body)
        o.rect(0, 0, w, TITLE_PX + 2 * PAD, TITLE_BAND)
        clock = _clock(view.time) + (f" / {_clock(view.time_limit)}" if view.time_limit else "")
        title = "Guidance" if view.mode == "formative" else "Exam"
        o.text(f"{title} (paused)" if view.paused else title, PAD, PAD, size=TITLE_PX, color=TEXT)
        o.text(clock, w - PAD, PAD, size=TITLE_PX, color=TEXT, anchor="tr")
        y = TITLE_PX + 3 * PAD
        width = w - 2 * PAD

        def lines(text: str, color: tuple[float, ...], indent: int = 0) -> None:
            nonlocal y
            for line in wrap(text, width - indent, lambda s: o.measure(s, body)[0]):
                if y + line_h > h - PAD:
                    return
                o.text(line, PAD + indent, y, size=body, color=color)
                y += line_h

        if view.ended:
            lines(f"Session ended: {view.end_reason}", CURRENT)
            if view.result:
                lines(view.result, TEXT)
            y += line_h // 2
        if view.instruction:
            lines(view.instruction, TEXT)
            y += line_h // 2
        current = view.current_step
        if view.mode == "formative":
            for i, step in enumerate(view.steps):
                done = view.done[i] if i < len(view.done) else False
                mark, color = ("[x]", DONE) if done else ((">", CURRENT) if i == current else ("[ ]", DIM))
                lines(f"{mark} {step}", color)
        cues = view.recent_cues(PANEL_CUE_SHOW_S, CUES_SHOWN)
        if cues:
            y += line_h // 2
            for cue in reversed(cues):  # newest first
                lines(f"{_clock(cue.t)}  {cue.text}", SEVERITY_COLORS.get(cue.severity, TEXT))
        if view.hover:
            o.text(f"Pointing at: {view.hover}", PAD, h - PAD, size=body, color=DIM, anchor="bl")
        else:  # how to reach pause / restart / another scenario without a keyboard
            o.text("Hold the menu button: pause, restart, scenarios", PAD, h - PAD, size=body, color=DIM, anchor="bl")

    def _draw_session(self, app: Any, o: OverlayRenderer, panel: Panel, pointer: PointerState) -> None:
        """The headset session menu (pause / restart / scenarios), laid out like the action menu."""
        menu = self.session_menu
        w, _ = panel.pixels
        o.rect(0, 0, w, MENU_TITLE_PX, TITLE_BAND)
        o.text(menu.title, PAD, MENU_TITLE_PX / 2, size=TITLE_PX, color=TEXT, anchor="ml")
        for i, (command, top, bottom) in enumerate(menu_layout(len(menu.items))):
            if command in menu.aimed:
                o.rect(0, top + 1, w, bottom - top - 2, HIGHLIGHT)
            if command == "menu.back":
                o.text(menu.back_label, PAD, (top + bottom) / 2, size=BODY_TEXT_PX, color=DIM, anchor="ml")
            else:
                label = f"{i + 1}  {menu.items[i][0]}"
                o.text(label, PAD, (top + bottom) / 2, size=BODY_TEXT_PX, color=TEXT, anchor="ml")

    def _draw_monitor(self, app: Any, o: OverlayRenderer, panel: Panel, pointer: PointerState) -> None:
        monitor = app.resource(MonitorPanel)
        # The same monitor, laid out over the whole panel with its text at BODY_TEXT_PX.
        scale = BODY_TEXT_PX / max(monitor.text_size, 1)
        reference = max(1, round(panel.pixels[1] / scale))
        o.draw_monitor(dataclasses.replace(monitor, view_rect=(0.0, 0.0, 1.0, 1.0), reference_height=reference))


def _clock(seconds: float | None) -> str:
    s = max(0, int(seconds or 0))
    return f"{s // 60}:{s % 60:02d}"


__all__ = ["HeadsetPanels", "wrap"]
