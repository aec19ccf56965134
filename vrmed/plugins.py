"""Engine plugins a pack can enable by name in ``pack.yaml`` (``plugins: [softbody]``).

Plugins are found through the ``vrmed.plugins`` entry-point group: vrmed's own features
register there in its ``pyproject.toml`` exactly as a third-party distribution would
(``[project.entry-points."vrmed.plugins"] my_feature = "my_dist.plugin:MyPlugin"``), so the
core names no feature module. A plugin class is imported only when a pack asks for it; it
may list the component types it registers in a ``components`` class attribute so a pack can
be validated without building an App.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

#: The entry-point group engine plugins register under.
PLUGIN_GROUP = "vrmed.plugins"


def available_plugins() -> dict[str, EntryPoint]:
    """Every installed engine plugin by its pack-facing name (read from package metadata, no import)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        found.setdefault(ep.name, ep)  # the first distribution on sys.path wins, as for imports
    return found


def load_plugin_class(name: str) -> type:
    """Import an engine plugin class by its pack-facing name.

    Raises KeyError for a name no installed distribution registers, ImportError when the
    registered module cannot be imported (a missing optional dependency, say)."""
    plugins = available_plugins()
    if name not in plugins:
        raise KeyError(name)
    try:
        cls = plugins[name].load()
    except AttributeError as exc:  # the module imported but has no such attribute
        raise ImportError(f"{plugins[name].value}: {exc}") from None
    if not isinstance(cls, type):
        raise ImportError(f"{plugins[name].value} is not a plugin class")
    return cls
