"""Generate the emergency pack's low-poly meshes (the OBJ files beside this script).

Run ``python content/emergency/assets/make_assets.py`` after changing a model; commit the
OBJ files it writes. Every model is built from trimesh primitives (boxes, capsules,
cylinders, spheres) in metres, y up. Conventions (docs/clinical.md, "Scenes and their
assets"):

- Equipment: origin on the floor at the centre of the footprint, front (screen, drawers)
  towards +z, so a prefab's ``Transform`` is simply where it stands.
- People: the *anatomical frame* of a patient's ``Transform``: origin on the front of the
  chest over the lower sternum (where compressions go), local -x towards the head, +y
  anterior (out of the chest), +z the patient's right. A supine patient has the identity
  orientation; the clinical draw code puts defibrillator pads and triage tags in this frame.

Each model has one colour (a ``VisualMesh`` has one), so a multi-coloured object is
several files sharing one origin (e.g. ``defib_trolley`` + ``defibrillator`` +
``defib_controls``), placed by entities with the same ``Transform``.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import trimesh

HERE = Path(__file__).resolve().parent
# trimesh logs a fallback notice when scipy is absent; the primitives here do not need scipy
logging.getLogger("trimesh").setLevel(logging.ERROR)
Vec = Sequence[float]


# --- primitives ---------------------------------------------------------------------------


def box(size: Vec, centre: Vec) -> trimesh.Trimesh:
    """An axis-aligned box, flat shaded (each face has its own vertices, so the renderer's
    vertex normals are the face normals and edges stay crisp)."""
    mesh = trimesh.creation.box(extents=np.asarray(size, float))
    mesh.apply_translation(np.asarray(centre, float))
    mesh.unmerge_vertices()
    return mesh


def capsule(a: Vec, b: Vec, radius: float, count: int = 8) -> trimesh.Trimesh:
    """A capsule of ``radius`` around the segment a-b (limbs, rails, handles)."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    axis = b_ - a_
    length = float(np.linalg.norm(axis))
    mesh = trimesh.creation.capsule(height=length, radius=radius, count=[count, count])
    mesh.apply_transform(trimesh.geometry.align_vectors([0.0, 0.0, 1.0], axis / length))
    mesh.apply_translation((a_ + b_) / 2.0)
    return mesh


def cylinder(a: Vec, b: Vec, radius: float, sections: int = 12) -> trimesh.Trimesh:
    """A closed cylinder from a to b (castors, poles, vials)."""
    return trimesh.creation.cylinder(radius=radius, segment=np.array([a, b], float), sections=sections)


def ellipsoid(centre: Vec, radii: Vec, subdivisions: int = 2) -> trimesh.Trimesh:
    """An ellipsoid (heads, hands, bags) from a scaled icosphere."""
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0)
    mesh.apply_scale(np.asarray(radii, float))
    mesh.apply_translation(np.asarray(centre, float))
    return mesh


def blob(x0: float, x1: float, centre_yz: Vec, ry: float, rz: float, count: int = 10) -> trimesh.Trimesh:
    """A capsule along x from x0 to x1 with an elliptic section (half-axes ry, rz): torsos,
    pillows, mattresses' rounded parts."""
    cap = min(ry, rz)
    mesh = trimesh.creation.capsule(height=(x1 - x0) / cap - 2.0, radius=1.0, count=[count, count])
    mesh.apply_transform(trimesh.geometry.align_vectors([0.0, 0.0, 1.0], [1.0, 0.0, 0.0]))
    mesh.apply_scale([cap, ry, rz])
    mesh.apply_translation([(x0 + x1) / 2.0, centre_yz[0], centre_yz[1]])
    return mesh


def merge(parts: Sequence[trimesh.Trimesh]) -> trimesh.Trimesh:
    """One mesh of all parts (vertices are not welded across parts)."""
    mesh = trimesh.util.concatenate(list(parts))
    assert isinstance(mesh, trimesh.Trimesh)  # concatenate is typed as returning any geometry
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


# --- people (anatomical frame, see the module docstring) ----------------------------------

