"""Render-side scene data: cameras (a look-at :class:`Camera` and a laparoscope
:class:`Endoscope` carried by a tool), the light, which view the trainee watches
(:class:`ActiveView`), and the screen-space overlays: :class:`HudState` (instructions,
timer, score, free text) and :class:`MonitorPanel` (a patient monitor with waveform
traces and numeric vital signs).

Everything here is plain data and imports no GL: the physiology, scenario and scoring
systems fill these resources during ``logic``/``render.prepare`` and the
:class:`~vrmed.render.plugin.RenderPlugin`'s overlay passes read them in ``render.present``. Without a
``Camera``/``Light`` entity the renderer uses the plugin's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vrmed.fields import vec3


@dataclass
class Camera:
    """A perspective look-at camera: ``position`` and ``target`` in metres (world space),
    ``up`` a world direction, ``fov_deg`` the vertical field of view in degrees, ``near``
    and ``far`` the clip distances in metres."""

    position: np.ndarray = vec3(0.0, 0.4, 1.0)
    target: np.ndarray = vec3(0.0, 0.15, 0.0)
    up: np.ndarray = vec3(0.0, 1.0, 0.0)
    fov_deg: float = 50.0
    near: float = 0.02
    far: float = 50.0

    def __post_init__(self) -> None:
        if not 0.0 < self.fov_deg < 180.0:
            raise ValueError(f"fov_deg must be between 0 and 180 degrees, got {self.fov_deg}")
        if not 0.0 < self.near < self.far:
            raise ValueError(f"need 0 < near < far (metres), got near={self.near}, far={self.far}")


@dataclass
class Light:
    """One directional light plus hemispheric ambient. ``direction`` points from the scene
    towards the light (normalised on use); colours are linear RGB; ``intensity`` scales the
    direct light, ``ambient`` the sky/ground fill."""

    direction: np.ndarray = vec3(0.35, 1.0, 0.45)
    color: np.ndarray = vec3(1.0, 0.97, 0.92)
    intensity: float = 2.6
    ambient: float = 0.35

    def __post_init__(self) -> None:
        if self.intensity < 0 or self.ambient < 0:
            raise ValueError("light intensity and ambient must be zero or more")


@dataclass
class Endoscope:
    """A laparoscope camera on a tool entity; the entity's ``Transform`` is the scope.

    Tool frame convention: the shaft points along the tool's local **-z** (from the handle
    towards the tip, like a camera's view axis), the light-cable post along local **+y**.
    The objective lens sits ``tip_offset`` metres along the shaft from the Transform's
    origin. ``angle_deg`` is the scope's angle (0 forward-viewing, 30 the usual angled
    scope): the view axis is tilted that far from the shaft, away from the light post, as
    on real angled scopes, so rolling the scope about its shaft sweeps the view around.
    ``fov_deg`` is the vertical field of view (laparoscopes: about 70 degrees), ``near``/
    ``far`` the clip distances in metres. The image's up is the light-post side, unless
    ``keep_horizon`` holds the image upright to world +y (a camera head held level while
    the optic rolls). ``active`` scopes are candidates for the main view (see
    :class:`ActiveView`).
    """

    angle_deg: float = 0.0
    fov_deg: float = 70.0
    near: float = 0.002
    far: float = 2.0
    tip_offset: float = 0.0
    keep_horizon: bool = False
    active: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.angle_deg < 90.0:
            raise ValueError(f"angle_deg must be between 0 and 90 degrees, got {self.angle_deg}")
        if not 0.0 < self.fov_deg < 180.0:
            raise ValueError(f"fov_deg must be between 0 and 180 degrees, got {self.fov_deg}")
        if not 0.0 < self.near < self.far:
            raise ValueError(f"need 0 < near < far (metres), got near={self.near}, far={self.far}")


@dataclass
class ActiveView:
    """Which view the trainee watches (a resource). ``entity`` names an entity carrying an
    :class:`Endoscope` (with a ``Transform``) or a :class:`Camera`; ``None`` picks the
    first active Endoscope, else the first Camera, else the RenderPlugin's default camera.
    A system may switch it at any frame (e.g. room view / scope view on a key)."""

    entity: int | None = None


@dataclass
class HudText:
    """One line of screen-space text. ``x``, ``y`` in pixels from the top-left corner of
    the image to the anchor point of the text box; ``anchor`` is two letters, vertical
    ``t``/``m``/``b`` (top, middle, bottom) then horizontal ``l``/``c``/``r``; ``size`` is
    the font's pixel height; ``color`` display (sRGB) RGBA in [0, 1]."""

    text: str
    x: float
    y: float
    size: int = 18
    color: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    anchor: str = "tl"

    def __post_init__(self) -> None:
        if len(self.anchor) != 2 or self.anchor[0] not in "tmb" or self.anchor[1] not in "lcr":
            raise ValueError(f"anchor must be [t|m|b][l|c|r], e.g. 'tl', got {self.anchor!r}")
        if self.size < 4:
            raise ValueError(f"text size must be at least 4 pixels, got {self.size}")


