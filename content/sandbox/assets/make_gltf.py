"""Make ``trocar_port.glb``: a 12 mm laparoscopic trocar port (cannula, housing, stopcock).

Run ``python content/sandbox/assets/make_gltf.py`` to regenerate the asset beside this
script. It is made by vrmed from code alone (no scanned or downloaded data), so it is
under vrmed's own licence (see README.md here).

The file is plain glTF 2.0 written by hand (JSON chunk + binary chunk), to show authors
exactly what vrmed reads: metres, +Y up, right-handed, counter-clockwise front faces,
a PBR metallic-roughness material with a base colour texture (sRGB PNG) and per-vertex
UVs, and two nodes (the stopcock node is rotated and translated, so the loader must
apply node transforms).

Layout: the cannula's tip is at the origin and its axis is +Y; the housing is on top
(0.10 to 0.138 m), the stopcock points along +X.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "trocar_port.glb"

SEGMENTS = 32  # around the axis

# The body's profile (radius, height) in metres from the cannula tip to the top seal; each
# consecutive pair is one band with its own (flat) profile normal, so the edges stay crisp.
PROFILE = [
    (0.0, 0.0),
    (0.0045, 0.002),
    (0.006, 0.006),  # rounded tip
    (0.006, 0.095),  # cannula (12 mm)
    (0.009, 0.100),
    (0.016, 0.102),  # flare into the housing
    (0.016, 0.135),  # housing
    (0.013, 0.138),
    (0.004, 0.138),  # top, around the valve
    (0.004, 0.134),
    (0.0, 0.134),  # valve recess
]

# Where each profile band lands in the texture (v from the image's top, glTF convention).
# The cannula is the bottom half of the image, the housing above it, the seal at the top.
V_CANNULA = (1.0, 0.5)
V_HOUSING = (0.5, 0.12)
V_TOP = (0.12, 0.0)

# Texture colours (display sRGB, 0-255): plastic grey cannula with black centimetre marks,
# a teal housing with a yellow band, a dark seal.
CANNULA = (140, 148, 154)
MARK = (20, 20, 22)
HOUSING = (18, 140, 150)
BAND = (240, 190, 30)
SEAL = (36, 36, 40)
TEX_W, TEX_H = 32, 128


def texture() -> np.ndarray:
    """The base colour texture, (TEX_H, TEX_W, 3) uint8, top row first."""
    img = np.zeros((TEX_H, TEX_W, 3), np.uint8)
    rows = (np.arange(TEX_H) + 0.5) / TEX_H  # v of each row's centre
    img[:] = SEAL
    housing = (rows >= V_HOUSING[1]) & (rows < V_HOUSING[0])
    img[housing] = HOUSING
    band = (rows >= 0.26) & (rows < 0.34)
    img[band] = BAND
    cannula = rows >= V_CANNULA[1]
    img[cannula] = CANNULA
    # depth marks every centimetre along the cannula (the cannula spans 0.006-0.095 m)
    height = 0.006 + (1.0 - rows) / (V_CANNULA[0] - V_CANNULA[1]) * (0.095 - 0.006)
    marks = cannula & (np.abs(height * 100.0 - np.round(height * 100.0)) < 0.12) & (height > 0.015)
    img[marks] = MARK
    return img


def encode_png(img: np.ndarray) -> bytes:
    """An 8-bit RGB PNG (stdlib only: filter 0 rows, zlib level 9)."""
    h, w, _ = img.shape
    raw = np.zeros((h, 1 + 3 * w), np.uint8)
    raw[:, 1:] = img.reshape(h, 3 * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


# Which texture region each profile band uses: (v at y_lo, v at y_hi, y_lo, y_hi); v follows
# the band's height linearly between them (clamped), so the centimetre marks are true to scale.
REGIONS = {
    "cannula": (V_CANNULA[0], V_CANNULA[1], 0.006, 0.095),
    "housing": (V_HOUSING[0], V_HOUSING[1], 0.095, 0.138),
    "top": (V_TOP[0] - 0.02, V_TOP[1] + 0.02, 0.134, 0.138),
}
BAND_REGION = ["cannula"] * 3 + ["housing"] * 4 + ["top"] * 3


def band_v(i: int) -> tuple[float, float]:
    """Texture v at the start and end of profile band ``i``."""
    va, vb, lo, hi = REGIONS[BAND_REGION[i]]

    def v(y: float) -> float:
        t = min(1.0, max(0.0, (y - lo) / (hi - lo)))
        return va + t * (vb - va)

    return v(PROFILE[i][1]), v(PROFILE[i + 1][1])


def lathe() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The body: positions, normals, UVs and triangles of the profile swept around +Y."""
    pos: list[tuple[float, float, float]] = []
    nrm: list[tuple[float, float, float]] = []
    uv: list[tuple[float, float]] = []
    tris: list[tuple[int, int, int]] = []
    angles = np.linspace(0.0, 2.0 * math.pi, SEGMENTS + 1)
    for i in range(len(PROFILE) - 1):
        (r0, y0), (r1, y1) = PROFILE[i], PROFILE[i + 1]
        dr, dy = r1 - r0, y1 - y0
        length = math.hypot(dr, dy)
        nr, ny = dy / length, -dr / length  # outward profile normal (profile runs upwards)
        v0, v1 = band_v(i)
        base = len(pos)
        for a in angles:
            c, s = math.cos(a), math.sin(a)
            for r, y, v in ((r0, y0, v0), (r1, y1, v1)):
                pos.append((r * c, y, -r * s))
                nrm.append((nr * c, ny, -nr * s))
                uv.append((a / (2.0 * math.pi), v))
        for k in range(SEGMENTS):
            a0, a1 = base + 2 * k, base + 2 * k + 1  # bottom, top at angle k
            b0, b1 = a0 + 2, a1 + 2  # at angle k + 1
            tris += [(a0, b0, b1), (a0, b1, a1)]
    return (
        np.array(pos, np.float32),
        np.array(nrm, np.float32),
        np.array(uv, np.float32),
        np.array(tris, np.uint16),
    )