BACK = -0.22  # the back of the chest: a supine patient lies with this plane on the support
CHEST_RY, CHEST_RZ = 0.11, 0.18  # half-depth and half-width of the chest (as in systems/clinical/draw.py)


def _head(lift: float) -> list[trimesh.Trimesh]:
    """Head and neck; ``lift`` raises the back of the head above the back plane (a pillow)."""
    cy = BACK + lift + 0.1
    return [
        ellipsoid((-0.37, cy, 0.0), (0.115, 0.1, 0.085)),
        capsule((-0.26, cy - 0.01, 0.0), (-0.17, BACK + 0.1, 0.0), 0.055),
    ]


def _chest() -> list[trimesh.Trimesh]:
    """Chest and shoulders: front of the chest at y = 0 over the origin."""
    return [
        blob(-0.2, 0.14, (BACK + CHEST_RY, 0.0), CHEST_RY, CHEST_RZ),
        capsule((-0.15, BACK + 0.1, -0.15), (-0.15, BACK + 0.1, 0.15), 0.065),
    ]


def _abdomen() -> list[trimesh.Trimesh]:
    """Abdomen and pelvis."""
    return [blob(0.05, 0.5, (BACK + 0.1, 0.0), 0.1, 0.165)]


def _arms_at_sides() -> list[trimesh.Trimesh]:
    """Arms lying beside the body, palms down (a supine patient)."""
    y = BACK + 0.045
    return mirror_z(
        [
            capsule((-0.15, BACK + 0.08, 0.2), (0.12, y, 0.245), 0.045),
            capsule((0.12, y, 0.245), (0.37, y - 0.005, 0.255), 0.037),
            ellipsoid((0.45, y - 0.01, 0.255), (0.085, 0.022, 0.045), subdivisions=1),
        ]
    )


def _legs_supine() -> list[trimesh.Trimesh]:
    """Legs stretched out, feet pointing up."""
    return mirror_z(
        [
            capsule((0.44, BACK + 0.08, 0.09), (0.8, BACK + 0.065, 0.1), 0.075),
            capsule((0.8, BACK + 0.06, 0.1), (1.18, BACK + 0.05, 0.1), 0.055),
        ]
    )


def _feet_supine() -> list[trimesh.Trimesh]:
    """Feet pointing up from the ankles."""
    return mirror_z([ellipsoid((1.23, BACK + 0.1, 0.1), (0.045, 0.11, 0.045), subdivisions=1)])


def _legs_sitting() -> list[trimesh.Trimesh]:
    """Sitting on the ground: thighs and shins forward (+y) along the ground plane
    x = 0.5 (the seat), knees slightly raised (towards -x)."""
    hip_y = BACK + 0.1
    return mirror_z(
        [
            capsule((0.43, hip_y, 0.09), (0.36, hip_y + 0.4, 0.11), 0.075),
            capsule((0.36, hip_y + 0.4, 0.11), (0.45, hip_y + 0.8, 0.11), 0.055),
        ]
    )


def _feet_sitting() -> list[trimesh.Trimesh]:
    """Feet up from the ankles of a sitting person (towards the head, -x)."""
    hip_y = BACK + 0.1
    return mirror_z([ellipsoid((0.38, hip_y + 0.83, 0.11), (0.11, 0.045, 0.045), subdivisions=1)])


def _arms_sitting() -> list[trimesh.Trimesh]:
    """Arms down beside the upright torso, forearms resting on the thighs."""
    return mirror_z(
        [
            capsule((-0.15, BACK + 0.1, 0.2), (0.1, BACK + 0.08, 0.24), 0.045),
            capsule((0.1, BACK + 0.08, 0.24), (0.25, BACK + 0.33, 0.17), 0.037),
            ellipsoid((0.29, BACK + 0.41, 0.15), (0.045, 0.085, 0.03), subdivisions=1),
        ]
    )


def _hands_sitting() -> list[trimesh.Trimesh]:
    return _arms_sitting()[2::3]