@dataclass
class HudState:
    """The trainee's heads-up display (a resource; drawn over the 3D view when present).

    ``instructions`` (may hold newlines) is drawn top-left, ``timer_s`` (elapsed or
    remaining seconds, shown as M:SS) top-right and ``score`` (a number or a short string)
    under it; ``texts`` holds any further lines. ``None``/empty fields are not drawn.
    ``size`` is the font's pixel height, ``margin`` the distance from the image edges in
    pixels. Set ``visible = False`` to hide it all.
    """

    instructions: str = ""
    timer_s: float | None = None
    score: float | str | None = None
    texts: list[HudText] = field(default_factory=list)
    size: int = 18
    margin: int = 10
    color: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    visible: bool = True


@dataclass
class VitalTrace:
    """One waveform row of a :class:`MonitorPanel`.

    ``samples`` (N,) are the values to show across the row's full width, oldest first
    (left) and newest last (right), evenly spaced in time; N can change from frame to
    frame (the renderer streams up to :data:`MAX_TRACE_SAMPLES` per trace; longer arrays
    are decimated). Values are mapped linearly from [``lo``, ``hi``] onto the row's height
    (``hi`` at the top) and clipped there. ``label`` is drawn at the row's top-left,
    ``color`` display RGBA. Typical rows: ECG lead II in mV (lo -0.5, hi 1.5), pleth as a
    0..1 fraction, capnogram in mmHg (0..50), each a few seconds at 100-250 Hz. With a
    ``unit`` (e.g. ``"mmHg"``) the row's scale top, ``hi`` and the unit, is written at its
    top-right corner, as monitors label the capnogram's scale.
    """

    label: str
    samples: np.ndarray
    lo: float
    hi: float
    color: tuple[float, float, float, float] = (0.2, 1.0, 0.3, 1.0)
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.hi > self.lo:
            raise ValueError(f"trace {self.label!r}: need hi > lo, got lo={self.lo}, hi={self.hi}")


#: Most samples per trace the monitor draws (longer arrays are decimated to this).
MAX_TRACE_SAMPLES = 2048

#: Alarm priorities, most urgent first: the categories of IEC 60601-1-8 (high: red, flashing
#: 1.4-2.8 Hz; medium: yellow, flashing 0.4-0.8 Hz; low: cyan or yellow, steady).
ALARM_PRIORITIES: tuple[str, ...] = ("high", "medium", "low")
#: Pulses in one burst of each priority's auditory alarm signal (IEC 60601-1-8: a high-priority
#: burst is 10 pulses, medium 3, low 1 or 2), for an audio layer that plays ``alarm_tone``.
ALARM_TONE_PULSES: dict[str, int] = {"high": 10, "medium": 3, "low": 1}


def _check_priority(priority: str, what: str) -> None:
    if priority not in ALARM_PRIORITIES:
        raise ValueError(f"{what}: alarm priority must be one of {', '.join(ALARM_PRIORITIES)}, got {priority!r}")


@dataclass
class MonitorAlarm:
    """One active alarm message of a :class:`MonitorPanel` (e.g. ``"VF"``, ``"SpO2 LOW"``),
    drawn in the panel's header banner in its ``priority``'s colour (``"high"`` red,
    ``"medium"`` yellow, ``"low"`` cyan; IEC 60601-1-8), flashing at that priority's rate."""

    text: str
    priority: str = "high"

    def __post_init__(self) -> None:
        _check_priority(self.priority, f"alarm {self.text!r}")


@dataclass
class MonitorReadout:
    """One numeric block of a :class:`MonitorPanel` as the monitor shows it: display
    strings decided by monitor rules, not raw model numbers.

    ``key`` names the parameter (``hr``, ``spo2``, ``nibp``, ``etco2``, ``rr`` pick their
    usual monitor colour; others are white unless ``color`` is given), ``label`` and
    ``unit`` head the block (``"HR"``, ``"bpm"``), ``value`` is the big text (``"72"``,
    ``"---"`` when not measurable, ``""`` when there is nothing to show), ``detail`` small
    text beside the label, or under it where the line is full (``"@ 00:42"``,
    ``"measuring"``), and ``alarm`` the priority of an alarm on this parameter (``""``:
    none), which draws the block in that priority's colour on a flashing backing box.
    ``span`` is how many of the panel's ``readout_columns`` the block takes.
    """

    key: str
    label: str
    unit: str = ""
    value: str = ""
    detail: str = ""
    alarm: str = ""
    color: tuple[float, float, float, float] | None = None
    span: int = 1

    def __post_init__(self) -> None:
        if self.alarm:
            _check_priority(self.alarm, f"readout {self.key!r}")
        if self.span < 1:
            raise ValueError(f"readout {self.key!r}: span must be at least 1, got {self.span}")


