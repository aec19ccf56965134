"""Instrument components: laparoscopic tools, their tool types and the body wall they pivot in."""

from .instrument import (
    CLOSED,
    TOOL_PRESETS,
    BodyWall,
    Instrument,
    InstrumentError,
    ToolBehaviour,
    ToolState,
    ToolType,
    installed_tool_types,
)

__all__ = [
    "BodyWall",
    "CLOSED",
    "Instrument",
    "InstrumentError",
    "TOOL_PRESETS",
    "ToolBehaviour",
    "ToolState",
    "ToolType",
    "installed_tool_types",
]
