"""Generate the nursing pack's low-poly meshes (the OBJ files beside this script).

Run ``python content/nursing/assets/make_assets.py`` after changing a model; commit the OBJ
files it writes. Every model is built from trimesh primitives (boxes, capsules, cylinders,
spheres) in metres, y up. The primitives, the patient's chest, head and abdomen, the bed
and the room parts come from ``vrmed.api.shapes``, shared with the emergency pack's
generator. Conventions (docs/clinical.md, "Scenes and their assets"):

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

import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import trimesh

from vrmed.api import shapes

HERE = Path(__file__).resolve().parent
Vec = Sequence[float]


# --- people (anatomical frame, see the module docstring) ----------------------------------


def _arms_on_blanket() -> list[trimesh.Trimesh]:
    """Arms beside the body with the forearms resting on the lap (on the blanket), so the
    wrists and their bands are in view. Index 1 is the right forearm, 2 the right hand."""
    return shapes.mirror_z(
        [
            shapes.capsule((-0.15, shapes.BACK + 0.08, 0.2), (0.12, shapes.BACK + 0.05, 0.245), 0.045),
            shapes.capsule((0.12, shapes.BACK + 0.05, 0.245), (0.34, shapes.BACK + 0.2, 0.19), 0.037),
            shapes.ellipsoid((0.42, shapes.BACK + 0.21, 0.165), (0.085, 0.024, 0.045), subdivisions=1),
        ]
    )


def _band(offset: float, width: float) -> trimesh.Trimesh:
    """A band around the right forearm ``offset`` metres from the wrist towards the elbow."""
    wrist, elbow = np.array([0.34, shapes.BACK + 0.2, 0.19]), np.array([0.12, shapes.BACK + 0.05, 0.245])
    axis = (elbow - wrist) / np.linalg.norm(elbow - wrist)
    a = wrist + axis * offset
    return shapes.cylinder(a, a + axis * width, 0.046, sections=14)


def patient_skin() -> trimesh.Trimesh:
    """A ward patient's head on the pillow, arms and hands (the gown and blanket cover the rest)."""
    return shapes.merge([*shapes.head(0.12), *_arms_on_blanket()])


def patient_gown() -> trimesh.Trimesh:
    """Hospital gown: chest, shoulders, abdomen and short sleeves."""
    sleeves = shapes.mirror_z(
        [shapes.capsule((-0.15, shapes.BACK + 0.08, 0.2), (-0.04, shapes.BACK + 0.07, 0.22), 0.052)]
    )
    return shapes.merge([*shapes.chest(), *shapes.abdomen(), *sleeves])


