"""Generate the emergency pack's low-poly meshes (the OBJ files beside this script).

Run ``python content/emergency/assets/make_assets.py`` after changing a model; commit the
OBJ files it writes. Every model is built from trimesh primitives (boxes, capsules,
cylinders, spheres) in metres, y up; the primitives, the patient's chest, head and abdomen,
the bed and the room parts come from ``vrmed.api.shapes`` (shared with the nursing pack's
generator). Conventions (docs/clinical.md, "Scenes and their assets"):

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

import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import trimesh

from vrmed.api import shapes

HERE = Path(__file__).resolve().parent
Vec = Sequence[float]


# --- people (anatomical frame, see the module docstring) ----------------------------------


def _arms_at_sides() -> list[trimesh.Trimesh]:
    """Arms lying beside the body, palms down (a supine patient)."""
    y = shapes.BACK + 0.045
    return shapes.mirror_z(
        [
            shapes.capsule((-0.15, shapes.BACK + 0.08, 0.2), (0.12, y, 0.245), 0.045),
            shapes.capsule((0.12, y, 0.245), (0.37, y - 0.005, 0.255), 0.037),
            shapes.ellipsoid((0.45, y - 0.01, 0.255), (0.085, 0.022, 0.045), subdivisions=1),
        ]
    )


def _legs_supine() -> list[trimesh.Trimesh]:
    """Legs stretched out, feet pointing up."""
    return shapes.mirror_z(
        [
            shapes.capsule((0.44, shapes.BACK + 0.08, 0.09), (0.8, shapes.BACK + 0.065, 0.1), 0.075),
            shapes.capsule((0.8, shapes.BACK + 0.06, 0.1), (1.18, shapes.BACK + 0.05, 0.1), 0.055),
        ]
    )


def _feet_supine() -> list[trimesh.Trimesh]:
    """Feet pointing up from the ankles."""
    return shapes.mirror_z([shapes.ellipsoid((1.23, shapes.BACK + 0.1, 0.1), (0.045, 0.11, 0.045), subdivisions=1)])


def _legs_sitting() -> list[trimesh.Trimesh]:
    """Sitting on the ground: thighs and shins forward (+y) along the ground plane
    x = 0.5 (the seat), knees slightly raised (towards -x)."""
    hip_y = shapes.BACK + 0.1
    return shapes.mirror_z(
        [
            shapes.capsule((0.43, hip_y, 0.09), (0.36, hip_y + 0.4, 0.11), 0.075),
            shapes.capsule((0.36, hip_y + 0.4, 0.11), (0.45, hip_y + 0.8, 0.11), 0.055),
        ]
    )


def _feet_sitting() -> list[trimesh.Trimesh]:
    """Feet up from the ankles of a sitting person (towards the head, -x)."""
    hip_y = shapes.BACK + 0.1
    return shapes.mirror_z([shapes.ellipsoid((0.38, hip_y + 0.83, 0.11), (0.11, 0.045, 0.045), subdivisions=1)])


def _arms_sitting() -> list[trimesh.Trimesh]:
    """Arms down beside the upright torso, forearms resting on the thighs."""
    return shapes.mirror_z(
        [
            shapes.capsule((-0.15, shapes.BACK + 0.1, 0.2), (0.1, shapes.BACK + 0.08, 0.24), 0.045),
            shapes.capsule((0.1, shapes.BACK + 0.08, 0.24), (0.25, shapes.BACK + 0.33, 0.17), 0.037),
            shapes.ellipsoid((0.29, shapes.BACK + 0.41, 0.15), (0.045, 0.085, 0.03), subdivisions=1),
        ]
    )


def _hands_sitting() -> list[trimesh.Trimesh]:
    return _arms_sitting()[2::3]


def patient_skin() -> trimesh.Trimesh:
    """A patient on a bed with the gown open (for CPR and pads): head on a pillow, bare
    chest, arms and feet."""
    return shapes.merge([*shapes.head(0.12), *shapes.chest(), *_arms_at_sides(), *_feet_supine()])


def patient_trousers() -> trimesh.Trimesh:
    """The bed patient's pyjama trousers: pelvis and legs."""
    return shapes.merge([*shapes.abdomen(), *_legs_supine()])


def casualty_supine() -> trimesh.Trimesh:
    """A clothed casualty lying on his back on the ground (torso, arms and legs)."""
    arms = _arms_at_sides()
    return shapes.merge([*shapes.chest(), *shapes.abdomen(), *arms[0:2], *arms[3:5], *_legs_supine(), *_feet_supine()])


def casualty_supine_skin() -> trimesh.Trimesh:
    """Head and hands of the supine casualty (head on the ground)."""
    arms = _arms_at_sides()
    return shapes.merge([*shapes.head(0.0), arms[2], arms[5]])


