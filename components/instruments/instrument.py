"""Laparoscopic instruments (grasper, scissors, hook cautery, needle driver) and the body wall.

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
Fields left at ``None`` take the defaults of the tool type (:data:`TOOL_PRESETS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from vrmed.errors import VrmedError
from vrmed.fields import vec3


class InstrumentError(VrmedError, ValueError):
    """An instrument is declared or placed wrongly (the message names it and the fix)."""


#: Per tool type: jaw (or hook) length and radius (m), full jaw opening (deg), contact
#: friction, grasp tear force (N; None = cannot grasp), cut radius and burn radius (m; None
#: = cannot cut / burn).
TOOL_PRESETS: Mapping[str, Mapping[str, float | None]] = MappingProxyType(
    {
        "grasper": {
            "jaw_length": 0.018,
            "jaw_radius": 0.0015,
            "max_jaw_angle_deg": 50.0,
            "tear_force": 3.0,
            "cut_radius": None,
            "burn_radius": None,
        },
        "needle_driver": {
            "jaw_length": 0.014,
            "jaw_radius": 0.0015,
            "max_jaw_angle_deg": 35.0,
            "tear_force": 5.0,
            "cut_radius": None,
            "burn_radius": None,
        },
        "scissors": {
            "jaw_length": 0.016,
            "jaw_radius": 0.0012,
            "max_jaw_angle_deg": 45.0,
            "tear_force": None,
            "cut_radius": 0.003,
            "burn_radius": None,
        },
        "hook": {
            "jaw_length": 0.008,
            "jaw_radius": 0.001,
            "max_jaw_angle_deg": 0.0,
            "tear_force": None,
            "cut_radius": None,
            "burn_radius": 0.003,
        },
    }
)


@dataclass
class Instrument:
    """A laparoscopic instrument (see the module docstring for the kinematics).

    YAML fields: ``tool`` (grasper, scissors, hook, needle_driver), ``device`` (InputState
    device name), ``trocar`` (fulcrum, world m), ``pivot``, ``shaft_length`` (handle to jaw
    hinge, m), ``shaft_radius`` (m), ``jaw_length``/``jaw_radius`` (m),
    ``max_jaw_angle_deg``, ``jaw_button``, ``friction``, ``tear_force`` (N),
    ``grasp_margin`` (m: how far outside the jaw tissue is still caught), ``cut_radius``,
    ``burn_radius`` (m) and ``haptic`` (this tool's contact force goes to the
    :class:`~vrmed.haptics.HapticTarget`).

    State the instrument system keeps current every frame (read-only for other systems):
    ``hinge``, ``tip`` and ``direction`` (unit, into the body) in world metres, ``closure``
    (0..1), ``force`` (N, tissue on the tool, last physics tick), ``insertion`` (m of shaft
    past the trocar) and ``grasping`` (entity held, -1 for none).
    """

    tool: str = "grasper"
    device: str = "right_hand"
    trocar: np.ndarray = vec3()
    pivot: bool = True
    shaft_length: float = 0.33
    shaft_radius: float = 0.0025
    jaw_length: float | None = None
    jaw_radius: float | None = None
    max_jaw_angle_deg: float | None = None
    jaw_button: str = "trigger"
    friction: float = 0.4
    tear_force: float | None = None
    grasp_margin: float = 0.002
    cut_radius: float | None = None
    burn_radius: float | None = None
    haptic: bool = False

    hinge: np.ndarray = field(default_factory=lambda: np.zeros(3), init=False)
    tip: np.ndarray = field(default_factory=lambda: np.zeros(3), init=False)
    direction: np.ndarray = field(default_factory=lambda: np.array([0.0, -1.0, 0.0]), init=False)
    closure: float = field(default=0.0, init=False)
    force: np.ndarray = field(default_factory=lambda: np.zeros(3), init=False)
    insertion: float = field(default=0.0, init=False)
    grasping: int = field(default=-1, init=False)

    def __post_init__(self) -> None:
        if self.tool not in TOOL_PRESETS:
            raise InstrumentError(
                f"Instrument: unknown tool type {self.tool!r}; use one of {', '.join(sorted(TOOL_PRESETS))}"
            )
        preset = TOOL_PRESETS[self.tool]
        for name, value in preset.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if not self.shaft_length > 0 or not self.shaft_radius > 0:
            raise InstrumentError(f"Instrument ({self.tool}): shaft_length and shaft_radius must be > 0 m")
        if not self.jaw_length > 0 or not self.jaw_radius > 0:  # type: ignore[operator]
            raise InstrumentError(f"Instrument ({self.tool}): jaw_length and jaw_radius must be > 0 m")
        if self.friction < 0 or self.grasp_margin < 0:
            raise InstrumentError(f"Instrument ({self.tool}): friction and grasp_margin must be >= 0")
        if self.tear_force is not None and not self.tear_force > 0:
            raise InstrumentError(f"Instrument ({self.tool}): tear_force must be > 0 N, got {self.tear_force}")
        if not np.all(np.isfinite(self.trocar)):
            raise InstrumentError(f"Instrument ({self.tool}): trocar must be a finite point, got {list(self.trocar)}")

    @property
    def can_grasp(self) -> bool:
        """Whether closing the jaw grasps (grasper, needle driver)."""
        return self.tear_force is not None

    @property
    def can_cut(self) -> bool:
        """Whether closing the jaw cuts (scissors)."""
        return self.cut_radius is not None

    @property
    def can_burn(self) -> bool:
        """Whether pressing the pedal burns (hook cautery)."""
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