def patient_blanket() -> trimesh.Trimesh:
    """The blanket over the patient's legs, from the hips to the foot of the mattress: a
    top over the legs, the tent the feet make and the sides hanging over the mattress (in
    the patient's frame: give it the patient's Transform)."""
    x0, x1, top = 0.32, 1.28, shapes.BACK + 0.13
    return shapes.merge(
        [
            shapes.box((x1 - x0, 0.03, 0.92), ((x0 + x1) / 2.0, top - 0.015, 0.0)),
            shapes.ellipsoid((1.2, top, 0.0), (0.1, 0.07, 0.2), subdivisions=1),
            shapes.box((x1 - x0, 0.24, 0.02), ((x0 + x1) / 2.0, top - 0.12, 0.46)),
            shapes.box((x1 - x0, 0.24, 0.02), ((x0 + x1) / 2.0, top - 0.12, -0.46)),
            shapes.box((0.02, 0.24, 0.94), (x1 + 0.01, top - 0.12, 0.0)),
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


# --- the medication round and the bedside (origin on the floor, front +z) -----------------


CART_TOP = 1.0


def med_cart() -> trimesh.Trimesh:
    """Medication cart body: a grey cabinet with a worktop and a push handle (front +z)."""
    return shapes.merge(
        [
            *shapes.castors(0.26, 0.2, 0.05),
            shapes.box((0.66, 0.86, 0.5), (0.0, 0.53, 0.0)),
            shapes.box((0.7, 0.03, 0.54), (0.0, CART_TOP - 0.015, 0.0)),
            shapes.capsule((0.38, 0.9, -0.2), (0.38, 0.9, 0.2), 0.016),
            shapes.capsule((0.35, 0.9, -0.2), (0.38, 0.9, -0.2), 0.012),
            shapes.capsule((0.35, 0.9, 0.2), (0.38, 0.9, 0.2), 0.012),
        ]
    )


def med_cart_drawers() -> trimesh.Trimesh:
    """The cart's locking drawers (the patients' medicine drawers), proud of the front."""
    parts = []
    y = 0.14
    for height in (0.15, 0.15, 0.15, 0.2, 0.2):
        parts.append(shapes.box((0.6, height - 0.02, 0.02), (0.0, y + height / 2.0, 0.26)))
        y += height
    return shapes.merge(parts)


def med_tray() -> trimesh.Trimesh:
    """A tray on the worktop (where the drugs are checked and drawn up)."""
    y = CART_TOP
    return shapes.merge(
        [
            shapes.box((0.36, 0.01, 0.26), (-0.05, y + 0.005, 0.04)),
            shapes.box((0.36, 0.03, 0.01), (-0.05, y + 0.02, 0.17)),
            shapes.box((0.36, 0.03, 0.01), (-0.05, y + 0.02, -0.09)),
            shapes.box((0.01, 0.03, 0.26), (-0.23, y + 0.02, 0.04)),
            shapes.box((0.01, 0.03, 0.26), (0.13, y + 0.02, 0.04)),
        ]
    )


def syringes() -> trimesh.Trimesh:
    """Two syringes (a 1 mL and a 10 mL with their plungers) and a needle-free cannula
    connector, lying in the tray."""
    y = CART_TOP + 0.02
    return shapes.merge(
        [
            shapes.cylinder((-0.2, y, 0.08), (-0.06, y, 0.08), 0.006, sections=10),
            shapes.cylinder((-0.06, y, 0.08), (0.0, y, 0.08), 0.003, sections=8),
            shapes.cylinder((-0.2, y + 0.006, 0.12), (-0.02, y + 0.006, 0.12), 0.011, sections=12),
            shapes.cylinder((-0.02, y + 0.006, 0.12), (0.06, y + 0.006, 0.12), 0.004, sections=8),
            shapes.box((0.008, 0.03, 0.03), (-0.2, y + 0.006, 0.12)),
        ]
    )


def vials() -> trimesh.Trimesh:
    """Ampoules and vials standing on the worktop: morphine 10 mg/mL, its look-alike
    hydromorphone 10 mg/mL, and the co-amoxiclav vial."""
    y = CART_TOP
    parts = []
    for x, z, r, h in ((0.18, 0.08, 0.009, 0.05), (0.22, 0.08, 0.009, 0.05), (0.2, -0.06, 0.014, 0.06)):
        parts.append(shapes.cylinder((x, y, z), (x, y + h, z), r, sections=12))
    return shapes.merge(parts)


def vial_caps() -> trimesh.Trimesh:
    """The vials' coloured tops."""
    y = CART_TOP
    return shapes.merge(
        [
            shapes.cylinder((0.18, y + 0.05, 0.08), (0.18, y + 0.062, 0.08), 0.006, sections=10),
            shapes.cylinder((0.22, y + 0.05, 0.08), (0.22, y + 0.062, 0.08), 0.006, sections=10),
            shapes.cylinder((0.2, y + 0.06, -0.06), (0.2, y + 0.075, -0.06), 0.015, sections=12),
        ]
    )


def sharps_bin() -> trimesh.Trimesh:
    """A yellow sharps bin at the back of the worktop."""
    return shapes.box((0.14, 0.18, 0.12), (0.24, CART_TOP + 0.09, -0.17))


def chart_stand() -> trimesh.Trimesh:
    """A stand for the observation chart: a weighted base and a pole."""
    return shapes.merge(
        [
            shapes.cylinder((0.0, 0.0, 0.0), (0.0, 0.03, 0.0), 0.2, sections=16),
            shapes.cylinder((0.0, 0.03, 0.0), (0.0, 1.12, 0.0), 0.015, sections=8),
        ]
    )


CHART_TILT = math.radians(20.0)


def _on_chart(size: Vec, at: Vec) -> trimesh.Trimesh:
    """A box on the chart's plane: at (u across, v up the board) on the board tilted back
    by CHART_TILT, facing +z; size (u, v, thickness)."""
    mesh = shapes.box(size, (at[0], at[1], 0.0))
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-CHART_TILT, [1.0, 0.0, 0.0]))
    mesh.apply_translation([0.0, 1.3, 0.0])
    return mesh


