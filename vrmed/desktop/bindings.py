"""Desktop key, mouse and gamepad bindings: the default map and a YAML override file.

An *action* is something the desktop input does (``session.pause``, ``menu.down``,
``instrument.yaw``, ``left.jaw``, ...); a *control* is a key (``a``, ``f5``, ``tab``), a
mouse button or axis (``mouse_left``, ``mouse_x``, ``wheel``) or a gamepad button or axis
(``pad_a``, ``pad_left_x``, ``pad_lt``; GLFW's standard gamepad layout, Xbox names).

Actions come in three groups: ``common`` (session and menu: every scenario), ``clinical``
(pointing and clicking on interactable objects) and ``laparoscopy`` (instruments through
their trocars and the endoscope, used when the scenario has instruments). A control may
be bound to one action of a session's groups only; the same key can mean one thing in a
clinical and another in a laparoscopy session (``tab``: the full action menu / the other
instrument).

Axis actions (``instrument.yaw``, ``left.pitch``, ``scope.zoom``, ...) take an axis control
(mouse motion, the wheel, a stick or trigger) and also have ``+``/``-`` forms
(``instrument.yaw+``) that take keys and buttons: held, they move at the action's rate.

Override file (``vrmed run ... --bindings FILE`` or a pack's ``bindings.yaml``)::

    bindings:                      # action: control, or a list of controls ([] unbinds)
      session.pause: [f5, p]
      instrument.jaw: mouse_middle
    settings:                      # see DEFAULT_SETTINGS
      mouse_rad_per_px: 0.001

Every mistake is one :class:`BindingsError` naming the file, line and element; an unknown
action or control lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import VrmedError
from ..packs.yamlsrc import YamlSyntaxError, read_yaml

#: Keyboard control names (GLFW key names, lower case: ``KEY_LEFT_SHIFT`` -> ``left_shift``).
KEYS: tuple[str, ...] = (
    *"abcdefghijklmnopqrstuvwxyz",
    *"0123456789",
    *(f"f{i}" for i in range(1, 13)),
    "space", "tab", "enter", "kp_enter", "backspace", "escape", "up", "down", "left", "right",
    "left_shift", "right_shift", "left_control", "right_control", "left_alt", "right_alt",
    "pause", "home", "end", "page_up", "page_down", "insert", "delete", "comma", "period",
    "minus", "equal", "left_bracket", "right_bracket", "semicolon", "apostrophe", "slash",
    "backslash", "grave_accent",
)  # fmt: skip
#: Mouse and gamepad buttons (held or pressed like keys).
MOUSE_BUTTONS: tuple[str, ...] = ("mouse_left", "mouse_right", "mouse_middle")
PAD_BUTTONS: tuple[str, ...] = (
    "pad_a", "pad_b", "pad_x", "pad_y", "pad_lb", "pad_rb", "pad_back", "pad_start", "pad_ls", "pad_rs",
    "pad_up", "pad_down", "pad_left", "pad_right",
)  # fmt: skip
#: Axis controls: mouse motion (pixels per frame), the wheel (notches), sticks (-1..1, y up)
#: and triggers (0..1).
MOUSE_AXES: tuple[str, ...] = ("mouse_x", "mouse_y", "wheel")
PAD_AXES: tuple[str, ...] = ("pad_left_x", "pad_left_y", "pad_right_x", "pad_right_y", "pad_lt", "pad_rt")
BUTTON_CONTROLS: frozenset[str] = frozenset((*KEYS, *MOUSE_BUTTONS, *PAD_BUTTONS))
AXIS_CONTROLS: frozenset[str] = frozenset((*MOUSE_AXES, *PAD_AXES))

#: Axis actions of the laparoscopy group (each also has ``+``/``-`` button forms). Angles in
#: radians, insertion and zoom in metres: see :data:`DEFAULT_SETTINGS` for the gains.
LAP_AXES: tuple[str, ...] = tuple(
    f"{who}.{dof}" for who in ("instrument", "left", "right") for dof in ("yaw", "pitch", "insert", "roll")
) + ("scope.yaw", "scope.pitch", "scope.zoom", "scope.roll")

#: Button actions by group (name -> what it does, for docs and error messages).
BUTTON_ACTIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "common": MappingProxyType(
            {
                "session.quit": "close the menu if one is open, else end the session (log written)",
                "session.pause": "pause / resume (the simulation does not advance while paused)",
                "session.restart": "end this attempt and start the scenario again",
                "session.choose": "end this attempt and choose another scenario",
                "menu.open": "open the full action menu",
                "menu.up": "menu: previous item",
                "menu.down": "menu: next item",
                "menu.select": "menu: choose the highlighted item",
                "menu.back": "menu: back one level",
                **{f"menu.choose{n}": f"menu: choose item {n}" for n in range(1, 10)},
            }
        ),
        "clinical": MappingProxyType(
            {
                "pick": "click: open the action menu of the object under the pointer",
                "menu.toggle": "open / close the full action menu",
                "view.grab": "held: dragging the mouse turns the model being explored (the wheel scales it)",
            }
        ),
        "laparoscopy": MappingProxyType(
            {
                "instrument.switch": "the mouse and keys drive the other instrument",
                "instrument.clutch": "held: instrument motion is ignored (re-centre the mouse)",
                "instrument.jaw": "toggle the driven instrument's jaw (latched)",
                "left.jaw": "held: close the left instrument's jaw",
                "right.jaw": "held: close the right instrument's jaw",
                **{f"{a}{s}": f"held: move {a} {'+' if s == '+' else '-'}" for a in LAP_AXES for s in "+-"},
            }
        ),
    }
)
#: Axis actions (take an axis control): the laparoscopy axes and the analog jaws (triggers).
AXIS_ACTIONS: frozenset[str] = frozenset((*LAP_AXES, "left.jaw", "right.jaw"))
GROUPS: tuple[str, ...] = ("common", "clinical", "laparoscopy")


def _group_of(action: str) -> str | None:
    for group, actions in BUTTON_ACTIONS.items():
        if action in actions:
            return group
    if action in AXIS_ACTIONS:
        return "laparoscopy"
    return None


ALL_ACTIONS: tuple[str, ...] = tuple(sorted({*AXIS_ACTIONS, *(a for g in BUTTON_ACTIONS.values() for a in g)}))

#: The default map (docs/input.md shows it as a table).
DEFAULT_BINDINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # common
        "session.quit": ("escape",),
        "session.pause": ("f5", "pause", "pad_start"),
        "session.restart": ("f8",),
        "session.choose": ("f2",),
        "menu.open": ("f1", "pad_back"),
        "menu.up": ("up",),
        "menu.down": ("down",),
        "menu.select": ("enter", "kp_enter"),
        "menu.back": ("backspace",),
        **{f"menu.choose{n}": (str(n),) for n in range(1, 10)},
        # clinical
        "pick": ("mouse_left",),
        "menu.toggle": ("tab", "mouse_right"),
        "view.grab": ("mouse_middle",),
        # laparoscopy: the mouse drives one instrument, W/A/S/D R/F Q/E the same by keys
        "instrument.switch": ("tab", "mouse_middle"),
        "instrument.clutch": ("left_shift", "right_shift"),
        "instrument.yaw": ("mouse_x",),
        "instrument.pitch": ("mouse_y",),
        "instrument.insert": ("wheel",),
        "instrument.yaw-": ("a",),
        "instrument.yaw+": ("d",),
        "instrument.pitch+": ("w",),
        "instrument.pitch-": ("s",),
        "instrument.insert+": ("r",),
        "instrument.insert-": ("f",),
        "instrument.roll-": ("q",),
        "instrument.roll+": ("e",),
        "instrument.jaw": ("space",),
        "left.jaw": ("mouse_left", "pad_lt"),
        "right.jaw": ("mouse_right", "pad_rt"),
        # gamepad: one stick per instrument, bumpers/face buttons insert, d-pad pans the scope
        "left.yaw": ("pad_left_x",),
        "left.pitch": ("pad_left_y",),
        "right.yaw": ("pad_right_x",),
        "right.pitch": ("pad_right_y",),
        "left.insert+": ("pad_lb",),
        "left.insert-": ("pad_ls",),
        "right.insert+": ("pad_rb",),
        "right.insert-": ("pad_rs",),
        "left.roll+": ("pad_x",),
        "right.roll+": ("pad_b",),
        "scope.yaw-": ("j", "pad_left"),
        "scope.yaw+": ("l", "pad_right"),
        "scope.pitch+": ("i", "pad_up"),
        "scope.pitch-": ("k", "pad_down"),
        "scope.zoom+": ("u", "pad_y"),
        "scope.zoom-": ("o", "pad_a"),
        "scope.roll-": ("z",),
        "scope.roll+": ("c",),
    }
)

#: Gains and limits of the desktop controls (overridable under ``settings:``).
DEFAULT_SETTINGS: Mapping[str, float] = MappingProxyType(
    {
        # mouse: 1 px = 1.5 mrad about the trocar (about 0.2 mm of tip travel at 15 cm depth)
        "mouse_rad_per_px": 0.0015,
        # wheel: one notch = 3 mm of insertion
        "wheel_m_per_notch": 0.003,
        # held keys / full stick deflection: pivot 0.6 rad/s, insertion 0.05 m/s, roll 2 rad/s
        "key_rad_per_s": 0.6,
        "key_m_per_s": 0.05,
        "key_roll_rad_per_s": 2.0,
        # sticks: deflection below this is ignored (worn sticks rest off centre)
        "pad_deadzone": 0.15,
        # explore (clinical sessions): a drag of 1 px turns the model 5 mrad (about 1/3 turn
        # across a 640 px view); one wheel notch scales it by 2^(1/8)
        "view_rad_per_px": 0.005,
        "view_log2_per_notch": 0.125,
    }
)


class BindingsError(VrmedError):
    """A key-binding file is wrong (the message names the file, line and element)."""


@dataclass(frozen=True)
class Bindings:
    """Resolved bindings: action -> controls, and the control gains (:data:`DEFAULT_SETTINGS`)."""

    actions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_BINDINGS))
    settings: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    source: str = "defaults"

    def controls(self, action: str) -> tuple[str, ...]:
        """The controls bound to ``action`` (empty if none)."""
        return tuple(self.actions.get(action, ()))

    def for_mode(self, mode: str) -> dict[str, list[str]]:
        """control -> actions bound to it in a session of ``mode`` ("clinical" or "laparoscopy"):
        the common group plus the mode's group."""
        out: dict[str, list[str]] = {}
        for action, controls in self.actions.items():
            if _group_of(action) in ("common", mode):
                for control in controls:
                    out.setdefault(control, []).append(action)
        return out

    def conflicts(self, mode: str) -> list[tuple[str, list[str]]]:
        """Controls bound to more than one action in a ``mode`` session."""
        return [(c, a) for c, a in sorted(self.for_mode(mode).items()) if len(a) > 1]


