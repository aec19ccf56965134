"""Input devices as interchangeable sources feeding one :class:`InputState` resource.

An OpenXR headset, a haptic device, the desktop or a script: the simulation only ever
reads ``InputState``. Every sample the input stage takes is recorded in the session log,
so a replay feeds exactly the same samples back (:class:`ReplayInput`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .errors import ConfigError
from .events import Event

#: A JSON-ready input sample: device name -> {"position": [x,y,z], "orientation":
#: [w,x,y,z], "buttons": {name: value}} and optionally "joints" (:data:`JOINT_UNIT_M`).
#: The reserved device :data:`LEARNER` carries what a person chose this frame:
#: {"actions": [{"id": ACTION, "fields": {...}}], "commands": [NAME]}.
Sample = dict[str, dict[str, Any]]

#: The pseudo-device whose sample entries are a person's discrete choices (menu commands and
#: scenario actions), recorded with the device poses so a replay makes the same choices.
LEARNER = "learner"
#: The OpenXR specification accepts orientations within 1 % of unit length (XrPosef);
#: samples further off are treated as tracking loss rather than renormalised silently.
UNIT_QUATERNION_TOLERANCE = 0.01
#: The pseudo-device under which a sample records what :func:`clean_sample` dropped
#: ({"lost": [[device, reason], ...]}), so a replay sends the same TrackingLost events.
TRACKING = "tracking"
#: A device may carry tracked joints (a hand's 26 XR_EXT_hand_tracking joints, sent by a
#: headset team member: vrmed.team.headset) as ``"joints"``: a flat list of whole numbers,
#: each joint's x, y, z offset from the device's ``position`` in units of this many metres
#: (1 mm: a compact, exactly comparable wire form), at most :data:`MAX_JOINTS` joints; an
#: empty list says the joints are no longer tracked (:attr:`DeviceState.joints` None).
JOINT_UNIT_M = 0.001
#: The most joints one device carries (XR_FB_body_tracking's default set has 70).
MAX_JOINTS = 70


@dataclass(frozen=True)
class TrackingLost(Event):
    """A device sample was dropped at the input boundary (non-finite or non-unit pose, bad
    button values): the device holds its last good state. Recorded like every event."""

    device: str
    reason: str


@dataclass
class DeviceState:
    """Pose (metres, unit quaternion w-x-y-z) and button/axis values of one tracked device."""

    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    orientation: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    buttons: dict[str, float] = field(default_factory=dict)
    #: Tracked joints ((N, 3) offsets in metres from :attr:`position`), when the device
    #: carries them (:data:`JOINT_UNIT_M`); None otherwise.
    joints: np.ndarray | None = None

    def button(self, name: str) -> float:
        """A button or trigger value in [0, 1]; 0 when the device has no such button."""
        return self.buttons.get(name, 0.0)


@dataclass
class InputState:
    """The resource systems read: every device's latest state, by name, and the queue of a
    person's discrete choices (``actions``: scenario action requests, ``commands``: menu and
    session commands such as ``menu.down``). Queues are consumed by the systems that act on
    them (:mod:`vrmed.scenario.learner`), so a choice made between two logic ticks is not lost.
    """

    devices: dict[str, DeviceState] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def device(self, name: str) -> DeviceState:
        """A device's state (a neutral state if the device has not reported yet)."""
        state = self.devices.get(name)
        if state is None:
            state = self.devices[name] = DeviceState()
        return state

    def apply(self, sample: Sample) -> None:
        """Write a sample into the device states."""
        for name, data in sample.items():
            if name == TRACKING:
                continue
            if name == LEARNER:
                self.actions.extend(dict(a) for a in data.get("actions", ()))
                self.commands.extend(str(c) for c in data.get("commands", ()))
                continue
            dev = self.device(name)
            if "position" in data:
                dev.position[:] = data["position"]
            if "orientation" in data:
                dev.orientation[:] = data["orientation"]
            if "buttons" in data:
                dev.buttons.update(data["buttons"])
            if "joints" in data:
                # an empty list: the joints are no longer tracked
                dev.joints = np.asarray(data["joints"], float).reshape(-1, 3) * JOINT_UNIT_M if data["joints"] else None


