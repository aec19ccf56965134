"""Rendering with moderngl: an offscreen renderer (headless through EGL), screen-space
overlays (HUD, patient monitor), a desktop window, PNG capture, the render pipeline (one
list of passes run for the desktop view and each headset eye) and the RenderPlugin that
draws an App's main view (see docs/rendering.md).

Importing this package does not import moderngl; the GL context is made on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .context import RenderUnavailable, create_context
from .drawlist import DrawList
from .png import encode_png, write_png

_LAZY = {
    "Renderer": "renderer",
    "GpuMesh": "renderer",
    "StreamedMesh": "renderer",
    "ScopeLight": "renderer",
    "RenderPlugin": "plugin",
    "PassContext": "passes",
    "RenderPass": "passes",
    "RenderPipeline": "passes",
    "RenderTarget": "passes",
    "ClipPlane": "passes",
    "render_pipeline": "passes",
    "main_camera": "plugin",
    "MeshData": "meshes",
    "Material": "meshes",
    "OverlayRenderer": "overlay",
    "Window": "window",
    "WindowClosed": "window",
    "open_window": "window",
}


def __getattr__(name: str) -> Any:
    """Import the GL-facing classes on first access."""
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ClipPlane",
    "DrawList",
    "GpuMesh",
    "Material",
    "MeshData",
    "OverlayRenderer",
    "PassContext",
    "RenderPass",
    "RenderPipeline",
    "RenderPlugin",
    "RenderTarget",
    "RenderUnavailable",
    "Renderer",
    "ScopeLight",
    "StreamedMesh",
    "Window",
    "WindowClosed",
    "create_context",
    "encode_png",
    "main_camera",
    "open_window",
    "render_pipeline",
    "write_png",
]
