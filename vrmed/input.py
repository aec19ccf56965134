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

#: A JSON-ready input sample: device name -> {"position": [x,y,z], "orientation":
#: [w,x,y,z], "buttons": {name: value}}.
Sample = dict[str, dict[str, Any]]


@dataclass
class DeviceState:
    """Pose (metres, unit quaternion w-x-y-z) and button/axis values of one tracked device."""

    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    orientation: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    buttons: dict[str, float] = field(default_factory=dict)

    def button(self, name: str) -> float:
        """A button or trigger value in [0, 1]; 0 when the device has no such button."""
        return self.buttons.get(name, 0.0)


@dataclass
class InputState:
    """The resource systems read: every device's latest state, by name."""

    devices: dict[str, DeviceState] = field(default_factory=dict)

    def device(self, name: str) -> DeviceState:
        """A device's state (a neutral state if the device has not reported yet)."""
        state = self.devices.get(name)
        if state is None:
            state = self.devices[name] = DeviceState()
        return state

    def apply(self, sample: Sample) -> None:
        """Write a sample into the device states."""
        for name, data in sample.items():
            dev = self.device(name)
            if "position" in data:
                dev.position[:] = data["position"]
            if "orientation" in data:
                dev.orientation[:] = data["orientation"]
            if "buttons" in data:
                dev.buttons.update(data["buttons"])


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
    normalised linear interpolation, buttons hold their last keyframed value."""

    kind = "scripted"

    def __init__(self, tracks: dict[str, list[Keyframe]]) -> None:
        self._tracks: dict[str, list[Keyframe]] = {}
        for device, keys in tracks.items():
            if not keys:
                raise ConfigError(f"scripted input for device {device!r} has no keyframes")
            ordered = sorted(keys, key=lambda k: k.t)
            times = [k.t for k in ordered]
            if len(set(times)) != len(times):
                raise ConfigError(f"scripted input for device {device!r} has two keyframes at the same time")
            self._tracks[device] = ordered

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
        out: Sample = {}
        for device, keys in self._tracks.items():
            out[device] = self._sample_track(keys, time)
        return out

    @staticmethod
    def _sample_track(keys: list[Keyframe], time: float) -> dict[str, Any]:
        times = [k.t for k in keys]
        i = bisect.bisect_right(times, time)
        data: dict[str, Any] = {}
        for attr in ("position", "orientation"):
            known = [k for k in keys if getattr(k, attr) is not None]
            if not known:
                continue
            kt = [k.t for k in known]
            j = bisect.bisect_right(kt, time)
            if j == 0:
                value = np.array(getattr(known[0], attr), dtype=float)
            elif j == len(known):
                value = np.array(getattr(known[-1], attr), dtype=float)
            else:
                a, b = known[j - 1], known[j]
                w = (time - a.t) / (b.t - a.t)
                value = (1 - w) * np.array(getattr(a, attr)) + w * np.array(getattr(b, attr))
            if attr == "orientation":
                value = value / np.linalg.norm(value)
            data[attr] = [float(v) for v in value]
        buttons: dict[str, float] = {}
        for k in keys[:i]:
            buttons.update(k.buttons)
        if buttons:
            data["buttons"] = {b: float(v) for b, v in buttons.items()}
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