def clean_sample(sample: Sample) -> tuple[Sample, list[tuple[str, str]]]:
    """Validate a device sample at the input boundary.

    Returns the sample without the poses and values that cannot be trusted, and a list of
    ``(device, reason)`` for what was dropped: non-finite positions, orientations that are
    non-finite or more than 1 % from unit length, non-finite button values, and malformed
    learner entries. A dropped pose keeps the device at its last good pose (as a tracker
    that lost tracking holds it). The drops are also written into the returned sample
    under :data:`TRACKING`, so the recorded sample replays the same ``TrackingLost`` events.
    """
    out: Sample = {}
    dropped: list[tuple[str, str]] = []
    for name, data in sample.items():
        if name == TRACKING:  # a recorded sample being replayed: its drops were already found
            lost = data.get("lost", ()) if isinstance(data, dict) else ()
            dropped.extend((str(d), str(r)) for d, r in lost)
            continue
        if not isinstance(data, dict):
            dropped.append((str(name), "sample is not a mapping"))
            continue
        if name == LEARNER:
            entry: dict[str, Any] = {}
            actions = [a for a in data.get("actions", ()) if isinstance(a, dict) and isinstance(a.get("id"), str)]
            commands = [c for c in data.get("commands", ()) if isinstance(c, str)]
            if len(actions) != len(data.get("actions", ())) or len(commands) != len(data.get("commands", ())):
                dropped.append((LEARNER, "malformed action or command entries"))
            if actions:
                entry["actions"] = actions
            if commands:
                entry["commands"] = commands
            if entry:
                out[LEARNER] = entry
            continue
        clean: dict[str, Any] = {}
        pos = data.get("position")
        if pos is not None:
            arr = np.asarray(pos, dtype=float) if _numeric(pos, 3) else None
            if arr is None or not np.all(np.isfinite(arr)):
                dropped.append((name, "position is not three finite numbers"))
            else:
                clean["position"] = pos
        quat = data.get("orientation")
        if quat is not None:
            arr = np.asarray(quat, dtype=float) if _numeric(quat, 4) else None
            if arr is None or not np.all(np.isfinite(arr)):
                dropped.append((name, "orientation is not four finite numbers"))
            elif abs(float(np.linalg.norm(arr)) - 1.0) > UNIT_QUATERNION_TOLERANCE:
                dropped.append(
                    (name, f"orientation is not a unit quaternion (length {float(np.linalg.norm(arr)):.4g})")
                )
            else:
                clean["orientation"] = quat
        buttons = data.get("buttons")
        if isinstance(buttons, dict):
            good = {
                str(k): v
                for k, v in buttons.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
            }
            if len(good) != len(buttons):
                dropped.append((name, "non-finite or non-numeric button values"))
            if good:
                clean["buttons"] = good
        elif buttons is not None:
            dropped.append((name, "buttons is not a mapping"))
        joints = data.get("joints")
        if joints is not None:
            if _joint_list(joints):
                clean["joints"] = joints
            else:
                dropped.append((name, f"joints is not a list of at most {3 * MAX_JOINTS} whole numbers (x, y, z each)"))
        if clean:
            out[name] = clean
    if dropped:
        out[TRACKING] = {"lost": [[d, r] for d, r in dropped]}
    return out, dropped


def _joint_list(value: Any) -> bool:
    # whole numbers only (JOINT_UNIT_M): never NaN or infinite, and exact to compare
    return (
        isinstance(value, list)
        and len(value) <= 3 * MAX_JOINTS
        and len(value) % 3 == 0
        and all(isinstance(v, int) and not isinstance(v, bool) and abs(v) < 1_000_000 for v in value)
    )


def _numeric(value: Any, n: int) -> bool:
    try:
        return len(value) == n and all(isinstance(v, (int, float, np.floating, np.integer)) for v in value)
    except TypeError:
        return False


class InputSource(Protocol):
    """Something that produces one input sample per display frame."""

    kind: str

    def sample(self, time: float, frame: int) -> Sample:
        """The devices' state at simulation time ``time`` (start of frame ``frame``)."""


class NullInput:
    """No devices: an empty sample every frame."""

    kind = "none"

    def sample(self, time: float, frame: int) -> Sample:
        """Return an empty sample."""
        return {}


@dataclass(frozen=True)
class Keyframe:
    """One scripted pose/button keyframe of a device."""

    t: float
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, float, float, float] | None = None
    buttons: dict[str, float] = field(default_factory=dict)


