"""glTF 2.0 assets: materials, UVs and base colour textures on the GPU, node transforms,
the shipped sample asset in the sandbox, and one clear error per kind of broken file.

Every fixture but the shipped asset (content/sandbox/assets/trocar_port.glb) is built here
from a small JSON document and a binary buffer: a 1 m quad facing +z whose 16 x 16
texture has four coloured quadrants, so a render shows whether the texture is upright.
"""

from __future__ import annotations

import copy
import io
import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, write_tree
from PIL import Image

from vrmed import App
from vrmed.components import Transform, VisualMesh
from vrmed.components.scene.render import Camera, Light
from vrmed.mesh import MeshError, load_surface_mesh
from vrmed.mesh.io import check_gltf, load_gltf
from vrmed.render.camera import project, view_projection
from vrmed.render.meshes import load_mesh_file

W, H = 160, 120
ASSET = REPO / "content" / "sandbox" / "assets" / "trocar_port.glb"
#: Texture quadrants (display sRGB): top-left, top-right, bottom-left, bottom-right.
QUADRANTS = {"tl": (230, 30, 30), "tr": (30, 200, 40), "bl": (40, 60, 230), "br": (240, 230, 40)}
FRONT = Camera(position=np.array([0.0, 0.0, 1.6]), target=np.zeros(3), fov_deg=45.0, near=0.05, far=20.0)


def quadrant_png() -> bytes:
    img = np.zeros((16, 16, 3), np.uint8)
    img[:8, :8], img[:8, 8:] = QUADRANTS["tl"], QUADRANTS["tr"]
    img[8:, :8], img[8:, 8:] = QUADRANTS["bl"], QUADRANTS["br"]
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue()


def quad_gltf(image: bytes | None = None) -> tuple[dict, bytearray]:
    """A textured quad (1 m, facing +z, centred at the origin): the JSON document and its
    buffer (positions, normals, UVs, uint16 indices, then the PNG)."""
    image = quadrant_png() if image is None else image
    pos = np.array([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]], np.float32)
    nrm = np.tile(np.array([0, 0, 1], np.float32), (4, 1))
    uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)  # glTF: v = 0 is the image's top
    idx = np.array([0, 1, 2, 0, 2, 3], np.uint16)
    blob = bytearray()
    views = []
    for data in (pos.tobytes(), nrm.tobytes(), uv.tobytes(), idx.tobytes() + b"\0\0", image):
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)})
        blob += data + b"\0" * (-len(data) % 4)
    views[3]["byteLength"] = 12
    doc = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"name": "quad", "primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                                                     "indices": 3, "material": 0}]}],
        "materials": [{"name": "checker", "pbrMetallicRoughness": {
            "baseColorTexture": {"index": 0}, "baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.0,
            "roughnessFactor": 0.9}}],
        "textures": [{"source": 0}],
        "images": [{"bufferView": 4, "mimeType": "image/png"}],
        "buffers": [{"byteLength": len(blob)}],
        "bufferViews": views,
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3",
             "min": [-0.5, -0.5, 0], "max": [0.5, 0.5, 0]},
            {"bufferView": 1, "componentType": 5126, "count": 4, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5126, "count": 4, "type": "VEC2"},
            {"bufferView": 3, "componentType": 5123, "count": 6, "type": "SCALAR"},
        ],
    }  # fmt: skip
    return doc, blob


def glb_bytes(doc: dict, blob: bytes) -> bytes:
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    blob = bytes(blob) + b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return (
        struct.pack("<4sII", b"glTF", 2, total)
        + struct.pack("<I4s", len(text), b"JSON")
        + text
        + struct.pack("<I4s", len(blob), b"BIN\0")
        + blob
    )


def write_glb(path: Path, doc: dict, blob: bytes) -> Path:
    path.write_bytes(glb_bytes(doc, blob))
    return path


def write_gltf(folder: Path, doc: dict, blob: bytes, *, write_bin: bool = True) -> Path:
    """A .gltf with its buffer in quad.bin beside it (written unless ``write_bin`` is false)."""
    doc = copy.deepcopy(doc)
    doc["buffers"][0]["uri"] = "quad.bin"
    if write_bin:
        (folder / "quad.bin").write_bytes(bytes(blob))
    path = folder / "quad.gltf"
    path.write_text(json.dumps(doc))
    return path


def luminance(img: np.ndarray) -> np.ndarray:
    return img[..., 0] * 0.2126 + img[..., 1] * 0.7152 + img[..., 2] * 0.0722


@pytest.fixture(scope="module")
def renderer(ctx):
    from vrmed.render import Renderer

    r = Renderer(ctx, W, H, samples=0, ground=False)
    yield r
    r.release()


def render(r, draw, camera=FRONT, light=None) -> np.ndarray:
    r.begin(camera, light or Light(direction=np.array([0.0, 0.0, 1.0]), ambient=0.3))
    draw(r)
    r.end()
    return r.read().astype(np.int32)


