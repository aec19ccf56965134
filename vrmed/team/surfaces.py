"""Streaming deforming surfaces to clients that do not simulate (thin clients: a headset
front end, a browser): quantised vertex positions, delta-encoded, in a versioned format.

The server (``TeamServer(stream_surfaces=True)``) lets the features' draw systems fill a
:class:`vrmed.render.drawlist.DrawList` as they would for a renderer (tissue, the
defibrillator pads, triage tags: every deforming ``Surface`` under its stable key), keeps
the newest surfaces, and each member's writer encodes them against what *that member*
last received (the WebSocket is reliable and ordered, so a delta always has its base):

- positions are quantised to a grid of :data:`STEP_M` (0.1 mm: a fifth of a pixel at arm's
  length, where a 60° vertical view 0.5 m away on 1080 pixels is 2 x 0.5 x tan 30° / 1080 =
  0.53 mm per pixel) as int32
  grid coordinates, so the client's reconstruction is exact integer arithmetic, never
  drifts, and is within half a step (0.05 mm) of the server's positions per coordinate;
- a key the member has not seen, or whose vertex count changed (a cut), goes as a
  *keyframe*: the grid coordinates and the faces; otherwise as a *delta*: the change of
  each coordinate since the last frame sent, which is mostly zeros and small numbers;
- both are zlib-compressed (deflate, RFC 1950/1951) little-endian int32 arrays in base64,
  with the format version :data:`FORMAT` in every entry.

``state.surfaces`` = ``[{key, fmt, kind: "key"|"delta", n, step, pos, faces?}]``; a key
that is no longer drawn is sent once as ``{key, kind: "gone"}``. :class:`SurfaceDecoder`
is the client side.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Surface entry format version (bump on any incompatible change).
FORMAT = 1
#: Quantisation step of vertex positions (m).
STEP_M = 1e-4


def surface_key(key: Hashable) -> str:
    """A draw list key as text (``("defib_pads", 12)`` -> ``"defib_pads/12"``)."""
    return "/".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _pack(array: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array, "<i4").tobytes(), 6)).decode()


def _unpack(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), "<i4").reshape(shape)


@dataclass
class SurfaceEncoder:
    """One member's encoder: what it last received of every key (grid coordinates)."""

    step: float = STEP_M
    sent: dict[str, np.ndarray] = field(default_factory=dict)

    def encode(self, surfaces: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict[str, Any]]:
        """Entries for ``surfaces`` ({key: (positions (N, 3) m, faces (M, 3))})."""
        out: list[dict[str, Any]] = []
        for key, (positions, faces) in surfaces.items():
            grid = np.rint(np.asarray(positions, float) / self.step).astype(np.int64)
            if np.abs(grid).max(initial=0) >= 2**31:
                continue  # farther than 214 km from the origin: not a scene surface
            grid32 = grid.astype(np.int32)
            last = self.sent.get(key)
            entry: dict[str, Any] = {"key": key, "fmt": FORMAT, "n": int(grid32.shape[0]), "step": self.step}
            if last is None or last.shape != grid32.shape:
                entry["kind"] = "key"
                entry["pos"] = _pack(grid32)
                entry["faces"] = _pack(np.asarray(faces, np.int64).astype(np.int32))
                entry["m"] = int(np.asarray(faces).shape[0])
            else:
                if np.array_equal(last, grid32):
                    continue  # unchanged since the last frame this member got: nothing to send
                entry["kind"] = "delta"
                entry["pos"] = _pack(grid32 - last)
            self.sent[key] = grid32
            out.append(entry)
        for key in [k for k in self.sent if k not in surfaces]:
            del self.sent[key]
            out.append({"key": key, "fmt": FORMAT, "kind": "gone"})
        return out


@dataclass
class SurfaceDecoder:
    """A client's surfaces, rebuilt from the entries: {key: (positions m, faces)}."""

    grids: dict[str, np.ndarray] = field(default_factory=dict)
    faces: dict[str, np.ndarray] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)

    def apply(self, entries: list[dict[str, Any]]) -> None:
        """Apply one state's entries (in order)."""
        for e in entries:
            key = str(e["key"])
            if e.get("fmt") != FORMAT:
                raise ValueError(f"surface format {e.get('fmt')!r} is not supported (this client reads {FORMAT})")
            kind = e["kind"]
            if kind == "gone":
                self.grids.pop(key, None)
                self.faces.pop(key, None)
                continue
            if kind == "delta" and key not in self.grids:
                raise ValueError(f"a delta for surface {key!r} arrived before its keyframe")
            n = int(e["n"])
            delta = _unpack(e["pos"], (n, 3))
            if kind == "key":
                self.grids[key] = delta.astype(np.int32).copy()
                self.faces[key] = _unpack(e["faces"], (int(e["m"]), 3)).copy()
                self.steps[key] = float(e["step"])
            else:
                self.grids[key] = self.grids[key] + delta

    def positions(self, key: str) -> np.ndarray:
        """The surface's vertex positions (m)."""
        return self.grids[key].astype(float) * self.steps[key]