def patient_skin() -> trimesh.Trimesh:
    """A patient on a bed with the gown open (for CPR and pads): head on a pillow, bare
    chest, arms and feet."""
    return merge([*_head(0.12), *_chest(), *_arms_at_sides(), *_feet_supine()])


def patient_trousers() -> trimesh.Trimesh:
    """The bed patient's pyjama trousers: pelvis and legs."""
    return merge([*_abdomen(), *_legs_supine()])


def casualty_supine() -> trimesh.Trimesh:
    """A clothed casualty lying on his back on the ground (torso, arms and legs)."""
    arms = _arms_at_sides()
    return merge([*_chest(), *_abdomen(), *arms[0:2], *arms[3:5], *_legs_supine(), *_feet_supine()])


def casualty_supine_skin() -> trimesh.Trimesh:
    """Head and hands of the supine casualty (head on the ground)."""
    arms = _arms_at_sides()
    return merge([*_head(0.0), arms[2], arms[5]])


def casualty_sitting() -> trimesh.Trimesh:
    """A clothed casualty sitting on the ground, legs out in front (the walking wounded).
    Anatomical frame: stand it upright with the Transform (local -x up)."""
    arms = _arms_sitting()
    return merge([*_chest(), *_abdomen(), *arms[0:2], *arms[3:5], *_legs_sitting(), *_feet_sitting()])


def casualty_sitting_skin() -> trimesh.Trimesh:
    """Head and hands of the sitting casualty."""
    return merge([*_head(0.0), *_hands_sitting()])


# --- hospital bed (origin under its centre; head end towards -x) --------------------------

MATTRESS_TOP = 0.72  # a patient's back plane rests here (sternum Transform at y = 0.94)


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


def blanket() -> trimesh.Trimesh:
    """A folded blanket across the foot of the bed."""
    return box((0.3, 0.06, 0.88), (0.8, MATTRESS_TOP + 0.03, 0.0))


# --- resuscitation equipment --------------------------------------------------------------


def _castors(half_x: float, half_z: float, radius: float = 0.04) -> list[trimesh.Trimesh]:
    out = []
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            x, z = sx * half_x, sz * half_z
            out.append(cylinder((x, radius, z - 0.02), (x, radius, z + 0.02), radius, sections=10))
    return out


DEFIB_SHELF = 0.92  # the defibrillator stands on its trolley's top shelf


def defib_trolley() -> trimesh.Trimesh:
    """The defibrillator's trolley: castors, base, pole, top shelf and a basket."""
    return merge(
        [
            *_castors(0.2, 0.2),
            box((0.5, 0.04, 0.5), (0.0, 0.1, 0.0)),
            cylinder((0.0, 0.12, -0.05), (0.0, DEFIB_SHELF - 0.02, -0.05), 0.03),
            box((0.46, 0.03, 0.4), (0.0, DEFIB_SHELF - 0.015, 0.0)),
            box((0.4, 0.1, 0.3), (0.0, 0.55, 0.0)),
        ]
    )


def defibrillator() -> trimesh.Trimesh:
    """The manual defibrillator/monitor body with a carry handle (its one colour)."""
    y0 = DEFIB_SHELF
    return merge(
        [
            box((0.36, 0.26, 0.28), (0.0, y0 + 0.13, 0.0)),
            capsule((-0.12, y0 + 0.3, -0.02), (0.12, y0 + 0.3, -0.02), 0.018),
            capsule((-0.12, y0 + 0.26, -0.02), (-0.12, y0 + 0.3, -0.02), 0.015),
            capsule((0.12, y0 + 0.26, -0.02), (0.12, y0 + 0.3, -0.02), 0.015),
        ]
    )