# -- loading ---------------------------------------------------------------------------------
def test_quad_loads_with_material_uvs_and_texture(tmp_path):
    doc, blob = quad_gltf()
    for path in (write_glb(tmp_path / "quad.glb", doc, blob), write_gltf(tmp_path, doc, blob)):
        (part,) = load_gltf(path).parts
        assert part.material.name == "checker" and part.material.metallic == 0.0
        assert part.material.roughness == pytest.approx(0.9) and part.material.base_color == (1, 1, 1, 1)
        assert part.material.texture.shape == (16, 16, 4)
        assert tuple(part.material.texture[0, 0, :3]) == QUADRANTS["tl"]  # top row first
        assert np.allclose(part.uvs[[0, 2]], [[0, 1], [1, 0]])  # glTF's convention, as in the file
        mesh = load_mesh_file(path)
        assert len(mesh.parts) == 1 and mesh.uvs is not None and mesh.parts[0].material.texture is not None


def test_node_transforms_are_applied_and_materials_grouped(tmp_path):
    """Two nodes (one translated, scaled and turned 90 degrees about +y) share the quad's
    material: one part with both quads, placed as the node transforms say."""
    doc, blob = quad_gltf()
    half = math.sqrt(0.5)
    doc["nodes"] = [
        {"children": [1, 2], "translation": [0.0, 1.0, 0.0]},
        {"mesh": 0},
        {"mesh": 0, "translation": [2.0, 0.0, 0.0], "rotation": [0.0, half, 0.0, half], "scale": [2.0, 2.0, 2.0]},
    ]
    (part,) = load_gltf(write_glb(tmp_path / "two.glb", doc, blob)).parts
    assert part.positions.shape == (8, 3) and part.faces.shape == (4, 3)
    first, second = part.positions[:4], part.positions[4:]
    if first[:, 0].max() > 1.0:
        first, second = second, first
    assert np.allclose(first[:, 1].min(), 0.5) and np.allclose(first[:, 2], 0.0)  # parent moved it up 1 m
    # +90 degrees about y turns the quad's x extent onto -z; scale 2 doubles it
    assert np.allclose(second[:, 0], 2.0, atol=1e-6) and np.allclose(np.ptp(second[:, 2]), 2.0)
    assert np.allclose(np.ptp(second[:, 1]), 2.0) and np.allclose(second[:, 1].mean(), 1.0)
    normals = part.normals[4:] if np.allclose(part.positions[4:, 0], 2.0, atol=1e-6) else part.normals[:4]
    assert np.allclose(normals, [1.0, 0.0, 0.0], atol=1e-6)  # +z normal turned to +x


def test_shipped_sample_asset_has_its_materials_and_licence():
    model = load_gltf(ASSET)
    by_name = {p.material.name: p for p in model.parts}
    assert set(by_name) == {"port plastic", "stopcock steel"}
    plastic, steel = by_name["port plastic"], by_name["stopcock steel"]
    assert plastic.material.texture is not None and plastic.uvs is not None and plastic.material.metallic == 0.0
    assert steel.material.texture is None and steel.material.metallic == 1.0
    lo, hi = plastic.positions.min(axis=0), plastic.positions.max(axis=0)
    assert np.allclose(lo, [-0.016, 0.0, -0.016], atol=1e-4) and np.allclose(hi, [0.016, 0.138, 0.016], atol=1e-4)
    # the stopcock node is turned onto +x and moved to the housing's side
    assert steel.positions[:, 0].min() == pytest.approx(0.014, abs=1e-4)
    assert steel.positions[:, 0].max() == pytest.approx(0.030, abs=1e-4)
    readme = (ASSET.parent / "README.md").read_text()
    assert "trocar_port.glb" in readme and "licence" in readme.lower()
    assert ASSET.stat().st_size < 64_000


def test_shipped_asset_is_what_its_generator_makes(tmp_path):
    """The .glb is reproducible from make_gltf.py (no hand-edited or downloaded bytes)."""
    code = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('m', sys.argv[1]); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
        "sys.stdout.buffer.write(m.build())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ASSET.parent / "make_gltf.py")], capture_output=True, check=True
    )
    assert proc.stdout == ASSET.read_bytes()