def casualty_sitting() -> trimesh.Trimesh:
    """A clothed casualty sitting on the ground, legs out in front (the walking wounded).
    Anatomical frame: stand it upright with the Transform (local -x up)."""
    arms = _arms_sitting()
    return shapes.merge(
        [*shapes.chest(), *shapes.abdomen(), *arms[0:2], *arms[3:5], *_legs_sitting(), *_feet_sitting()]
    )


def casualty_sitting_skin() -> trimesh.Trimesh:
    """Head and hands of the sitting casualty."""
    return shapes.merge([*shapes.head(0.0), *_hands_sitting()])


# --- hospital bed (origin under its centre; head end towards -x) --------------------------


def blanket() -> trimesh.Trimesh:
    """A folded blanket across the foot of the bed."""
    return shapes.box((0.3, 0.06, 0.88), (0.8, shapes.MATTRESS_TOP + 0.03, 0.0))


# --- resuscitation equipment --------------------------------------------------------------


DEFIB_SHELF = 0.92  # the defibrillator stands on its trolley's top shelf


def defib_trolley() -> trimesh.Trimesh:
    """The defibrillator's trolley: castors, base, pole, top shelf and a basket."""
    return shapes.merge(
        [
            *shapes.castors(0.2, 0.2),
            shapes.box((0.5, 0.04, 0.5), (0.0, 0.1, 0.0)),
            shapes.cylinder((0.0, 0.12, -0.05), (0.0, DEFIB_SHELF - 0.02, -0.05), 0.03),
            shapes.box((0.46, 0.03, 0.4), (0.0, DEFIB_SHELF - 0.015, 0.0)),
            shapes.box((0.4, 0.1, 0.3), (0.0, 0.55, 0.0)),
        ]
    )


def defibrillator() -> trimesh.Trimesh:
    """The manual defibrillator/monitor body with a carry handle (its one colour)."""
    y0 = DEFIB_SHELF
    return shapes.merge(
        [
            shapes.box((0.36, 0.26, 0.28), (0.0, y0 + 0.13, 0.0)),
            shapes.capsule((-0.12, y0 + 0.3, -0.02), (0.12, y0 + 0.3, -0.02), 0.018),
            shapes.capsule((-0.12, y0 + 0.26, -0.02), (-0.12, y0 + 0.3, -0.02), 0.015),
            shapes.capsule((0.12, y0 + 0.26, -0.02), (0.12, y0 + 0.3, -0.02), 0.015),
        ]
    )


def defib_controls() -> trimesh.Trimesh:
    """What is dark on the defibrillator: the screen, the shock button panel, the paddles
    in their side wells and the packed pads on top."""
    y0 = DEFIB_SHELF
    parts = [
        shapes.box((0.2, 0.13, 0.012), (-0.05, y0 + 0.16, 0.144)),  # screen
        shapes.box((0.08, 0.16, 0.012), (0.12, y0 + 0.13, 0.144)),  # energy dial, charge and shock
        shapes.box((0.2, 0.012, 0.14), (0.0, y0 + 0.266, 0.05)),  # pads in their packet
    ]
    for sx in (-1.0, 1.0):  # paddles in their wells on both sides
        parts.append(shapes.box((0.05, 0.12, 0.16), (sx * 0.2, y0 + 0.12, 0.02)))
        parts.append(shapes.capsule((sx * 0.2, y0 + 0.2, -0.04), (sx * 0.2, y0 + 0.2, 0.08), 0.02))
    return shapes.merge(parts)


def crash_cart() -> trimesh.Trimesh:
    """The crash (resuscitation) cart: a body with five drawers and a lipped top."""
    parts = [shapes.box((0.72, 0.84, 0.5), (0.0, 0.52, 0.0)), shapes.box((0.76, 0.05, 0.54), (0.0, 0.965, 0.0))]
    y = 0.16
    for height in (0.12, 0.12, 0.16, 0.18, 0.22):  # drawer fronts, proud of the body
        parts.append(shapes.box((0.66, height - 0.02, 0.02), (0.0, y + height / 2.0, 0.26)))
        y += height
    return shapes.merge(parts)


def crash_cart_trim() -> trimesh.Trimesh:
    """The crash cart's grey parts: castors, bumper, push handle, drawer pulls, a drip
    stand socket and a sharps bin on top."""
    parts = [*shapes.castors(0.3, 0.19, 0.05), shapes.box((0.76, 0.05, 0.54), (0.0, 0.125, 0.0))]
    parts.append(shapes.capsule((-0.41, 0.85, -0.2), (-0.41, 0.85, 0.2), 0.015))
    parts += [shapes.capsule((-0.39, 0.85, z), (-0.36, 0.85, z), 0.012) for z in (-0.2, 0.2)]
    y = 0.16
    for height in (0.12, 0.12, 0.16, 0.18, 0.22):
        yc = y + height / 2.0
        parts.append(shapes.capsule((-0.12, yc, 0.285), (0.12, yc, 0.285), 0.01))
        y += height
    parts.append(shapes.box((0.16, 0.2, 0.12), (0.24, 1.09, -0.14)))
    return shapes.merge(parts)


