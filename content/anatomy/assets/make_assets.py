"""Generate the anatomy pack's meshes and slice volume from the MNI ICBM152 2009a template.

Run with a Python that has nilearn (which ships the template), nibabel, scikit-image and
trimesh (not vrmed's dependencies; only this script needs them)::

    python content/anatomy/assets/make_assets.py

Source volumes (1 mm, MNI space; x right, y anterior, z superior, mm): the T1-weighted
average and the grey- and white-matter probability maps of the ICBM 2009a nonlinear
symmetric template, as shipped in ``nilearn/datasets/data``. Licence: assets/README.md.

Structures (each an isosurface at 2 mm, marching cubes, in metres, y up: vrmed x = MNI x,
y = MNI z, z = -MNI y):

- ``brain_left``/``brain_right``: the outer (pial) surface of each half of the brain
  (grey + white matter probability > 0.5), split at the mid-sagittal plane x = 0 (the
  template is symmetric); each half includes its half of the cerebellum and brainstem;
- ``white_matter_left``/``white_matter_right``: white matter probability > 0.5;

The ventricles are not extracted: the template's tissue maps did not give a usable
ventricular surface (about 1 mL from CSF-like voxels), so none is shipped.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import trimesh
from nilearn import datasets
from scipy import ndimage
from skimage import measure

HERE = Path(__file__).resolve().parent
DATA = Path(datasets.__file__).parent / "data"


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(DATA / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz")
    return np.asarray(img.get_fdata(), dtype=np.float32), img.affine


def down2(v: np.ndarray) -> np.ndarray:
    """2 mm block mean (trims odd edges)."""
    s = [d - d % 2 for d in v.shape]
    v = v[: s[0], : s[1], : s[2]]
    return v.reshape(s[0] // 2, 2, s[1] // 2, 2, s[2] // 2, 2).mean(axis=(1, 3, 5))


def surface(mask: np.ndarray, affine2: np.ndarray, name: str, step: int = 1) -> None:
    verts, faces, _, _ = measure.marching_cubes(np.pad(mask.astype(np.float32), 1), 0.5, step_size=step)
    verts -= 1.0
    mni = verts @ affine2[:3, :3].T + affine2[:3, 3]
    world = np.column_stack([mni[:, 0], mni[:, 2], -mni[:, 1]]) / 1000.0  # metres, y up
    mesh = trimesh.Trimesh(world, faces[:, ::-1], process=True)
    mesh.export(HERE / f"{name}.obj", digits=4, include_normals=False, include_texture=False)
    print(name, len(mesh.vertices), len(mesh.faces), mesh.is_watertight)


def main() -> None:
    t1, affine = load("t1")
    gm, _ = load("gm")
    wm, _ = load("wm")
    t1, gm, wm = down2(t1), down2(gm), down2(wm)
    affine2 = affine.copy()
    affine2[:3, :3] = affine[:3, :3] * 2.0
    affine2[:3, 3] = affine[:3, 3] + 0.5 * np.diag(affine[:3, :3])  # centre of each 2 mm block
    ijk = np.indices(t1.shape).reshape(3, -1).T
    x_mm = (ijk @ affine2[:3, :3].T + affine2[:3, 3])[:, 0].reshape(t1.shape)
    brain = ndimage.binary_fill_holes((gm + wm) > 0.5)
    white = wm > 0.5
    for side, sel in (("left", x_mm < 0), ("right", x_mm >= 0)):
        surface(brain & sel, affine2, f"brain_{side}")
        surface(white & sel, affine2, f"white_matter_{side}")
    t1_u8 = np.clip(t1 / np.percentile(t1[t1 > 0], 99.5) * 255.0, 0, 255).astype(np.uint8)
    np.savez_compressed(HERE / "mni152_t1_2mm.npz", t1=t1_u8, affine=affine2)
    print("volume", t1_u8.shape)


if __name__ == "__main__":
    main()
