"""Wiring haptic devices into an App: poses in as recorded input, forces out from physics.

* :class:`HapticInput` is an input source: each display frame it adds every device's last
  good pose (world coordinates, through its calibration) and buttons to the sample, under
  the InputState device name it is bound to (``left_hand``, ``right_hand``, ``haptic`` ...).
  An instrument whose ``device`` is that name is driven by the stylus; two devices bound to
  two names drive two instruments (bimanual). Two extra buttons make device health part of
  the recorded input, so a replay without the device sees the same events: ``connected``
  (0 once the device failed) and ``tracking`` (0 in a frame where samples were dropped).
* :class:`HapticPlugin` turns those buttons into :class:`HapticDisconnected` /
  :class:`HapticTrackingLost` events, and every physics tick turns what the instruments
  report into :class:`HapticTarget` (tool position and contact force, per device) into a
  :class:`~vrmed.haptics.model.LocalModel` for each device's servo loop, with event cues
  (:data:`DEFAULT_CUES`: instrument collisions, grasps, tears and punctures).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..events import Event
from ..input import InputSource, InputState, NullInput, Sample
from .loop import HapticLoop
from .model import ContactLinearizer, Cue, LocalModel

#: The sample's button names for the device's buttons 0..3 (a Touch stylus has two: the
#: first closes the jaw, ``trigger`` being the instruments' default ``jaw_button``).
BUTTON_NAMES = ("trigger", "button2", "button3", "button4")


@dataclass(frozen=True)
class HapticDisconnected(Event):
    """The haptic device stopped responding; the simulation carries on without it."""

    device: str
    reason: str


@dataclass(frozen=True)
class HapticTrackingLost(Event):
    """Device samples were invalid (NaN/inf, non-unit orientation) and were dropped; the
    instrument held its last good pose."""

    device: str


@dataclass
class ToolReport:
    """One instrument's state at the latest physics tick, for the device driving it."""

    point: np.ndarray
    force: np.ndarray
    instrument: str = ""
    tick: int = 0


@dataclass
class HapticTarget:
    """What physics wants the hands to feel (a resource). Instruments call :meth:`report`
    every physics tick with the tool's device-driven point (m) and the contact force on it
    (N). ``proxy``/``force`` keep the single-device form (the instrument marked ``haptic``)."""

    proxy: np.ndarray = field(default_factory=lambda: np.zeros(3))
    force: np.ndarray = field(default_factory=lambda: np.zeros(3))
    tools: dict[str, ToolReport] = field(default_factory=dict)

    def report(self, device: str, point: np.ndarray, force: np.ndarray, instrument: str = "", tick: int = 0) -> None:
        """The tool driven by InputState device ``device`` is at ``point`` with ``force`` on it."""
        r = self.tools.get(device)
        if r is None:
            self.tools[device] = ToolReport(np.array(point, float), np.array(force, float), instrument, tick)
        else:
            r.point[:] = point
            r.force[:] = force
            r.instrument, r.tick = instrument, tick


@dataclass(frozen=True)
class CueSpec:
    """An event type (by class name) that plays a force cue on the device whose instrument
    the event names (fields ``instrument``, ``first`` or ``second``). ``release`` drops the
    contact model at once (no cross-fade): the sudden give of a puncture or a tear."""

    event: str
    cue: Cue | None
    release: bool = False


#: Cue amplitudes/frequencies are tuning values in the range of Okamura et al. (2001)'s
#: decaying-sinusoid tap models, not measurements of these instruments.
DEFAULT_CUES: tuple[CueSpec, ...] = (
    CueSpec("InstrumentsCollided", Cue(1.0, 300.0, 90.0, 0.06)),
    CueSpec("InstrumentGrasped", Cue(0.4, 200.0, 60.0, 0.04)),
    CueSpec("TissueTorn", Cue(0.3, 100.0, 40.0, 0.08), release=True),
    CueSpec("TissuePunctured", Cue(0.3, 100.0, 40.0, 0.08), release=True),
)


def _as_loops(loops: HapticLoop | Mapping[str, HapticLoop], device: str) -> dict[str, HapticLoop]:
    return {device: loops} if isinstance(loops, HapticLoop) else dict(loops)


