"""Typed, per-frame events (Bevy-style buffered messages).

Short-lived facts (a grasp, a cut, a drug given) are events, not components: adding and
removing components invalidates esper's query caches, while an event is a cheap record in
a queue. An event sent during frame N can be read by any system until the end of frame
N+1, so a system that runs earlier in the frame than the sender still sees it once.
:class:`EventReader` keeps a cursor so each reader sees each event exactly once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

if TYPE_CHECKING:
    from .app import App


@dataclass(frozen=True)
class Event:
    """Base class for events; subclass it as a frozen dataclass with plain-data fields."""


E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class SentEvent:
    """An event with the sequence number and simulation time at which it was sent."""

    seq: int
    time: float
    frame: int
    event: Event


def type_identity(cls: type, sep: str = ":") -> str:
    """The location-independent name of a type in session logs and state digests:
    ``module{sep}QualName``, where a pack's types use their pack's origin
    (``pack.NAME@VERSION``, set by the pack loader) instead of the module they were
    imported as, so the name is the same wherever the pack is installed."""
    origin = cls.__dict__.get("__vrmed_origin__") or cls.__module__
    return f"{origin}{sep}{cls.__qualname__}"


def event_type_name(event_type: type) -> str:
    """The stable name an event type is recorded under (``module:QualName``, see :func:`type_identity`)."""
    return type_identity(event_type, ":")


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def event_to_record(sent: SentEvent) -> dict[str, Any]:
    """A JSON-ready record of a sent event, as stored in the session log."""
    ev = sent.event
    data = {f.name: _plain(getattr(ev, f.name)) for f in dataclasses.fields(ev)}
    return {"t": sent.time, "frame": sent.frame, "type": event_type_name(type(ev)), "data": data}


class Events:
    """The App's event queue: two frame buffers plus listeners (the session recorder)."""

    def __init__(self, now: Callable[[], tuple[float, int]]) -> None:
        self._now = now
        self._previous: list[SentEvent] = []
        self._current: list[SentEvent] = []
        self._seq = 0
        self._listeners: list[Callable[[SentEvent], None]] = []

    def send(self, event: Event) -> None:
        """Queue an event; it is readable until the end of the next frame."""
        if not isinstance(event, Event):
            raise TypeError(f"events must subclass vrmed.Event, got {type(event).__name__}")
        self._seq += 1
        time, frame = self._now()
        sent = SentEvent(self._seq, time, frame, event)
        self._current.append(sent)
        for listener in self._listeners:
            listener(sent)

    def listen(self, callback: Callable[[SentEvent], None]) -> None:
        """Call ``callback`` for every event at the moment it is sent."""
        self._listeners.append(callback)

    def read(self, event_type: type[E]) -> list[E]:
        """All events of ``event_type`` sent this frame or the previous one, oldest first."""
        return [s.event for s in self._iter_sent() if isinstance(s.event, event_type)]

    def reader(self, event_type: type[E]) -> EventReader[E]:
        """A cursor that returns each event of ``event_type`` once."""
        return EventReader(self, event_type)

    def _iter_sent(self) -> Iterator[SentEvent]:
        yield from self._previous
        yield from self._current

    def end_frame(self) -> None:
        """Drop the previous frame's events and start a new buffer (called by the App)."""
        self._previous, self._current = self._current, self._previous
        self._current.clear()


class EventReader(Generic[E]):
    """Reads events of one type exactly once each, in the order they were sent."""

    def __init__(self, events: Events, event_type: type[E]) -> None:
        self._events = events
        self._type = event_type
        self._cursor = 0

    def read(self) -> list[E]:
        """Events of this reader's type sent since the last call (at most two frames back)."""
        out: list[E] = []
        for sent in self._events._iter_sent():
            if sent.seq > self._cursor and isinstance(sent.event, self._type):
                out.append(sent.event)
        self._cursor = self._events._seq
        return out


class EventInbox:
    """Buffers events of some types from the moment they are sent until drained.

    Events live two display frames; a logic-rate system (20 Hz) can miss events sent by
    per-frame stages (a device at 90 Hz). Listening instead of reading never misses one,
    and keeps the order in which they were sent across types.
    """

    def __init__(self, app: App, types: tuple[type, ...]) -> None:
        self.types = types
        self._items: list[Any] = []
        app.events.listen(self._on_event)

    def _on_event(self, sent: Any) -> None:
        if isinstance(sent.event, self.types):
            self._items.append(sent.event)

    def drain(self) -> list[Any]:
        """Every buffered event, oldest first; the inbox is empty afterwards."""
        items, self._items = self._items, []
        return items
