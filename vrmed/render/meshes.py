"""CPU-side triangle meshes for the renderer: a UV sphere, file loading (through trimesh;
glTF 2.0 with its PBR materials and base colour textures) with a per-renderer cache, and
in-place vertex normals for streamed (deforming) meshes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import VrmedError
from ..mesh.io import GLTF_SUFFIXES, load_gltf


@dataclass(frozen=True)
class Material:
    """A PBR metallic-roughness material (glTF's core model).

    ``base_color`` is a linear RGBA factor, ``metallic`` and ``roughness`` (perceptual) in
    [0, 1]; ``texture`` is an optional base colour image, (H, W, 4) uint8 in **sRGB**, top
    row first, sampled with glTF's UV convention (v = 0 is the image's top row) and
    multiplied by ``base_color``. The renderer uploads each texture once, with mipmaps.
    """

    base_color: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    metallic: float = 0.0
    roughness: float = 0.5
    texture: np.ndarray | None = field(default=None, compare=False)
    name: str = ""


@dataclass(frozen=True)
class SubMesh:
    """A range of a mesh's triangles drawn with one material: faces ``first`` to
    ``first + count - 1``; ``material`` None draws them with the caller's colour and
    roughness, as a mesh without materials."""

    first: int
    count: int
    material: Material | None = None


@dataclass
class MeshData:
    """A triangle mesh: ``positions`` and ``normals`` (N, 3) float32, ``faces`` (M, 3)
    uint32, counter-clockwise seen from outside; optional ``uvs`` (N, 2) float32 (glTF
    convention: v = 0 at the texture's top row) and ``parts``, the face ranges with their
    :class:`Material` (none: the whole mesh is drawn with the caller's colour)."""

    positions: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray | None = None
    parts: tuple[SubMesh, ...] = ()

    def __post_init__(self) -> None:
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float32).reshape(-1, 3)
        self.normals = np.ascontiguousarray(self.normals, dtype=np.float32).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.uint32).reshape(-1, 3)
        if self.normals.shape != self.positions.shape:
            raise ValueError(f"{len(self.normals)} normals for {len(self.positions)} vertices")
        if self.faces.size and int(self.faces.max()) >= len(self.positions):
            raise ValueError("a face refers to a vertex that does not exist")
        if self.uvs is not None:
            self.uvs = np.ascontiguousarray(self.uvs, dtype=np.float32).reshape(-1, 2)
            if len(self.uvs) != len(self.positions):
                raise ValueError(f"{len(self.uvs)} UVs for {len(self.positions)} vertices")
        self.parts = tuple(self.parts)
        for part in self.parts:
            if part.first < 0 or part.count < 0 or part.first + part.count > len(self.faces):
                raise ValueError(f"part {part} lies outside the mesh's {len(self.faces)} faces")

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        """Centre (of the axis-aligned box) and radius enclosing every vertex."""
        if not len(self.positions):
            return np.zeros(3), 0.0
        lo, hi = self.positions.min(axis=0), self.positions.max(axis=0)
        centre = (lo + hi).astype(np.float64) / 2.0
        return centre, float(np.linalg.norm(self.positions - centre, axis=1).max())


def uv_sphere(segments: int = 48, rings: int = 24) -> MeshData:
    """A unit sphere (radius 1 at the origin) with ``segments`` around and ``rings`` from
    pole to pole. 48 x 24 keeps the silhouette within 0.25 % of the true radius."""
    if segments < 3 or rings < 2:
        raise ValueError("a sphere needs at least 3 segments and 2 rings")
    theta = np.linspace(0.0, np.pi, rings + 1)  # polar angle from +y
    phi = np.linspace(0.0, 2.0 * np.pi, segments + 1)  # around y (seam duplicated)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    pos = np.stack([np.sin(t) * np.cos(p), np.cos(t), -np.sin(t) * np.sin(p)], axis=-1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(rings), np.arange(segments), indexing="ij")
    a = (i * (segments + 1) + j).ravel()
    b, c, d = a + segments + 1, a + 1, a + segments + 2
    faces = np.concatenate([np.c_[a, b, c], np.c_[c, b, d]])
    return MeshData(pos, pos, faces)