def chart_board() -> trimesh.Trimesh:
    """The clipboard holding the chart, with its clip."""
    return shapes.merge([_on_chart((0.36, 0.48, 0.012), (0.0, 0.0)), _on_chart((0.12, 0.03, 0.03), (0.0, 0.23))])


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
    mesh = shapes.merge(parts)
    mesh.apply_translation([0.0, 0.006 * math.sin(CHART_TILT), 0.012 * math.cos(CHART_TILT)])
    return mesh


def locker() -> trimesh.Trimesh:
    """The bedside locker with a drawer and a door (front +z)."""
    return shapes.merge(
        [
            shapes.box((0.45, 0.8, 0.45), (0.0, 0.42, 0.0)),
            shapes.box((0.4, 0.12, 0.02), (0.0, 0.7, 0.23)),
            shapes.box((0.4, 0.5, 0.02), (0.0, 0.33, 0.23)),
            *shapes.castors(0.18, 0.18, 0.02),
        ]
    )


def water_jug() -> trimesh.Trimesh:
    """A water jug and a beaker on the locker."""
    return shapes.merge(
        [
            shapes.cylinder((-0.08, 0.82, 0.0), (-0.08, 1.02, 0.0), 0.06, sections=14),
            shapes.cylinder((0.1, 0.82, 0.05), (0.1, 0.92, 0.05), 0.035, sections=12),
        ]
    )


def obs_stand() -> trimesh.Trimesh:
    """The observations machine's roll stand (blood pressure, SpO2, temperature): castors,
    base, pole and a basket for the cuffs."""
    return shapes.merge(
        [
            *shapes.castors(0.18, 0.18, 0.035),
            shapes.box((0.42, 0.03, 0.42), (0.0, 0.085, 0.0)),
            shapes.cylinder((0.0, 0.1, 0.0), (0.0, 1.0, 0.0), 0.022, sections=10),
            shapes.box((0.24, 0.1, 0.16), (0.0, 0.9, 0.06)),
        ]
    )


def obs_monitor() -> trimesh.Trimesh:
    """The observations machine: a dark housing facing +z on top of its stand."""
    return shapes.box((0.26, 0.2, 0.14), (0.0, 1.12, 0.02))


# --- the room ---------------------------------------------------------------------------


#: Every asset: file stem -> builder (the order the files are written and documented in).
ASSETS: dict[str, Callable[[], trimesh.Trimesh]] = {
    "bed_frame": shapes.bed_frame,
    "mattress": shapes.mattress,
    "pillow": shapes.pillow,
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
    "wall_panel": shapes.wall_panel,
    "headwall": shapes.headwall,
}


def build() -> dict[str, trimesh.Trimesh]:
    """Every model, by file stem (nothing written)."""
    return {name: make() for name, make in ASSETS.items()}


def main(argv: Sequence[str] = ()) -> int:
    """Write every model as ``<stem>.obj`` beside this script (or into ``argv[0]``)."""
    return shapes.write_assets(ASSETS, argv[0] if argv else HERE, "nursing")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