def bag_valve_mask() -> trimesh.Trimesh:
    """A bag-valve-mask lying on its side (origin under the bag, axis along +x): the
    self-inflating bag, the valve and the face mask."""
    r = 0.065
    return shapes.merge(
        [
            shapes.blob(-0.16, 0.12, (r, 0.0), r, r),
            shapes.cylinder((0.11, r, 0.0), (0.17, r, 0.0), 0.018),
            trimesh.creation.cone(radius=0.06, height=0.07, sections=14)
            .apply_transform(trimesh.transformations.rotation_matrix(-math.pi / 2.0, [0.0, 1.0, 0.0]))
            .apply_translation([0.24, r, 0.0]),
            shapes.ellipsoid((-0.22, r, 0.0), (0.06, 0.05, 0.05), subdivisions=1),
        ]
    )


def iv_pole() -> trimesh.Trimesh:
    """Drip stand: five-legged base on castors, pole, hooks."""
    parts = [shapes.cylinder((0.0, 0.06, 0.0), (0.0, 2.0, 0.0), 0.013, sections=8)]
    for k in range(5):
        a = 2.0 * math.pi * k / 5.0
        x, z = 0.28 * math.cos(a), 0.28 * math.sin(a)
        parts.append(shapes.capsule((0.0, 0.08, 0.0), (x, 0.06, z), 0.014, count=6))
        parts.append(shapes.cylinder((x, 0.03, z - 0.015), (x, 0.03, z + 0.015), 0.03, sections=8))
    parts.append(shapes.capsule((-0.12, 1.95, 0.0), (0.12, 1.95, 0.0), 0.009, count=6))
    return shapes.merge(parts)


def iv_bag() -> trimesh.Trimesh:
    """A 1 L bag of fluid on the drip stand's hook and its giving set down to the bed."""
    return shapes.merge(
        [
            shapes.box((0.12, 0.22, 0.035), (0.12, 1.78, 0.0)),
            shapes.capsule((0.12, 1.66, 0.0), (0.12, 1.5, 0.0), 0.008, count=6),
        ]
    )


def monitor_stand() -> trimesh.Trimesh:
    """The bedside monitor's roll stand: castors, base, pole and a bracket."""
    return shapes.merge(
        [
            *shapes.castors(0.2, 0.2, 0.035),
            shapes.box((0.46, 0.03, 0.46), (0.0, 0.085, 0.0)),
            shapes.cylinder((0.0, 0.1, 0.0), (0.0, 1.35, 0.0), 0.025, sections=10),
            shapes.box((0.08, 0.08, 0.1), (0.0, 1.38, 0.02)),
        ]
    )


def monitor_screen() -> trimesh.Trimesh:
    """The bedside monitor: a dark housing facing +z (the readings are on screen, in the
    monitor panel overlay)."""
    return shapes.box((0.36, 0.28, 0.12), (0.0, 1.52, 0.06))


# --- the bus of the mass-casualty scene (sections 2.5 m long along x, origin on the road) --

BUS_SECTION = 2.5


def bus_body() -> trimesh.Trimesh:
    """One 2.5 m section of a coach's body (a bus is four in a row, so that each casts a
    contact shadow of its own size)."""
    return shapes.box((BUS_SECTION, 2.5, 2.5), (0.0, 1.65, 0.0))


def bus_windows() -> trimesh.Trimesh:
    """The window band of a section, on both sides."""
    return shapes.box((BUS_SECTION - 0.2, 0.85, 2.52), (0.0, 2.2, 0.0))


def bus_wheels() -> trimesh.Trimesh:
    """A pair of wheels under a section."""
    return shapes.merge(
        [
            shapes.cylinder((0.0, 0.5, -1.27), (0.0, 0.5, -0.97), 0.5, sections=16),
            shapes.cylinder((0.0, 0.5, 0.97), (0.0, 0.5, 1.27), 0.5, sections=16),
        ]
    )


#: Every asset: file stem -> builder (the order the files are written and documented in).
ASSETS: dict[str, Callable[[], trimesh.Trimesh]] = {
    "bed_frame": shapes.bed_frame,
    "mattress": shapes.mattress,
    "pillow": shapes.pillow,
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
    "wall_panel": shapes.wall_panel,
    "headwall": shapes.headwall,
    "bus_body": bus_body,
    "bus_windows": bus_windows,
    "bus_wheels": bus_wheels,
}


def build() -> dict[str, trimesh.Trimesh]:
    """Every model, by file stem (nothing written)."""
    return {name: make() for name, make in ASSETS.items()}


def main(argv: Sequence[str] = ()) -> int:
    """Write every model as ``<stem>.obj`` beside this script (or into ``argv[0]``)."""
    return shapes.write_assets(ASSETS, argv[0] if argv else HERE, "emergency")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