def load_bindings(path: str | Path | None) -> Bindings:
    """The default bindings with a YAML override file laid over them (None: the defaults).

    Raises :class:`BindingsError` (``file:line: ...``) for a missing or unreadable file, an
    unknown top-level key, action, control or setting, a control of the wrong kind (an axis
    bound to a button action or the other way round), a non-positive setting, and a control
    bound to two actions of the same session kind."""
    if path is None:
        return Bindings()
    p = Path(path)
    if not p.is_file():
        raise BindingsError(f"{p}: no such key-binding file")
    try:
        doc = read_yaml(p)
    except YamlSyntaxError as exc:
        raise BindingsError(f"{p}:{exc.line}: {exc.message}") from None
    data = doc.data if doc.data is not None else {}

    def fail(key_path: tuple[Any, ...], message: str) -> BindingsError:
        where = ".".join(str(k) for k in key_path) or "file"
        return BindingsError(f"{p}:{doc.line(key_path)}: {where}: {message}")

    if not isinstance(data, dict):
        raise fail((), "a key-binding file is a mapping with `bindings:` and/or `settings:`")
    unknown = sorted(set(data) - {"bindings", "settings"})
    if unknown:
        raise fail((unknown[0],), f"unknown key {unknown[0]!r}; a key-binding file has `bindings:` and `settings:`")
    actions = dict(DEFAULT_BINDINGS)
    raw = data.get("bindings") or {}
    if not isinstance(raw, dict):
        raise fail(("bindings",), "must map actions to a control or a list of controls")
    for action, value in raw.items():
        kp = ("bindings", action)
        if action not in ALL_ACTIONS:
            raise fail(kp, f"unknown action {action!r}; valid actions: {', '.join(ALL_ACTIONS)}")
        controls = [value] if isinstance(value, str) else value
        if not isinstance(controls, list) or not all(isinstance(c, str) for c in controls):
            raise fail(kp, "give a control name or a list of control names (e.g. [f5, p]; [] unbinds)")
        for c in controls:
            _check_control(action, c, lambda m, kp=kp: fail(kp, m))
        actions[action] = tuple(controls)
    settings = dict(DEFAULT_SETTINGS)
    raw_settings = data.get("settings") or {}
    if not isinstance(raw_settings, dict):
        raise fail(("settings",), f"must map settings to numbers; settings: {', '.join(DEFAULT_SETTINGS)}")
    for name, value in raw_settings.items():
        kp = ("settings", name)
        if name not in DEFAULT_SETTINGS:
            raise fail(kp, f"unknown setting {name!r}; settings: {', '.join(DEFAULT_SETTINGS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise fail(kp, f"must be a number >= 0, got {value!r}")
        settings[name] = float(value)
    bindings = Bindings(actions, settings, str(p))
    for mode in ("clinical", "laparoscopy"):
        for control, acts in bindings.conflicts(mode):
            mine = [a for a in acts if a in raw] or acts
            raise fail(
                ("bindings", mine[0]),
                f"control {control!r} is bound to {' and '.join(acts)} (in a {mode} session); "
                f"unbind one of them (e.g. `{[a for a in acts if a != mine[0]][0]}: []`)",
            )
    return bindings


def _check_control(action: str, control: str, fail: Any) -> None:
    axis_action = action in AXIS_ACTIONS
    if control in AXIS_CONTROLS:
        if not axis_action:
            raise fail(f"{control!r} is an axis; {action!r} needs a key or button")
        return
    if control in BUTTON_CONTROLS:
        if axis_action and not action.endswith(".jaw"):
            raise fail(f"{control!r} is a key or button; {action!r} needs an axis (bind keys to {action}+ / {action}-)")
        return
    raise fail(
        f"unknown control {control!r}; valid controls: keys {', '.join(KEYS)}; mouse "
        f"{', '.join(MOUSE_BUTTONS + MOUSE_AXES)}; gamepad {', '.join(PAD_BUTTONS + PAD_AXES)}"
    )


def describe(bindings: Bindings, mode: str, actions: Iterable[str] | None = None) -> list[str]:
    """``action: controls`` lines for the HUD's help and docs/input.md."""
    wanted = actions or [a for a in bindings.actions if _group_of(a) in ("common", mode)]
    return [f"{a}: {', '.join(bindings.controls(a)) or '-'}" for a in wanted]


__all__ = [
    "ALL_ACTIONS",
    "AXIS_ACTIONS",
    "AXIS_CONTROLS",
    "BUTTON_ACTIONS",
    "BUTTON_CONTROLS",
    "DEFAULT_BINDINGS",
    "DEFAULT_SETTINGS",
    "Bindings",
    "BindingsError",
    "KEYS",
    "describe",
    "load_bindings",
]
