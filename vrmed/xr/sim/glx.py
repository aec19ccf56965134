"""GL through GLX for sessions bound with ``XrGraphicsBindingOpenGLXlibKHR`` (GLFW and other
Xlib applications), beside the EGL path of :mod:`vrmed.xr.egl`."""

from __future__ import annotations

import ctypes
import ctypes.util

from ..egl import GL
from ..interface import XrError


def _libgl() -> ctypes.CDLL:
    name = ctypes.util.find_library("GL") or "libGL.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise XrError(f"cannot load libGL ({exc}); an Xlib/GLX session needs it") from None
    lib.glXGetProcAddressARB.restype = ctypes.c_void_p
    lib.glXGetProcAddressARB.argtypes = [ctypes.c_char_p]
    lib.glXGetCurrentContext.restype = ctypes.c_void_p
    lib.glXGetCurrentContext.argtypes = []
    return lib


class GlxGL(GL):
    """:class:`~vrmed.xr.egl.GL` with its functions from ``glXGetProcAddressARB`` and the
    current context from ``glXGetCurrentContext``."""

    def __init__(self) -> None:
        lib = _libgl()
        # glXGetProcAddressARB has eglGetProcAddress's signature: GL loads through it.
        super().__init__(ctypes.cast(lib.glXGetProcAddressARB, ctypes.c_void_p).value or 0)
        self._glx = lib

    def current_context(self) -> int:
        """The GLX context current on this thread (0 if none)."""
        return int(self._glx.glXGetCurrentContext() or 0)
