"""Generate the nursing pack's low-poly meshes (the OBJ files beside this script).

Run ``python content/nursing/assets/make_assets.py`` after changing a model; commit the OBJ
files it writes. Every model is built from trimesh primitives (boxes, capsules, cylinders,
spheres) in metres, y up. Packs do not share files, so the bed, the people and the room
parts are built here as in the emergency pack's generator. Conventions (docs/clinical.md,
"Scenes and their assets"):

- Equipment: origin on the floor at the centre of the footprint, front (drawers, chart)
  towards +z, so a prefab's ``Transform`` is simply where it stands.
- People: the *anatomical frame* of a patient's ``Transform``: origin on the front of the
  chest over the lower sternum, local -x towards the head, +y anterior (out of the chest),
  +z the patient's right. A patient lying on her back has the identity orientation.

Each model has one colour (a ``VisualMesh`` has one), so a multi-coloured object is
several files sharing one origin (e.g. ``med_cart`` + ``med_cart_drawers`` + ...), placed
by entities with the same ``Transform``.
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


def _arms_on_blanket() -> list[trimesh.Trimesh]:
    """Arms beside the body with the forearms resting on the lap (on the blanket), so the
    wrists and their bands are in view. Index 1 is the right forearm, 2 the right hand."""
    return mirror_z(
        [
            capsule((-0.15, BACK + 0.08, 0.2), (0.12, BACK + 0.05, 0.245), 0.045),
            capsule((0.12, BACK + 0.05, 0.245), (0.34, BACK + 0.2, 0.19), 0.037),
            ellipsoid((0.42, BACK + 0.21, 0.165), (0.085, 0.024, 0.045), subdivisions=1),
        ]
    )


def _band(offset: float, width: float) -> trimesh.Trimesh:
    """A band around the right forearm ``offset`` metres from the wrist towards the elbow."""
    wrist, elbow = np.array([0.34, BACK + 0.2, 0.19]), np.array([0.12, BACK + 0.05, 0.245])
    axis = (elbow - wrist) / np.linalg.norm(elbow - wrist)
    a = wrist + axis * offset
    return cylinder(a, a + axis * width, 0.046, sections=14)


def patient_skin() -> trimesh.Trimesh:
    """A ward patient's head on the pillow, arms and hands (the gown and blanket cover the rest)."""
    return merge([*_head(0.12), *_arms_on_blanket()])


def patient_gown() -> trimesh.Trimesh:
    """Hospital gown: chest, shoulders, abdomen and short sleeves."""
    sleeves = mirror_z([capsule((-0.15, BACK + 0.08, 0.2), (-0.04, BACK + 0.07, 0.22), 0.052)])
    return merge([*_chest(), *_abdomen(), *sleeves])


def patient_blanket() -> trimesh.Trimesh:
    """The blanket over the patient's legs, from the hips to the foot of the mattress: a
    top over the legs, the tent the feet make and the sides hanging over the mattress (in
    the patient's frame: give it the patient's Transform)."""
    x0, x1, top = 0.32, 1.28, BACK + 0.13
    return merge(
        [
            box((x1 - x0, 0.03, 0.92), ((x0 + x1) / 2.0, top - 0.015, 0.0)),
            ellipsoid((1.2, top, 0.0), (0.1, 0.07, 0.2), subdivisions=1),
            box((x1 - x0, 0.24, 0.02), ((x0 + x1) / 2.0, top - 0.12, 0.46)),
            box((x1 - x0, 0.24, 0.02), ((x0 + x1) / 2.0, top - 0.12, -0.46)),
            box((0.02, 0.24, 0.94), (x1 + 0.01, top - 0.12, 0.0)),
        ]
    )


def wristband_id() -> trimesh.Trimesh:
    """The white identity band on the right wrist (name, date of birth, hospital number)."""
    return _band(0.0, 0.025)


def wristband_allergy() -> trimesh.Trimesh:
    """The red allergy band next to it (red for a known allergy: NPSA 2007 in the UK;
    most US states likewise)."""
    return _band(0.03, 0.025)


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


# --- the medication round and the bedside (origin on the floor, front +z) -----------------


def _castors(half_x: float, half_z: float, radius: float = 0.04) -> list[trimesh.Trimesh]:
    out = []
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            x, z = sx * half_x, sz * half_z
            out.append(cylinder((x, radius, z - 0.02), (x, radius, z + 0.02), radius, sections=10))
    return out


CART_TOP = 1.0