@dataclass
class MonitorPanel:
    """A patient monitor drawn in screen space over the 3D view (a resource).

    ``rect`` is (x, y, width, height) in pixels from the image's top-left corner; or set
    ``view_rect`` (x, y, width, height as fractions of the view) to lay the panel out
    relative to each view, so it keeps its share of a window and of a headset eye's
    overlay panel: its text sizes and line width then scale as from a 4:3 view
    ``reference_height`` pixels tall to the view (``text_size`` 14 at 640 x 480 is 42 at
    1920 x 1440; a narrower view scales by its width). The panel is a
    dark box whose left ``trace_fraction`` of the width holds the ``traces`` stacked top
    to bottom in equal rows (each :class:`VitalTrace`: samples mapped from its [lo, hi] to
    its row), and whose right part holds the numeric readouts in a grid of
    ``readout_columns`` columns (filled row by row; a readout's ``span`` widens it), each
    block with its label and unit at the top-left and its value at the bottom-right.

    Readouts: ``readouts`` (:class:`MonitorReadout`, display strings with units, as the
    clinical feature's monitor rules fill them) when not empty; otherwise the numbers that
    are not ``None``: ``hr`` (bpm), ``spo2`` (%), ``sbp``/``dbp`` (mmHg, shown as
    SYS/DIA), ``etco2`` (mmHg) and ``rr`` (/min) (names as in
    ``vrmed.components.clinical.patient``), with ``alarm`` naming readouts (e.g.
    ``{"spo2"}``) to draw in the alarm colour.

    ``header`` reserves a band at the top for the alarm banner (``alarms``, most urgent
    first, each :class:`MonitorAlarm` a coloured box flashing at its priority's rate
    against ``time_s``, the simulation time) and the ``rhythm_label`` (e.g. ``"VF"``,
    ``"SINUS RHYTHM"``). ``alarm_tone`` is the priority of the auditory alarm an audio
    layer should sound now (``""``: silence; pulses per burst in
    :data:`ALARM_TONE_PULSES`); whoever fills the panel leaves it empty when
    ``alarm_audio`` is off. Samples arrays are read during ``render.present`` (not
    copied earlier).
    """

    rect: tuple[int, int, int, int] = (10, 330, 400, 140)
    traces: list[VitalTrace] = field(default_factory=list)
    hr: float | None = None
    spo2: float | None = None
    sbp: float | None = None
    dbp: float | None = None
    etco2: float | None = None
    rr: float | None = None
    alarm: set[str] = field(default_factory=set)
    trace_fraction: float = 0.68
    line_width: float = 1.5
    text_size: int = 14
    background: tuple[float, float, float, float] = (0.02, 0.03, 0.04, 0.85)
    alarm_color: tuple[float, float, float, float] = (1.0, 0.25, 0.2, 1.0)
    visible: bool = True
    readouts: list[MonitorReadout] = field(default_factory=list)
    readout_columns: int = 1
    header: bool = False
    rhythm_label: str = ""
    alarms: list[MonitorAlarm] = field(default_factory=list)
    alarm_tone: str = ""
    alarm_audio: bool = True
    time_s: float = 0.0
    view_rect: tuple[float, float, float, float] | None = None
    reference_height: int = 480

    def __post_init__(self) -> None:
        if self.rect[2] <= 0 or self.rect[3] <= 0:
            raise ValueError(f"monitor rect must have a positive size, got {self.rect}")
        if not 0.1 <= self.trace_fraction <= 1.0:
            raise ValueError(f"trace_fraction must be between 0.1 and 1, got {self.trace_fraction}")
        if self.view_rect is not None:
            x, y, w, h = self.view_rect
            if not (0.0 <= x < 1.0 and 0.0 <= y < 1.0 and 0.0 < w <= 1.0 and 0.0 < h <= 1.0):
                raise ValueError(f"view_rect is (x, y, width, height) as fractions of the view, got {self.view_rect}")
        if self.readout_columns < 1:
            raise ValueError(f"readout_columns must be at least 1, got {self.readout_columns}")
        if self.reference_height <= 0:
            raise ValueError(f"reference_height must be positive, got {self.reference_height}")
        if self.alarm_tone:
            _check_priority(self.alarm_tone, "alarm_tone")


@dataclass
class ClipPlane:
    """A cross-section of the scene (a resource a pack inserts and moves): the built-in
    ``scene`` pass cuts the ``VisualMesh`` entities in ``entities`` (None: every one) with
    the world plane ``plane`` = (nx, ny, nz, d), metres: fragments at p where
    ``n . p + d < 0`` are not drawn, so the inside of a closed mesh shows through the cut
    (lit from both sides). ``enabled`` False draws everything whole. Mesh pick targets
    (``Interactable`` ``shape: mesh``) of those entities are cut the same way: the pointer
    passes through the removed part."""

    plane: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    entities: frozenset[int] | None = None
    enabled: bool = True

    def applies_to(self, entity: int) -> bool:
        """Whether the plane cuts ``entity``'s mesh."""
        return self.enabled and (self.entities is None or entity in self.entities)
