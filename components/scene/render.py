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
    0..1 fraction, capnogram in mmHg (0..50), each a few seconds at 100-250 Hz.
    """

    label: str
    samples: np.ndarray
    lo: float
    hi: float
    color: tuple[float, float, float, float] = (0.2, 1.0, 0.3, 1.0)

    def __post_init__(self) -> None:
        if not self.hi > self.lo:
            raise ValueError(f"trace {self.label!r}: need hi > lo, got lo={self.lo}, hi={self.hi}")


#: Most samples per trace the monitor draws (longer arrays are decimated to this).
MAX_TRACE_SAMPLES = 2048


@dataclass
class MonitorPanel:
    """A patient monitor drawn in screen space over the 3D view (a resource).

    ``rect`` is (x, y, width, height) in pixels from the image's top-left corner. The panel
    is a dark box whose left ``trace_fraction`` of the width holds the ``traces`` stacked
    top to bottom in equal rows (each :class:`VitalTrace`: samples mapped from its
    [lo, hi] to its row), and whose right part lists the numeric readouts that are not
    ``None``: ``hr`` (/min), ``spo2`` (%), ``sbp``/``dbp`` (mmHg, shown as SYS/DIA),
    ``etco2`` (mmHg) and ``rr`` (/min) (names as in ``vrmed.components.clinical.patient``).
    ``alarm`` names readouts (e.g. ``{"spo2"}``) to draw in the alarm colour.

    The physiology model fills it, e.g. from
    ``vrmed.systems.clinical.waveforms.monitor_strip``: ``panel.traces[0].samples =
    strip["ecg"]``. Samples arrays are read during ``render.present`` (not copied earlier).
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

    def __post_init__(self) -> None:
        if self.rect[2] <= 0 or self.rect[3] <= 0:
            raise ValueError(f"monitor rect must have a positive size, got {self.rect}")
        if not 0.1 <= self.trace_fraction <= 1.0:
            raise ValueError(f"trace_fraction must be between 0.1 and 1, got {self.trace_fraction}")