def capsule_template(segments: int = 24, rings: int = 8) -> tuple[MeshData, np.ndarray]:
    """The unit template of an instanced capsule: a unit sphere (axis +y) cut at its
    equator into two hemispheres with ``rings`` rings each, the equator ring duplicated so
    the band between the copies becomes the cylinder when the halves are pulled apart.

    Returns the mesh (positions double as normals) and ``end`` (N,) float32: 1 for the
    upper hemisphere (drawn around the capsule's end ``b``), 0 for the lower (end ``a``).
    """
    if segments < 3 or rings < 1:
        raise ValueError("a capsule needs at least 3 segments and 1 ring per hemisphere")
    theta = np.concatenate([np.linspace(0.0, np.pi / 2, rings + 1), np.linspace(np.pi / 2, np.pi, rings + 1)])
    phi = np.linspace(0.0, 2.0 * np.pi, segments + 1)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    pos = np.stack([np.sin(t) * np.cos(p), np.cos(t), -np.sin(t) * np.sin(p)], axis=-1).reshape(-1, 3)
    end = np.repeat((np.arange(len(theta)) <= rings).astype(np.float32), segments + 1)
    bands = len(theta) - 1
    i, j = np.meshgrid(np.arange(bands), np.arange(segments), indexing="ij")
    a = (i * (segments + 1) + j).ravel()
    b, c, d = a + segments + 1, a + 1, a + segments + 2
    faces = np.concatenate([np.c_[a, b, c], np.c_[c, b, d]])
    return MeshData(pos, pos, faces), end


def icosphere(subdivisions: int = 4) -> MeshData:
    """A unit sphere made by splitting each face of an icosahedron into four
    ``subdivisions`` times: 20 * 4**n triangles (n = 4: 5,120 triangles, 2,562 vertices),
    nearly uniform in size (good for deforming organs)."""
    if not 0 <= subdivisions <= 7:
        raise ValueError(f"subdivisions must be between 0 and 7, got {subdivisions}")
    t = (1.0 + 5.0**0.5) / 2.0
    verts = [
        (-1, t, 0),
        (1, t, 0),
        (-1, -t, 0),
        (1, -t, 0),
        (0, -1, t),
        (0, 1, t),
        (0, -1, -t),
        (0, 1, -t),
        (t, 0, -1),
        (t, 0, 1),
        (-t, 0, -1),
        (-t, 0, 1),
    ]
    faces = [
        (0, 11, 5),
        (0, 5, 1),
        (0, 1, 7),
        (0, 7, 10),
        (0, 10, 11),
        (1, 5, 9),
        (5, 11, 4),
        (11, 10, 2),
        (10, 7, 6),
        (7, 1, 8),
        (3, 9, 4),
        (3, 4, 2),
        (3, 2, 6),
        (3, 6, 8),
        (3, 8, 9),
        (4, 9, 5),
        (2, 4, 11),
        (6, 2, 10),
        (8, 6, 7),
        (9, 8, 1),
    ]
    pos = [np.array(v, np.float64) / np.linalg.norm(v) for v in verts]
    for _ in range(subdivisions):
        midpoints: dict[tuple[int, int], int] = {}

        def mid(i: int, j: int, midpoints: dict[tuple[int, int], int] = midpoints) -> int:
            key = (i, j) if i < j else (j, i)
            k = midpoints.get(key)
            if k is None:
                m = pos[i] + pos[j]
                pos.append(m / np.linalg.norm(m))
                k = midpoints[key] = len(pos) - 1
            return k

        new_faces = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new_faces += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new_faces
    p = np.array(pos)
    return MeshData(p, p, np.array(faces))


def plane(size: float = 1.0) -> MeshData:
    """A square of side ``size`` in the y = 0 plane, facing +y."""
    h = size / 2.0
    pos = np.array([[-h, 0, -h], [-h, 0, h], [h, 0, h], [h, 0, -h]], dtype=np.float32)
    return MeshData(pos, np.tile([0.0, 1.0, 0.0], (4, 1)), np.array([[0, 1, 2], [0, 2, 3]]))


