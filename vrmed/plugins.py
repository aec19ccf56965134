"""Engine plugins a pack can enable by name in ``pack.yaml`` (``plugins: [softbody]``).

Names map to ``module:Class`` strings, imported only when a pack asks for them. A plugin
class may list the component types it registers in a ``components`` class attribute so a
pack can be validated without building an App.
"""

from __future__ import annotations

import importlib

BUILTIN_PLUGINS: dict[str, str] = {
    "softbody": "vrmed.systems.softbody:SoftBodyPlugin",
    "planar": "vrmed.systems.planar:PlanarPlugin",
    "physiology": "vrmed.systems.physiology:PhysiologyPlugin",
    "collision": "vrmed.systems.collision:CollisionPlugin",
    "instruments": "vrmed.systems.instruments:InstrumentPlugin",
}


def load_plugin_class(name: str) -> type:
    """Import a built-in plugin class by its pack-facing name (KeyError if unknown)."""
    module_name, _, attr = BUILTIN_PLUGINS[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)
