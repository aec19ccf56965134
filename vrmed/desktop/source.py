"""``DesktopInput``: a person at a desktop (keyboard, mouse, gamepad) as an input source.

GLFW callbacks on the play window collect raw key, button, cursor and wheel events; once
per display frame :meth:`DesktopInput.sample` turns what happened since the last frame into
one input sample, which the session records, so a replay repeats it exactly:

- laparoscopy (the scenario has instruments): named control *targets* on the pseudo-device
  :data:`DESKTOP` (``buttons``: ``"left_hand.yaw"``, ``"left_hand.insert"``, ``"scope.zoom"``,
  ``"left_hand.jaw"``, ... in radians, metres and 0..1). The mouse, held keys and the
  gamepad move the targets; the instruments feature's ``instruments.manual`` system turns
  them into instrument and endoscope poses through the trocar pivots, smoothed and
  rate-limited (``systems/instruments/manual.py``). The first sample also carries the
  scenario's start poses of the instrument devices (the ``input.scripted`` first keyframes),
  so the tools start where the scenario puts them.
- clinical scenes: exploring a model (``view.grab`` held, mouse_middle by default: a drag
  turns it; the wheel scales it) as the cumulative targets ``view.yaw``, ``view.pitch``
  (radians) and ``view.scale`` (a factor) on :data:`DESKTOP`, sent when they change; a pack
  that explores a model reads them from ``InputState`` (the anatomy pack does);
- clinical scenes and every scenario: the person's discrete choices as commands of the
  :data:`~vrmed.input.LEARNER` pseudo-device (``pick:<entity>`` from a click, found with the
  main camera's ray and :func:`vrmed.scenario.learner.pick_ray`; ``hover:<entity>``;
  ``menu.down``, ``menu.choose:2``, ``menu.action:<id>`` from a scenario hotkey, ...).

Session requests that are not simulation (pause, restart, choose a scenario, quit) go to
:attr:`DesktopInput.requests` for the play loop (:mod:`vrmed.desktop.play`); pausing and
resuming are also recorded, as ``session.pause``/``session.resume`` commands.

The gamepad is read through GLFW's gamepad API (``glfw.get_gamepad_state``: SDL's mapping
database, Xbox layout) by :attr:`DesktopInput.read_gamepad`, a seam tests replace; a pad
that goes away mid-session gives one notice and input continues from keyboard and mouse.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..input import LEARNER, Sample
from ..scenario.learner import MenuState, pick_ray
from .bindings import AXIS_CONTROLS, LAP_AXES, PAD_AXES, Bindings

if TYPE_CHECKING:  # pragma: no cover
    from ..app import App
    from ..packs.model import Scenario

#: The pseudo-device whose buttons carry the desktop control targets.
DESKTOP = "desktop"
#: Clamp of the control targets (offsets from the start pose): pivot angles (rad), insertion
#: (m), roll (rad); the endoscope's pan (rad), zoom (m), roll (rad). An instrument's roll is
#: not clamped: a laparoscopic instrument's rotation knob turns without a stop, and cutting
#: round a circle rolls the blades through more than a turn (a clamp at +-2 pi stopped the
#: roll there with nothing to tell the learner why).
TARGET_LIMITS: dict[str, float] = {
    "yaw": 1.2,
    "pitch": 1.2,
    "insert": 0.12,
    "roll": math.inf,
    "scope.yaw": 0.6,
    "scope.pitch": 0.6,
    "scope.zoom": 0.06,
    "scope.roll": math.pi,
}
#: Sticks: full deflection moves a target at the held-key rate.
_PAD_BUTTON_IDS = {
    "pad_a": "GAMEPAD_BUTTON_A",
    "pad_b": "GAMEPAD_BUTTON_B",
    "pad_x": "GAMEPAD_BUTTON_X",
    "pad_y": "GAMEPAD_BUTTON_Y",
    "pad_lb": "GAMEPAD_BUTTON_LEFT_BUMPER",
    "pad_rb": "GAMEPAD_BUTTON_RIGHT_BUMPER",
    "pad_back": "GAMEPAD_BUTTON_BACK",
    "pad_start": "GAMEPAD_BUTTON_START",
    "pad_ls": "GAMEPAD_BUTTON_LEFT_THUMB",
    "pad_rs": "GAMEPAD_BUTTON_RIGHT_THUMB",
    "pad_up": "GAMEPAD_BUTTON_DPAD_UP",
    "pad_down": "GAMEPAD_BUTTON_DPAD_DOWN",
    "pad_left": "GAMEPAD_BUTTON_DPAD_LEFT",
    "pad_right": "GAMEPAD_BUTTON_DPAD_RIGHT",
}
_PAD_AXIS_IDS = {
    "pad_left_x": "GAMEPAD_AXIS_LEFT_X",
    "pad_left_y": "GAMEPAD_AXIS_LEFT_Y",
    "pad_right_x": "GAMEPAD_AXIS_RIGHT_X",
    "pad_right_y": "GAMEPAD_AXIS_RIGHT_Y",
    "pad_lt": "GAMEPAD_AXIS_LEFT_TRIGGER",
    "pad_rt": "GAMEPAD_AXIS_RIGHT_TRIGGER",
}

#: A gamepad reading: (buttons held, axes) by control name; None when no pad is connected.
PadReading = tuple[set[str], dict[str, float]] | None


def _glfw() -> Any:
    import glfw  # deferred: GLFW loads its native library; only a desktop window needs it

    return glfw


def glfw_gamepad() -> PadReading:
    """The first connected gamepad's buttons and axes (GLFW gamepad API), or None.
    Triggers are mapped from GLFW's -1..1 to 0..1, stick y to up = +1."""
    glfw = _glfw()
    for jid in range(glfw.JOYSTICK_1, glfw.JOYSTICK_LAST + 1):
        if not glfw.joystick_is_gamepad(jid):
            continue
        state = glfw.get_gamepad_state(jid)
        if state is None:
            continue
        held = {name for name, attr in _PAD_BUTTON_IDS.items() if state.buttons[getattr(glfw, attr)]}
        axes = {name: float(state.axes[getattr(glfw, attr)]) for name, attr in _PAD_AXIS_IDS.items()}
        axes["pad_lt"] = 0.5 * (axes["pad_lt"] + 1.0)
        axes["pad_rt"] = 0.5 * (axes["pad_rt"] + 1.0)
        axes["pad_left_y"] = -axes["pad_left_y"]
        axes["pad_right_y"] = -axes["pad_right_y"]
        return held, axes
    return None


