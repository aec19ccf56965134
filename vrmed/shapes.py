"""Low-poly mesh building blocks for the asset generators of content packs.

A pack's ``assets/make_assets.py`` builds its models from these (trimesh primitives in
metres, y up) and writes them as OBJ files beside itself with :func:`write_assets`; packs
reach this module as ``vrmed.api.shapes``. The emergency and nursing generators share
every piece here, so a change to one (the bed, the patient's chest) changes both scenes
the same way; each generator's test (``tests/test_clinical_scenes.py``) checks that it
still reproduces the committed files.

Conventions (docs/clinical.md, "Scenes and their assets"):

- Equipment: origin on the floor at the centre of the footprint, front towards +z.
- People: the *anatomical frame* of a patient's ``Transform``: origin on the front of the
  chest over the lower sternum, local -x towards the head, +y anterior (out of the chest),
  +z the patient's right; a supine patient has the identity orientation and the back of
  the chest on the plane y = :data:`BACK`.
- The hospital bed: origin on the floor under its centre, head end towards -x, the
  mattress top at :data:`MATTRESS_TOP` (where a supine patient's back plane rests).

trimesh is imported when the first mesh is built (about 100 ms), not with the pack API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import trimesh

Vec = Sequence[float]

#: The back of the chest in the anatomical frame: a supine patient lies with this plane on
#: the support (m).
BACK = -0.22
#: Half-depth and half-width of the chest (m), as the clinical draw code assumes.
CHEST_RY, CHEST_RZ = 0.11, 0.18
#: Height of the bed's mattress top above the floor (m): a patient's back plane rests here,
#: so a patient in bed has the sternum ``Transform`` at y = 0.94.
MATTRESS_TOP = 0.72
#: Height of a wall panel (m).
WALL_H = 2.6


def _tm() -> ModuleType:
    import trimesh  # deferred: ~100 ms import, only asset generators build meshes

    # trimesh logs a fallback notice when scipy is absent; these primitives do not need scipy
    logging.getLogger("trimesh").setLevel(logging.ERROR)
    return trimesh


# --- primitives ---------------------------------------------------------------------------


def box(size: Vec, centre: Vec) -> trimesh.Trimesh:
    """An axis-aligned box, flat shaded (each face has its own vertices, so the renderer's
    vertex normals are the face normals and edges stay crisp)."""
    mesh = _tm().creation.box(extents=np.asarray(size, float))
    mesh.apply_translation(np.asarray(centre, float))
    mesh.unmerge_vertices()
    return mesh


def capsule(a: Vec, b: Vec, radius: float, count: int = 8) -> trimesh.Trimesh:
    """A capsule of ``radius`` around the segment a-b (limbs, rails, handles)."""
    tm = _tm()
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    axis = b_ - a_
    length = float(np.linalg.norm(axis))
    mesh = tm.creation.capsule(height=length, radius=radius, count=[count, count])
    mesh.apply_transform(tm.geometry.align_vectors([0.0, 0.0, 1.0], axis / length))
    mesh.apply_translation((a_ + b_) / 2.0)
    return mesh


def cylinder(a: Vec, b: Vec, radius: float, sections: int = 12) -> trimesh.Trimesh:
    """A closed cylinder from a to b (castors, poles, vials)."""
    return _tm().creation.cylinder(radius=radius, segment=np.array([a, b], float), sections=sections)


def ellipsoid(centre: Vec, radii: Vec, subdivisions: int = 2) -> trimesh.Trimesh:
    """An ellipsoid (heads, hands, bags) from a scaled icosphere."""
    mesh = _tm().creation.icosphere(subdivisions=subdivisions, radius=1.0)
    mesh.apply_scale(np.asarray(radii, float))
    mesh.apply_translation(np.asarray(centre, float))
    return mesh


def blob(x0: float, x1: float, centre_yz: Vec, ry: float, rz: float, count: int = 10) -> trimesh.Trimesh:
    """A capsule along x from x0 to x1 with an elliptic section (half-axes ry, rz): torsos,
    pillows, mattresses' rounded parts."""
    tm = _tm()
    cap = min(ry, rz)
    mesh = tm.creation.capsule(height=(x1 - x0) / cap - 2.0, radius=1.0, count=[count, count])
    mesh.apply_transform(tm.geometry.align_vectors([0.0, 0.0, 1.0], [1.0, 0.0, 0.0]))
    mesh.apply_scale([cap, ry, rz])
    mesh.apply_translation([(x0 + x1) / 2.0, centre_yz[0], centre_yz[1]])
    return mesh


