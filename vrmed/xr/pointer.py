"""Headset controllers as pointers: a ray from each hand selects interactables and the
items of world-space panels, the trigger chooses, the grip grabs.

:class:`HeadsetPointer` (a plugin; :func:`vrmed.session.build_session` adds it to every
session whose input is OpenXR, and to the replay of such a session) runs ``xr.pointer``
in the input stage, after ``input.sample``. It reads only the recorded controller and
head poses and buttons from :class:`~vrmed.input.InputState`, so a replay re-derives
exactly the same choices:

- each hand's ray leaves the controller's OpenXR *aim* pose along its -Z axis (OpenXR 1.0,
  "Standard pose identifiers": the aim pose is the pointing ray, tilted from the grip pose
  by the controller's design), recorded as ``left_aim``/``right_aim``; where a backend has
  no aim pose, the grip pose's -Z (through the tube of the curled fingers) serves;
- while the action menu (:class:`~vrmed.scenario.learner.MenuState`) is open, it is a
  world-space panel placed in front of the head where it opened; the ray hits its rows
  first (a panel hides what is behind it), then the scenario's
  :class:`~vrmed.components.scene.Interactable` targets (:func:`~vrmed.scenario.learner.pick_ray`);
- a trigger press (a rising edge with hysteresis, :data:`PRESS_ON` / :data:`PRESS_OFF`)
  on a menu row pushes ``menu.choose:<n>``, on the Back row ``menu.back``, on an
  interactable ``pick:<entity>``; the controller's menu button toggles the full action
  menu (``menu.open`` / ``menu.close``; held, the play loop pauses and shows the session
  menu, :mod:`vrmed.xr.play`) and its secondary button (B/Y) goes back;
- what the dominant hand's ray rests on is sent as ``hover:<entity>`` when it changes.

The commands go into ``InputState.commands`` for ``learner.menu`` (same frame, logic
stage). The panel geometry (:class:`Panel`, :func:`menu_layout`) is public: the headset
renderer draws the panels where the pointer hits them, and tests aim at their rows.

Text size. Panels are laid out so body text subtends :data:`BODY_TEXT_DEG` (1.0 degree)
at the panel's design distance (0.6-0.75 m, arm's length). Microsoft's mixed-reality
typography guidance gives 0.35-0.4 degrees as the smallest legible size, but today's
headsets resolve about 20 pixels per degree (Quest 2/3, Index), so 0.4 degrees would be
8 display pixels; 1.0 degree is about 20 pixels, a comfortable desktop text size, and the
menu rows are 2.2 degrees tall so a hand ray (tremor of a few tenths of a degree) can hold
one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..geometry import quat_rotate, quat_yaw
from ..input import InputState
from ..scenario.interaction import CueShown
from ..scenario.learner import MenuState, pick_ray
from .interface import AIM_DEVICE, CONTROLLER_DEVICE, HANDS, HEAD, RIGHT_HAND

#: Trigger/button value that counts as pressed, and the value it must fall below before
#: the next press counts (a Schmitt trigger: analog triggers jitter around one threshold).
PRESS_ON = 0.7
PRESS_OFF = 0.3
#: The ray's direction in the aim (or grip) pose's frame: its -Z axis.
RAY_AXIS = (0.0, 0.0, -1.0)
#: Furthest an interactable can be picked from (m): across a resuscitation room.
RAY_RANGE_M = 6.0
#: Body text as a visual angle at the panel's distance (see above).
BODY_TEXT_DEG = 1.0
#: The menu: this far from the eyes (m, arm's length), this far below eye level: about 25
#: degrees down, out of the line of sight to the room and where a hand-held chart would be
#: (OSHA's computer-workstation eTool puts a screen's centre 15-20 degrees below horizontal
#: eye level; a panel read at arm's length sits a little lower).
MENU_DISTANCE_M = 0.6
MENU_DROP_M = 0.25
#: Menu texture layout in pixels: size, title band, row height (2.2 body-text heights:
#: 2.2 degrees at the menu's distance), rows for MENU_ROWS items and a Back row at the bottom.
MENU_PX = (768, 560)
MENU_TITLE_PX = 56
MENU_ROW_PX = 44
MENU_ROWS = (MENU_PX[1] - MENU_TITLE_PX - MENU_ROW_PX) // MENU_ROW_PX
#: The guidance panel (instructions, steps, timer, cues, score) and the patient monitor:
#: world-locked where the learner first looks, this far away and this far to the left
#: (guidance) and right (monitor) of the first heading, out of the working area ahead.
SIDE_PANEL_DISTANCE_M = 0.75
SIDE_PANEL_YAW_DEG = 38.0
SIDE_PANEL_DROP_M = 0.05
GUIDANCE_PX = (768, 576)
MONITOR_PX = (768, 512)


def metres_per_pixel(distance: float, text_px: float, text_deg: float = BODY_TEXT_DEG) -> float:
    """Metres per panel pixel so that ``text_px`` pixels subtend ``text_deg`` at ``distance``."""
    return 2.0 * distance * math.tan(math.radians(text_deg) / 2.0) / text_px


#: Body text in pixels on every panel (the overlay font size): 20 px = BODY_TEXT_DEG.
BODY_TEXT_PX = 20


def _look_at(centre: Any, eye: Any) -> tuple[float, float, float, float]:
    """Orientation whose +Z points from ``centre`` to ``eye`` and whose +X stays level."""
    # Plain floats: np.cross on 3-vectors costs ~20x more, and tests call this per sample.
    nx, ny, nz = eye[0] - centre[0], eye[1] - centre[1], eye[2] - centre[2]
    n = math.sqrt(nx * nx + ny * ny + nz * nz)
    nx, ny, nz = nx / n, ny / n, nz / n
    xx, xz = nz, -nx  # (0, 1, 0) x n
    lx = math.hypot(xx, xz)
    xx, xz = (xx / lx, xz / lx) if lx > 1e-9 else (1.0, 0.0)
    m = np.array(
        [
            [xx, ny * xz, nx],
            [0.0, nz * xx - nx * xz, ny],
            [xz, -ny * xx, nz],
        ]
    )
    return _matrix_quat(m)


def _matrix_quat(m: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (w, x, y, z) of a rotation matrix (Shepperd's method)."""
    tr = float(m[0, 0] + m[1, 1] + m[2, 2])
    if tr > 0.0:
        s = math.sqrt(tr + 1.0) * 2.0
        q = (0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2.0
        q = ((m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s)
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2.0
        q = ((m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s)
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2.0
        q = ((m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s)
    norm = math.sqrt(sum(c * c for c in q))
    return (float(q[0] / norm), float(q[1] / norm), float(q[2] / norm), float(q[3] / norm))


def aim_orientation(direction: Any) -> tuple[float, float, float, float]:
    """A controller orientation whose ray (-Z, :data:`RAY_AXIS`) points along ``direction``
    with the controller's x axis level (for scripted controllers and tests)."""
    return _look_at((0.0, 0.0, 0.0), (-float(direction[0]), -float(direction[1]), -float(direction[2])))


@dataclass(frozen=True)
class Panel:
    """A flat world-space panel: centre (m), orientation (w, x, y, z; the panel spans its
    local x (right) and y (up), its front faces +Z), size (m) and texture size (px)."""

    name: str
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float]
    size: tuple[float, float]
    pixels: tuple[int, int]

    def hit(self, origin: Any, direction: Any) -> tuple[float, float, float] | None:
        """Where a ray (world m, unit direction) meets the front of the panel: (distance,
        x px from the left, y px from the top), or None."""
        inv = (self.orientation[0], -self.orientation[1], -self.orientation[2], -self.orientation[3])
        o = quat_rotate(inv, (origin[0] - self.position[0], origin[1] - self.position[1], origin[2] - self.position[2]))
        d = quat_rotate(inv, (direction[0], direction[1], direction[2]))
        if d[2] >= -1e-9 or o[2] <= 0.0:  # parallel, leaving, or behind the panel
            return None
        t = -o[2] / d[2]
        x, y = o[0] + t * d[0], o[1] + t * d[1]
        w, h = self.size
        if abs(x) > w / 2 or abs(y) > h / 2:
            return None
        return t, (x / w + 0.5) * self.pixels[0], (0.5 - y / h) * self.pixels[1]

    def point(self, px: float, py: float) -> tuple[float, float, float]:
        """The world point at texture pixel (px from the left, py from the top)."""
        w, h = self.size
        local = ((px / self.pixels[0] - 0.5) * w, (0.5 - py / self.pixels[1]) * h, 0.0)
        r = quat_rotate(self.orientation, local)
        return (self.position[0] + r[0], self.position[1] + r[1], self.position[2] + r[2])


def panel_in_front(
    name: str,
    head_position: Any,
    head_orientation: Any,
    *,
    distance: float,
    yaw_deg: float = 0.0,
    drop: float = 0.0,
    pixels: tuple[int, int],
) -> Panel:
    """A panel ``distance`` m from the eyes along the head's heading turned ``yaw_deg``
    (positive: to the left), ``drop`` m below eye level, facing the eyes, sized so body
    text (:data:`BODY_TEXT_PX`) subtends :data:`BODY_TEXT_DEG` there."""
    yaw = quat_yaw(head_orientation) + math.radians(yaw_deg)
    eye = np.asarray(head_position, dtype=float)
    horizontal = math.sqrt(max(distance * distance - drop * drop, 1e-6))
    centre = eye + np.array([-math.sin(yaw) * horizontal, -drop, -math.cos(yaw) * horizontal])
    mpp = metres_per_pixel(distance, BODY_TEXT_PX)
    return Panel(
        name,
        (float(centre[0]), float(centre[1]), float(centre[2])),
        _look_at(centre, eye),  # facing the eyes
        (pixels[0] * mpp, pixels[1] * mpp),
        pixels,
    )


def menu_panel(head_position: Any, head_orientation: Any) -> Panel:
    """Where the action menu opens for a head pose (in front, just below eye level)."""
    return panel_in_front(
        "menu", head_position, head_orientation, distance=MENU_DISTANCE_M, drop=MENU_DROP_M, pixels=MENU_PX
    )


def menu_layout(n_items: int) -> list[tuple[str, float, float]]:
    """The menu's hit rows: ``(command, top px, bottom px)``, items first (``menu.choose:<n>``,
    at most :data:`MENU_ROWS`), then ``menu.back`` at the bottom."""
    rows = [
        (f"menu.choose:{i + 1}", float(MENU_TITLE_PX + i * MENU_ROW_PX), float(MENU_TITLE_PX + (i + 1) * MENU_ROW_PX))
        for i in range(min(n_items, MENU_ROWS))
    ]
    rows.append(("menu.back", float(MENU_PX[1] - MENU_ROW_PX), float(MENU_PX[1])))
    return rows


def menu_row_centre(panel: Panel, command: str, n_items: int) -> tuple[float, float, float]:
    """The world point at the middle of a menu row (``menu.choose:<n>`` or ``menu.back``)."""
    for cmd, top, bottom in menu_layout(n_items):
        if cmd == command:
            return panel.point(panel.pixels[0] / 2, (top + bottom) / 2)
    raise ValueError(f"the menu has no row {command!r} with {n_items} items")


@dataclass
class HandRay:
    """One hand's pointer this frame (read by the renderer and the haptics)."""

    hand: str
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, float, float] = RAY_AXIS
    #: What a trigger press would do: ``menu.choose:<n>``, ``menu.back``, ``pick:<entity>``, or None.
    target: str | None = None
    distance: float = math.inf
    pressed: bool = False
    buttons: dict[str, bool] = field(default_factory=dict)


@dataclass
class PointerState:
    """The headset pointer's state (a resource): each hand's ray, the panels in the world
    (``menu`` while the action menu is open, ``guidance`` and ``monitor`` once the
    headset has reported a head pose), what is hovered, and every command sent."""

    rays: dict[str, HandRay] = field(default_factory=lambda: {h: HandRay(h) for h in HANDS})
    panels: dict[str, Panel] = field(default_factory=dict)
    hover: str | None = None
    #: (frame, hand or "", command) of every command the pointer pushed (the haptics read it).
    sent: list[tuple[int, str, str]] = field(default_factory=list)


class HeadsetPointer:
    """Plugin: the ``xr.pointer`` input-stage system (see the module docstring).

    ``dominant``: the hand whose ray shows the hover tooltip (both hands can choose).
    """

    def __init__(self, dominant: str = RIGHT_HAND) -> None:
        if dominant not in HANDS:
            raise ValueError(f"dominant must be one of {', '.join(HANDS)}, got {dominant!r}")
        self.dominant = dominant
        self.state = PointerState()

    def build(self, app: Any) -> None:
        """Insert :class:`PointerState` and add ``xr.pointer`` (input.mapping, after input.sample)."""
        app.insert_resource(self.state)
        app.add_system(self._step, in_set="input.mapping", after="input.sample", name="xr.pointer")

    def _step(self, app: Any) -> None:
        inputs = app.resource(InputState)
        head = inputs.devices.get(HEAD)
        if head is None:
            return  # the headset has not reported yet: nothing to point with
        st = self.state
        if "guidance" not in st.panels:  # world-locked where the learner first looks
            for name, yaw, px in (
                ("guidance", SIDE_PANEL_YAW_DEG, GUIDANCE_PX),
                ("monitor", -SIDE_PANEL_YAW_DEG, MONITOR_PX),
            ):
                st.panels[name] = panel_in_front(
                    name,
                    head.position,
                    head.orientation,
                    distance=SIDE_PANEL_DISTANCE_M,
                    yaw_deg=yaw,
                    drop=SIDE_PANEL_DROP_M,
                    pixels=px,
                )
        menu = app.try_resource(MenuState)
        is_open = menu is not None and menu.open
        if is_open and "menu" not in st.panels:
            st.panels["menu"] = menu_panel(head.position, head.orientation)
        elif not is_open:
            st.panels.pop("menu", None)
        commands: list[tuple[str, str]] = []
        for hand in HANDS:
            dev = inputs.devices.get(CONTROLLER_DEVICE[hand]) or inputs.devices.get(hand)  # the raw controller
            if dev is None:
                continue
            aim = inputs.devices.get(AIM_DEVICE[hand]) or dev  # the aim pose where the runtime has one
            ray = st.rays[hand]
            ray.origin = (float(aim.position[0]), float(aim.position[1]), float(aim.position[2]))
            ray.direction = quat_rotate(aim.orientation, RAY_AXIS)
            ray.target, ray.distance = self._aim(app, st, menu, ray)
            trigger = dev.button("trigger")
            if not ray.pressed and trigger >= PRESS_ON:
                ray.pressed = True
                if ray.target is not None:
                    commands.append((hand, ray.target))
            elif ray.pressed and trigger <= PRESS_OFF:
                ray.pressed = False
            for button, command in (("menu", "menu.close" if is_open else "menu.open"), ("secondary", "menu.back")):
                value = dev.button(button)
                was = ray.buttons.get(button, False)
                if not was and value >= PRESS_ON:
                    ray.buttons[button] = True
                    commands.append((hand, command))
                elif was and value <= PRESS_OFF:
                    ray.buttons[button] = False
        hover = self._hover(st)
        if hover != st.hover:
            st.hover = hover
            commands.insert(0, ("", f"hover:{hover or ''}"))
        frame = int(app.clock.frame)
        for hand, command in commands:
            inputs.commands.append(command)
            st.sent.append((frame, hand, command))

    @staticmethod
    def _aim(app: Any, st: PointerState, menu: MenuState | None, ray: HandRay) -> tuple[str | None, float]:
        panel = st.panels.get("menu")
        if panel is not None and menu is not None:
            hit = panel.hit(ray.origin, ray.direction)
            if hit is not None:  # the panel hides what is behind it
                dist, _, py = hit
                for command, top, bottom in menu_layout(len(menu.items)):
                    if top <= py < bottom:
                        return command, dist
                return None, dist
        name, dist = pick_ray(app, ray.origin, ray.direction, RAY_RANGE_M)
        return (f"pick:{name}", dist) if name is not None else (None, math.inf)

    def _hover(self, st: PointerState) -> str | None:
        for hand in (self.dominant, *(h for h in HANDS if h != self.dominant)):
            target = st.rays[hand].target
            if target is not None and target.startswith("pick:"):
                return target[5:]
        return None


#: Haptic pulses (amplitude 0..1, seconds): a menu choice or pick (a click you can feel),
#: a cue by severity, a shock delivered (both hands), and the onset of instrument contact
#: (amplitude grows with the contact force up to :data:`FULL_CONTACT_N`).
CLICK_PULSE = (0.25, 0.02)
CUE_PULSES = {"info": (0.2, 0.05), "warning": (0.5, 0.1), "error": (0.9, 0.2)}
SHOCK_PULSE = (1.0, 0.3)
CONTACT_PULSE_S = 0.04
#: Contact force (N) that counts as touching, and the force that gives a full-strength pulse.
CONTACT_N = 0.05
FULL_CONTACT_N = 4.0


class HeadsetHaptics:
    """Plugin: the ``xr.haptics`` render-stage system, which pulses the controllers
    (``xrApplyHapticFeedback`` through the source's backend) when the pointer chooses
    something, when a cue is shown, when a shock is delivered, and when an instrument held
    by a hand starts touching tissue (its ``force``). Render side only: it reads events and
    state and never changes them, so it cannot affect the session log or a replay."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._events: list[Any] = []
        self._sent_seen = 0
        self._touching: dict[int, bool] = {}
        #: (hand, amplitude, seconds) of every pulse sent (for tests and diagnostics).
        self.pulses: list[tuple[str, float, float]] = []

    def build(self, app: Any) -> None:
        """Listen to events and add ``xr.haptics`` to the render stage."""
        app.events.listen(self._events.append)
        app.add_system(self._step, stage="render", name="xr.haptics")

    def _step(self, app: Any) -> None:
        events = list(self._events)  # the listener holds this list: empty it in place
        self._events.clear()
        if not getattr(self.backend, "running", False):
            return
        pulses: dict[str, tuple[float, float]] = {}

        def pulse(hands: tuple[str, ...], amplitude: float, seconds: float) -> None:
            for hand in hands:
                old = pulses.get(hand, (0.0, 0.0))
                pulses[hand] = (max(old[0], amplitude), max(old[1], seconds))

        pointer = app.try_resource(PointerState)
        if pointer is not None:
            for _, hand, command in pointer.sent[self._sent_seen :]:
                if hand and not command.startswith("hover:"):
                    pulse((hand,), *CLICK_PULSE)
            self._sent_seen = len(pointer.sent)
        for sent in events:
            event = sent.event
            if isinstance(event, CueShown):
                pulse(HANDS, *CUE_PULSES.get(event.severity, CUE_PULSES["warning"]))
            elif (
                type(event).__name__ == "ShockDelivered"
            ):  # the clinical feature's event, by name (core imports no feature)
                pulse(HANDS, *SHOCK_PULSE)
        # Instruments (the instruments feature's component, found by its registered name)
        # held by a hand: a pulse when contact begins, stronger for a harder touch.
        inst_type = app.component_types.get("Instrument")
        if inst_type is not None:
            for entity, inst in app.query(inst_type):
                hand = getattr(inst, "device", None)
                force = float(np.linalg.norm(getattr(inst, "force", np.zeros(3))))
                touching = force > CONTACT_N
                if hand in HANDS and touching and not self._touching.get(entity, False):
                    pulse((hand,), min(1.0, force / FULL_CONTACT_N), CONTACT_PULSE_S)
                self._touching[entity] = touching
        for hand, (amplitude, seconds) in sorted(pulses.items()):
            self.backend.vibrate(hand, amplitude, seconds)
            self.pulses.append((hand, amplitude, seconds))


def add_headset_interaction(app: Any, source: Any) -> HeadsetPointer:
    """Add the controller pointer (:class:`HeadsetPointer`) to a headset session or its
    replay, and the haptic pulses (:class:`HeadsetHaptics`) when ``source`` has a live XR
    backend (never in a replay). Returns the pointer plugin."""
    pointer = HeadsetPointer()
    app.add_plugin(pointer)
    backend = getattr(source, "backend", None)
    if backend is not None and callable(getattr(backend, "vibrate", None)):
        app.add_plugin(HeadsetHaptics(backend))
    return pointer


__all__ = [
    "BODY_TEXT_DEG",
    "HeadsetHaptics",
    "add_headset_interaction",
    "aim_orientation",
    "BODY_TEXT_PX",
    "MENU_ROWS",
    "PRESS_OFF",
    "PRESS_ON",
    "HandRay",
    "HeadsetPointer",
    "Panel",
    "PointerState",
    "menu_layout",
    "menu_panel",
    "menu_row_centre",
    "metres_per_pixel",
    "panel_in_front",
]
