"""Placeholder: filled in by the overlay extension (see vrmed_clip_lab/__init__.py)."""

from __future__ import annotations

import vrmed.api as vm

#: Component types this extension adds (the pack loader validates YAML against them).
COMPONENTS: tuple[type, ...] = ()


def install(app: vm.App) -> None:
    """Register this extension on app."""
