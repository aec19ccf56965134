"""Content packs: discovery, validation and loading."""

from .discovery import PackRef, all_packs, resolve_target
from .issues import PackError, PackIssue
from .loader import Pack, Prefab, Scenario, load_pack

__all__ = [
    "Pack",
    "PackError",
    "PackIssue",
    "PackRef",
    "Prefab",
    "Scenario",
    "all_packs",
    "load_pack",
    "resolve_target",
]