def load_mesh_file(path: str | Path) -> MeshData:
    """Read a surface mesh (OBJ, STL, PLY, glTF, ...) with trimesh, merging scenes into one
    mesh; VrmedError naming the file when it is missing, unreadable or has no triangles.

    glTF 2.0 (``.gltf``/``.glb``) keeps its materials: node transforms are applied, the
    triangles are grouped into one :class:`SubMesh` per material, with UVs and the base
    colour texture (see :func:`vrmed.mesh.io.load_gltf`; a broken file is a
    :class:`~vrmed.mesh.MeshError` naming the glTF object at fault).
    """
    path = Path(path)
    if not path.is_file():
        raise VrmedError(f"mesh file {path} does not exist")
    if path.suffix.lower() in GLTF_SUFFIXES:
        return _gltf_mesh(path)
    try:
        import trimesh  # deferred: trimesh is slow to import and only needed for mesh files

        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as exc:
        raise VrmedError(f"cannot read mesh {path}: {type(exc).__name__}: {exc}") from None
    faces = np.asarray(mesh.faces) if isinstance(mesh, trimesh.Trimesh) else np.zeros((0, 3))
    if not isinstance(mesh, trimesh.Trimesh) or faces.size == 0:
        raise VrmedError(f"mesh {path} has no triangles")
    # Normals in numpy: trimesh's vertex_normals builds a scipy sparse matrix and, without
    # scipy, prints a ModuleNotFoundError traceback to the console before falling back.
    positions = np.ascontiguousarray(mesh.vertices, np.float32)
    faces = np.ascontiguousarray(faces, np.int64)
    normals = vertex_normals(positions, faces, np.empty_like(positions), NormalScratch(len(positions), len(faces)))
    return MeshData(positions, normals, faces)


def _gltf_mesh(path: Path) -> MeshData:
    """One MeshData holding every part of a glTF file (one SubMesh per material)."""
    model = load_gltf(path)
    has_uv = any(part.uvs is not None for part in model.parts)
    positions, normals, uvs, faces, parts = [], [], [], [], []
    vertex_base = face_base = 0
    for part in model.parts:
        positions.append(part.positions)
        normals.append(part.normals)
        if has_uv:
            uvs.append(part.uvs if part.uvs is not None else np.zeros((len(part.positions), 2), np.float32))
        faces.append(part.faces + np.uint32(vertex_base))
        m = part.material
        material = (
            None
            if m is None
            else Material(
                m.base_color, min(1.0, max(0.0, m.metallic)), min(1.0, max(0.0, m.roughness)), m.texture, m.name
            )
        )
        parts.append(SubMesh(face_base, len(part.faces), material))
        vertex_base += len(part.positions)
        face_base += len(part.faces)
    return MeshData(
        np.concatenate(positions),
        np.concatenate(normals),
        np.concatenate(faces),
        uvs=np.concatenate(uvs) if has_uv else None,
        parts=tuple(parts),
    )


@dataclass
class MeshCache:
    """Loaded meshes by resolved path, so each file is read once per renderer (not global)."""

    meshes: dict[str, MeshData] = field(default_factory=dict)

    def get(self, path: str | Path) -> MeshData:
        """The mesh at ``path``, loading it on first use."""
        key = str(Path(path).resolve())
        mesh = self.meshes.get(key)
        if mesh is None:
            mesh = self.meshes[key] = load_mesh_file(key)
        return mesh


class NormalScratch:
    """Preallocated work arrays for :func:`vertex_normals` on one mesh topology."""

    def __init__(self, n_vertices: int, n_faces: int) -> None:
        self.corners = [np.empty((n_faces, 3), np.float32) for _ in range(3)]
        self.fn = np.empty((n_faces, 3), np.float32)
        self.tmp = np.empty(n_faces, np.float32)
        self.length = np.empty(n_vertices, np.float32)


def vertex_normals(positions: np.ndarray, faces: np.ndarray, out: np.ndarray, scratch: NormalScratch) -> np.ndarray:
    """Area-weighted unit vertex normals of ``positions`` (N, 3) into ``out`` (N, 3)
    float32. Every temporary lives in ``scratch``, so a per-frame call allocates nothing
    of mesh size."""
    p0, e1, e2 = scratch.corners
    fn, tmp = scratch.fn, scratch.tmp
    np.take(positions, faces[:, 0], axis=0, out=p0)
    np.take(positions, faces[:, 1], axis=0, out=e1)
    np.take(positions, faces[:, 2], axis=0, out=e2)
    e1 -= p0
    e2 -= p0
    for k, (a, b) in enumerate(((1, 2), (2, 0), (0, 1))):  # fn = e1 x e2 (twice the area)
        np.multiply(e1[:, a], e2[:, b], out=fn[:, k])
        np.multiply(e1[:, b], e2[:, a], out=tmp)
        fn[:, k] -= tmp
    out[:] = 0.0
    for k in range(3):
        np.add.at(out, faces[:, k], fn)
    np.einsum("ij,ij->i", out, out, out=scratch.length)
    np.sqrt(scratch.length, out=scratch.length)
    np.maximum(scratch.length, 1e-20, out=scratch.length)
    out /= scratch.length[:, None]
    return out
