"""The clip-lab engine plugin: installs the clip applier, the patch attachment and the overlay pass."""

from __future__ import annotations

import vrmed.api as vm

from . import clip_tool, overlay, patch_attachment


class ClipLabPlugin:
    """Enable with ``plugins: [softbody, collision, instruments, clip_lab]`` in a pack.yaml."""

    components: tuple[type, ...] = clip_tool.COMPONENTS + patch_attachment.COMPONENTS + overlay.COMPONENTS
    #: tool types packs may name in YAML (``Instrument: {tool: clip_applier}``), checked at load
    tool_types = clip_tool.TOOL_TYPES

    def build(self, app: vm.App) -> None:
        """Install each extension on this App."""
        clip_tool.install(app)
        patch_attachment.install(app)
        overlay.install(app)