class HapticEvents:
    """Turns the recorded device-health buttons of haptic devices into events: one
    :class:`HapticDisconnected` when ``connected`` drops to 0, a :class:`HapticTrackingLost`
    for each frame with ``tracking`` 0. It reads only :class:`InputState`, so a replay (no
    device, no servo) adds this plugin alone and sends the same events at the same frames."""

    def __init__(self, devices: list[str]) -> None:
        self.devices = list(devices)
        self._was_connected = dict.fromkeys(self.devices, False)

    def build(self, app: Any) -> None:
        """Add the watcher (``input.mapping``)."""
        app.add_system(self._watch, in_set="input.mapping", name="haptics.watch")

    def _watch(self, app: Any) -> None:
        state = app.resource(InputState)
        for name in self.devices:
            dev = state.device(name)
            connected = dev.button("connected") > 0.5
            if self._was_connected[name] and not connected:
                app.send(HapticDisconnected(name, "the device stopped responding"))
            if connected and dev.buttons.get("tracking", 1.0) < 0.5:
                app.send(HapticTrackingLost(name))
            self._was_connected[name] = connected


class HapticInput:
    """An input source adding haptic styluses to another source's samples (``base``).

    ``loops``: one loop (bound to InputState device ``device``) or a mapping of device
    names to loops. ``lockstep``: instead of a real-time servo thread, advance each device's
    servo to the simulation time at every sample (deterministic: tests, headless runs).
    The poses enter the session log like any input, so replays need no device.
    """

    kind = "haptic"

    def __init__(
        self,
        loops: HapticLoop | Mapping[str, HapticLoop],
        base: InputSource | None = None,
        device: str = "haptic",
        *,
        lockstep: bool = False,
    ) -> None:
        self.loops = _as_loops(loops, device)
        self.base = base or NullInput()
        self.lockstep = lockstep
        self._dropped = {name: 0 for name in self.loops}
        # kept for code that used the single-device form
        self.loop = next(iter(self.loops.values()))
        self.device = next(iter(self.loops))

    def sample(self, time: float, frame: int) -> Sample:
        """The base sample plus each stylus: position and orientation in world coordinates,
        its buttons, and the ``connected``/``tracking`` health buttons."""
        sample = dict(self.base.sample(time, frame))
        for name, loop in self.loops.items():
            if self.lockstep:
                loop.advance_to(time)
            if loop.error is not None:
                sample[name] = {"buttons": {"connected": 0.0}}
                continue
            cal = loop.calibration
            dropped = loop.dropped
            tracking = 1.0 if dropped == self._dropped[name] else 0.0
            self._dropped[name] = dropped
            buttons = {"connected": 1.0, "tracking": tracking}
            for label, value in zip(BUTTON_NAMES, loop.buttons, strict=True):
                buttons[label] = min(max(float(value), 0.0), 1.0)  # analog grippers (omega.7) pass through
            sample[name] = {
                "position": [float(v) for v in cal.to_world(loop.device_position)],
                "orientation": [float(v) for v in cal.orientation_to_world(loop.device_orientation)],
                "buttons": buttons,
            }
        return sample

    def close(self) -> None:
        """Stop every servo loop."""
        for loop in self.loops.values():
            loop.stop()


