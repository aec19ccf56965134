"""Laparoscopic instruments, their tool types and the body wall.

An :class:`Instrument` is driven by one tracked device of :class:`vrmed.InputState` (an XR
controller, a haptic stylus or scripted input). With ``pivot`` (the default) it is a
laparoscopic tool through a trocar: the shaft always passes through the fulcrum point
``trocar``; the device position is the handle, so the tool has 4 degrees of freedom (two
pivot angles, insertion, roll about the shaft from the device orientation) plus the jaw,
closed by the device button ``jaw_button`` (0 open .. 1 closed; for the hook it is the
cautery pedal). Without ``pivot`` the device pose places the jaw hinge directly (a box
trainer without a fulcrum, or tests).

Tool frame: the shaft points along the tool's local -z (handle towards tip, as for
:class:`~vrmed.components.scene.render.Endoscope`); the jaws open in the local x-z plane.

What a tool *does* is its :class:`ToolType`: the defaults of its geometry fields and the
:class:`ToolBehaviour` objects the instrument system calls when its jaw closes, opens and
every frame. The built-in types (:data:`TOOL_PRESETS`: grasper, needle_driver, scissors,
hook) get their behaviours in the instruments systems; a plugin adds its own tool types to
an App's registry (``vrmed.systems.instruments.tools``, docs/interaction.md).

Tool names are checked when the component is built, before any App exists (the pack loader
builds components from YAML first): ``tool`` must be a built-in type or one that an
installed engine plugin declares in its ``tool_types`` class attribute; code may instead
pass the type itself (``Instrument(tool_type=MY_TOOL)``). The App's registry is checked
again when the instrument system first sees the instrument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from vrmed.errors import VrmedError
from vrmed.fields import vec3
from vrmed.plugins import available_plugins, load_plugin_class

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App

#: jaw closure at which the jaw counts as closed (grasp, cut, pedal pressed)
CLOSED = 0.5

#: the tool an Instrument is when neither ``tool`` nor ``tool_type`` is given
DEFAULT_TOOL = "grasper"


class InstrumentError(VrmedError, ValueError):
    """An instrument is declared or placed wrongly (the message names it and the fix)."""


class ToolBehaviour:
    """Something a tool does (grasp, cut, burn, clip, ...): subclass it and override the hooks
    you need; each does nothing by default.

    ``instruments.control`` (once per display frame) calls, for every instrument, the
    behaviours of its :class:`ToolType` in their listed order, each with ``jaw_closed`` on the
    frame the closure rises to :data:`CLOSED` (for a pedal tool: the pedal is pressed),
    ``jaw_opened`` on the frame it falls below it, then ``update`` every frame; after that
    the tool's collision shapes are registered (jaws only while ``state.jaw_shapes``, which a
    behaviour clears to let tissue it holds between the jaws stay there). ``removed`` is
    called once when the instrument entity is gone.

    Arguments: the App, the instrument entity, its :class:`Instrument` (pose, closure and
    fields already current for this frame) and its :class:`ToolState` (this frame's jaw
    hinge and tool frame, and the previous frame's). Tissue between the jaws:
    ``vrmed.api.tissue_in_jaw``. A behaviour object can be shared by several tool types and
    Apps: keep per-App state in resources or components, never on the behaviour.
    """

    def jaw_closed(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """The jaw closed this frame (closure rose to ``CLOSED``)."""

    def jaw_opened(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """The jaw opened this frame (closure fell below ``CLOSED``)."""

    def update(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """Every frame, after ``jaw_closed``/``jaw_opened`` (``state.closed``: the jaw is closed now)."""

    def removed(self, app: App, entity: int, state: ToolState) -> None:
        """The instrument entity is gone (despawned or lost its Instrument): let go of what it holds."""


def _positive_or_none(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and value > 0)


@dataclass(frozen=True)
class ToolType:
    """An instrument type: the defaults its :class:`Instrument` fields take (jaw or hook
    length and radius in m, full jaw opening in degrees, contact friction, grasp tear force in
    N, cut and burn radius in m; None: the tool has none) and its behaviours.

    Register one on an App with ``vrmed.api.register_tool_type(app, tool_type)``; to let packs
    name it in YAML, list it in your engine plugin's ``tool_types`` class attribute too.
    """

    name: str
    jaw_length: float
    jaw_radius: float
    max_jaw_angle_deg: float
    friction: float = 0.4
    tear_force: float | None = None
    cut_radius: float | None = None
    burn_radius: float | None = None
    behaviours: tuple[ToolBehaviour, ...] = ()

    def __post_init__(self) -> None:
        where = f"ToolType {self.name!r}"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InstrumentError(
                f"ToolType: name must be a word of letters, digits and _ (as in YAML `tool:`), got {self.name!r}"
            )
        if not all(math.isfinite(v) and v > 0 for v in (self.jaw_length, self.jaw_radius)):
            raise InstrumentError(f"{where}: jaw_length and jaw_radius must be > 0 m")
        if not 0.0 <= self.max_jaw_angle_deg < 180.0:
            raise InstrumentError(f"{where}: max_jaw_angle_deg must be in [0, 180), got {self.max_jaw_angle_deg}")
        if not (math.isfinite(self.friction) and self.friction >= 0):
            raise InstrumentError(f"{where}: friction must be >= 0, got {self.friction}")
        for key in ("tear_force", "cut_radius", "burn_radius"):
            if not _positive_or_none(getattr(self, key)):
                raise InstrumentError(f"{where}: {key} must be > 0 or None, got {getattr(self, key)}")
        if not isinstance(self.behaviours, tuple):
            raise InstrumentError(f"{where}: behaviours must be a tuple of ToolBehaviour objects, e.g. (Clip(),)")
        for b in self.behaviours:
            if isinstance(b, type):
                raise InstrumentError(f"{where}: behaviour {b.__name__} is a class; pass an instance, {b.__name__}()")
            if not isinstance(b, ToolBehaviour):
                raise InstrumentError(f"{where}: {b!r} is not a ToolBehaviour (subclass vrmed.api.ToolBehaviour)")


#: The built-in tool types' geometry and settings (their behaviours are attached by the
#: instruments systems: grasp for grasper and needle_driver, cut for scissors, burn for hook).
TOOL_PRESETS: Mapping[str, ToolType] = MappingProxyType(
    {
        "grasper": ToolType("grasper", jaw_length=0.018, jaw_radius=0.0015, max_jaw_angle_deg=50.0, tear_force=3.0),
        "needle_driver": ToolType(
            "needle_driver", jaw_length=0.014, jaw_radius=0.0015, max_jaw_angle_deg=35.0, tear_force=5.0
        ),
        "scissors": ToolType("scissors", jaw_length=0.016, jaw_radius=0.0012, max_jaw_angle_deg=45.0, cut_radius=0.003),
        "hook": ToolType("hook", jaw_length=0.008, jaw_radius=0.001, max_jaw_angle_deg=0.0, burn_radius=0.003),
    }
)


def installed_tool_types() -> dict[str, ToolType]:
    """Tool types the installed engine plugins declare (their ``tool_types`` class
    attribute), by name: what a pack may name in ``tool:`` besides the built-in types.

    Imports every installed plugin class, so :class:`Instrument` calls it only for a name
    that is not built in. A plugin that cannot be imported here declares nothing (the pack
    loader reports it when a pack enables it)."""
    found: dict[str, ToolType] = {}
    for name in sorted(available_plugins()):
        try:
            cls = load_plugin_class(name)
        except (ImportError, KeyError):
            continue
        for kind in getattr(cls, "tool_types", ()):
            if isinstance(kind, ToolType):
                found.setdefault(kind.name, kind)
    return found


@dataclass(eq=False)
class ToolState:
    """The instrument system's record of one instrument, handed to its behaviours.

    ``hinge0``/``frame0`` and ``hinge1``/``frame1``: the jaw hinge (world m) and tool frame
    (3x3, columns: jaw-opening x, y, shaft z = minus the direction into the body) at the
    previous and this display frame; ``handle``: the handle (device) position; ``tool_type``:
    the App's registered type, resolved when the instrument was first seen; ``closure``: the
    jaw closure this frame (0..1); ``jaw_shapes``: whether the jaws are registered as
    collision shapes this frame (reset to True each frame before the behaviours run).
    """

    hinge0: np.ndarray
    frame0: np.ndarray
    hinge1: np.ndarray
    frame1: np.ndarray
    handle: np.ndarray
    tool_type: ToolType
    closure: float = 0.0
    jaw_shapes: bool = True

    @property
    def closed(self) -> bool:
        """Whether the jaw is closed (the pedal pressed) this frame."""
        return self.closure >= CLOSED


#: Instrument fields a tool type gives defaults for: NaN (float) or None (optional) = take it.
_FLOAT_DEFAULTS = ("jaw_length", "jaw_radius", "max_jaw_angle_deg", "friction")
_OPTIONAL_DEFAULTS = ("tear_force", "cut_radius", "burn_radius")


@dataclass
class Instrument:
    """A laparoscopic instrument (see the module docstring for the kinematics).

    YAML fields: ``tool`` (a tool type: grasper, scissors, hook, needle_driver or one a
    plugin adds), ``device`` (InputState device name), ``trocar`` (fulcrum, world m),
    ``pivot``, ``shaft_length`` (handle to jaw hinge, m), ``shaft_radius`` (m),
    ``jaw_length``/``jaw_radius`` (m), ``max_jaw_angle_deg``, ``jaw_button``, ``friction``,
    ``tear_force`` (N), ``grasp_margin`` (m: how far outside the jaw tissue is still caught),
    ``cut_radius``, ``burn_radius`` (m) and ``haptic`` (this tool's contact force goes to the
    :class:`~vrmed.haptics.HapticTarget`). Fields left out take the tool type's defaults.
    In code, ``tool_type=`` (a :class:`ToolType`) may be given instead of ``tool``.

    State the instrument system keeps current every frame (read-only for other systems):
    ``hinge``, ``tip`` and ``direction`` (unit, into the body) in world metres, ``closure``
    (0..1), ``force`` (N, tissue on the tool, last physics tick), ``insertion`` (m of shaft
    past the trocar) and ``grasping`` (entity held, -1 for none).
    """

    tool: str = DEFAULT_TOOL
    device: str = "right_hand"
    trocar: np.ndarray = vec3()
    pivot: bool = True
    shaft_length: float = 0.33
    shaft_radius: float = 0.0025
    jaw_length: float = math.nan  # NaN: the tool type's default (keeps the field a float for the systems)
    jaw_radius: float = math.nan
    max_jaw_angle_deg: float = math.nan
    jaw_button: str = "trigger"
    friction: float = math.nan
    tear_force: float | None = None
    grasp_margin: float = 0.002
    cut_radius: float | None = None
    burn_radius: float | None = None
    haptic: bool = False
    tool_type: InitVar[ToolType | None] = None

    hinge: np.ndarray = field(default_factory=lambda: np.zeros(3), init=False)
    tip: np.ndarray = field(default_factory=lambda: np.zeros(3), init=False)
    direction: np.ndarray = field(default_factory=lambda: np.array([0.0, -1.0, 0.0]), init=False)
    closure: float = field(default=0.0, init=False)
    force: np.ndarray = field(default_factory=lambda: np.zeros(3), init=False)
    insertion: float = field(default=0.0, init=False)
    grasping: int = field(default=-1, init=False)

    def __post_init__(self, tool_type: ToolType | None) -> None:
        kind = self._resolve(tool_type)
        self.tool = kind.name
        for name in _FLOAT_DEFAULTS:
            if math.isnan(getattr(self, name)):
                setattr(self, name, getattr(kind, name))
        for name in _OPTIONAL_DEFAULTS:
            if getattr(self, name) is None:
                setattr(self, name, getattr(kind, name))
        if not self.shaft_length > 0 or not self.shaft_radius > 0:
            raise InstrumentError(f"Instrument ({self.tool}): shaft_length and shaft_radius must be > 0 m")
        if not self.jaw_length > 0 or not self.jaw_radius > 0:
            raise InstrumentError(f"Instrument ({self.tool}): jaw_length and jaw_radius must be > 0 m")
        if self.friction < 0 or self.grasp_margin < 0:
            raise InstrumentError(f"Instrument ({self.tool}): friction and grasp_margin must be >= 0")
        if self.tear_force is not None and not self.tear_force > 0:
            raise InstrumentError(f"Instrument ({self.tool}): tear_force must be > 0 N, got {self.tear_force}")
        if not np.all(np.isfinite(self.trocar)):
            raise InstrumentError(f"Instrument ({self.tool}): trocar must be a finite point, got {list(self.trocar)}")

    def _resolve(self, tool_type: ToolType | None) -> ToolType:
        """The tool type whose defaults this instrument takes (see the module docstring)."""
        if tool_type is not None:
            if not isinstance(tool_type, ToolType):
                raise InstrumentError(f"Instrument: tool_type must be a ToolType, got {tool_type!r}")
            if self.tool not in (tool_type.name, DEFAULT_TOOL):
                raise InstrumentError(
                    f"Instrument: tool {self.tool!r} and tool_type {tool_type.name!r} disagree; give only one of them"
                )
            return tool_type
        kind = TOOL_PRESETS.get(self.tool)
        if kind is not None:
            return kind
        installed = installed_tool_types()
        if self.tool in installed:
            return installed[self.tool]
        known = ", ".join(sorted(set(TOOL_PRESETS) | set(installed)))
        raise InstrumentError(
            f"Instrument: unknown tool type {self.tool!r}; use one of {known} (a tool type from a plugin must be "
            "listed in its plugin's `tool_types`; in code, pass Instrument(tool_type=...))"
        )

    @property
    def can_grasp(self) -> bool:
        """Whether the tool has a grasp tear force (grasper, needle driver)."""
        return self.tear_force is not None

    @property
    def can_cut(self) -> bool:
        """Whether the tool has a cut radius (scissors)."""
        return self.cut_radius is not None

    @property
    def can_burn(self) -> bool:
        """Whether the tool has a burn radius (hook cautery)."""
        return self.burn_radius is not None


@dataclass
class BodyWall:
    """The insufflated abdominal wall as an ellipsoid shell (world m): ``center``, semi-axes
    ``radii`` and ``thickness``. Every pivoting Instrument's trocar must lie in the shell
    (its ellipsoidal distance from the surface at most ``thickness``); the instrument system
    refuses a trocar outside it with an :class:`InstrumentError`."""

    center: np.ndarray = vec3(0.0, 0.1, 0.0)
    radii: np.ndarray = vec3(0.2, 0.12, 0.15)
    thickness: float = 0.03

    def __post_init__(self) -> None:
        if not np.all(np.asarray(self.radii) > 0) or not self.thickness > 0:
            raise InstrumentError("BodyWall: radii and thickness must be positive (metres)")

    def distance(self, point: np.ndarray) -> float:
        """Distance (m) of ``point`` from the ellipsoid surface along the ray from the centre
        (exact for a sphere, a close estimate for the gentle ellipsoids of an abdomen)."""
        rel = np.asarray(point, float) - self.center
        r = float(np.linalg.norm(rel / self.radii))
        if r == 0.0:
            return float(np.min(self.radii))
        return float(np.linalg.norm(rel)) * abs(1.0 - 1.0 / r)