def defib_controls() -> trimesh.Trimesh:
    """What is dark on the defibrillator: the screen, the shock button panel, the paddles
    in their side wells and the packed pads on top."""
    y0 = DEFIB_SHELF
    parts = [
        box((0.2, 0.13, 0.012), (-0.05, y0 + 0.16, 0.144)),  # screen
        box((0.08, 0.16, 0.012), (0.12, y0 + 0.13, 0.144)),  # energy dial, charge and shock
        box((0.2, 0.012, 0.14), (0.0, y0 + 0.266, 0.05)),  # pads in their packet
    ]
    for sx in (-1.0, 1.0):  # paddles in their wells on both sides
        parts.append(box((0.05, 0.12, 0.16), (sx * 0.2, y0 + 0.12, 0.02)))
        parts.append(capsule((sx * 0.2, y0 + 0.2, -0.04), (sx * 0.2, y0 + 0.2, 0.08), 0.02))
    return merge(parts)


def crash_cart() -> trimesh.Trimesh:
    """The crash (resuscitation) cart: a body with five drawers and a lipped top."""
    parts = [box((0.72, 0.84, 0.5), (0.0, 0.52, 0.0)), box((0.76, 0.05, 0.54), (0.0, 0.965, 0.0))]
    y = 0.16
    for height in (0.12, 0.12, 0.16, 0.18, 0.22):  # drawer fronts, proud of the body
        parts.append(box((0.66, height - 0.02, 0.02), (0.0, y + height / 2.0, 0.26)))
        y += height
    return merge(parts)


def crash_cart_trim() -> trimesh.Trimesh:
    """The crash cart's grey parts: castors, bumper, push handle, drawer pulls, a drip
    stand socket and a sharps bin on top."""
    parts = [*_castors(0.3, 0.19, 0.05), box((0.76, 0.05, 0.54), (0.0, 0.125, 0.0))]
    parts.append(capsule((-0.41, 0.85, -0.2), (-0.41, 0.85, 0.2), 0.015))
    parts += [capsule((-0.39, 0.85, z), (-0.36, 0.85, z), 0.012) for z in (-0.2, 0.2)]
    y = 0.16
    for height in (0.12, 0.12, 0.16, 0.18, 0.22):
        yc = y + height / 2.0
        parts.append(capsule((-0.12, yc, 0.285), (0.12, yc, 0.285), 0.01))
        y += height
    parts.append(box((0.16, 0.2, 0.12), (0.24, 1.09, -0.14)))
    return merge(parts)


def bag_valve_mask() -> trimesh.Trimesh:
    """A bag-valve-mask lying on its side (origin under the bag, axis along +x): the
    self-inflating bag, the valve and the face mask."""
    r = 0.065
    return merge(
        [
            blob(-0.16, 0.12, (r, 0.0), r, r),
            cylinder((0.11, r, 0.0), (0.17, r, 0.0), 0.018),
            trimesh.creation.cone(radius=0.06, height=0.07, sections=14)
            .apply_transform(trimesh.transformations.rotation_matrix(-math.pi / 2.0, [0.0, 1.0, 0.0]))
            .apply_translation([0.24, r, 0.0]),
            ellipsoid((-0.22, r, 0.0), (0.06, 0.05, 0.05), subdivisions=1),
        ]
    )


def iv_pole() -> trimesh.Trimesh:
    """Drip stand: five-legged base on castors, pole, hooks."""
    parts = [cylinder((0.0, 0.06, 0.0), (0.0, 2.0, 0.0), 0.013, sections=8)]
    for k in range(5):
        a = 2.0 * math.pi * k / 5.0
        x, z = 0.28 * math.cos(a), 0.28 * math.sin(a)
        parts.append(capsule((0.0, 0.08, 0.0), (x, 0.06, z), 0.014, count=6))
        parts.append(cylinder((x, 0.03, z - 0.015), (x, 0.03, z + 0.015), 0.03, sections=8))
    parts.append(capsule((-0.12, 1.95, 0.0), (0.12, 1.95, 0.0), 0.009, count=6))
    return merge(parts)


def iv_bag() -> trimesh.Trimesh:
    """A 1 L bag of fluid on the drip stand's hook and its giving set down to the bed."""
    return merge(
        [
            box((0.12, 0.22, 0.035), (0.12, 1.78, 0.0)),
            capsule((0.12, 1.66, 0.0), (0.12, 1.5, 0.0), 0.008, count=6),
        ]
    )