class HapticPlugin:
    """Publishes each device's local force model every physics tick and reports device
    failures and tracking loss as events. Pair it with :class:`HapticInput`.

    ``loops``: as for :class:`HapticInput`. ``jaw_button``: the InputState button that
    closes an instrument's jaw (a closed jaw makes the contact bilateral: held tissue pulls
    back). ``cues``: event cues (:data:`DEFAULT_CUES`). ``start``: start the real-time servo
    threads when the App starts (False with a lock-step input).
    """

    def __init__(
        self,
        loops: HapticLoop | Mapping[str, HapticLoop],
        device: str = "haptic",
        *,
        jaw_button: str = "trigger",
        cues: tuple[CueSpec, ...] = DEFAULT_CUES,
        start: bool = True,
        linearizer: dict[str, Any] | None = None,
    ) -> None:
        self.loops = _as_loops(loops, device)
        self.loop = next(iter(self.loops.values()))
        self.device = next(iter(self.loops))
        self.jaw_button = jaw_button
        self.cues = {c.event: c for c in cues}
        self._start = start
        # Each plane's stiffness is capped at what its device renders stably *when the plane is
        # placed*, so the force at the tool stays the simulated one (only its gradient softens).
        self._linearizers = {
            name: ContactLinearizer(**{"max_stiffness": loop.limits.max_stiffness, **(linearizer or {})})
            for name, loop in self.loops.items()
        }
        self.health = HapticEvents(list(self.loops))
        self._cue: dict[str, tuple[Cue, int]] = {}
        self._release: set[str] = set()
        self._released_frame: dict[str, int] = {}
        self._cue_count = 0
        self._normal: dict[str, np.ndarray] = {}
        self._pending_events: list[tuple[CueSpec, set[Any]]] = []

    def build(self, app: Any) -> None:
        """Insert HapticTarget, the health watcher (input.mapping), the publisher
        (physics.forces, after the instruments' forces) and the cue listener."""
        if not app.has_resource(HapticTarget):
            app.insert_resource(HapticTarget())
        self.health.build(app)
        app.add_system(self._publish, in_set="physics.forces", name="haptics.publish", priority=10)
        app.events.listen(self._on_event)

    def finish(self, app: Any) -> None:
        """Start the servo threads when the App starts."""
        if self._start:
            for loop in self.loops.values():
                loop.start()

    def cleanup(self, app: Any) -> None:
        """Stop the servo threads (``App.close``)."""
        for loop in self.loops.values():
            loop.stop()

    # -- systems -----------------------------------------------------------------------
    def _on_event(self, sent: Any) -> None:
        ev = sent.event if hasattr(sent, "event") else sent
        spec = self.cues.get(type(ev).__name__)
        if spec is None:
            return
        names = {getattr(ev, f, None) for f in ("instrument", "first", "second")} - {None}
        self._pending_events.append((spec, names))

    def _devices_for(self, target: HapticTarget, instruments: set[Any]) -> list[str]:
        return [d for d, r in target.tools.items() if d in self.loops and r.instrument in instruments]

    def _publish(self, app: Any) -> None:
        target = app.resource(HapticTarget)
        pending, self._pending_events = self._pending_events, []
        for spec, instruments in pending:
            for dev in self._devices_for(target, instruments):
                if spec.cue is not None:
                    self._cue_count += 1
                    self._cue[dev] = (spec.cue, self._cue_count)
                if spec.release:
                    self._release.add(dev)
        state = app.resource(InputState)
        # Cross-fade over a display frame: physics ticks run in a burst once per frame in
        # wall time, so that is how often the servo really sees a new model.
        frame_dt = float(app.schedule.frame_dt)
        for name, loop in self.loops.items():
            if loop.error is not None:
                continue
            report = target.tools.get(name)
            if report is None and name == self.device and target.force.any():
                report = ToolReport(target.proxy, target.force)  # the single-device form
            lin = self._linearizers[name]
            planes = []
            drop = name in self._release
            if drop:  # a puncture or tear: drop the contact model now
                lin.reset()
                self._release.discard(name)
                self._released_frame[name] = app.clock.frame
            # No cross-fade for the rest of that frame either: the servo sees only the frame's
            # last publication, and the drop must not be smoothed away.
            released = self._released_frame.get(name) == app.clock.frame
            if report is not None and not drop:
                held = state.device(name).button(self.jaw_button) > 0.5
                plane = lin.update(report.point, report.force, bilateral=held)
                if plane is not None:
                    planes.append(plane)
                    self._normal[name] = plane.normal
            cue = self._cue.get(name)
            model = LocalModel(
                planes=planes,
                proxy=report.point.copy() if report is not None else np.zeros(3),
                coupling=(loop.k, loop.b),
                blend=0.0 if released else frame_dt,
            )
            if cue is not None:
                c, ident = cue
                direction = self._normal.get(name, np.array([0.0, 1.0, 0.0]))
                model.cue = Cue(c.amplitude, c.frequency, c.decay, c.duration, direction)
                model.cue_id = ident
            loop.publish_model(model)
