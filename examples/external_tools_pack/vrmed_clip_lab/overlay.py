"""The clip-lab overlay: a render pass that draws a status badge, ``clips: N``, in the
bottom-right corner of every view: the desktop window, PNG captures and each headset eye.

The worked example of vrmed's render-pass seam (docs/rendering.md, "Add an overlay pass"):

- :class:`ClipBadgePass` is a render pass: a ``name``, ``phase = "overlay"`` and a
  ``draw(ctx)`` that lays the badge out in ``ctx.size`` pixels and draws it with
  ``ctx.overlay`` (the rectangle and text drawer vrmed's HUD uses). Its sizes are for a
  240-pixel-high view and scale with the view's height, because views differ: a 480-pixel
  window, a headset eye's overlay panel of a few hundred pixels;
- :func:`install` adds it to the App's render pipeline, right after the built-in HUD. The
  pipeline is plain data, so this needs no renderer: a renderer added later (``vrmed run
  --capture`` adds one after the pack's plugins are built) runs the pass, in the headset
  too; a headless run without one never draws it and pays nothing;
- the count comes from the :class:`ClipCounter` resource, which the clip applier (or any
  system) increments.

Only the public pack API, ``vrmed.api``, is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

import vrmed.api as vm

#: Component types this extension adds (the pack loader validates YAML against them): none,
#: the badge reads a resource.
COMPONENTS: tuple[type, ...] = ()

#: The badge's fill (display sRGB RGBA): a magenta that neither the scene nor vrmed's HUD uses,
#: so the badge is easy to tell apart (the tests look for it).
BADGE_COLOR: tuple[float, float, float, float] = (0.85, 0.10, 0.75, 1.0)
#: The text colour on the badge.
TEXT_COLOR: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
#: View height (pixels) at which the badge has its nominal margin, text size and padding.
REFERENCE_HEIGHT = 240


@dataclass
class ClipCounter:
    """Resource: how many clips were applied so far, and whether the badge shows."""

    clips: int = 0
    visible: bool = True


class ClipBadgePass:
    """Overlay pass ``clip_lab.badge``: a filled rectangle with ``clips: N`` on it, ``margin``
    pixels from the bottom-right corner of the view, text ``size`` pixels high, ``pad``
    pixels around the text (each at :data:`REFERENCE_HEIGHT`, scaled with the view)."""

    name = "clip_lab.badge"
    phase = "overlay"

    def __init__(self, *, margin: int = 10, size: int = 14, pad: int = 4) -> None:
        self.margin, self.size, self.pad = margin, size, pad
        self._label = (-1, "")  # (count, text): the string is made only when the count changes

    def draw(self, ctx: vm.PassContext) -> None:
        """Draw the badge into this view (nothing without a visible :class:`ClipCounter`)."""
        counter = ctx.app.try_resource(ClipCounter)
        if counter is None or not counter.visible:
            return
        if self._label[0] != counter.clips:
            self._label = (counter.clips, f"clips: {counter.clips}")
        text = self._label[1]
        width, height = ctx.size  # pixels of this view's overlay space (a headset eye's is a panel)
        scale = height / REFERENCE_HEIGHT
        size = max(6, round(self.size * scale))  # Pillow's font stays legible down to about 6 px
        margin, pad = round(self.margin * scale), max(1, round(self.pad * scale))
        overlay = ctx.overlay
        text_w, text_h = overlay.measure(text, size)
        box_w, box_h = text_w + 2 * pad, text_h + 2 * pad
        left, top = width - margin - box_w, height - margin - box_h
        overlay.rect(left, top, box_w, box_h, BADGE_COLOR)
        overlay.text(text, left + pad, top + pad, size=size, color=TEXT_COLOR)


def install(app: vm.App) -> None:
    """Add the :class:`ClipCounter` resource (if missing) and the badge pass, after the HUD,
    to the App's render pipeline."""
    if not app.has_resource(ClipCounter):
        app.insert_resource(ClipCounter())
    vm.render_pipeline(app).add(ClipBadgePass(), after="hud")