class ScriptedInput:
    """Devices driven by keyframes: positions interpolate linearly, orientations by
    normalised linear interpolation, buttons hold their last keyframed value.

    Each track is indexed once (keyframe times, the position and orientation keys, the
    button state after each keyframe), so a sample costs O(log keyframes) per device however
    long the script is."""

    kind = "scripted"

    def __init__(self, tracks: dict[str, list[Keyframe]]) -> None:
        self._tracks: dict[str, list[Keyframe]] = {}
        self._index: dict[str, _TrackIndex] = {}
        for device, keys in tracks.items():
            if not keys:
                raise ConfigError(f"scripted input for device {device!r} has no keyframes")
            ordered = sorted(keys, key=lambda k: k.t)
            times = [k.t for k in ordered]
            if len(set(times)) != len(times):
                raise ConfigError(f"scripted input for device {device!r} has two keyframes at the same time")
            self._tracks[device] = ordered
            self._index[device] = _TrackIndex.build(ordered)

    @classmethod
    def from_yaml(cls, data: dict[str, list[dict[str, Any]]]) -> ScriptedInput:
        """Build from a scenario's ``input.scripted`` mapping (already schema-validated)."""
        return cls(
            {
                dev: [
                    Keyframe(
                        float(k["t"]),
                        tuple(k["position"]) if "position" in k else None,
                        tuple(k["orientation"]) if "orientation" in k else None,
                        dict(k.get("buttons", {})),
                    )
                    for k in keys
                ]
                for dev, keys in data.items()
            }
        )

    def sample(self, time: float, frame: int) -> Sample:
        """Interpolate every device's track at ``time``."""
        return {device: index.sample(time) for device, index in self._index.items()}


@dataclass
class _TrackIndex:
    """A scripted track prepared for sampling: keyframe times, the times and values of the
    keys that set a position / an orientation, and the button state after each keyframe."""

    times: list[float]
    attrs: dict[str, tuple[list[float], np.ndarray]]
    buttons: list[dict[str, float]]

    @classmethod
    def build(cls, keys: list[Keyframe]) -> _TrackIndex:
        attrs: dict[str, tuple[list[float], np.ndarray]] = {}
        for attr in ("position", "orientation"):
            known = [k for k in keys if getattr(k, attr) is not None]
            if known:
                attrs[attr] = ([k.t for k in known], np.array([getattr(k, attr) for k in known], dtype=float))
        state: dict[str, float] = {}
        after: list[dict[str, float]] = []
        for k in keys:
            state = {**state, **{b: float(v) for b, v in k.buttons.items()}}
            after.append(state)
        return cls([k.t for k in keys], attrs, after)

    def sample(self, time: float) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for attr, (kt, values) in self.attrs.items():
            j = bisect.bisect_right(kt, time)
            if j == 0:
                value = values[0]
            elif j == len(kt):
                value = values[-1]
            else:
                w = (time - kt[j - 1]) / (kt[j] - kt[j - 1])
                value = (1 - w) * values[j - 1] + w * values[j]
            if attr == "orientation":
                value = value / np.linalg.norm(value)
            data[attr] = [float(v) for v in value]
        i = bisect.bisect_right(self.times, time)
        if i and self.buttons[i - 1]:
            data["buttons"] = dict(self.buttons[i - 1])
        return data


class ReplayInput:
    """Feeds back the samples of a recorded session, frame by frame."""

    kind = "replay"

    def __init__(self, samples: dict[int, Sample]) -> None:
        self._samples = samples

    def sample(self, time: float, frame: int) -> Sample:
        """The sample recorded for this frame (empty if none was recorded)."""
        return self._samples.get(frame, {})


class InputPlugin:
    """Adds :class:`InputState` and the input-stage system that samples ``source``."""

    def __init__(self, source: InputSource | None = None) -> None:
        self.source: InputSource = source or NullInput()
        self._listeners: list[Any] = []

    def build(self, app: Any) -> None:
        """Insert the InputState resource and the sampling system."""
        app.insert_resource(InputState())
        app.insert_resource(self, InputPlugin)
        app.add_system(self._sample, in_set="input.devices", name="input.sample")

    def _sample(self, app: Any) -> None:
        sample = self.source.sample(app.clock.time, app.clock.frame)
        if sample:
            sample, dropped = clean_sample(sample)
            for device, reason in dropped:
                app.send(TrackingLost(device, reason))
            app.resource(InputState).apply(sample)
        for listener in self._listeners:
            listener(app.clock.frame, app.clock.time, sample)

    def listen(self, callback: Any) -> None:
        """Call ``callback(frame, time, sample)`` for every sample (the session recorder)."""
        self._listeners.append(callback)

    def cleanup(self, app: Any) -> None:
        """Close the source if it holds a device or runtime (called by ``App.close``)."""
        close = getattr(self.source, "close", None)
        if callable(close):
            close()