def cylinder(radius: float, length: float, segments: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed cylinder along +Y from y = 0 to ``length``: positions, normals, triangles."""
    pos: list[tuple[float, float, float]] = []
    nrm: list[tuple[float, float, float]] = []
    tris: list[tuple[int, int, int]] = []
    angles = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
    for a in angles:  # side
        c, s = math.cos(a), math.sin(a)
        pos += [(radius * c, 0.0, -radius * s), (radius * c, length, -radius * s)]
        nrm += [(c, 0.0, -s), (c, 0.0, -s)]
    for k in range(segments):
        a0, a1 = 2 * k, 2 * k + 1
        b0, b1 = (2 * k + 2) % (2 * segments), (2 * k + 3) % (2 * segments)
        tris += [(a0, b0, b1), (a0, b1, a1)]
    for y, ny in ((0.0, -1.0), (length, 1.0)):  # caps
        centre = len(pos)
        pos.append((0.0, y, 0.0))
        nrm.append((0.0, ny, 0.0))
        for a in angles:
            pos.append((radius * math.cos(a), y, -radius * math.sin(a)))
            nrm.append((0.0, ny, 0.0))
        for k in range(segments):
            p, q = centre + 1 + k, centre + 1 + (k + 1) % segments
            tris.append((centre, p, q) if ny > 0 else (centre, q, p))
    return np.array(pos, np.float32), np.array(nrm, np.float32), np.array(tris, np.uint16)


class Packer:
    """Collects binary data into one buffer (4-byte aligned views) and the JSON objects
    that describe it."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def view(self, data: bytes, target: int | None = None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        view: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.blob += data
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int, bounds: bool = False) -> int:
        component = {np.dtype(np.float32): 5126, np.dtype(np.uint16): 5123}[array.dtype]
        acc: dict[str, Any] = {
            "bufferView": self.view(array.tobytes(), target),
            "componentType": component,
            "count": int(len(array)),
            "type": kind,
        }
        if bounds:
            acc["min"] = [float(v) for v in array.min(axis=0)]
            acc["max"] = [float(v) for v in array.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def build() -> bytes:
    """The GLB file's bytes."""
    packer = Packer()
    pos, nrm, uv, tris = lathe()
    body = {
        "attributes": {
            "POSITION": packer.accessor(pos, "VEC3", 34962, bounds=True),
            "NORMAL": packer.accessor(nrm, "VEC3", 34962),
            "TEXCOORD_0": packer.accessor(uv, "VEC2", 34962),
        },
        "indices": packer.accessor(tris.reshape(-1), "SCALAR", 34963),
        "material": 0,
    }
    cpos, cnrm, ctris = cylinder(0.0035, 0.016)
    stopcock = {
        "attributes": {
            "POSITION": packer.accessor(cpos, "VEC3", 34962, bounds=True),
            "NORMAL": packer.accessor(cnrm, "VEC3", 34962),
        },
        "indices": packer.accessor(ctris.reshape(-1), "SCALAR", 34963),
        "material": 1,
    }
    image_view = packer.view(encode_png(texture()))
    half = math.sqrt(0.5)
    doc: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "vrmed content/sandbox/assets/make_gltf.py"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [
            {"name": "trocar_port", "children": [1, 2]},
            {"name": "body", "mesh": 0},
            # A +Y cylinder turned to +X (-90 degrees about Z) and moved to the housing's side.
            {"name": "stopcock", "mesh": 1, "rotation": [0.0, 0.0, -half, half], "translation": [0.014, 0.118, 0.0]},
        ],
        "meshes": [{"name": "body", "primitives": [body]}, {"name": "stopcock", "primitives": [stopcock]}],
        "materials": [
            {
                "name": "port plastic",
                "pbrMetallicRoughness": {
                    "baseColorTexture": {"index": 0},
                    "baseColorFactor": [1.0, 1.0, 1.0, 1.0],
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.5,
                },
            },
            {
                "name": "stopcock steel",
                "pbrMetallicRoughness": {
                    "baseColorFactor": [0.80, 0.80, 0.82, 1.0],
                    "metallicFactor": 1.0,
                    "roughnessFactor": 0.35,
                },
            },
        ],
        "textures": [{"source": 0, "sampler": 0}],
        "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 33071}],
        "images": [{"bufferView": image_view, "mimeType": "image/png"}],
        "buffers": [{"byteLength": 0}],
        "bufferViews": packer.views,
        "accessors": packer.accessors,
    }
    while len(packer.blob) % 4:
        packer.blob.append(0)
    doc["buffers"][0]["byteLength"] = len(packer.blob)
    text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(packer.blob)
    return (
        struct.pack("<4sII", b"glTF", 2, total)
        + struct.pack("<I4s", len(text), b"JSON")
        + text
        + struct.pack("<I4s", len(packer.blob), b"BIN\x00")
        + bytes(packer.blob)
    )


if __name__ == "__main__":
    data = build()
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({len(data)} bytes)")