def no_gamepad() -> PadReading:
    """No gamepad (before the source is attached to a window, where GLFW is initialised)."""
    return None


class DesktopInput:
    """Keyboard, mouse and gamepad of the play window as an :class:`~vrmed.input.InputSource`
    (see the module docstring). Build with :meth:`for_scenario`; the play loop calls
    :meth:`attach` with the window (and the App, for picking and the menu state)."""

    kind = "desktop"

    def __init__(
        self,
        *,
        mode: str = "clinical",
        hands: tuple[str, ...] = (),
        start: Sample | None = None,
        hotkeys: dict[str, str] | None = None,
        bindings: Bindings | None = None,
        has_scope: bool = False,
    ) -> None:
        if mode not in ("clinical", "laparoscopy"):
            raise ValueError(f"desktop mode must be clinical or laparoscopy, got {mode!r}")
        self.mode = mode
        self.hands = hands
        self.has_scope = has_scope
        self.bindings = bindings or Bindings()
        self.hotkeys = dict(hotkeys or {})
        self._by_control = self.bindings.for_mode(mode)
        self._start = dict(start or {})
        #: Session requests for the play loop: "pause", "restart", "choose", "quit".
        self.requests: list[str] = []
        #: One-line notices for the person (HUD and stderr), e.g. a gamepad unplugged.
        self.notices: list[str] = []
        #: Seam: reads the gamepad (:func:`glfw_gamepad` once attached to a window); tests replace it.
        self.read_gamepad: Callable[[], PadReading] = no_gamepad
        #: (perf_counter time of the OS event callback, frame whose sample carries it), for
        #: input-to-photon latency; the play loop pairs frames with their present time.
        self.event_marks: list[tuple[float, int]] = []
        #: Which instrument the mouse and keys drive (index into ``hands``).
        self.active = 0
        self.paused = False
        self._app: App | None = None
        self._window: Any = None
        self._pick_camera: Callable[[], Any] | None = None
        self._presses: list[tuple[str, float]] = []
        self._held: set[str] = set()
        self._pad_held: set[str] = set()
        self._pad_axes: dict[str, float] = {}
        self._pad_connected: bool | None = None
        self._cursor: tuple[float, float] | None = None
        self._motion = [0.0, 0.0]
        self._wheel = 0.0
        self._commands: list[str] = []
        self._latch = [0.0] * len(hands)
        keys = [f"{h}.{d}" for h in hands for d in ("yaw", "pitch", "insert", "roll", "jaw")]
        if has_scope:
            keys += ["scope.yaw", "scope.pitch", "scope.zoom", "scope.roll"]
        self.targets: dict[str, float] = dict.fromkeys(keys, 0.0)
        self._sent: dict[str, float] = {}
        #: Explore targets of a clinical session (see the module docstring).
        self.view_targets: dict[str, float] = {"view.yaw": 0.0, "view.pitch": 0.0, "view.scale": 1.0}
        self._view_log2 = 0.0
        self._last_time: float | None = None
        self._hover: str | None = None
        self._hover_at: tuple[float, float] | None = None
        self._first = True

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def for_scenario(cls, scenario: Scenario, bindings: Bindings | None = None) -> DesktopInput:
        """The desktop input for a scenario: laparoscopy controls when it has instruments
        (their devices, left first; the endoscope when it has one), clinical pointing
        otherwise; hotkeys from its ``interaction.actions[].key``."""
        hands: list[str] = []
        has_scope = False
        for spec in scenario.entities:
            decl = spec.components.get("Instrument")
            if decl is not None:
                device = str(decl.fields.get("device", "right_hand"))
                if device not in hands:
                    hands.append(device)
            if "Endoscope" in spec.components and "Transform" in spec.components:
                has_scope = True
        hands.sort(key=lambda d: (0 if "left" in d else 1 if "right" in d else 2, d))
        start: Sample = {}
        if hands and scenario.scripted_input is not None:
            first = scenario.scripted_input.sample(0.0, 0)
            start = {d: {k: v for k, v in first[d].items() if k != "buttons"} for d in hands if d in first}
        hotkeys: dict[str, str] = {}
        interaction = scenario.interaction
        if interaction is not None:
            hotkeys = {a.key: a.id for a in interaction.actions if a.key}
        return cls(
            mode="laparoscopy" if hands else "clinical",
            hands=tuple(hands),
            start=start,
            hotkeys=hotkeys,
            bindings=bindings,
            has_scope=has_scope and bool(hands),
        )

    def attach(self, window: Any, app: App | None = None, camera: Callable[[], Any] | None = None) -> None:
        """Install the GLFW callbacks on ``window`` (a :class:`vrmed.render.window.Window`);
        ``app`` gives the menu state and the pointable objects, ``camera()`` the main view's
        :class:`~vrmed.components.scene.render.Camera` for picking."""
        glfw = _glfw()
        if self.read_gamepad is no_gamepad:
            self.read_gamepad = glfw_gamepad
        self._window = window
        self._app = app
        self._pick_camera = camera
        h = window.handle
        names = {}
        for attr in dir(glfw):
            if attr.startswith("KEY_") and attr != "KEY_UNKNOWN":
                names[getattr(glfw, attr)] = attr[4:].lower()
        self._key_names = names
        self._button_names = {
            glfw.MOUSE_BUTTON_LEFT: "mouse_left",
            glfw.MOUSE_BUTTON_RIGHT: "mouse_right",
            glfw.MOUSE_BUTTON_MIDDLE: "mouse_middle",
        }
        glfw.set_key_callback(h, self._on_key)
        glfw.set_mouse_button_callback(h, self._on_button)
        glfw.set_cursor_pos_callback(h, self._on_cursor)
        glfw.set_scroll_callback(h, self._on_scroll)
        # Focus changes switch GLFW between real and virtual (captured) cursor positions:
        # re-base on the next event instead of reading the switch as a mouse jump.
        glfw.set_window_focus_callback(h, lambda *_: self._rebase())
        x, y = glfw.get_cursor_pos(h)
        self._cursor = (float(x), float(y))
        if self.mode == "laparoscopy":
            # The mouse drives an instrument by relative motion: hide and capture the cursor so
            # it never stops at the screen edge (GLFW re-centres it and reports virtual positions).
            glfw.set_input_mode(h, glfw.CURSOR, glfw.CURSOR_DISABLED)
            if glfw.raw_mouse_motion_supported():
                glfw.set_input_mode(h, glfw.RAW_MOUSE_MOTION, True)
            self._cursor = None  # the switch to virtual positions is not a motion: re-base

    def rebind(self, app: App) -> None:
        """Point picking and the menu at a new App (after a restart)."""
        self._app = app

    # -- GLFW callbacks (raw events, kept until the next sample) -------------------------------
    def _on_key(self, handle: Any, key: int, scancode: int, action: int, mods: int) -> None:
        self._on_press(self._key_names.get(key), action)

    def _on_button(self, handle: Any, button: int, action: int, mods: int) -> None:
        self._on_press(self._button_names.get(button), action)

    def _on_press(self, name: str | None, action: int) -> None:
        """A key or mouse button with the binding name ``name`` (None: unbound, ignored) went
        down (held from now, and a press) or up; GLFW's key repeats change nothing."""
        if name is None:
            return
        glfw = _glfw()
        if action == glfw.PRESS:
            self._held.add(name)
            self._presses.append((name, time.perf_counter()))
        elif action == glfw.RELEASE:
            self._held.discard(name)

    def _on_cursor(self, handle: Any, x: float, y: float) -> None:
        if self._cursor is not None and not self.paused:
            self._motion[0] += x - self._cursor[0]
            self._motion[1] += y - self._cursor[1]
        self._cursor = (x, y)

    def _rebase(self) -> None:
        self._cursor = None

    def _on_scroll(self, handle: Any, dx: float, dy: float) -> None:
        if not self.paused:
            self._wheel += dy

    # -- what the play loop and tests use ------------------------------------------------------
    def push_command(self, command: str) -> None:
        """Queue a learner command for the next sample (``session.pause``, ...)."""
        self._commands.append(command)

    def take_requests(self) -> list[str]:
        """The session requests since the last call (processes pending key presses first,
        so a request made while the simulation is paused is seen)."""
        if self.paused:
            self._process_presses(frame=-1)
        out, self.requests = self.requests, []
        return out

    def cursor_pixels(self) -> tuple[float, float] | None:
        """The pointer in framebuffer pixels from the top-left (None when hidden or unknown)."""
        if self._cursor is None or self._window is None or self.mode != "clinical":
            return None
        win_w, win_h = _glfw().get_window_size(self._window.handle)
        fb_w, fb_h = self._window.size
        if win_w <= 0 or win_h <= 0:
            return None
        return self._cursor[0] * fb_w / win_w, self._cursor[1] * fb_h / win_h

    def _menu_open(self) -> bool:
        menu = self._app.try_resource(MenuState) if self._app is not None else None
        return bool(menu is not None and menu.open)

    # -- sampling -------------------------------------------------------------------------------
    def sample(self, time: float, frame: int) -> Sample:
        """This frame's sample: changed control targets under :data:`DESKTOP`, the start
        poses (first frame), and the learner commands since the last frame."""
        dt = 0.0 if self._last_time is None else max(0.0, float(time) - self._last_time)
        self._last_time = float(time)
        self._poll_pad()
        self._process_presses(frame)
        out: Sample = {}
        if self._first:
            out.update({d: dict(v) for d, v in self._start.items()})
        if self.targets:
            self._integrate(dt)
            changed = {k: v for k, v in self.targets.items() if self._first or self._sent.get(k) != v}
            if changed:
                self._sent.update(changed)
                out[DESKTOP] = {"buttons": changed}
        self._first = False
        if self.mode == "clinical":
            view = self._explore()
            if view:
                out.setdefault(DESKTOP, {"buttons": {}})["buttons"].update(view)
            self._update_hover()
        if self._commands:
            out[LEARNER] = {"commands": list(self._commands)}
            self._commands.clear()
        return out

    def _poll_pad(self) -> None:
        try:
            reading = self.read_gamepad()
        except Exception as exc:  # noqa: BLE001 - a driver error is a pad that went away
            reading = None
            if self._pad_connected:
                self.notices.append(f"gamepad error ({exc}); continuing with keyboard and mouse")
        if reading is None:
            if self._pad_connected:
                self.notices.append("gamepad disconnected; continuing with keyboard and mouse")
                self._held -= self._pad_held  # release what it held
            self._pad_connected = False if self._pad_connected is not None else None
            self._pad_held, self._pad_axes = set(), {}
            return
        if self._pad_connected is False:
            self.notices.append("gamepad connected")
        self._pad_connected = True
        held, axes = reading
        now = time.perf_counter()
        for b in sorted(held - self._pad_held):
            self._presses.append((b, now))
        self._held -= self._pad_held - held
        self._held |= held
        self._pad_held = set(held)
        self._pad_axes = dict(axes)

    def _process_presses(self, frame: int) -> None:
        presses, self._presses = self._presses, []
        for control, when in presses:
            if frame >= 0:
                self.event_marks.append((when, frame))
            self._press(control)

    def _press(self, control: str) -> None:
        actions = self._by_control.get(control, [])
        menu_open = self._menu_open()
        hotkey = self.hotkeys.get(control)
        if hotkey is not None and not menu_open and all(a.startswith("menu.") or a == "pick" for a in actions):
            if not self.paused:
                self._commands.append(f"menu.action:{hotkey}")
            return
        for action in actions:
            if action == "session.quit":
                if menu_open and not self.paused:
                    self._commands.append("menu.close")
                else:
                    self.requests.append("quit")
            elif action == "session.pause":
                self.requests.append("pause")
            elif action == "session.restart":
                self.requests.append("restart")
            elif action == "session.choose":
                self.requests.append("choose")
            elif self.paused:
                self.requests.append(f"key:{action}")  # the chooser / end screen read these
            elif action == "menu.open":
                self._commands.append("menu.open")
            elif action == "menu.toggle":
                self._commands.append("menu.close" if menu_open else "menu.open")
            elif action.startswith("menu.choose"):
                self._commands.append(f"menu.choose:{action[len('menu.choose') :]}")
            elif action in ("menu.up", "menu.down", "menu.select", "menu.back"):
                self._commands.append(action)
            elif action == "pick":
                name = self._pick()
                if name is not None:
                    self._commands.append(f"pick:{name}")
            elif action == "instrument.switch" and self.hands:
                self.active = (self.active + 1) % len(self.hands)
            elif action == "instrument.jaw" and self.hands:
                self._latch[self.active] = 0.0 if self._latch[self.active] else 1.0

    def _integrate(self, dt: float) -> None:
        s = self.bindings.settings
        held = self._held
        rates: dict[str, float] = {}
        deltas: dict[str, float] = {}
        for control, actions in self._by_control.items():
            for action in actions:
                if action.endswith(("+", "-")) and action[:-1] in LAP_AXES and control in held:
                    rates[action[:-1]] = rates.get(action[:-1], 0.0) + (1.0 if action[-1] == "+" else -1.0)
                elif action in LAP_AXES and control in AXIS_CONTROLS:
                    if control in PAD_AXES:
                        v = self._pad_axes.get(control, 0.0)
                        dz = s["pad_deadzone"]
                        v = 0.0 if abs(v) < dz else math.copysign((abs(v) - dz) / (1 - dz), v)
                        rates[action] = rates.get(action, 0.0) + v
                    elif "instrument.clutch" not in {a for c in held for a in self._by_control.get(c, [])}:
                        raw = {"mouse_x": self._motion[0], "mouse_y": -self._motion[1], "wheel": self._wheel}[control]
                        gain = s["wheel_m_per_notch"] if control == "wheel" else s["mouse_rad_per_px"]
                        if action.endswith("insert") and control != "wheel":
                            gain = s["mouse_rad_per_px"] * 0.1  # a mouse axis on insertion: 0.15 mm/px
                        deltas[action] = deltas.get(action, 0.0) + raw * gain
        self._motion = [0.0, 0.0]
        self._wheel = 0.0
        for action in set(rates) | set(deltas):
            who, dof = action.split(".")
            if who == "instrument":
                if not self.hands:
                    continue
                who = "active"
            rate = (
                s["key_m_per_s"]
                if dof in ("insert", "zoom")
                else s["key_roll_rad_per_s"]
                if dof == "roll"
                else s["key_rad_per_s"]
            )
            change = rates.get(action, 0.0) * rate * dt + deltas.get(action, 0.0)
            if who == "scope":
                if not self.has_scope:
                    continue
                key, limit = action, TARGET_LIMITS[action]
            else:
                index = self.active if who == "active" else 0 if who == "left" else 1
                if index >= len(self.hands):
                    continue
                key, limit = f"{self.hands[index]}.{dof}", TARGET_LIMITS[dof]
            self.targets[key] = float(np.clip(self.targets[key] + change, -limit, limit))
        for i, hand in enumerate(self.hands):
            side = "left" if i == 0 else "right"
            jaw = self._latch[i]
            for control in self.bindings.controls(f"{side}.jaw"):
                if control in AXIS_CONTROLS:
                    jaw = max(jaw, float(np.clip(self._pad_axes.get(control, 0.0), 0.0, 1.0)))
                elif control in held:
                    jaw = 1.0
            self.targets[f"{hand}.jaw"] = jaw

    def _explore(self) -> dict[str, float]:
        """Clinical sessions: mouse motion while ``view.grab`` is held turns the explored
        model, the wheel scales it (2^(notches x view_log2_per_notch), 1/4 to 4); returns the
        targets that changed. The motion is consumed either way (hover uses the position)."""
        s = self.bindings.settings
        dx, dy = self._motion
        self._motion = [0.0, 0.0]
        wheel, self._wheel = self._wheel, 0.0
        t = self.view_targets
        before = dict(t)
        grabbing = any("view.grab" in self._by_control.get(c, ()) for c in self._held)
        if grabbing and (dx or dy):
            gain = s.get("view_rad_per_px", 0.005)
            t["view.yaw"] += dx * gain
            t["view.pitch"] = float(np.clip(t["view.pitch"] + dy * gain, -math.pi / 2, math.pi / 2))
        if wheel:
            self._view_log2 = float(np.clip(self._view_log2 + wheel * s.get("view_log2_per_notch", 0.125), -2.0, 2.0))
            t["view.scale"] = 2.0**self._view_log2
        return {k: v for k, v in t.items() if v != before[k]}

    # -- pointing ---------------------------------------------------------------------------------
    def _ray(self) -> tuple[np.ndarray, np.ndarray] | None:
        """World ray (origin, unit direction) through the cursor, from the main view's camera."""
        if self._cursor is None or self._pick_camera is None or self._window is None:
            return None
        camera = self._pick_camera()
        glfw = _glfw()
        win_w, win_h = glfw.get_window_size(self._window.handle)
        if win_w <= 0 or win_h <= 0:
            return None
        x_ndc = 2.0 * self._cursor[0] / win_w - 1.0
        y_ndc = 1.0 - 2.0 * self._cursor[1] / win_h
        pos = np.asarray(camera.position, float)
        f = np.asarray(camera.target, float) - pos
        f /= np.linalg.norm(f)
        side = np.cross(f, np.asarray(camera.up, float))
        side /= np.linalg.norm(side)
        up = np.cross(side, f)
        th = math.tan(math.radians(camera.fov_deg) / 2.0)
        fb_w, fb_h = self._window.size
        d = f + x_ndc * th * (fb_w / fb_h) * side + y_ndc * th * up
        return pos, d / np.linalg.norm(d)

    def _pick(self) -> str | None:
        ray = self._ray()
        if ray is None or self._app is None:
            return None
        name, _ = pick_ray(self._app, ray[0], ray[1], max_distance=20.0)
        return name

    def _update_hover(self) -> None:
        if self._cursor is None or self._cursor == self._hover_at or self.paused:
            return
        self._hover_at = self._cursor
        name = self._pick()
        if name != self._hover:
            self._hover = name
            self._commands.append(f"hover:{name or ''}")


__all__ = ["DESKTOP", "TARGET_LIMITS", "DesktopInput", "PadReading", "glfw_gamepad"]