# -- drawing ---------------------------------------------------------------------------------
def test_texture_is_sampled_upright_and_color_multiplies_it(renderer, tmp_path):
    """Each quadrant of the rendered quad shows its texture colour (red top-left, ...);
    VisualMesh-style ``color`` multiplies the material: half grey halves the linear colour."""
    doc, blob = quad_gltf()
    gpu = renderer.static_mesh(load_mesh_file(write_glb(tmp_path / "quad.glb", doc, blob)))
    try:
        assert len(gpu.textures) == 1
        img = render(renderer, lambda r: r.draw_mesh(gpu))
        dim = render(renderer, lambda r: r.draw_mesh(gpu, color=(0.5, 0.5, 0.5, 1.0)))
        again = render(renderer, lambda r: r.draw_mesh(gpu))
        assert len(gpu.textures) == 1 and np.array_equal(img, again)  # nothing re-uploaded, same pixels
    finally:
        gpu.release()
    vp = view_projection(FRONT, W / H)
    for name, corner in {"tl": (-0.25, 0.25), "tr": (0.25, 0.25), "bl": (-0.25, -0.25), "br": (0.25, -0.25)}.items():
        x, y = project([[corner[0], corner[1], 0.0]], vp, W, H)[0].astype(int)
        got, want = img[y, x], np.array(QUADRANTS[name])
        # the pixel has the texel's chromaticity (lighting scales it, it does not change its hue)
        assert np.abs(got / got.sum() - want / want.sum()).max() < 0.06, (name, got, want)
        lin = ((img[y, x] / 255.0) ** 2.2).sum(), ((dim[y, x] / 255.0) ** 2.2).sum()
        assert lin[1] == pytest.approx(0.5 * lin[0], rel=0.12), (name, lin)


def test_sample_asset_renders_textured_in_the_sandbox(ctx, tmp_path):
    """The sandbox's trocar port is drawn from its glTF: the housing's teal and the band's
    yellow (texture colours) appear in a capture, around where the port projects."""
    from vrmed.packs import load_pack
    from vrmed.packs.discovery import resolve_target
    from vrmed.render import RenderPlugin
    from vrmed.render.png import write_png
    from vrmed.session import build_session

    ref, _ = resolve_target("sandbox")
    session = build_session(load_pack(ref.root, ref.source), seed=3)
    plugin = RenderPlugin(640, 480, context=ctx, capture_dir=tmp_path, every=5)
    session.app.add_plugin(plugin)
    try:
        ports = [(tf, vis) for _, (tf, vis) in session.app.query(Transform, VisualMesh)]
        assert len(ports) == 1 and Path(ports[0][1].mesh).name == "trocar_port.glb"
        session.run(frames=6)
        img = plugin.image().astype(np.int32)
        write_png(tmp_path / "sandbox.png", img.astype(np.uint8))
        position = ports[0][0].position
        vp = plugin.renderer.view_proj
    finally:
        session.close()
    (x0, y0), (x1, y1) = project([position + [0, 0.14, 0], position], vp, 640, 480).astype(int)
    box = img[min(y0, y1) - 4 : max(y0, y1) + 4, x0 - 20 : x0 + 20]
    r, g, b = box[..., 0], box[..., 1], box[..., 2]
    teal = (g > r + 50) & (b > r + 50)
    yellow = (r > 120) & (g > 90) & (b < 0.5 * g)
    assert teal.sum() >= 10 and yellow.sum() >= 4, (teal.sum(), yellow.sum())
    ty, yy = np.nonzero(teal)[0].mean(), np.nonzero(yellow)[0].mean()
    assert abs(ty - yy) < 12  # the band sits inside the housing, not on the cannula


def test_render_path_reports_a_file_broken_after_it_was_checked(ctx, tmp_path):
    """A glTF that breaks after its VisualMesh was made is reported by the first render as
    one MeshError naming the file (with a note naming the render pass), not a traceback
    from trimesh."""
    from vrmed.render import RenderPlugin

    doc, blob = quad_gltf()
    path = write_glb(tmp_path / "quad.glb", doc, blob)
    app = App(seed=0)
    app.add_plugin(RenderPlugin(W, H, context=ctx))
    app.spawn(Transform(), VisualMesh(str(path)))
    broken = copy.deepcopy(doc)
    broken["extensionsRequired"] = ["KHR_draco_mesh_compression"]
    write_glb(path, broken, blob)
    try:
        with pytest.raises(MeshError, match="KHR_draco_mesh_compression") as info:
            app.step(1)
        assert str(info.value).startswith(str(path))
        assert any("render pass 'scene'" in note for note in info.value.__notes__)
    finally:
        app.close()


# -- broken files ----------------------------------------------------------------------------
def _missing_bin(tmp_path, doc, blob):
    return write_gltf(tmp_path, doc, blob, write_bin=False)


def _truncated_bin(tmp_path, doc, blob):
    path = write_gltf(tmp_path, doc, blob)
    (tmp_path / "quad.bin").write_bytes(bytes(blob[:100]))
    return path


def _truncated_glb(tmp_path, doc, blob):
    path = tmp_path / "quad.glb"
    path.write_bytes(glb_bytes(doc, blob)[:-64])
    return path


def _accessor_out_of_range(tmp_path, doc, blob):
    doc["accessors"][0]["count"] = 400
    return write_glb(tmp_path / "quad.glb", doc, blob)