def med_cart() -> trimesh.Trimesh:
    """Medication cart body: a grey cabinet with a worktop and a push handle (front +z)."""
    return merge(
        [
            *_castors(0.26, 0.2, 0.05),
            box((0.66, 0.86, 0.5), (0.0, 0.53, 0.0)),
            box((0.7, 0.03, 0.54), (0.0, CART_TOP - 0.015, 0.0)),
            capsule((0.38, 0.9, -0.2), (0.38, 0.9, 0.2), 0.016),
            capsule((0.35, 0.9, -0.2), (0.38, 0.9, -0.2), 0.012),
            capsule((0.35, 0.9, 0.2), (0.38, 0.9, 0.2), 0.012),
        ]
    )


def med_cart_drawers() -> trimesh.Trimesh:
    """The cart's locking drawers (the patients' medicine drawers), proud of the front."""
    parts = []
    y = 0.14
    for height in (0.15, 0.15, 0.15, 0.2, 0.2):
        parts.append(box((0.6, height - 0.02, 0.02), (0.0, y + height / 2.0, 0.26)))
        y += height
    return merge(parts)


def med_tray() -> trimesh.Trimesh:
    """A tray on the worktop (where the drugs are checked and drawn up)."""
    y = CART_TOP
    return merge(
        [
            box((0.36, 0.01, 0.26), (-0.05, y + 0.005, 0.04)),
            box((0.36, 0.03, 0.01), (-0.05, y + 0.02, 0.17)),
            box((0.36, 0.03, 0.01), (-0.05, y + 0.02, -0.09)),
            box((0.01, 0.03, 0.26), (-0.23, y + 0.02, 0.04)),
            box((0.01, 0.03, 0.26), (0.13, y + 0.02, 0.04)),
        ]
    )


def syringes() -> trimesh.Trimesh:
    """Two syringes (a 1 mL and a 10 mL with their plungers) and a needle-free cannula
    connector, lying in the tray."""
    y = CART_TOP + 0.02
    return merge(
        [
            cylinder((-0.2, y, 0.08), (-0.06, y, 0.08), 0.006, sections=10),
            cylinder((-0.06, y, 0.08), (0.0, y, 0.08), 0.003, sections=8),
            cylinder((-0.2, y + 0.006, 0.12), (-0.02, y + 0.006, 0.12), 0.011, sections=12),
            cylinder((-0.02, y + 0.006, 0.12), (0.06, y + 0.006, 0.12), 0.004, sections=8),
            box((0.008, 0.03, 0.03), (-0.2, y + 0.006, 0.12)),
        ]
    )


def vials() -> trimesh.Trimesh:
    """Ampoules and vials standing on the worktop: morphine 10 mg/mL, its look-alike
    hydromorphone 10 mg/mL, and the co-amoxiclav vial."""
    y = CART_TOP
    parts = []
    for x, z, r, h in ((0.18, 0.08, 0.009, 0.05), (0.22, 0.08, 0.009, 0.05), (0.2, -0.06, 0.014, 0.06)):
        parts.append(cylinder((x, y, z), (x, y + h, z), r, sections=12))
    return merge(parts)


def vial_caps() -> trimesh.Trimesh:
    """The vials' coloured tops."""
    y = CART_TOP
    return merge(
        [
            cylinder((0.18, y + 0.05, 0.08), (0.18, y + 0.062, 0.08), 0.006, sections=10),
            cylinder((0.22, y + 0.05, 0.08), (0.22, y + 0.062, 0.08), 0.006, sections=10),
            cylinder((0.2, y + 0.06, -0.06), (0.2, y + 0.075, -0.06), 0.015, sections=12),
        ]
    )


def sharps_bin() -> trimesh.Trimesh:
    """A yellow sharps bin at the back of the worktop."""
    return box((0.14, 0.18, 0.12), (0.24, CART_TOP + 0.09, -0.17))


def chart_stand() -> trimesh.Trimesh:
    """A stand for the observation chart: a weighted base and a pole."""
    return merge(
        [
            cylinder((0.0, 0.0, 0.0), (0.0, 0.03, 0.0), 0.2, sections=16),
            cylinder((0.0, 0.03, 0.0), (0.0, 1.12, 0.0), 0.015, sections=8),
        ]
    )


CHART_TILT = math.radians(20.0)


def _on_chart(size: Vec, at: Vec) -> trimesh.Trimesh:
    """A box on the chart's plane: at (u across, v up the board) on the board tilted back
    by CHART_TILT, facing +z; size (u, v, thickness)."""
    mesh = box(size, (at[0], at[1], 0.0))
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-CHART_TILT, [1.0, 0.0, 0.0]))
    mesh.apply_translation([0.0, 1.3, 0.0])
    return mesh


