"""Wiring a haptic device into an App: its pose as recorded input, forces from physics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..events import Event
from ..input import InputSource, NullInput, Sample
from .loop import HapticLoop


@dataclass(frozen=True)
class HapticDisconnected(Event):
    """The haptic device stopped responding; the simulation carries on without it."""

    device: str
    reason: str


@dataclass
class HapticTarget:
    """What physics wants the hand to feel (a resource): the tool proxy position (m) and
    the contact force on the tool (N), filled by collision/instrument systems."""

    proxy: np.ndarray = field(default_factory=lambda: np.zeros(3))
    force: np.ndarray = field(default_factory=lambda: np.zeros(3))


class HapticInput:
    """An input source that adds the haptic stylus (device name ``haptic``) to another
    source's samples. The pose enters the session log like any input, so replays need no
    device."""

    kind = "haptic"

    def __init__(self, loop: HapticLoop, base: InputSource | None = None, device: str = "haptic") -> None:
        self.loop = loop
        self.base = base or NullInput()
        self.device = device

    def sample(self, time: float, frame: int) -> Sample:
        """The base sample plus the stylus position as last read by the servo loop, and a
        ``connected`` button (1 or 0) so a disconnection is part of the recorded input."""
        sample = dict(self.base.sample(time, frame))
        if self.loop.error is None:
            sample[self.device] = {
                "position": [float(v) for v in self.loop.device_position],
                "buttons": {"connected": 1.0},
            }
        else:
            sample[self.device] = {"buttons": {"connected": 0.0}}
        return sample

    def close(self) -> None:
        """Stop the servo loop."""
        self.loop.stop()


class HapticPlugin:
    """Publishes :class:`HapticTarget` to the servo loop every physics tick and reports a
    disconnection once as an event. Pair it with :class:`HapticInput` as the input source."""

    def __init__(self, loop: HapticLoop, device: str = "haptic") -> None:
        self.loop = loop
        self.device = device
        self._was_connected = False

    def build(self, app: Any) -> None:
        """Insert HapticTarget, the connection watcher (input) and the publisher (physics.forces)."""
        app.insert_resource(HapticTarget())
        app.add_system(self._watch, in_set="input.mapping", name="haptics.watch")
        app.add_system(self._publish, in_set="physics.forces", name="haptics.publish")

    def _watch(self, app: Any) -> None:
        # Read from the recorded input, not the thread, so a replay sees the same event.
        from ..input import InputState

        connected = app.resource(InputState).device(self.device).button("connected") > 0.5
        if self._was_connected and not connected:
            app.send(HapticDisconnected(self.device, "the device stopped responding"))
        self._was_connected = connected

    def finish(self, app: Any) -> None:
        """Start the servo thread when the App starts."""
        self.loop.start()

    def _publish(self, app: Any) -> None:
        if self.loop.error is not None:
            return
        target = app.resource(HapticTarget)
        self.loop.publish(app.clock.time + app.clock.dt, target.proxy, target.force)

    def cleanup(self, app: Any) -> None:
        """Stop the servo thread (``App.close``)."""
        self.loop.stop()