def _bad_component_type(tmp_path, doc, blob):
    doc["accessors"][2]["componentType"] = 5127
    return write_glb(tmp_path / "quad.glb", doc, blob)


def _index_out_of_range(tmp_path, doc, blob):
    start = doc["bufferViews"][3]["byteOffset"]
    blob[start + 4 : start + 6] = struct.pack("<H", 9)
    return write_glb(tmp_path / "quad.glb", doc, blob)


def _draco(tmp_path, doc, blob):
    doc["extensionsUsed"] = doc["extensionsRequired"] = ["KHR_draco_mesh_compression"]
    return write_glb(tmp_path / "quad.glb", doc, blob)


def _bad_image(tmp_path, doc, blob):
    doc, blob = quad_gltf(image=b"\x89PNG\r\n\x1a\n this is not really a PNG")
    return write_glb(tmp_path / "quad.glb", doc, blob)


def _stl_renamed(tmp_path, doc, blob):
    path = tmp_path / "quad.glb"
    path.write_text("solid quad\nendsolid quad\n")
    return path


def _not_json(tmp_path, doc, blob):
    path = tmp_path / "quad.gltf"
    path.write_text("<html>404 not found</html>")
    return path


BROKEN = {
    "missing buffer file": (_missing_bin, r"buffer 0 refers to 'quad\.bin', which does not exist"),
    "truncated buffer file": (_truncated_bin, r"buffer 0 is truncated: 'quad\.bin' holds 100 bytes"),
    "truncated glb": (_truncated_glb, r"is truncated: its GLB header declares \d+ bytes but the file has"),
    "accessor out of range": (_accessor_out_of_range, r"accessor 0 \(mesh 0 \('quad'\) primitive 0 POSITION\) is out"),
    "bad component type": (_bad_component_type, r"accessor 2 .*TEXCOORD_0\) has componentType 5127"),
    "index out of range": (_index_out_of_range, r"indices are out of range: index 9 refers past .* 4 vertices"),
    "unsupported required extension": (_draco, r"requires the glTF extension\(s\) KHR_draco_mesh_compression"),
    "undecodable texture": (_bad_image, r"image 0 cannot be decoded as an image"),
    "not a glTF (binary)": (_stl_renamed, r"is not a binary glTF: it does not start with the bytes 'glTF'"),
    "not a glTF (json)": (_not_json, r"is not a glTF file: its content is not glTF JSON"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_gltf_gives_one_clear_error(case, tmp_path):
    """Each kind of broken file is one MeshError (a VrmedError: the CLI prints it without a
    traceback) that starts with the file's path, says what is wrong and what to do; the
    renderer's loader, the surface-mesh loader and the check alone all report it."""
    make, pattern = BROKEN[case]
    doc, blob = quad_gltf()
    path = make(tmp_path, doc, blob)
    for load in (check_gltf, load_mesh_file, load_surface_mesh):
        with pytest.raises(MeshError, match=pattern) as info:
            load(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and "\n" not in message
        exc = info.value  # no chained traceback from trimesh, json or Pillow
        assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
        assert any(word in message for word in ("export", "Export", "Copy", "copy", "Re-save")), message


def test_broken_asset_in_a_pack_is_reported_by_the_loader_with_its_line(tmp_path):
    """`vrmed validate` names the YAML line of the VisualMesh and the glTF's problem, in one
    line, without a traceback."""
    doc, blob = quad_gltf()
    doc["extensionsRequired"] = ["KHR_draco_mesh_compression"]
    root = write_tree(
        tmp_path / "demo",
        {
            "pack.yaml": "name: demo\nversion: 1.0.0\nengine: '>=0.1'\ndefault_scenario: one\n",
            "prefabs/things.yaml": "port:\n  components:\n    VisualMesh: {mesh: assets/port.glb}\n",
            "scenarios/one.yaml": "duration: 1.0\nentities:\n  - {name: p, prefab: port}\n",
        },
    )
    (root / "assets").mkdir()
    write_glb(root / "assets" / "port.glb", doc, blob)
    proc = subprocess.run(
        [sys.executable, "-m", "vrmed", "validate", str(root)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "demo/prefabs/things.yaml:3: port.components.VisualMesh: invalid VisualMesh: " in out, out
    assert "port.glb: requires the glTF extension(s) KHR_draco_mesh_compression" in out, out


def test_valid_gltf_checks_once(tmp_path, monkeypatch):
    """A file that passed is not read again until it changes (VisualMesh checks on creation,
    so spawning many entities of one asset costs a stat each)."""
    doc, blob = quad_gltf()
    path = write_glb(tmp_path / "quad.glb", doc, blob)
    check_gltf(path)
    reads = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or original(self))
    for _ in range(3):
        VisualMesh(str(path))
    assert reads == []