def merge(parts: Sequence[trimesh.Trimesh]) -> trimesh.Trimesh:
    """One mesh of all parts (vertices are not welded across parts)."""
    tm = _tm()
    mesh = tm.util.concatenate(list(parts))
    assert isinstance(mesh, tm.Trimesh)  # concatenate is typed as returning any geometry
    return mesh


def mirror_z(parts: Sequence[trimesh.Trimesh]) -> list[trimesh.Trimesh]:
    """The parts and their mirror images across z = 0 (left and right limbs, rails)."""
    out = list(parts)
    for part in parts:
        m = part.copy()
        m.apply_transform(np.diag([1.0, 1.0, -1.0, 1.0]))
        m.invert()  # mirroring flips the winding; keep faces pointing outwards
        out.append(m)
    return out


def castors(half_x: float, half_z: float, radius: float = 0.04) -> list[trimesh.Trimesh]:
    """Four castor wheels at (+-half_x, +-half_z) on the floor (carts, stands, trolleys)."""
    out = []
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            x, z = sx * half_x, sz * half_z
            out.append(cylinder((x, radius, z - 0.02), (x, radius, z + 0.02), radius, sections=10))
    return out


# --- people (anatomical frame, see the module docstring) ----------------------------------


def head(lift: float) -> list[trimesh.Trimesh]:
    """Head and neck; ``lift`` raises the back of the head above the back plane (a pillow)."""
    cy = BACK + lift + 0.1
    return [
        ellipsoid((-0.37, cy, 0.0), (0.115, 0.1, 0.085)),
        capsule((-0.26, cy - 0.01, 0.0), (-0.17, BACK + 0.1, 0.0), 0.055),
    ]


def chest() -> list[trimesh.Trimesh]:
    """Chest and shoulders: front of the chest at y = 0 over the origin."""
    return [
        blob(-0.2, 0.14, (BACK + CHEST_RY, 0.0), CHEST_RY, CHEST_RZ),
        capsule((-0.15, BACK + 0.1, -0.15), (-0.15, BACK + 0.1, 0.15), 0.065),
    ]


def abdomen() -> list[trimesh.Trimesh]:
    """Abdomen and pelvis."""
    return [blob(0.05, 0.5, (BACK + 0.1, 0.0), 0.1, 0.165)]


# --- hospital bed (origin under its centre; head end towards -x) and room parts -----------


def bed_frame() -> trimesh.Trimesh:
    """Hospital bed: castors, chassis, lift columns, deck, head and foot boards, a raised
    side rail on the far side (-z) and a lowered one on the near side (+z)."""
    parts: list[trimesh.Trimesh] = []
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            x, z = sx * 0.85, sz * 0.36
            parts.append(cylinder((x, 0.06, z - 0.025), (x, 0.06, z + 0.025), 0.06, sections=10))
            parts.append(box((0.05, 0.08, 0.05), (x, 0.14, z)))
    parts += [
        box((1.85, 0.07, 0.78), (0.0, 0.2, 0.0)),  # chassis
        box((0.16, 0.3, 0.3), (-0.55, 0.38, 0.0)),  # lift columns
        box((0.16, 0.3, 0.3), (0.55, 0.38, 0.0)),
        box((2.0, 0.05, 0.9), (0.0, 0.535, 0.0)),  # deck
        box((0.05, 0.5, 0.92), (-1.03, 0.75, 0.0)),  # head board
        box((0.05, 0.38, 0.92), (1.03, 0.69, 0.0)),  # foot board
    ]
    for z, top in ((-0.49, 0.92), (0.49, 0.5)):  # raised far rail, lowered near rail
        parts.append(capsule((-0.8, top, z), (0.2, top, z), 0.016))
        parts.append(capsule((-0.8, top - 0.12, z), (0.2, top - 0.12, z), 0.012))
        for x in (-0.7, 0.1):
            parts.append(capsule((x, 0.56, z), (x, top, z), 0.014))
    return merge(parts)


