"""A person at a desktop: keyboard, mouse and gamepad input (:class:`DesktopInput`), their
key-binding file (:mod:`vrmed.desktop.bindings`) and the interactive play loop
(:mod:`vrmed.desktop.play`). See docs/input.md."""

from .bindings import Bindings, BindingsError, load_bindings
from .source import DESKTOP, DesktopInput

__all__ = ["DESKTOP", "Bindings", "BindingsError", "DesktopInput", "load_bindings"]
