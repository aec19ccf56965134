"""Instrument components: laparoscopic tools and the body wall they pivot in."""

from .instrument import TOOL_PRESETS, BodyWall, Instrument, InstrumentError

__all__ = ["BodyWall", "Instrument", "InstrumentError", "TOOL_PRESETS"]
