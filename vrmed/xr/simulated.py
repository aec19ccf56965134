"""A pure-Python XR device for fast unit tests: scripted head and controller motion,
deterministic frame times, and every submitted eye image kept for inspection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .interface import HANDS, HEAD, ControllerState, Pose, XrError, XrEvent, XrFrame, as_rgba
from .script import DeviceConfig, MotionScript

_STARTUP = ("idle", "ready")
_RUNNING = ("synchronized", "visible", "focused")


@dataclass(frozen=True)
class HapticPulse:
    """One vibration request the app made."""

    hand: str
    amplitude: float
    duration: float
    frequency: float
    time: int


class SimulatedXr:
    """An :class:`~vrmed.xr.interface.XrBackend` with no OpenXR at all.

    The session walks idle -> ready -> synchronized -> visible -> focused on the first
    :meth:`poll_events`; :meth:`request_exit` (or ``max_frames``) walks it back through
    visible and synchronized to stopping -> idle -> exiting. ``ctx`` (a moderngl context)
    enables :meth:`eye_framebuffer`.
    """

    name = "simulated"

    def __init__(
        self,
        script: MotionScript | None = None,
        config: DeviceConfig | None = None,
        *,
        ctx: Any | None = None,
        max_frames: int | None = None,
    ) -> None:
        self.script = script or MotionScript()
        self.config = config or DeviceConfig()
        self.max_frames = max_frames
        self._ctx = ctx
        self._state = "idle"
        self._pending: list[str] = list(_STARTUP)
        self._frame: XrFrame | None = None
        self._next_index = 0
        self._submitted: dict[int, np.ndarray] = {}
        self._fbos: dict[int, Any] = {}
        #: The images of the last ended frame, by eye index (``HxWx4`` uint8, top row first).
        self.last_images: dict[int, np.ndarray] = {}
        #: How many frames were ended, and how many of those had every eye submitted.
        self.frames_ended = 0
        self.frames_presented = 0
        #: Every haptic pulse requested, in order.
        self.haptics: list[HapticPulse] = []

    # -- session state ------------------------------------------------------------
    @property
    def state(self) -> str:
        """Current session state."""
        return self._state

    @property
    def running(self) -> bool:
        """True between session begin and end."""
        return self._state in _RUNNING or self._state == "stopping"

    @property
    def exit_requested(self) -> bool:
        """True once the session reached ``exiting``."""
        return self._state == "exiting"

    def request_exit(self) -> None:
        """Ask the app to quit, as a user pressing the system button would."""
        if self._state in _RUNNING and "stopping" not in self._pending:
            # Down the lifecycle graph, as OpenXR runtimes must: focused -> visible -> synchronized -> stopping.
            below = _RUNNING[: _RUNNING.index(self._state)]
            self._pending.extend((*reversed(below), "stopping"))

    def poll_events(self) -> list[XrEvent]:
        """Apply queued state changes, beginning/ending the session like a real app would."""
        events = []
        while self._pending:
            state = self._pending.pop(0)
            self._state = state
            events.append(XrEvent("state", state, self._time_ns()))
            if state == "ready":
                self._pending.extend(_RUNNING)
            elif state == "stopping":
                self._pending.extend(("idle", "exiting"))
        return events

    def _time_ns(self) -> int:
        return self.config.frame_time_ns(self._next_index)

    # -- frames -------------------------------------------------------------------
    def begin_frame(self) -> XrFrame | None:
        """The next frame's poses (None unless the session is running)."""
        if not self.running:
            return None
        if self._frame is not None:
            raise XrError("begin_frame called twice without end_frame")
        index = self._next_index
        t_ns = self.config.frame_time_ns(index)
        sample = self.script.sample(t_ns / 1e9, index)
        head = self.script.pose(sample, HEAD) or Pose()
        controllers = {
            hand: ControllerState(self.script.pose(sample, hand), dict(sample.get(hand, {}).get("buttons", {})))
            for hand in HANDS
        }
        self._frame = XrFrame(
            index,
            t_ns,
            self.config.period_ns,
            self._state in ("visible", "focused"),
            head,
            self.config.eyes(head),
            controllers,
        )
        self._submitted = {}
        return self._frame

    def eye_framebuffer(self, eye: int) -> Any:
        """A moderngl framebuffer of the eye's size (needs ``ctx``); read back at end_frame."""
        if self._ctx is None:
            raise XrError("SimulatedXr was created without a moderngl context; submit numpy images instead")
        fbo = self._fbos.get(eye)
        if fbo is None:
            size = (self.config.width, self.config.height)
            fbo = self._fbos[eye] = self._ctx.framebuffer(color_attachments=[self._ctx.texture(size, 4)])
        return fbo

    def submit(self, eye: int, image: Any) -> None:
        """Keep a copy of eye ``eye``'s image (see :func:`vrmed.xr.interface.as_rgba`)."""
        frame = self._require_frame()
        if eye not in (0, 1):
            raise XrError(f"eye index must be 0 (left) or 1 (right), got {eye}")
        self._submitted[eye] = as_rgba(image, frame.eyes[eye].width, frame.eyes[eye].height)

    def end_frame(self) -> None:
        """Finish the frame: eyes drawn into :meth:`eye_framebuffer` count as submitted."""
        self._require_frame()
        for eye, fbo in self._fbos.items():
            if eye not in self._submitted:
                self.submit(eye, fbo)
        if len(self._submitted) == 2:
            self.last_images = dict(self._submitted)
            self.frames_presented += 1
        self.frames_ended += 1
        self._frame = None
        self._next_index += 1
        if self.max_frames is not None and self._next_index >= self.max_frames:
            self.request_exit()

    def _require_frame(self) -> XrFrame:
        if self._frame is None:
            raise XrError("no frame in progress: call begin_frame first")
        return self._frame

    def vibrate(self, hand: str, amplitude: float, duration: float, frequency: float = 0.0) -> None:
        """Record a haptic pulse."""
        if hand not in HANDS:
            raise XrError(f"unknown hand {hand!r}; use one of {', '.join(HANDS)}")
        self.haptics.append(HapticPulse(hand, float(amplitude), float(duration), float(frequency), self._time_ns()))

    def close(self) -> None:
        """Drop framebuffers; the device is unusable afterwards."""
        for fbo in self._fbos.values():
            for tex in fbo.color_attachments:
                tex.release()
            fbo.release()
        self._fbos.clear()
        self._state = "exiting"
