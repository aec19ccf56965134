"""Screen-space overlays drawn over the finished 3D frame: text (a glyph atlas made with
Pillow's bundled font), filled rectangles and thick polylines, and on top of those the
trainee HUD (:class:`~vrmed.components.scene.render.HudState`) and the patient monitor panel
(:class:`~vrmed.components.scene.render.MonitorPanel`).

Coordinates are pixels from the top-left corner of the target's viewport (the whole image
unless the viewport was narrowed, as in a headset eye; x right, y down), the same
orientation as :meth:`Renderer.read` images. Colours are display (sRGB) RGBA, alpha
blended over the frame. A frame of overlays is::

    overlay.begin(renderer.output)          # after renderer.end()
    overlay.rect(10, 10, 200, 40, (0, 0, 0, 0.5))
    overlay.text("Clip the cystic duct", 16, 16, size=18)
    overlay.polyline(xs, ys, (0.2, 1, 0.3, 1), width=1.5)
    overlay.image(slice_2d, 10, 60, 128, 128, key="slice")   # a grey-scale image inset
    overlay.end()                            # shapes, then images, then text (one draw per font size)

Vertices are written into reused staging arrays and one GL buffer that only grows, so a
steady HUD allocates nothing of note per frame. Pillow is needed only for text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from vrmed.components.scene.render import MAX_TRACE_SAMPLES, HudState, MonitorPanel, MonitorReadout, VitalTrace

from .context import RenderUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

ColorLike = Sequence[float]

#: Characters in every glyph atlas (others are drawn as '?').
CHARSET = "".join(chr(c) for c in range(32, 127)) + "°·–"
#: Pixels of padding between the panel or text box edge and its contents.
PANEL_PAD = 4
#: Readout colours by name (display RGBA), as on common patient monitors.
READOUT_COLORS: Mapping[str, tuple[float, float, float, float]] = MappingProxyType(
    {
        "hr": (0.25, 1.0, 0.35, 1.0),
        "spo2": (0.3, 0.85, 1.0, 1.0),
        "nibp": (1.0, 1.0, 1.0, 1.0),
        "etco2": (1.0, 0.9, 0.3, 1.0),
        "rr": (1.0, 0.9, 0.3, 1.0),
    }
)
#: Alarm colours by priority (display RGBA): IEC 60601-1-8 red, yellow, cyan.
ALARM_COLORS: Mapping[str, tuple[float, float, float, float]] = MappingProxyType(
    {"high": (1.0, 0.22, 0.18, 1.0), "medium": (1.0, 0.85, 0.0, 1.0), "low": (0.0, 0.85, 0.95, 1.0)}
)
#: Flashing of alarm indicators by priority: (frequency Hz, fraction of the period on);
#: IEC 60601-1-8 allows 1.4-2.8 Hz for high and 0.4-0.8 Hz for medium priority with a 20-60 %
#: duty cycle, and a steady indicator for low priority.
ALARM_FLASH: Mapping[str, tuple[float, float]] = MappingProxyType(
    {"high": (2.0, 0.5), "medium": (0.5, 0.5), "low": (0.0, 1.0)}
)
#: Header band height (alarm banner and rhythm label) in units of the panel's text size.
HEADER_LINES = 1.7

VERTEX = """
#version 330
uniform vec2 u_size;        // framebuffer size in pixels
in vec2 in_xy;              // pixels from the top-left corner
in vec2 in_uv;              // atlas texel coordinates (normalised); x < 0: solid colour
in vec4 in_color;
out vec2 v_uv;
out vec4 v_color;
void main() {
    v_uv = in_uv;
    v_color = in_color;
    gl_Position = vec4(in_xy.x / u_size.x * 2.0 - 1.0, 1.0 - in_xy.y / u_size.y * 2.0, 0.0, 1.0);
}
"""

FRAGMENT = """
#version 330
uniform sampler2D u_atlas;
in vec2 v_uv;
in vec4 v_color;
out vec4 f_color;
void main() {
    float coverage = v_uv.x < 0.0 ? 1.0 : texture(u_atlas, v_uv).r;
    f_color = vec4(v_color.rgb, v_color.a * coverage);
}
"""


def _pillow_font(size: int) -> Any:
    """Pillow's bundled font at ``size`` pixels (a FreeTypeFont; the fixed bitmap font where
    Pillow lacks FreeType). RenderUnavailable naming the package when Pillow is missing."""
    try:
        from PIL import ImageFont  # deferred: Pillow is optional, needed only for text
    except ImportError:
        raise RenderUnavailable("drawing text needs Pillow: pip install 'pillow>=10.1'") from None
    try:
        return ImageFont.load_default(size)
    except Exception:  # Pillow built without FreeType: the fixed-size bitmap font
        return ImageFont.load_default()


@dataclass
class Glyph:
    """Where a character sits in its atlas and how it is placed on a line: ``uv`` (u0, v0,
    u1, v1), ``box`` (left, top, right, bottom) pixels from the pen position at the line
    top, and the pen ``advance`` in pixels."""

    uv: tuple[float, float, float, float]
    box: tuple[int, int, int, int]
    advance: float


class FontAtlas:
    """All of :data:`CHARSET` at one pixel ``size`` rasterised with Pillow's bundled font
    into one single-channel texture (``line_height`` = ascent + descent pixels)."""

    def __init__(self, ctx: moderngl.Context, size: int) -> None:
        font = _pillow_font(size)
        from PIL import Image, ImageDraw  # deferred: Pillow is optional (_pillow_font checked it is there)

        self.size = size
        try:
            ascent, descent = font.getmetrics()
        except AttributeError:  # bitmap font
            ascent, descent = size, 0
        self.ascent, self.line_height = ascent, ascent + descent
        boxes = {ch: font.getbbox(ch) for ch in CHARSET}
        cell_w = max(int(b[2] - min(b[0], 0)) for b in boxes.values()) + 2
        cell_h = max(int(b[3]) for b in boxes.values()) + 2
        cols = 16
        rows = -(-len(CHARSET) // cols)
        width, height = cols * cell_w, rows * cell_h
        image = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(image)
        self.glyphs: dict[str, Glyph] = {}
        for i, ch in enumerate(CHARSET):
            cx, cy = (i % cols) * cell_w + 1, (i // cols) * cell_h + 1
            left, top, right, bottom = (int(v) for v in boxes[ch])
            draw.text((cx - min(left, 0), cy), ch, fill=255, font=font)
            x0, x1 = cx + left - min(left, 0), cx + right - min(left, 0)
            uv = (x0 / width, (cy + top) / height, x1 / width, (cy + bottom) / height)
            try:
                advance = float(font.getlength(ch))
            except AttributeError:  # bitmap font
                advance = float(right)
            self.glyphs[ch] = Glyph(uv, (left, top, right, bottom), advance)
        self.texture = ctx.texture((width, height), 1, np.asarray(image, np.uint8).tobytes())
        import moderngl  # deferred: GL, only once a context exists

        self.texture.filter = (moderngl.NEAREST, moderngl.NEAREST)

    def glyph(self, ch: str) -> Glyph:
        """The glyph of ``ch`` ('?' for characters outside :data:`CHARSET`)."""
        return self.glyphs.get(ch) or self.glyphs["?"]

    def measure(self, text: str) -> tuple[float, float]:
        """Width (the longest line's advance) and height (lines x line height) in pixels."""
        lines = text.split("\n")
        width = max(sum(self.glyph(c).advance for c in line) for line in lines)
        return width, len(lines) * self.line_height

    def release(self) -> None:
        """Free the texture."""
        self.texture.release()


class _Staging:
    """A growable float32 (capacity, 8) vertex array: x, y, u, v, r, g, b, a."""

    def __init__(self, capacity: int = 1024) -> None:
        self.data = np.zeros((capacity, 8), np.float32)
        self.n = 0

    def reserve(self, extra: int) -> np.ndarray:
        """Room for ``extra`` more vertices; returns the (extra, 8) slice to fill."""
        need = self.n + extra
        if need > len(self.data):
            grown = np.zeros((max(need, 2 * len(self.data)), 8), np.float32)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        out = self.data[self.n : need]
        self.n = need
        return out


class _PolylineScratch:
    """Preallocated work arrays for up to :data:`MAX_TRACE_SAMPLES` points."""

    def __init__(self, n: int = MAX_TRACE_SAMPLES) -> None:
        self.x = np.empty(n, np.float32)
        self.y = np.empty(n, np.float32)
        self.dx = np.empty(n - 1, np.float32)
        self.dy = np.empty(n - 1, np.float32)
        self.len = np.empty(n - 1, np.float32)


def panel_layout(panel: MonitorPanel, size: tuple[int, int] | None = None) -> tuple[float, float, float, float, float]:
    """Where ``panel`` lands in a view of ``size`` (width, height) pixels: (x, y, width,
    height, scale), ``scale`` multiplying its text sizes and line width. A ``view_rect``
    panel is placed by fractions of ``size`` and scaled like a 4:3 view ``reference_height``
    pixels tall fitted into it (the smaller of height / reference_height and width /
    (4/3 reference_height), so text also fits a narrow view); ValueError without a size.
    A pixel ``rect`` panel ignores ``size`` (scale 1)."""
    if panel.view_rect is None:
        x, y, w, h = (float(v) for v in panel.rect)
        return x, y, w, h, 1.0
    if size is None:
        raise ValueError("this monitor panel is laid out by view_rect: pass the view size (width, height)")
    vw, vh = float(size[0]), float(size[1])
    fx, fy, fw, fh = panel.view_rect
    scale = min(vh / panel.reference_height, vw / (panel.reference_height * 4.0 / 3.0))
    return fx * vw, fy * vh, fw * vw, fh * vh, scale


def _header_height(panel: MonitorPanel, scale: float) -> float:
    return round(HEADER_LINES * panel.text_size * scale) if panel.header else 0.0


def trace_rect(
    panel: MonitorPanel, index: int, size: tuple[int, int] | None = None
) -> tuple[float, float, float, float]:
    """Pixel box (left, top, right, bottom) that trace ``index`` of ``panel`` is drawn in:
    sample 0 at ``left``, the last sample at ``right``, value ``hi`` at ``top`` and ``lo``
    at ``bottom`` (each trace row of the panel, below its header band if any, inset by
    :data:`PANEL_PAD`, its top text line kept for the label). ``size`` is the view's
    (width, height), needed when the panel is laid out by ``view_rect``."""
    n = len(panel.traces)
    if not 0 <= index < n:
        raise IndexError(f"monitor has {n} traces, asked for {index}")
    x, y, w, h, scale = panel_layout(panel, size)
    head = _header_height(panel, scale)
    row_h = (h - head) / n
    top = y + head + index * row_h
    return (
        x + PANEL_PAD,
        top + PANEL_PAD + panel.text_size * scale * 0.6,
        x + w * panel.trace_fraction - PANEL_PAD,
        top + row_h - PANEL_PAD,
    )


def readout_rect(
    panel: MonitorPanel,
    index: int,
    size: tuple[int, int] | None = None,
    readouts: Sequence[MonitorReadout] | None = None,
) -> tuple[float, float, float, float]:
    """Pixel box (left, top, right, bottom) of readout ``index`` (of ``readouts``, default
    ``panel.readouts``) in the panel's readout grid: ``readout_columns`` columns filled
    row by row (a readout that does not fit the rest of a row starts the next), rows of
    equal height below the header band; the grid keeps one text height from the traces and
    between neighbouring cells. Its label sits at the top-left, its value at the
    bottom-right. ``size`` as for :func:`trace_rect`."""
    items = panel.readouts if readouts is None else readouts
    if not 0 <= index < len(items):
        raise IndexError(f"monitor has {len(items)} readouts, asked for {index}")
    x, y, w, h, scale = panel_layout(panel, size)
    small = max(8, int(max(4, round(panel.text_size * scale)) * 0.8))
    cols = panel.readout_columns
    rows, row, col, first = 1, 0, 0, 0
    for k, r in enumerate(items):  # the grid's rows, and where readout ``index`` starts
        span = min(r.span, cols)
        if col + span > cols:
            rows, col = rows + 1, 0
        if k == index:
            row, first = rows - 1, col
        col += span
    span = min(items[index].span, cols)
    left_edge, right_edge = x + w * panel.trace_fraction + max(PANEL_PAD, small), x + w - PANEL_PAD
    cell_w = (right_edge - left_edge) / cols
    head = _header_height(panel, scale)
    block = (h - head - 2 * PANEL_PAD) / rows
    top = y + head + PANEL_PAD + row * block
    left = left_edge + first * cell_w + (small / 2 if first > 0 else 0.0)
    right = left_edge + (first + span) * cell_w - (small / 2 if first + span < cols else 0.0)
    return left, top, right, top + block


def flash_on(priority: str, time_s: float) -> bool:
    """Whether an alarm indicator of ``priority`` is in the lit part of its flash at
    ``time_s`` (:data:`ALARM_FLASH`; low priority is steady)."""
    freq, duty = ALARM_FLASH[priority]
    return freq <= 0.0 or (time_s * freq) % 1.0 < duty


class OverlayRenderer:
    """Draws text, rectangles and polylines in screen space into a framebuffer (usually
    :attr:`Renderer.output`), and the HUD/monitor resources on top of them. Owns its GL
    objects (release with :meth:`release`), not the context."""

    def __init__(self, ctx: moderngl.Context) -> None:
        import moderngl  # deferred: GL, only once a context exists

        self.ctx = ctx
        self._blend = moderngl.BLEND
        self._triangles = moderngl.TRIANGLES
        self._strip = moderngl.TRIANGLE_STRIP
        self._blend_func = (
            moderngl.SRC_ALPHA,
            moderngl.ONE_MINUS_SRC_ALPHA,
            moderngl.ONE,
            moderngl.ONE_MINUS_SRC_ALPHA,
        )
        self.program = ctx.program(vertex_shader=VERTEX, fragment_shader=FRAGMENT)
        member = self.program["u_size"]
        if not isinstance(member, moderngl.Uniform):  # narrows the type; the shader above declares it
            raise TypeError("the overlay shader's u_size is not a uniform")
        self._u_size = member
        self._atlases: dict[int, FontAtlas] = {}
        self._solid = _Staging(1024)
        self._text: dict[int, _Staging] = {}
        self._scratch = _PolylineScratch()
        self._ramp = np.arange(MAX_TRACE_SAMPLES, dtype=np.float32)
        self._buffer: moderngl.Buffer | None = None
        self._vao: moderngl.VertexArray | None = None
        self._capacity = 0
        self._target: moderngl.Framebuffer | None = None
        self.size = (1, 1)
        #: Draw calls issued by the last :meth:`end`.
        self.draw_calls = 0
        # Readouts made from a panel's plain numbers (kept, their text rewritten each frame).
        self._number_readouts = {
            "hr": MonitorReadout("hr", "HR", "bpm"),
            "spo2": MonitorReadout("spo2", "SpO2", "%"),
            "nibp": MonitorReadout("nibp", "NIBP", "mmHg"),
            "etco2": MonitorReadout("etco2", "EtCO2", "mmHg"),
            "rr": MonitorReadout("rr", "RR", "/min"),
        }
        self._readout_list: list[MonitorReadout] = []
        # Grey-scale image insets of this frame (drawn after the shapes, before the text).
        self._image_queue: list[tuple[Any, tuple[float, float, float, float], tuple[float, float, float, float]]] = []
        self._image_cache: Any = None  # an images.ImageCache, made on the first image
        self._image_vao: moderngl.VertexArray | None = None
        self._image_program: moderngl.Program | None = None
        self._u_image: dict[str, Any] = {}

    # -- fonts ----------------------------------------------------------------------------
    def atlas(self, size: int) -> FontAtlas:
        """The glyph atlas for a pixel size (made on first use, kept until release)."""
        atlas = self._atlases.get(size)
        if atlas is None:
            atlas = self._atlases[size] = FontAtlas(self.ctx, size)
            self._text[size] = _Staging(256)
        return atlas

    def measure(self, text: str, size: int) -> tuple[float, float]:
        """Width and height in pixels that :meth:`text` would cover."""
        return self.atlas(size).measure(text)

    # -- a frame ----------------------------------------------------------------------------
    def begin(self, target: moderngl.Framebuffer) -> None:
        """Start collecting overlays for ``target``: its viewport (the whole framebuffer unless
        narrowed, e.g. to a headset eye's overlay panel) is the pixel space and where they land."""
        self._target = target
        _, _, width, height = target.viewport
        self.size = (int(width), int(height))
        self._solid.n = 0
        for staging in self._text.values():
            staging.n = 0
        self._image_queue.clear()

    def _check(self) -> moderngl.Framebuffer:
        if self._target is None:
            raise RuntimeError("call OverlayRenderer.begin(framebuffer) before drawing overlays")
        return self._target

    def rect(self, x: float, y: float, w: float, h: float, color: ColorLike) -> None:
        """A filled axis-aligned rectangle (x, y top-left; w, h in pixels)."""
        self._check()
        v = self._solid.reserve(6)
        x1, y1 = x + w, y + h
        v[:, 0] = (x, x, x1, x1, x, x1)
        v[:, 1] = (y, y1, y, y, y1, y1)
        v[:, 2:4] = -1.0
        v[:, 4:8] = color

    def polyline(self, xs: np.ndarray, ys: np.ndarray, color: ColorLike, width: float = 1.5) -> None:
        """A line ``width`` pixels thick through the points (xs[i], ys[i]); up to
        :data:`MAX_TRACE_SAMPLES` points (RuntimeError beyond: decimate first)."""
        self._check()
        n = len(xs)
        if n != len(ys):
            raise ValueError(f"polyline needs as many x as y values, got {n} and {len(ys)}")
        if n < 2:
            return
        if n > MAX_TRACE_SAMPLES:
            raise ValueError(f"polyline has {n} points; at most {MAX_TRACE_SAMPLES} (decimate first)")
        s = self._scratch
        x, y, dx, dy, ln = s.x[:n], s.y[:n], s.dx[: n - 1], s.dy[: n - 1], s.len[: n - 1]
        x[:] = xs
        y[:] = ys
        np.subtract(x[1:], x[:-1], out=dx)
        np.subtract(y[1:], y[:-1], out=dy)
        np.hypot(dx, dy, out=ln)
        np.maximum(ln, 1e-6, out=ln)
        np.divide(0.5 * width, ln, out=ln)
        dx *= ln  # dx, dy now hold the half-width offset along the segment...
        dy *= ln  # ...whose perpendicular (-dy, dx) offsets the quad's sides
        v = self._solid.reserve(6 * (n - 1)).reshape(n - 1, 6, 8)
        for k, (end, side) in enumerate(((0, 1), (0, -1), (1, 1), (1, 1), (0, -1), (1, -1))):
            px = x[1:] if end else x[:-1]
            py = y[1:] if end else y[:-1]
            if side > 0:  # p + (-dy, dx)
                np.subtract(px, dy, out=v[:, k, 0])
                np.add(py, dx, out=v[:, k, 1])
            else:  # p - (-dy, dx)
                np.add(px, dy, out=v[:, k, 0])
                np.subtract(py, dx, out=v[:, k, 1])
        v[:, :, 2:4] = -1.0
        v[:, :, 4:8] = color

    def image(
        self,
        image: np.ndarray,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        key: Any = "image",
        window: tuple[float, float] | None = None,
        invert: bool = False,
        alpha: float = 1.0,
    ) -> None:
        """A grey-scale ``image`` ((H, W) numbers, row 0 the top) stretched over the
        rectangle x, y (top-left), w, h pixels, with a window ``(centre, width)`` in the
        image's units (default its 0.5-99.5 percentile range) and ``invert`` (MONOCHROME1;
        see :mod:`vrmed.render.images`). Drawn by :meth:`end` after the shapes and before
        the text, so a panel rectangle can back it and a caption can label it. Uploaded
        under ``key`` only when a different array is given."""
        self._check()
        from .images import ImageCache, voi_uniforms  # deferred: made on the first image drawn

        if w <= 0 or h <= 0:
            raise ValueError(f"an image inset needs a positive size, got {w} x {h}")
        if self._image_cache is None:
            self._image_cache = ImageCache(self.ctx)
        slot = self._image_cache.get(key, image)
        self._image_queue.append(
            (slot, (float(x), float(y), float(w), float(h)), voi_uniforms(slot, window, invert, alpha))
        )

    def _draw_images(self) -> None:
        """The queued image insets, one draw each."""
        if self._image_vao is None:
            import moderngl  # deferred: GL, only once a context exists

            from . import shaders  # deferred: the image program is made on first use

            prog = self._image_program = self.ctx.program(
                vertex_shader=shaders.OVERLAY_IMAGE_VERTEX, fragment_shader=shaders.OVERLAY_IMAGE_FRAGMENT
            )
            self._image_vao = self.ctx.vertex_array(prog, [])
            for name in ("u_size", "u_rect", "u_image", "u_center", "u_width", "u_invert", "u_alpha"):
                member = prog[name]
                if not isinstance(member, moderngl.Uniform):
                    raise TypeError(f"the overlay image shader's {name} is not a uniform")
                self._u_image[name] = member
            self._u_image["u_image"].value = 0
        u = self._u_image
        u["u_size"].value = (float(self.size[0]), float(self.size[1]))
        for slot, rect, (center, width, invert, alpha) in self._image_queue:
            slot.texture.use(0)
            u["u_rect"].value = rect
            u["u_center"].value, u["u_width"].value = center, width
            u["u_invert"].value, u["u_alpha"].value = invert, alpha
            self._image_vao.render(self._strip, vertices=4)
            self.draw_calls += 1
        self._image_queue.clear()

    def text(
        self, text: str, x: float, y: float, *, size: int = 18, color: ColorLike = (1, 1, 1, 1), anchor: str = "tl"
    ) -> tuple[float, float, float, float]:
        """Draw ``text`` (newlines start new lines) with its box's ``anchor`` point at (x, y):
        anchor = vertical ``t``/``m``/``b`` + horizontal ``l``/``c``/``r``. Lines are left
        aligned (``l``), centred or right aligned like the anchor. Returns the text box
        (left, top, right, bottom) in pixels; every glyph pixel lies inside it."""
        self._check()
        atlas = self.atlas(size)
        width, height = atlas.measure(text)
        fy = {"t": 0.0, "m": 0.5, "b": 1.0}[anchor[0]]
        fx = {"l": 0.0, "c": 0.5, "r": 1.0}[anchor[1]]
        left, top = round(x - fx * width), round(y - fy * height)
        staging = self._text[size]
        for row, line in enumerate(text.split("\n")):
            line_w = sum(atlas.glyph(c).advance for c in line)
            pen = left + fx * (width - line_w)
            base = top + row * atlas.line_height
            v = staging.reserve(6 * len(line))
            for i, ch in enumerate(line):
                g = atlas.glyph(ch)
                gx0, gy0 = round(pen) + g.box[0], base + g.box[1]
                gx1, gy1 = round(pen) + g.box[2], base + g.box[3]
                u0, v0, u1, v1 = g.uv
                q = v[6 * i : 6 * i + 6]
                q[:, 0] = (gx0, gx0, gx1, gx1, gx0, gx1)
                q[:, 1] = (gy0, gy1, gy0, gy0, gy1, gy1)
                q[:, 2] = (u0, u0, u1, u1, u0, u1)
                q[:, 3] = (v0, v1, v0, v0, v1, v1)
                q[:, 4:8] = color
                pen += g.advance
        return float(left), float(top), float(left + width), float(top + height)

    def end(self) -> None:
        """Upload this frame's vertices and draw them over the target: shapes first, then
        text (one draw call per font size)."""
        target = self._check()
        total = self._solid.n + sum(s.n for s in self._text.values())
        self.draw_calls = 0
        if total or self._image_queue:
            buffer, vao = self._reserve(max(total, 1))
            target.use()
            ctx = self.ctx
            ctx.enable_only(self._blend)
            # Separate alpha factors (documented by moderngl; its stub only knows the 2-tuple form).
            ctx.blend_func = self._blend_func  # type: ignore[assignment]
            self._u_size.value = (float(self.size[0]), float(self.size[1]))
            offset = 0
            if self._solid.n:
                offset = self._draw_batch(buffer, vao, self._solid, offset)
            if self._image_queue:
                self._draw_images()
            for size, staging in self._text.items():
                if staging.n:
                    self._atlases[size].texture.use(0)
                    offset = self._draw_batch(buffer, vao, staging, offset)
            ctx.disable(self._blend)
        self._target = None

    def _draw_batch(self, buffer: moderngl.Buffer, vao: moderngl.VertexArray, staging: _Staging, offset: int) -> int:
        """Upload one staging array at vertex ``offset`` and draw it; returns the next offset."""
        buffer.write(staging.data[: staging.n], offset=offset * 32)
        vao.render(self._triangles, vertices=staging.n, first=offset)
        self.draw_calls += 1
        return offset + staging.n

    def _reserve(self, n: int) -> tuple[moderngl.Buffer, moderngl.VertexArray]:
        """The vertex buffer and its VAO, grown to hold at least ``n`` vertices."""
        if self._buffer is not None and self._vao is not None and n <= self._capacity:
            return self._buffer, self._vao
        cap = max(n, 2 * self._capacity, 4096)
        self._release_buffers()
        buffer = self._buffer = self.ctx.buffer(reserve=cap * 32, dynamic=True)
        vao = self._vao = self.ctx.vertex_array(self.program, [(buffer, "2f 2f 4f", "in_xy", "in_uv", "in_color")])
        self._capacity = cap
        return buffer, vao

    def _release_buffers(self) -> None:
        """Free the vertex buffer and its VAO (made again, as large as needed, by the next :meth:`end`)."""
        if self._vao is not None:
            self._vao.release()
        if self._buffer is not None:
            self._buffer.release()
        self._vao = self._buffer = None
        self._capacity = 0

    # -- HUD and monitor --------------------------------------------------------------------
    def draw_hud(self, hud: HudState) -> None:
        """Instructions top-left, timer (M:SS) and score top-right, then ``hud.texts``;
        each block on a translucent dark backing box :data:`PANEL_PAD` pixels wider."""
        if not hud.visible:
            return
        w, _ = self.size
        m = hud.margin
        if hud.instructions:
            self._boxed_text(hud.instructions, m + PANEL_PAD, m + PANEL_PAD, hud.size, hud.color, "tl")
        right_y: float = m + PANEL_PAD
        if hud.timer_s is not None:
            secs = max(0, int(hud.timer_s))
            box = self._boxed_text(
                f"{secs // 60}:{secs % 60:02d}", w - m - PANEL_PAD, right_y, hud.size, hud.color, "tr"
            )
            right_y = box[3] + 2 * PANEL_PAD + 2
        if hud.score is not None:
            score = f"{hud.score:.0f}" if isinstance(hud.score, float) else str(hud.score)
            self._boxed_text(f"Score {score}", w - m - PANEL_PAD, right_y, hud.size, hud.color, "tr")
        for t in hud.texts:
            self._boxed_text(t.text, t.x, t.y, t.size, t.color, t.anchor)

    def _boxed_text(
        self, text: str, x: float, y: float, size: int, color: ColorLike, anchor: str
    ) -> tuple[float, float, float, float]:
        width, height = self.measure(text, size)
        fy = {"t": 0.0, "m": 0.5, "b": 1.0}[anchor[0]]
        fx = {"l": 0.0, "c": 0.5, "r": 1.0}[anchor[1]]
        left, top = round(x - fx * width), round(y - fy * height)
        self.rect(left - PANEL_PAD, top - PANEL_PAD, width + 2 * PANEL_PAD, height + 2 * PANEL_PAD, (0, 0, 0, 0.45))
        return self.text(text, x, y, size=size, color=color, anchor=anchor)

    def draw_monitor(self, panel: MonitorPanel) -> None:
        """The panel's background, its header band (alarm banner, rhythm label), each trace
        in its :func:`trace_rect` with its label (and scale), and each readout in its
        :func:`readout_rect`: label and unit, detail, value right-aligned, alarm colour."""
        if not panel.visible:
            return
        x, y, w, h, scale = panel_layout(panel, self.size)
        self.rect(x, y, w, h, panel.background)
        ts = max(4, round(panel.text_size * scale))
        small = max(8, int(ts * 0.8))
        head = _header_height(panel, scale)
        if head:
            self._draw_header(panel, x, y, w, head, ts)
        n_traces = len(panel.traces)
        for i, trace in enumerate(panel.traces):
            left, top, right, bottom = trace_rect(panel, i, self.size)
            row_top = y + head + i * (h - head) / n_traces
            self.text(trace.label, left, row_top + 2, size=small, color=trace.color)
            if trace.unit:
                self.text(f"{trace.hi:g} {trace.unit}", right, row_top + 2, size=small, color=trace.color, anchor="tr")
            self._draw_trace(trace, left, top, right, bottom, panel.line_width * scale)
        readouts = panel.readouts or self._readouts_from_numbers(panel)
        if not readouts:
            return
        for k, r in enumerate(readouts):
            left, top, right, bottom = readout_rect(panel, k, self.size, readouts)
            big = max(8, min(int((bottom - top) * 0.62), 2 * ts))
            self._draw_readout(panel, r, left, top, right - left, bottom - top, small, big)

    def _draw_readout(
        self,
        panel: MonitorPanel,
        r: MonitorReadout,
        left: float,
        top: float,
        width: float,
        height: float,
        small: int,
        big: int,
    ) -> None:
        """One readout block: label and unit top-left, detail beside them (or bottom-left
        when the line is full), value bottom-right; alarmed blocks in their priority's
        colour on a flashing backing box."""
        right = left + width
        if r.alarm:
            color = panel.alarm_color if r.alarm == "high" else ALARM_COLORS[r.alarm]
            if flash_on(r.alarm, panel.time_s):
                self.rect(left - PANEL_PAD / 2, top, width, height - 1, (*color[:3], 0.28))
        else:
            color = r.color or READOUT_COLORS.get(r.key, (1.0, 1.0, 1.0, 1.0))
        heading = f"{r.label} {r.unit}" if r.unit else r.label
        label_box = self.text(heading, left, top, size=small, color=color)
        if r.detail:
            detail_w, _ = self.measure(r.detail, small)
            if label_box[2] + small + detail_w <= right - PANEL_PAD:  # a text height apart
                self.text(r.detail, right - PANEL_PAD, top, size=small, color=color, anchor="tr")
            else:
                self.text(r.detail, left, top + height, size=small, color=color, anchor="bl")
        if r.value:
            self.text(r.value, right - PANEL_PAD, top + height, size=big, color=color, anchor="br")

    def _draw_trace(
        self, trace: VitalTrace, left: float, top: float, right: float, bottom: float, width: float
    ) -> None:
        """One waveform as a polyline in its box (decimated to MAX_TRACE_SAMPLES points)."""
        samples = np.asarray(trace.samples).reshape(-1)
        n = len(samples)
        if n < 2:
            return
        if n > MAX_TRACE_SAMPLES:
            samples = samples[:: -(-n // MAX_TRACE_SAMPLES)]
            n = len(samples)
        s = self._scratch
        xs, ys = s.x[:n], s.y[:n]
        # sample i at left + i (right - left) / (n - 1); value hi at top, lo at bottom
        np.multiply(self._ramp[:n], (right - left) / (n - 1), out=xs)
        xs += left
        np.subtract(samples, trace.lo, out=ys, casting="unsafe")
        ys *= (bottom - top) / (trace.hi - trace.lo)
        np.clip(ys, 0.0, bottom - top, out=ys)
        np.subtract(bottom, ys, out=ys)
        self.polyline(xs, ys, trace.color, width)  # xs, ys already live in the scratch

    def _draw_header(self, panel: MonitorPanel, x: float, y: float, w: float, head: float, ts: int) -> None:
        """The alarm banner (one box per alarm, most urgent first, flashing between its
        priority's colour and a dark shade of it) at the left, the rhythm label at the right."""
        pad = max(2, round(0.12 * ts))
        box_h = head - 2 * pad
        size = max(8, min(ts, int(box_h * 0.8)))
        right = x + w - pad
        if panel.rhythm_label:
            box = self.text(panel.rhythm_label, right, y + head / 2, size=size, color=READOUT_COLORS["hr"], anchor="mr")
            right = box[0] - 2 * pad
        left = x + pad
        for alarm in panel.alarms:
            text_w, _ = self.measure(alarm.text, size)
            box_w = text_w + 2 * pad
            if left + box_w > right:  # no room for more: the most urgent ones are shown
                break
            color = panel.alarm_color if alarm.priority == "high" else ALARM_COLORS[alarm.priority]
            if flash_on(alarm.priority, panel.time_s):
                fill, ink = color, (0.0, 0.0, 0.0, 1.0)
            else:  # the dark phase keeps the message legible: coloured text on a dim box
                fill, ink = (color[0] * 0.35, color[1] * 0.35, color[2] * 0.35, 1.0), color
            self.rect(left, y + pad, box_w, box_h, fill)
            self.text(alarm.text, left + pad, y + head / 2, size=size, color=ink, anchor="ml")
            left += box_w + pad

    def _readouts_from_numbers(self, panel: MonitorPanel) -> list[MonitorReadout]:
        """Readouts for a panel given plain numbers (``hr``, ``spo2``, ... and ``alarm``)."""
        out = self._readout_list
        out.clear()
        r = self._number_readouts
        for key, value in (("hr", panel.hr), ("spo2", panel.spo2)):
            if value is not None:
                r[key].value = f"{value:.0f}"
                out.append(r[key])
        if panel.sbp is not None or panel.dbp is not None:
            sys_, dia = ("--" if v is None else f"{v:.0f}" for v in (panel.sbp, panel.dbp))
            r["nibp"].value = f"{sys_}/{dia}"
            out.append(r["nibp"])
        for key, value in (("etco2", panel.etco2), ("rr", panel.rr)):
            if value is not None:
                r[key].value = f"{value:.0f}"
                out.append(r[key])
        for readout in out:
            alarmed = readout.key in panel.alarm or (readout.key == "nibp" and bool({"sbp", "dbp"} & panel.alarm))
            readout.alarm = "high" if alarmed else ""
        return out

    def release(self) -> None:
        """Free the program, buffers and atlases."""
        self._release_buffers()
        for atlas in self._atlases.values():
            atlas.release()
        self._atlases.clear()
        self._text.clear()
        self.program.release()
        if self._image_cache is not None:
            self._image_cache.release()
            self._image_cache = None
        for obj in (self._image_vao, self._image_program):
            if obj is not None:
                obj.release()
        self._image_vao = self._image_program = None
        self._image_queue.clear()
