"""Just enough EGL and OpenGL through ctypes for swapchain textures.

Used by the simulated runtime (to create swapchain images in the app's context and read
them back) and by the OpenXR backend (to describe its moderngl EGL context in an
``XrGraphicsBindingEGLMNDX``). Every GL helper that changes state restores it, because
the app's moderngl context caches some bindings and must find them as it left them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from .interface import XrError

GL_TEXTURE_2D = 0x0DE1
GL_TEXTURE_BINDING_2D = 0x8069
GL_ACTIVE_TEXTURE = 0x84E0
GL_TEXTURE0 = 0x84C0
GL_PACK_ALIGNMENT = 0x0D05
GL_PACK_ROW_LENGTH = 0x0D02
GL_PACK_SKIP_ROWS = 0x0D03
GL_PACK_SKIP_PIXELS = 0x0D04
GL_PIXEL_PACK_BUFFER = 0x88EB
GL_PIXEL_PACK_BUFFER_BINDING = 0x88ED
GL_PIXEL_UNPACK_BUFFER = 0x88EC
GL_PIXEL_UNPACK_BUFFER_BINDING = 0x88EF
GL_TEXTURE_MIN_FILTER = 0x2801
GL_TEXTURE_MAG_FILTER = 0x2800
GL_LINEAR = 0x2601
GL_RGBA = 0x1908
GL_UNSIGNED_BYTE = 0x1401
GL_FLOAT = 0x1406
GL_UNSIGNED_INT = 0x1405
GL_DEPTH_COMPONENT = 0x1902

GL_RGBA8 = 0x8058
GL_SRGB8_ALPHA8 = 0x8C43
GL_DEPTH_COMPONENT24 = 0x81A6
GL_DEPTH_COMPONENT32F = 0x8CAC
#: Swapchain formats: GL internal format -> (components, upload format, type, is colour).
FORMATS = {
    GL_RGBA8: (4, GL_RGBA, GL_UNSIGNED_BYTE, True),
    GL_SRGB8_ALPHA8: (4, GL_RGBA, GL_UNSIGNED_BYTE, True),
    GL_DEPTH_COMPONENT24: (1, GL_DEPTH_COMPONENT, GL_UNSIGNED_INT, False),
    GL_DEPTH_COMPONENT32F: (1, GL_DEPTH_COMPONENT, GL_FLOAT, False),
}

EGL_CONFIG_ID = 0x3028
EGL_NONE = 0x3038

_PROC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)


def _libegl() -> ctypes.CDLL:
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise XrError(f"cannot load libEGL ({exc}); OpenXR with graphics needs EGL") from None
    lib.eglGetProcAddress.restype = ctypes.c_void_p
    lib.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    for fn in ("eglGetCurrentContext", "eglGetCurrentDisplay"):
        getattr(lib, fn).restype = ctypes.c_void_p
        getattr(lib, fn).argtypes = []
    lib.eglQueryContext.restype = ctypes.c_uint
    lib.eglQueryContext.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.eglChooseConfig.restype = ctypes.c_uint
    lib.eglChooseConfig.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
    ]
    return lib


def egl_get_proc_address_ptr() -> int:
    """Address of ``eglGetProcAddress`` (what ``XrGraphicsBindingEGLMNDX`` carries)."""
    lib = _libegl()
    return ctypes.cast(lib.eglGetProcAddress, ctypes.c_void_p).value or 0


def current_egl() -> tuple[int, int, int]:
    """``(display, config, context)`` of the EGL context current on this thread.

    The config is 0 for a config-less context (EGL_KHR_no_config_context).
    """
    lib = _libegl()
    display = lib.eglGetCurrentDisplay() or 0
    context = lib.eglGetCurrentContext() or 0
    if not display or not context:
        raise XrError(
            "no EGL context is current on this thread; create the moderngl context with "
            "backend='egl' and make it current before starting the OpenXR session"
        )
    config_id = ctypes.c_int(0)
    config = ctypes.c_void_p(0)
    if lib.eglQueryContext(display, context, EGL_CONFIG_ID, ctypes.byref(config_id)) and config_id.value:
        attribs = (ctypes.c_int * 3)(EGL_CONFIG_ID, config_id.value, EGL_NONE)
        count = ctypes.c_int(0)
        lib.eglChooseConfig(display, attribs, ctypes.byref(config), 1, ctypes.byref(count))
        if count.value != 1:
            config = ctypes.c_void_p(0)
    return int(display), int(config.value or 0), int(context)


class GL:
    """The few GL calls the simulated runtime needs, loaded through an EGL get-proc-address.

    ``get_proc_address`` is the app's ``eglGetProcAddress`` address from the graphics
    binding (0: use this process's libEGL).
    """

    def __init__(self, get_proc_address: int = 0) -> None:
        lib = _libegl()
        self._egl = lib
        gpa: Callable[[bytes], int | None] = _PROC(get_proc_address) if get_proc_address else lib.eglGetProcAddress

        def load(name: str, restype: type | None, *argtypes: type) -> Callable[..., object]:
            addr = gpa(name.encode())
            if not addr:
                raise XrError(f"the EGL implementation has no {name}")
            return ctypes.CFUNCTYPE(restype, *argtypes)(addr)

        u, i, p = ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
        self.glGenTextures = load("glGenTextures", None, i, ctypes.POINTER(u))
        self.glDeleteTextures = load("glDeleteTextures", None, i, ctypes.POINTER(u))
        self.glBindTexture = load("glBindTexture", None, u, u)
        self.glActiveTexture = load("glActiveTexture", None, u)
        self.glTexImage2D = load("glTexImage2D", None, u, i, i, i, i, i, u, u, p)
        self.glTexParameteri = load("glTexParameteri", None, u, u, i)
        self.glGetIntegerv = load("glGetIntegerv", None, u, ctypes.POINTER(i))
        self.glGetTexImage = load("glGetTexImage", None, u, i, u, u, p)
        self.glPixelStorei = load("glPixelStorei", None, u, i)
        self.glBindBuffer = load("glBindBuffer", None, u, u)
        self.glGetError = load("glGetError", u)

    def current_context(self) -> int:
        """The EGL context current on this thread (0 if none)."""
        return int(self._egl.eglGetCurrentContext() or 0)

    def _get(self, pname: int) -> int:
        v = ctypes.c_int(0)
        self.glGetIntegerv(pname, ctypes.byref(v))
        return v.value

    @contextmanager
    def preserved_state(self) -> Iterator[None]:
        """Restore the texture unit, its 2D binding, pack buffer and pack parameters."""
        saved = {
            p: self._get(p)
            for p in (
                GL_ACTIVE_TEXTURE,
                GL_PIXEL_PACK_BUFFER_BINDING,
                GL_PIXEL_UNPACK_BUFFER_BINDING,
                GL_PACK_ALIGNMENT,
                GL_PACK_ROW_LENGTH,
                GL_PACK_SKIP_ROWS,
                GL_PACK_SKIP_PIXELS,
            )
        }
        self.glActiveTexture(GL_TEXTURE0)
        saved_tex0 = self._get(GL_TEXTURE_BINDING_2D)
        try:
            yield
        finally:
            self.glActiveTexture(GL_TEXTURE0)
            self.glBindTexture(GL_TEXTURE_2D, saved_tex0)
            self.glActiveTexture(saved[GL_ACTIVE_TEXTURE])
            self.glBindBuffer(GL_PIXEL_PACK_BUFFER, saved[GL_PIXEL_PACK_BUFFER_BINDING])
            self.glBindBuffer(GL_PIXEL_UNPACK_BUFFER, saved[GL_PIXEL_UNPACK_BUFFER_BINDING])
            for p in (GL_PACK_ALIGNMENT, GL_PACK_ROW_LENGTH, GL_PACK_SKIP_ROWS, GL_PACK_SKIP_PIXELS):
                self.glPixelStorei(p, saved[p])

    def create_textures(self, count: int, internal_format: int, width: int, height: int) -> list[int]:
        """``count`` 2D textures of one format (contents undefined), state preserved."""
        _, fmt, typ, _ = FORMATS[internal_format]
        names = (ctypes.c_uint * count)()
        with self.preserved_state():
            self.glBindBuffer(GL_PIXEL_UNPACK_BUFFER, 0)
            self.glGenTextures(count, names)
            for name in names:
                self.glBindTexture(GL_TEXTURE_2D, name)
                self.glTexImage2D(GL_TEXTURE_2D, 0, internal_format, width, height, 0, fmt, typ, None)
                self.glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR)
                self.glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR)
        err = self.glGetError()
        if err:
            raise XrError(f"creating swapchain textures failed with GL error {err:#x}")
        return list(names)

    def delete_textures(self, names: list[int]) -> None:
        """Delete textures (GL restores bindings of deleted names to 0 itself)."""
        if names:
            self.glDeleteTextures(len(names), (ctypes.c_uint * len(names))(*names))

    def read_rgba(self, texture: int, width: int, height: int) -> np.ndarray:
        """A colour texture's level 0 as ``HxWx4`` uint8, bottom row first (GL order)."""
        out = np.empty((height, width, 4), dtype=np.uint8)
        with self.preserved_state():
            self.glBindBuffer(GL_PIXEL_PACK_BUFFER, 0)
            for p, v in (
                (GL_PACK_ALIGNMENT, 1),
                (GL_PACK_ROW_LENGTH, 0),
                (GL_PACK_SKIP_ROWS, 0),
                (GL_PACK_SKIP_PIXELS, 0),
            ):
                self.glPixelStorei(p, v)
            self.glBindTexture(GL_TEXTURE_2D, texture)
            self.glGetTexImage(GL_TEXTURE_2D, 0, GL_RGBA, GL_UNSIGNED_BYTE, out.ctypes.data)
        return out