def monitor_stand() -> trimesh.Trimesh:
    """The bedside monitor's roll stand: castors, base, pole and a bracket."""
    return merge(
        [
            *_castors(0.2, 0.2, 0.035),
            box((0.46, 0.03, 0.46), (0.0, 0.085, 0.0)),
            cylinder((0.0, 0.1, 0.0), (0.0, 1.35, 0.0), 0.025, sections=10),
            box((0.08, 0.08, 0.1), (0.0, 1.38, 0.02)),
        ]
    )


def monitor_screen() -> trimesh.Trimesh:
    """The bedside monitor: a dark housing facing +z (the readings are on screen, in the
    monitor panel overlay)."""
    return box((0.36, 0.28, 0.12), (0.0, 1.52, 0.06))


WALL_H = 2.6


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


# --- the bus of the mass-casualty scene (sections 2.5 m long along x, origin on the road) --

BUS_SECTION = 2.5


def bus_body() -> trimesh.Trimesh:
    """One 2.5 m section of a coach's body (a bus is four in a row, so that each casts a
    contact shadow of its own size)."""
    return box((BUS_SECTION, 2.5, 2.5), (0.0, 1.65, 0.0))


def bus_windows() -> trimesh.Trimesh:
    """The window band of a section, on both sides."""
    return box((BUS_SECTION - 0.2, 0.85, 2.52), (0.0, 2.2, 0.0))


def bus_wheels() -> trimesh.Trimesh:
    """A pair of wheels under a section."""
    return merge(
        [
            cylinder((0.0, 0.5, -1.27), (0.0, 0.5, -0.97), 0.5, sections=16),
            cylinder((0.0, 0.5, 0.97), (0.0, 0.5, 1.27), 0.5, sections=16),
        ]
    )


#: Every asset: file stem -> builder (the order the files are written and documented in).
ASSETS: dict[str, Callable[[], trimesh.Trimesh]] = {
    "bed_frame": bed_frame,
    "mattress": mattress,
    "pillow": pillow,
    "blanket": blanket,
    "patient_skin": patient_skin,
    "patient_trousers": patient_trousers,
    "casualty_supine": casualty_supine,
    "casualty_supine_skin": casualty_supine_skin,
    "casualty_sitting": casualty_sitting,
    "casualty_sitting_skin": casualty_sitting_skin,
    "defib_trolley": defib_trolley,
    "defibrillator": defibrillator,
    "defib_controls": defib_controls,
    "crash_cart": crash_cart,
    "crash_cart_trim": crash_cart_trim,
    "bag_valve_mask": bag_valve_mask,
    "iv_pole": iv_pole,
    "iv_bag": iv_bag,
    "monitor_stand": monitor_stand,
    "monitor_screen": monitor_screen,
    "wall_panel": wall_panel,
    "headwall": headwall,
    "bus_body": bus_body,
    "bus_windows": bus_windows,
    "bus_wheels": bus_wheels,
}


def build() -> dict[str, trimesh.Trimesh]:
    """Every model, by file stem (nothing written)."""
    return {name: make() for name, make in ASSETS.items()}


def obj_text(name: str, mesh: trimesh.Trimesh) -> str:
    """A minimal Wavefront OBJ (vertices to 0.1 mm and triangles; the renderer computes
    normals), stable across trimesh versions."""
    lines = [f"# {name}: generated by make_assets.py (vrmed emergency pack); metres, y up", f"o {name}"]
    lines += [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in np.asarray(mesh.vertices)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(mesh.faces)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] = ()) -> int:
    """Write every model as ``<stem>.obj`` beside this script (or into ``argv[0]``)."""
    out = Path(argv[0]) if argv else HERE
    out.mkdir(parents=True, exist_ok=True)
    for name, mesh in build().items():
        path = out / f"{name}.obj"
        path.write_text(obj_text(name, mesh), encoding="utf-8")
        size = path.stat().st_size
        print(f"{path.name:28s} {len(mesh.vertices):6d} vertices {len(mesh.faces):6d} triangles {size:8d} B")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