def mattress() -> trimesh.Trimesh:
    """Mattress under a white sheet (top at MATTRESS_TOP)."""
    return box((1.96, MATTRESS_TOP - 0.56, 0.86), (0.0, (MATTRESS_TOP + 0.56) / 2.0, 0.0))


def pillow() -> trimesh.Trimesh:
    """Pillow at the head end (patient origin at x = -0.3 in bed coordinates)."""
    return blob(-0.95, -0.5, (MATTRESS_TOP + 0.06, 0.0), 0.06, 0.3)


def wall_panel() -> trimesh.Trimesh:
    """A 1.2 m wide section of wall (facing +z, its back on z = 0): rooms are lined with
    several, so that each casts only a narrow contact shadow at its foot."""
    return box((1.2, WALL_H, 0.08), (0.0, WALL_H / 2.0, -0.04))


def headwall() -> trimesh.Trimesh:
    """The bed-head service panel on a wall (facing +z): a rail with oxygen and suction
    outlets, a suction jar and an oxygen flowmeter."""
    return merge(
        [
            box((1.1, 0.22, 0.06), (0.0, 1.45, 0.03)),
            cylinder((-0.3, 1.3, 0.06), (-0.3, 1.3, 0.12), 0.035, sections=10),
            ellipsoid((-0.3, 1.18, 0.1), (0.06, 0.09, 0.06), subdivisions=1),
            cylinder((0.25, 1.36, 0.06), (0.25, 1.36, 0.1), 0.02, sections=10),
            cylinder((0.25, 1.2, 0.1), (0.25, 1.36, 0.1), 0.018, sections=10),
        ]
    )


# --- writing ------------------------------------------------------------------------------


def obj_text(name: str, mesh: trimesh.Trimesh, pack: str) -> str:
    """A minimal Wavefront OBJ (vertices to 0.1 mm and triangles; the renderer computes
    normals), stable across trimesh versions; the header names the generating ``pack``."""
    lines = [f"# {name}: generated by make_assets.py (vrmed {pack} pack); metres, y up", f"o {name}"]
    lines += [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in np.asarray(mesh.vertices)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(mesh.faces)]
    return "\n".join(lines) + "\n"


def write_assets(assets: Mapping[str, Callable[[], trimesh.Trimesh]], out: str | Path, pack: str) -> int:
    """Build every model of ``assets`` (file stem -> builder) and write it as
    ``out/<stem>.obj``, printing one line of sizes per file; 0 (an exit status)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, make in assets.items():
        mesh = make()
        path = folder / f"{name}.obj"
        path.write_text(obj_text(name, mesh, pack), encoding="utf-8")
        size = path.stat().st_size
        print(f"{path.name:28s} {len(mesh.vertices):6d} vertices {len(mesh.faces):6d} triangles {size:8d} B")
    return 0


__all__ = [
    "BACK",
    "CHEST_RY",
    "CHEST_RZ",
    "MATTRESS_TOP",
    "WALL_H",
    "abdomen",
    "bed_frame",
    "blob",
    "box",
    "capsule",
    "castors",
    "chest",
    "cylinder",
    "ellipsoid",
    "head",
    "headwall",
    "mattress",
    "merge",
    "mirror_z",
    "obj_text",
    "pillow",
    "wall_panel",
    "write_assets",
]
