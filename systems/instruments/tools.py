"""The tool-type registry: which :class:`~vrmed.components.instruments.instrument.ToolType`
each instrument ``tool`` name means in one App.

:class:`ToolRegistry` is a per-App resource that
:class:`~vrmed.systems.instruments.plugin.InstrumentPlugin` inserts holding the built-in
types (grasper, needle_driver, scissors, hook); a plugin adds its own with
:func:`register_tool_type` from its ``build(app)``. ``instruments.control`` looks an
instrument's type up here the first time it sees the instrument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vrmed.components.instruments.instrument import InstrumentError, ToolType

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App


@dataclass
class ToolRegistry:
    """Tool types by name, for one App (a resource; see the module docstring)."""

    types: dict[str, ToolType] = field(default_factory=dict)

    def register(self, tool_type: ToolType) -> None:
        """Add a tool type; a name that is already registered is an :class:`InstrumentError`."""
        if not isinstance(tool_type, ToolType):
            raise InstrumentError(f"register_tool_type: expected a ToolType, got {tool_type!r}")
        known = self.types.get(tool_type.name)
        if known is tool_type:
            raise InstrumentError(
                f"tool type {tool_type.name!r} is registered twice on this App; register it once "
                "(from one plugin's build, and add that plugin once)"
            )
        if known is not None:
            raise InstrumentError(
                f"tool type {tool_type.name!r} is already registered on this App (a different ToolType of that "
                f"name: {', '.join(type(b).__name__ for b in known.behaviours) or 'no'} behaviours); "
                "give yours another name"
            )
        self.types[tool_type.name] = tool_type

    def get(self, name: str) -> ToolType:
        """The tool type called ``name``; an :class:`InstrumentError` naming the registered ones if none is."""
        kind = self.types.get(name)
        if kind is None:
            raise InstrumentError(
                f"tool type {name!r} is not registered on this App (registered: {', '.join(self.names)}); "
                "add the engine plugin that provides it to the pack's `plugins:`, or call "
                "register_tool_type(app, ...) before the first frame"
            )
        return kind

    @property
    def names(self) -> list[str]:
        """The registered tool type names, sorted."""
        return sorted(self.types)


def register_tool_type(app: App, tool_type: ToolType) -> None:
    """Register ``tool_type`` on ``app`` (from a plugin's ``build``, after the instruments plugin)."""
    registry = app.try_resource(ToolRegistry)
    if registry is None:
        raise InstrumentError(
            f"register_tool_type({getattr(tool_type, 'name', tool_type)!r}): this App has no instruments plugin; "
            "add InstrumentPlugin first (in pack.yaml, list `instruments` before the plugin that adds tool types)"
        )
    registry.register(tool_type)