def chart_board() -> trimesh.Trimesh:
    """The clipboard holding the chart, with its clip."""
    return merge([_on_chart((0.36, 0.48, 0.012), (0.0, 0.0)), _on_chart((0.12, 0.03, 0.03), (0.0, 0.23))])


def chart_sheet() -> trimesh.Trimesh:
    """The observation (NEWS2) chart sheet on the clipboard."""
    mesh = _on_chart((0.32, 0.42, 0.004), (0.0, -0.01))
    mesh.apply_translation([0.0, 0.004 * math.sin(CHART_TILT), 0.008 * math.cos(CHART_TILT)])
    return mesh


def chart_bands() -> trimesh.Trimesh:
    """The chart's coloured score bands (the NEWS2 chart shades the rows that score)."""
    parts = []
    for v in (0.13, 0.05, -0.03, -0.11):
        parts.append(_on_chart((0.28, 0.025, 0.004), (0.01, v)))
    mesh = merge(parts)
    mesh.apply_translation([0.0, 0.006 * math.sin(CHART_TILT), 0.012 * math.cos(CHART_TILT)])
    return mesh


def locker() -> trimesh.Trimesh:
    """The bedside locker with a drawer and a door (front +z)."""
    return merge(
        [
            box((0.45, 0.8, 0.45), (0.0, 0.42, 0.0)),
            box((0.4, 0.12, 0.02), (0.0, 0.7, 0.23)),
            box((0.4, 0.5, 0.02), (0.0, 0.33, 0.23)),
            *_castors(0.18, 0.18, 0.02),
        ]
    )


def water_jug() -> trimesh.Trimesh:
    """A water jug and a beaker on the locker."""
    return merge(
        [
            cylinder((-0.08, 0.82, 0.0), (-0.08, 1.02, 0.0), 0.06, sections=14),
            cylinder((0.1, 0.82, 0.05), (0.1, 0.92, 0.05), 0.035, sections=12),
        ]
    )


def obs_stand() -> trimesh.Trimesh:
    """The observations machine's roll stand (blood pressure, SpO2, temperature): castors,
    base, pole and a basket for the cuffs."""
    return merge(
        [
            *_castors(0.18, 0.18, 0.035),
            box((0.42, 0.03, 0.42), (0.0, 0.085, 0.0)),
            cylinder((0.0, 0.1, 0.0), (0.0, 1.0, 0.0), 0.022, sections=10),
            box((0.24, 0.1, 0.16), (0.0, 0.9, 0.06)),
        ]
    )


def obs_monitor() -> trimesh.Trimesh:
    """The observations machine: a dark housing facing +z on top of its stand."""
    return box((0.26, 0.2, 0.14), (0.0, 1.12, 0.02))


# --- the room ---------------------------------------------------------------------------

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


#: Every asset: file stem -> builder (the order the files are written and documented in).
ASSETS: dict[str, Callable[[], trimesh.Trimesh]] = {
    "bed_frame": bed_frame,
    "mattress": mattress,
    "pillow": pillow,
    "patient_skin": patient_skin,
    "patient_gown": patient_gown,
    "patient_blanket": patient_blanket,
    "wristband_id": wristband_id,
    "wristband_allergy": wristband_allergy,
    "med_cart": med_cart,
    "med_cart_drawers": med_cart_drawers,
    "med_tray": med_tray,
    "syringes": syringes,
    "vials": vials,
    "vial_caps": vial_caps,
    "sharps_bin": sharps_bin,
    "chart_stand": chart_stand,
    "chart_board": chart_board,
    "chart_sheet": chart_sheet,
    "chart_bands": chart_bands,
    "locker": locker,
    "water_jug": water_jug,
    "obs_stand": obs_stand,
    "obs_monitor": obs_monitor,
    "wall_panel": wall_panel,
    "headwall": headwall,
}


def build() -> dict[str, trimesh.Trimesh]:
    """Every model, by file stem (nothing written)."""
    return {name: make() for name, make in ASSETS.items()}


def obj_text(name: str, mesh: trimesh.Trimesh) -> str:
    """A minimal Wavefront OBJ (vertices to 0.1 mm and triangles; the renderer computes
    normals), stable across trimesh versions."""
    lines = [f"# {name}: generated by make_assets.py (vrmed nursing pack); metres, y up", f"o {name}"]
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
