"""Creating a moderngl context, headless by default.

moderngl is imported only when a context is actually made, so importing this module (or
:mod:`vrmed.render`) costs nothing on machines that never render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import VrmedError

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

#: Oldest OpenGL version the renderer's shaders need (GLSL 330).
MIN_GL_VERSION = 330

_INSTALL_HINT = (
    "vrmed renders headless through EGL: install the EGL loader and Mesa drivers "
    "(Debian/Ubuntu: apt install libegl1 libgl1-mesa-dri; Fedora: dnf install "
    "mesa-libEGL mesa-dri-drivers), or use a GPU driver that provides EGL"
)


class RenderUnavailable(VrmedError):
    """No OpenGL context could be created (no EGL/Mesa, no GPU driver, or GL too old)."""


def create_context(backend: str | None = "egl", *, standalone: bool = True) -> moderngl.Context:
    """Create an OpenGL 3.3+ context.

    ``standalone=True`` (default) makes an offscreen context with ``backend`` (``"egl"``
    works without any display, on Mesa llvmpipe or a GPU); ``backend=None`` lets moderngl
    pick its platform default. ``standalone=False`` attaches to the current window's
    context (for a windowed front end). Raises :class:`RenderUnavailable` with what to
    install when no context can be made.
    """
    try:
        import moderngl  # deferred: moderngl (GL) is only needed when a context is made
    except ImportError as exc:  # pragma: no cover - moderngl is a hard dependency
        raise RenderUnavailable(
            f"cannot render: the moderngl package is missing ({exc}); pip install moderngl"
        ) from None
    kwargs: dict[str, Any] = {"backend": backend} if backend else {}
    try:
        if standalone:
            ctx = moderngl.create_standalone_context(require=MIN_GL_VERSION, **kwargs)
        else:
            ctx = moderngl.create_context(require=MIN_GL_VERSION, **kwargs)
    except Exception as exc:  # moderngl/glcontext raise ValueError, Exception or moderngl.Error
        what = f"backend {backend!r}" if backend else "the default backend"
        raise RenderUnavailable(
            f"could not create an OpenGL {MIN_GL_VERSION // 100}.{MIN_GL_VERSION % 100 // 10} "
            f"context with {what}: {type(exc).__name__}: {exc}. {_INSTALL_HINT}"
        ) from None
    return ctx


def describe(ctx: moderngl.Context) -> str:
    """One line naming the GL renderer and version (for logs and reports)."""
    info = ctx.info
    return f"{info.get('GL_RENDERER', '?')} (OpenGL {info.get('GL_VERSION', '?')})"
