"""Grey-scale images on screen: a 2D array (a slice of an imaging volume, a radiograph)
kept in a float texture and shown with a window/level (the LINEAR_EXACT VOI function of
DICOM PS3.3 C.11.2.1.3.2: grey = (value - centre) / width + 0.5, clamped to 0..1), on a
quad in the scene (:meth:`Renderer.draw_image`) or as an inset over the finished frame
(:meth:`OverlayRenderer.image`).

An image is uploaded when a different array object (or one of another shape) is drawn
under the same key; drawing the same array again re-uses the texture, so a still image
costs one upload. An array changed in place is not noticed: give a new array (or another
key) when the picture changes.

A :class:`numpy.ma.MaskedArray` is drawn transparent where it is masked (e.g. the air
around the head in a slice of a head scan): its values go to the texture's red channel and
1 - mask to its alpha, and the image shaders discard texels whose (linearly filtered) alpha
is below 0.5, so the cut edge lies half-way between a kept and a masked texel.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import moderngl


def window_of(image: np.ndarray) -> tuple[float, float]:
    """A default (centre, width) for ``image``: its 0.5th to 99.5th percentile (the full
    range of most of the picture, ignoring a few outliers such as noise spikes)."""
    lo, hi = (float(v) for v in np.percentile(image, (0.5, 99.5)))
    return 0.5 * (lo + hi), max(hi - lo, 1e-12)


class ImageTexture:
    """One image's texture (R32F, or RGBA32F with an alpha for a masked array; linear
    filtering, clamped edges) and its default window."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.texture: moderngl.Texture | None = None
        self.source: np.ndarray | None = None
        self.window: tuple[float, float] = (0.5, 1.0)

    def update(self, image: np.ndarray) -> moderngl.Texture:
        """The texture holding ``image`` ((H, W) numbers, row 0 the top), uploaded only when
        ``image`` is not the array uploaded last."""
        if image is self.source and self.texture is not None:
            return self.texture
        data = np.asarray(image)
        if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < 1:
            raise ValueError(f"an image must be a non-empty 2D array (rows, columns), got shape {data.shape}")
        data = np.ascontiguousarray(data, np.float32)
        h, w = data.shape
        kept = ~np.ma.getmaskarray(image)
        components = 1 if kept.all() else 4  # value and alpha (see the module docstring)
        if components == 4:
            if not kept.any():
                raise ValueError("an image must have at least one unmasked value")
            rgba = np.zeros((h, w, 4), np.float32)
            rgba[..., 0], rgba[..., 3] = data, kept
            upload = rgba
        else:
            upload = data
        if self.texture is None or self.texture.size != (w, h) or self.texture.components != components:
            if self.texture is not None:
                self.texture.release()
            self.texture = self.ctx.texture((w, h), components, dtype="f4")
            import moderngl  # deferred: GL, only once a context exists

            self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self.texture.repeat_x = self.texture.repeat_y = False
        self.texture.write(upload)
        self.source = image  # kept: the identity check needs the array alive
        self.window = window_of(data[kept])
        return self.texture

    def release(self) -> None:
        """Free the texture."""
        if self.texture is not None:
            self.texture.release()
        self.texture = None
        self.source = None


class ImageCache:
    """:class:`ImageTexture` by key, for one GL context."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._images: dict[Hashable, ImageTexture] = {}

    def get(self, key: Hashable, image: np.ndarray) -> ImageTexture:
        """The texture of ``image`` under ``key`` (uploaded if the array changed)."""
        slot = self._images.get(key)
        if slot is None:
            slot = self._images[key] = ImageTexture(self.ctx)
        slot.update(image)
        return slot

    def release(self) -> None:
        """Free every texture."""
        for slot in self._images.values():
            slot.release()
        self._images.clear()


def voi_uniforms(
    slot: ImageTexture, window: tuple[float, float] | None, invert: bool, alpha: float
) -> tuple[float, float, float, float]:
    """(centre, width, invert, alpha) uniform values; ``window`` None uses the image's own."""
    center, width = slot.window if window is None else (float(window[0]), float(window[1]))
    if not width > 0.0:
        raise ValueError(f"a window width must be above 0 (DICOM PS3.3 C.11.2.1.3.2), got {width}")
    return center, width, 1.0 if invert else 0.0, float(alpha)
