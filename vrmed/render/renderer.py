"""The offscreen renderer: a framebuffer (colour + depth, optional MSAA), lit meshes
(static and streamed), instanced spheres and capsules (instrument shafts) and a ground
plane with contact shadows.

A frame is immediate-mode::

    renderer.begin(camera, light)  # or begin_matrices(view, proj, eye_position, light)
    renderer.draw_mesh(mesh, model, color=(0.8, 0.4, 0.4, 1))
    renderer.draw_mesh(skin, model, color=(0.9, 0.7, 0.6, 0.3))   # alpha < 1: translucent
    renderer.draw_mesh(brain, model, clip_plane=(0, -1, 0, 1.2))  # cut away above y = 1.2 m
    renderer.draw_spheres(centres, radii, colors)
    renderer.draw_capsules(a, b, radii, colors)   # one instanced draw per call
    renderer.draw_image(slice_2d, quad_model, key="slice")  # a grey-scale image on a quad
    renderer.end()                 # ground + contact shadows, translucent meshes, MSAA resolve
    image = renderer.read()        # (H, W, 3) uint8, top row first

Translucency: a mesh part whose alpha (the draw's ``color`` alpha times its material's
base-colour alpha) is below 1 is not drawn at once but queued; :meth:`Renderer.end` draws
the queue after everything opaque (ground included), objects sorted back to front by the
eye distance of their bounding-sphere centre, with the depth test on and depth writes off,
each object's back faces before its front faces (a closed convex shell then blends in the
right order), with standard "over" blending of the shader's display-encoded colour:
``out = a * src + (1 - a) * dst`` (Porter & Duff 1984), the framebuffer's alpha left at 1.

Nothing of scene size is allocated per frame: mesh buffers are made once (streamed meshes
are rewritten in place with ``buffer.write``), the sphere instance buffer only grows when
a frame has more spheres than ever before, and read-back goes into one reused array.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vrmed.components.scene.render import Camera, Light

from . import shaders
from .camera import look_at, perspective
from .meshes import Material, MeshData, NormalScratch, capsule_template, uv_sphere, vertex_normals

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

ColorLike = Sequence[float] | np.ndarray

#: Linear RGBA of a mesh drawn without a colour and without a material (tissue pink).
DEFAULT_MESH_COLOR = (0.8, 0.45, 0.4, 1.0)
#: Base roughness and wet-film weight of a mesh part without a material (wet tissue).
DEFAULT_MESH_ROUGHNESS, DEFAULT_MESH_WETNESS = 0.45, 0.6
_GL_SRGB8_ALPHA8 = 0x8C43  # texture format whose samples come back linear (GL does the decode)
_GL_LINEAR, _GL_LINEAR_MIPMAP_LINEAR = 0x2601, 0x2703
_GL_CLIP_DISTANCE0 = 0x3000
#: The clipping plane of a draw without one: 0 x + 0 y + 0 z + 1 >= 0 keeps every fragment.
NO_CLIP = (0.0, 0.0, 0.0, 1.0)
#: A mesh whose world footprint is wider than this (metres, half of its x or z extent)
#: casts a footprint contact shadow; smaller ones cast a ball's (their bounding sphere).
FOOTPRINT_HALF_EXTENT = 0.2
#: The scope-light uniforms every lit program and the ground share (shaders._COMMON).
_SCOPE_UNIFORMS = (
    "u_scope_on",
    "u_scope_pos",
    "u_scope_dir",
    "u_scope_light",
    "u_scope_ref",
    "u_scope_min",
    "u_scope_cone",
)


@dataclass(frozen=True)
class ScopeLight:
    """The light a laparoscope carries and its lens vignette, used for frames drawn from an
    :class:`~vrmed.components.scene.render.Endoscope` (``Renderer.scope``; the
    RenderPlugin sets it when its view is an endoscope). Ordinary views never use it.

    The fibre-optic light leaves the tip along the view axis: on-axis irradiance is
    ``irradiance * color`` at ``ref_distance`` metres and falls with the inverse square of
    the distance, clamped at ``min_distance`` (the light guide is a ring of fibres, not a
    point, so very close surfaces do not blow up); off axis it falls as cos^``cone``.
    The scene's own ``Light`` (direct and ambient) is scaled by ``scene_light``: a body
    cavity or a closed box trainer is dark but for the scope. ``vignette`` (0..1) blends
    in the cos^4 illumination falloff of a wide-angle lens towards the image edge;
    ``background`` (display sRGB) is what the far, unlit cavity shows.
    """

    irradiance: float = 4.0
    color: tuple[float, float, float] = (1.0, 0.97, 0.93)
    ref_distance: float = 0.1
    min_distance: float = 0.015
    cone: float = 1.5
    scene_light: float = 0.15
    vignette: float = 0.5
    background: tuple[float, float, float] = (0.05, 0.035, 0.03)

    def __post_init__(self) -> None:
        if self.irradiance < 0 or self.ref_distance <= 0 or self.min_distance <= 0 or self.cone < 0:
            raise ValueError("scope light needs irradiance >= 0, ref_distance > 0, min_distance > 0 and cone >= 0")
        if not (0.0 <= self.vignette <= 1.0 and 0.0 <= self.scene_light):
            raise ValueError(
                f"vignette must be in [0, 1] and scene_light >= 0, got {self.vignette}, {self.scene_light}"
            )


def uniforms(program: moderngl.Program, *names: str) -> dict[str, moderngl.Uniform]:
    """The named uniforms of ``program``, looked up once (a KeyError names a uniform the
    shader does not use; a TypeError one that is a block, attribute or varying)."""
    import moderngl  # deferred: GL; vrmed.api imports this module (through RenderPlugin) without a context

    found: dict[str, moderngl.Uniform] = {}
    for name in names:
        member = program[name]
        if not isinstance(member, moderngl.Uniform):
            raise TypeError(f"{name!r} is a {type(member).__name__} of this program, not a uniform")
        found[name] = member
    return found


def _normal_matrix(model: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Inverse-transpose of a rotation-times-scale 3x3 block, as column-major float32:
    each column divided by its squared length (no general inverse needed)."""
    m3 = model[:3, :3]
    sq = np.einsum("ij,ij->j", m3, m3)
    np.divide(m3, np.maximum(sq, 1e-30)[None, :], out=out.T, casting="unsafe")
    return out


def clip_plane_values(plane: ColorLike | None) -> tuple[float, float, float, float]:
    """A world clipping plane (nx, ny, nz, d) as uniform values: fragments at p with
    ``n . p + d < 0`` are cut away (None: keep all). ValueError for a non-finite plane or a
    zero normal."""
    if plane is None:
        return NO_CLIP
    values = tuple(float(v) for v in plane)
    if len(values) != 4 or not all(np.isfinite(values)) or values[:3] == (0.0, 0.0, 0.0):
        raise ValueError(f"a clipping plane is (nx, ny, nz, d) with a non-zero normal, got {plane!r}")
    return values[0], values[1], values[2], values[3]


class _Translucent:
    """A queued translucent draw: mesh, model matrix (copied), look and which parts."""

    __slots__ = ("mesh", "model", "tint", "roughness", "wetness", "metallic", "clip", "parts", "depth")

    def __init__(self) -> None:
        self.mesh: GpuMesh | None = None
        self.model = np.eye(4)
        self.tint: tuple[float, ...] | None = None
        self.roughness: float | None = None
        self.wetness: float | None = None
        self.metallic: float | None = None
        self.clip = NO_CLIP
        self.parts: list[int] = []
        self.depth = 0.0


def _far_plane(proj: np.ndarray) -> float:
    """The far clip distance of an OpenGL perspective projection (50 m if it has none)."""
    a, b = float(proj[2, 2]), float(proj[2, 3])
    if proj[3, 2] != -1.0 or a == -1.0 or b == 0.0:
        return 50.0
    far = b / (a + 1.0)
    return far if far > 0 and np.isfinite(far) else 50.0


class _InstanceBuffer:
    """The per-instance data of one instanced draw: a float32 staging array of ``columns``
    per instance, the dynamic GL buffer it is written to and the VAO that reads the template
    mesh's ``vertex`` buffers with it (attributes ``layout``). All three are remade together,
    at least doubling, when a draw needs more instances (:meth:`reserve`)."""

    def __init__(
        self,
        ctx: moderngl.Context,
        program: moderngl.Program,
        vertex: list[tuple[Any, ...]],
        layout: tuple[str, ...],
        index_buffer: moderngl.Buffer,
        columns: int,
        capacity: int,
    ) -> None:
        self._ctx, self._program, self._vertex, self._layout = ctx, program, vertex, layout
        self._index_buffer, self._columns = index_buffer, columns
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        self.staging = np.zeros((capacity, self._columns), np.float32)
        self.buffer = self._ctx.buffer(reserve=self.staging.nbytes, dynamic=True)
        self.vao = self._ctx.vertex_array(
            self._program,
            [*self._vertex, (self.buffer, *self._layout)],
            index_buffer=self._index_buffer,
            index_element_size=4,
        )

    def reserve(self, n: int) -> None:
        """Grow to hold at least ``n`` instances (no-op when they fit)."""
        if n <= len(self.staging):
            return
        self.release()
        self._allocate(max(n, 2 * len(self.staging)))

    def release(self) -> None:
        """Free the VAO and the buffer (a second call does nothing)."""
        self.vao.release()
        self.buffer.release()


class _Part:
    """One material range of a GpuMesh: index range, material and its uploaded texture."""

    __slots__ = ("first", "count", "material", "texture")

    def __init__(self, first: int, count: int, material: Material | None, texture: moderngl.Texture | None) -> None:
        self.first, self.count, self.material, self.texture = first, count, material, texture


class GpuMesh:
    """A triangle mesh in GPU buffers: positions, normals, a per-vertex burn scalar
    (0 = healthy, 1 = charred), indices and, for meshes with materials (glTF), UVs and the
    base colour textures (each uploaded once, sRGB, mipmapped). Made by
    :meth:`Renderer.static_mesh`."""

    def __init__(
        self,
        ctx: moderngl.Context,
        program: moderngl.Program,
        mesh: MeshData,
        burn: np.ndarray | None = None,
        *,
        dynamic: bool = False,
    ) -> None:
        n = len(mesh.positions)
        burn_arr = np.zeros(n, np.float32) if burn is None else np.ascontiguousarray(burn, np.float32)
        if burn_arr.shape != (n,):
            raise ValueError(f"burn must have one value per vertex ({n}), got shape {burn_arr.shape}")
        self.n_vertices = n
        self.n_faces = len(mesh.faces)
        self.position_buffer = ctx.buffer(mesh.positions, dynamic=dynamic)
        self.normal_buffer = ctx.buffer(mesh.normals, dynamic=dynamic)
        self.burn_buffer = ctx.buffer(burn_arr, dynamic=dynamic)
        self.index_buffer = ctx.buffer(mesh.faces)
        content = [
            (self.position_buffer, "3f", "in_position"),
            (self.normal_buffer, "3f", "in_normal"),
            (self.burn_buffer, "1f", "in_burn"),
        ]
        self.uv_buffer: moderngl.Buffer | None = None
        if mesh.uvs is not None:
            self.uv_buffer = ctx.buffer(mesh.uvs)
            content.append((self.uv_buffer, "2f", "in_uv"))
        self.vao = ctx.vertex_array(program, content, index_buffer=self.index_buffer, index_element_size=4)
        #: Textures by the id of their image (parts sharing an image share one texture).
        self.textures: dict[int, moderngl.Texture] = {}
        parts = []
        for part in mesh.parts:
            texture = None
            image = part.material.texture if part.material is not None else None
            if image is not None and mesh.uvs is not None:
                texture = self.textures.get(id(image))
                if texture is None:
                    texture = self.textures[id(image)] = _upload_texture(ctx, image)
            parts.append(_Part(3 * part.first, 3 * part.count, part.material, texture))
        #: The material ranges (one covering every face, without a material, for plain meshes).
        self.parts: tuple[_Part, ...] = tuple(parts) or (_Part(0, 3 * self.n_faces, None, None),)
        centre, radius = mesh.bounding_sphere()
        #: Bounding sphere in model space (centre xyz, radius), used for contact shadows.
        self.bound = np.array([*centre, radius], np.float64)
        #: Bounding box in model space (rows: min xyz, max xyz): a large mesh's shadow footprint.
        self.box = np.zeros((2, 3), np.float64)
        if n:
            self.box[0], self.box[1] = mesh.positions.min(axis=0), mesh.positions.max(axis=0)

    def set_burn(self, burn: np.ndarray) -> None:
        """Overwrite the per-vertex burn values (N,) in place."""
        burn = np.asarray(burn)
        if burn.shape != (self.n_vertices,):
            raise ValueError(f"burn must have shape ({self.n_vertices},), got {burn.shape}")
        self.burn_buffer.write(burn.astype(np.float32, copy=False))

    def release(self) -> None:
        """Free the GL objects."""
        for obj in (self.vao, self.position_buffer, self.normal_buffer, self.burn_buffer, self.index_buffer):
            obj.release()
        if self.uv_buffer is not None:
            self.uv_buffer.release()
        for texture in self.textures.values():
            texture.release()
        self.textures.clear()


def _upload_texture(ctx: moderngl.Context, image: np.ndarray) -> moderngl.Texture:
    """An sRGB RGBA8 texture of ``image`` ((H, W, 4) uint8, top row first) with mipmaps.
    Row 0 goes to t = 0, which is where glTF's v = 0 (the image's top) samples."""
    height, width = image.shape[:2]
    texture = ctx.texture((width, height), 4, np.ascontiguousarray(image, np.uint8), internal_format=_GL_SRGB8_ALPHA8)
    texture.build_mipmaps()
    texture.filter = (_GL_LINEAR_MIPMAP_LINEAR, _GL_LINEAR)  # trilinear: no shimmer on distant, small assets
    return texture


class StreamedMesh(GpuMesh):
    """A mesh whose vertices change every frame (soft tissue): buffers are allocated once
    for a fixed topology and :meth:`update` rewrites them in place."""

    def __init__(
        self, ctx: moderngl.Context, program: moderngl.Program, faces: np.ndarray, positions: np.ndarray
    ) -> None:
        faces = np.ascontiguousarray(faces, np.uint32).reshape(-1, 3)
        n = len(np.asarray(positions).reshape(-1, 3))
        self._positions = np.zeros((n, 3), np.float32)
        self._normals = np.zeros((n, 3), np.float32)
        self._burn = np.zeros(n, np.float32)
        self._faces = faces
        self._scratch = NormalScratch(n, len(faces))
        super().__init__(ctx, program, MeshData(self._positions, self._normals, faces), dynamic=True)
        self.update(positions)

    def update(self, positions: np.ndarray, normals: np.ndarray | None = None, burn: np.ndarray | None = None) -> None:
        """Upload new vertex positions (N, 3), with normals (computed from the faces when
        not given) and optionally burn values (N,); same N as at creation."""
        np.copyto(self._positions, positions, casting="same_kind")
        self.position_buffer.write(self._positions)
        if normals is None:
            vertex_normals(self._positions, self._faces, self._normals, self._scratch)
        else:
            np.copyto(self._normals, normals, casting="same_kind")
        self.normal_buffer.write(self._normals)
        if burn is not None:
            np.copyto(self._burn, burn, casting="same_kind")
            self.burn_buffer.write(self._burn)
        lo, hi = self._positions.min(axis=0), self._positions.max(axis=0)
        self.bound[:3] = (lo + hi) / 2.0
        self.bound[3] = float(np.linalg.norm(hi - lo)) / 2.0
        self.box[0], self.box[1] = lo, hi


_VIGNETTE_VERTEX = """
#version 330
out vec2 v_ndc;
void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    v_ndc = p;
    gl_Position = vec4(p, 0.0, 1.0);
}
"""
_VIGNETTE_FRAGMENT = """
#version 330
uniform float u_amount;
in vec2 v_ndc;
out vec4 f_color;
void main() {
    float inner = mix(1.25, 0.35, u_amount);  // clear radius (NDC: 1 = edge midpoints)
    float a = smoothstep(inner, inner + 0.35, length(v_ndc)) * min(1.0, 0.25 + u_amount);
    f_color = vec4(0.0, 0.0, 0.0, a);
}
"""


class Renderer:
    """Offscreen renderer of ``width`` x ``height`` pixels on a moderngl context
    (see :func:`vrmed.render.context.create_context`); ``samples`` > 0 turns on MSAA.

    ``background`` is the display (sRGB) clear colour; the ground plane at y =
    ``ground_height`` has linear albedo ``ground_color`` and contact shadows of strength
    ``contact_shadow`` (0 to 1) under every sphere and mesh drawn with ``shadow=True``;
    ``contact_spread`` scales the occluding radius (1 = physical sphere occlusion, the
    default 1.6 widens the blob into a readable depth cue).
    The renderer does not own the context (release the context yourself).
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        width: int = 640,
        height: int = 480,
        *,
        samples: int = 0,
        background: ColorLike = (0.70, 0.74, 0.78),
        ground: bool = True,
        ground_height: float = 0.0,
        ground_color: ColorLike = (0.40, 0.38, 0.36),
        contact_shadow: float = 0.85,
        contact_spread: float = 1.6,
        stereo: bool = False,
    ) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"framebuffer size must be positive, got {width}x{height}")
        if samples < 0 or samples > ctx.max_samples:
            raise ValueError(f"samples must be between 0 and {ctx.max_samples} on this GL, got {samples}")
        import moderngl  # deferred: GL, only once a context exists

        self.ctx = ctx
        self.size = (int(width), int(height))
        self.samples = int(samples)
        red, green, blue = (float(c) for c in tuple(background)[:3])
        #: Display (sRGB) clear colour.
        self.background = (red, green, blue)
        self.ground = ground
        self.ground_height = float(ground_height)
        red, green, blue = (float(c) for c in tuple(ground_color)[:3])
        self.ground_color = (red, green, blue)
        self.contact_shadow = float(contact_shadow)
        self.contact_spread = float(contact_spread)
        #: Single-pass stereo: the target holds both eyes side by side (left half: left eye),
        #: frames start with :meth:`begin_stereo` and every draw covers both eyes.
        self.stereo = bool(stereo)
        if self.stereo and self.size[0] % 2:
            raise ValueError(f"a side-by-side stereo target needs an even width, got {width}")
        self._depth_test = moderngl.DEPTH_TEST
        self._strip = moderngl.TRIANGLE_STRIP
        self._objects: list[
            moderngl.Buffer
            | moderngl.Framebuffer
            | moderngl.Renderbuffer
            | moderngl.Program
            | moderngl.VertexArray
            | moderngl.Texture
        ] = []
        keep = self._objects.append

        def rb(depth: bool, samples: int) -> moderngl.Renderbuffer:
            buf = (
                ctx.depth_renderbuffer(self.size, samples=samples)
                if depth
                else ctx.renderbuffer(self.size, 4, samples=samples)
            )
            keep(buf)
            return buf

        #: The framebuffer the scene is drawn into (colour + depth, multisampled with ``samples``).
        self.fbo = ctx.framebuffer([rb(False, self.samples)], rb(True, self.samples))
        keep(self.fbo)
        #: The resolved image as a texture (stereo targets only: eyes are copied out of it).
        self.image: moderngl.Texture | None = None
        if self.stereo:
            self.image = ctx.texture(self.size, 4)
            keep(self.image)
            if self.samples:
                self._resolve = ctx.framebuffer([self.image])
                keep(self._resolve)
            else:
                self.fbo.release()
                self._objects.remove(self.fbo)
                self.fbo = self._resolve = ctx.framebuffer([self.image], rb(True, 0))
                keep(self.fbo)
        elif self.samples:
            self._resolve = ctx.framebuffer([rb(False, 0)])
            keep(self._resolve)
        else:
            self._resolve = self.fbo
        self._pixels = np.zeros((self.size[1], self.size[0], 4), np.uint8)

        if self.stereo:
            lit_gs, lit_fs = shaders.STEREO_LIT_GEOMETRY, shaders.STEREO_LIT_FRAGMENT

            def program(vs: str, gs: str, fs: str) -> moderngl.Program:
                return ctx.program(vertex_shader=vs, geometry_shader=gs, fragment_shader=fs)

            self.mesh_program = program(shaders.STEREO_MESH_VERTEX, lit_gs, lit_fs)
            self.sphere_program = program(shaders.STEREO_SPHERE_VERTEX, lit_gs, lit_fs)
            self.ground_program = program(
                shaders.STEREO_GROUND_VERTEX, shaders.STEREO_GROUND_GEOMETRY, shaders.STEREO_GROUND_FRAGMENT
            )
            self.capsule_program = program(shaders.STEREO_CAPSULE_VERTEX, lit_gs, lit_fs)
            self._eye_names: tuple[str, str] = ("u_view_projs", "u_eyes")
        else:
            self.mesh_program = ctx.program(vertex_shader=shaders.MESH_VERTEX, fragment_shader=shaders.LIT_FRAGMENT)
            self.sphere_program = ctx.program(vertex_shader=shaders.SPHERE_VERTEX, fragment_shader=shaders.LIT_FRAGMENT)
            self.ground_program = ctx.program(
                vertex_shader=shaders.GROUND_VERTEX, fragment_shader=shaders.GROUND_FRAGMENT
            )
            self.capsule_program = ctx.program(
                vertex_shader=shaders.CAPSULE_VERTEX, fragment_shader=shaders.LIT_FRAGMENT
            )
            self._eye_names = ("u_view_proj", "u_eye")
        for prog in (self.mesh_program, self.sphere_program, self.ground_program, self.capsule_program):
            keep(prog)
        # Uniforms are looked up once here, not by name on every draw.
        frame_names = (*self._eye_names, "u_light_dir", "u_light", "u_sky", *_SCOPE_UNIFORMS)
        material = ("u_roughness", "u_wetness")
        self._lit_frame = tuple(
            uniforms(prog, *frame_names, "u_ground_bounce")
            for prog in (self.mesh_program, self.sphere_program, self.capsule_program)
        )
        self._u_mesh = uniforms(
            self.mesh_program,
            "u_model",
            "u_normal_matrix",
            "u_color",
            "u_metallic",
            "u_textured",
            "u_clip_plane",
            *material,
        )
        self._u_sphere = uniforms(self.sphere_program, *material)
        self._u_capsule = uniforms(self.capsule_program, *material)
        for prog in (self.mesh_program, self.sphere_program, self.capsule_program):
            fixed = uniforms(prog, "u_metallic", "u_textured", "u_base_map", "u_clip_plane")
            fixed["u_metallic"].value = 0.0  # instanced spheres and capsules are dielectric, untextured
            fixed["u_textured"].value = 0
            fixed["u_base_map"].value = 0  # texture unit 0
            fixed["u_clip_plane"].value = NO_CLIP  # spheres and capsules are never cut
        self._u_ground = uniforms(
            self.ground_program,
            *frame_names,
            "u_height",
            "u_albedo",
            "u_background",
            "u_fade_start",
            "u_fade_end",
            "u_strength",
            "u_spread",
            "u_count",
            "u_occluders",
            "u_box_count",
            "u_boxes",
            "u_box_heights",
        )

        sphere = uv_sphere()
        self._sphere_vbo = ctx.buffer(sphere.positions)
        self._sphere_ibo = ctx.buffer(sphere.faces)
        keep(self._sphere_vbo)
        keep(self._sphere_ibo)
        self._spheres = _InstanceBuffer(
            ctx,
            self.sphere_program,
            [(self._sphere_vbo, "3f", "in_position")],
            ("4f 4f/i", "in_sphere", "in_color"),
            self._sphere_ibo,
            columns=8,
            capacity=64,
        )

        capsule, capsule_end = capsule_template()
        self._capsule_vbo = ctx.buffer(capsule.positions)
        self._capsule_end = ctx.buffer(capsule_end)
        self._capsule_ibo = ctx.buffer(capsule.faces)
        for buf in (self._capsule_vbo, self._capsule_end, self._capsule_ibo):
            keep(buf)
        self._capsules = _InstanceBuffer(
            ctx,
            self.capsule_program,
            [(self._capsule_vbo, "3f", "in_position"), (self._capsule_end, "1f", "in_end")],
            ("4f 3f 1x4 4f/i", "in_a", "in_b", "in_color"),
            self._capsule_ibo,
            columns=12,
            capacity=16,
        )

        half = 100.0
        self._ground_vbo = ctx.buffer(np.array([-half, -half, -half, half, half, -half, half, half], np.float32))
        self._ground_vao = ctx.vertex_array(self.ground_program, [(self._ground_vbo, "2f", "in_xz")])
        keep(self._ground_vbo)
        keep(self._ground_vao)

        self._vignette_vao: moderngl.VertexArray | None = None
        self._u_vignette: dict[str, moderngl.Uniform] = {}
        self._scope_vao: moderngl.VertexArray | None = None
        self._u_scope_vignette: dict[str, moderngl.Uniform] = {}
        # colour * (1 - src alpha); destination alpha kept (captures and swapchains expect 1)
        self._multiply_blend = (moderngl.ZERO, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ZERO, moderngl.ONE)
        #: The laparoscope light and vignette of the frames begun while it is set (None: an
        #: ordinary view, lit by the scene's Light only). The RenderPlugin sets it per frame.
        self.scope: ScopeLight | None = None
        self._scope_frame: ScopeLight | None = None
        self._vignette_blend = (moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA)
        # translucent meshes: "over" on colour; destination alpha kept at 1
        self._over_blend = (moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ZERO, moderngl.ONE)
        self._cull = moderngl.CULL_FACE
        #: Translucent draws queued this frame (a pool reused across frames; the first
        #: ``_n_translucent`` are live) and the order they are drawn in.
        self._translucent: list[_Translucent] = []
        self._n_translucent = 0
        self._order: list[_Translucent] = []
        #: Draw calls of translucent mesh parts issued by the last :meth:`end`.
        self.translucent_draws = 0
        self._image_program: moderngl.Program | None = None
        self._image_vao: moderngl.VertexArray | None = None
        self._u_image: dict[str, moderngl.Uniform] = {}
        self._images: Any = None  # an images.ImageCache, made on the first draw_image
        self._occluders = np.zeros((shaders.MAX_OCCLUDERS, 4), np.float32)
        self._n_occluders = 0
        self._boxes = np.zeros((shaders.MAX_BOXES, 4), np.float32)
        self._box_heights = np.zeros((shaders.MAX_BOXES, 4), np.float32)
        self._n_boxes = 0
        self._corners = np.zeros((8, 3))
        self._eye_mats = np.zeros((2, 4, 4), np.float32)
        self._eye_pos = np.zeros((2, 3), np.float32)
        self._stereo_ready = False
        self._half_copy: tuple[moderngl.VertexArray, dict[str, moderngl.Uniform]] | None = None
        self._mat4 = np.zeros((4, 4), np.float32)
        self._mat3 = np.zeros((3, 3), np.float32)
        self._identity = np.eye(4)
        #: This frame's world-to-eye matrix (4x4, float64, column vectors).
        self.view_matrix = np.eye(4)
        #: This frame's eye-to-clip (OpenGL) projection.
        self.proj_matrix = np.eye(4)
        #: ``proj_matrix @ view_matrix``.
        self.view_proj = np.eye(4)
        #: Where this frame is seen from (world metres).
        self.eye_position = np.zeros(3)
        self.camera: Camera | None = None
        self._far = 50.0
        self._in_frame = False
        #: Draw calls issued since the last :meth:`begin` (ground included after :meth:`end`).
        self.draw_calls = 0

    # -- resources ----------------------------------------------------------------------
    def static_mesh(self, mesh: MeshData, burn: np.ndarray | None = None) -> GpuMesh:
        """Upload a mesh that does not deform (optionally with per-vertex burn)."""
        return GpuMesh(self.ctx, self.mesh_program, mesh, burn)

    def streamed_mesh(self, faces: np.ndarray, positions: np.ndarray) -> StreamedMesh:
        """Make a mesh of fixed topology whose vertices are re-uploaded with
        :meth:`StreamedMesh.update` (buffers allocated once, here)."""
        return StreamedMesh(self.ctx, self.mesh_program, faces, positions)

    @property
    def output(self) -> moderngl.Framebuffer:
        """The single-sample framebuffer that holds the finished frame after :meth:`end`
        (overlays draw into it; windows and headsets copy from it)."""
        return self._resolve

    # -- a frame ------------------------------------------------------------------------
    def begin(self, camera: Camera, light: Light | None = None) -> None:
        """Start a frame: set the camera and light, clear colour and depth."""
        view = look_at(camera.position, camera.target, camera.up)
        proj = perspective(camera.fov_deg, self.size[0] / self.size[1], camera.near, camera.far)
        self._begin(view, proj, camera.position, light, float(camera.far))
        self.camera = camera

    def begin_matrices(
        self,
        view: np.ndarray,
        proj: np.ndarray,
        eye_position: Sequence[float] | np.ndarray,
        light: Light | None = None,
        *,
        far: float | None = None,
    ) -> None:
        """Start a frame with an explicit 4x4 world-to-eye ``view`` and eye-to-clip ``proj``
        (OpenGL clip space, e.g. an XR eye's asymmetric frustum:
        ``EyeView.view_matrix()``, ``EyeView.projection_matrix(near, far)``), drawn from
        ``eye_position`` (world, metres: specular highlights and ground fade need it).
        ``far`` sets where the ground fades out; by default it is read from ``proj``."""
        view = np.asarray(view, np.float64)
        proj = np.asarray(proj, np.float64)
        if view.shape != (4, 4) or proj.shape != (4, 4):
            raise ValueError(f"view and proj must be 4x4 matrices, got {view.shape} and {proj.shape}")
        if far is None:
            far = _far_plane(proj)
        self._begin(view, proj, eye_position, light, float(far))
        self.camera = None

    @property
    def eye_view_projs(self) -> tuple[np.ndarray, np.ndarray]:
        """Each eye's ``P @ V`` (row-major float64 copies) of the current single-pass stereo
        frame, as set by :meth:`begin_stereo`."""
        return (self._eye_mats[0].T.astype(np.float64), self._eye_mats[1].T.astype(np.float64))

    def begin_stereo(
        self,
        views: Sequence[np.ndarray],
        projs: Sequence[np.ndarray],
        eye_positions: Sequence[Sequence[float] | np.ndarray],
        light: Light | None = None,
        *,
        far: float | None = None,
    ) -> None:
        """Start a single-pass stereo frame (a renderer made with ``stereo=True``): the
        left and right eyes' world-to-eye ``views``, eye-to-clip ``projs`` and world
        ``eye_positions``; each draw then covers both halves of the side-by-side target.
        ``view_matrix``/``proj_matrix``/``eye_position`` hold the left eye's."""
        if not self.stereo:
            raise RuntimeError("begin_stereo needs a renderer made with stereo=True")
        if len(views) != 2 or len(projs) != 2 or len(eye_positions) != 2:
            raise ValueError("begin_stereo takes two views, projections and eye positions (left, right)")
        for e in range(2):
            view = np.asarray(views[e], np.float64)
            proj = np.asarray(projs[e], np.float64)
            if view.shape != (4, 4) or proj.shape != (4, 4):
                raise ValueError(f"view and proj must be 4x4 matrices, got {view.shape} and {proj.shape}")
            self._eye_mats[e] = (proj @ view).T
            self._eye_pos[e] = np.asarray(eye_positions[e], np.float64).reshape(3)
        self._stereo_ready = True
        proj0 = np.asarray(projs[0], np.float64)
        self._begin(
            np.asarray(views[0], np.float64),
            proj0,
            eye_positions[0],
            light,
            float(_far_plane(proj0) if far is None else far),
        )
        self.camera = None

    def copy_eye(self, eye: int, target: moderngl.Framebuffer) -> None:
        """Copy eye ``eye``'s half (0 left, 1 right) of the finished stereo frame into
        ``target`` (an eye-sized framebuffer; one full-screen draw)."""
        if self.image is None:
            raise RuntimeError("copy_eye needs a renderer made with stereo=True")
        if self._half_copy is None:
            prog = self.ctx.program(vertex_shader=shaders.HALF_COPY_VERTEX, fragment_shader=shaders.HALF_COPY_FRAGMENT)
            self._objects.append(prog)
            vao = self.ctx.vertex_array(prog, [])
            self._objects.append(vao)
            u = uniforms(prog, "u_offset", "u_image")
            u["u_image"].value = 1
            self._half_copy = (vao, u)
        vao, u = self._half_copy
        u["u_offset"].value = 0.5 * float(eye)
        self.image.use(1)
        target.use()
        self.ctx.disable(self._depth_test)
        vao.render(mode=self.ctx.TRIANGLES, vertices=3)

    def _begin(
        self,
        view: np.ndarray,
        proj: np.ndarray,
        eye_position: Sequence[float] | np.ndarray,
        light: Light | None,
        far: float,
    ) -> None:
        light = light or Light()
        eye = tuple(float(v) for v in eye_position)
        if len(eye) != 3:
            raise ValueError(f"eye position must have 3 coordinates, got {len(eye)}")
        self.view_matrix, self.proj_matrix = view, proj
        self.view_proj = proj @ view
        self.eye_position[:] = eye
        self._far = far
        np.copyto(self._mat4, self.view_proj.T)
        if self.stereo:
            if not self._stereo_ready:
                raise RuntimeError("a stereo renderer starts frames with begin_stereo()")
            mats, eyes_value = self._eye_mats, self._eye_pos
            self._stereo_ready = False  # the next frame needs begin_stereo again
        d = np.asarray(light.direction, np.float64)
        norm = float(np.linalg.norm(d))
        if norm == 0:
            raise ValueError("light direction must not be zero")
        l_dir = tuple(float(v) / norm for v in d)
        scope = self.scope
        keep = 1.0 if scope is None else scope.scene_light  # the scope's view: a dark cavity
        radiance = tuple(float(c) * light.intensity * keep for c in light.color)
        ambient = light.ambient * keep
        sky = (0.92 * ambient, 0.96 * ambient, 1.0 * ambient)
        bounce = tuple(0.45 * ambient * c for c in self.ground_color)
        scope_values = self._scope_uniforms(scope, view, eye)
        vp_name, eye_name = self._eye_names
        for u in (*self._lit_frame, self._u_ground):
            if self.stereo:
                u[vp_name].write(mats)
                u[eye_name].write(eyes_value)
            else:
                u[vp_name].write(self._mat4)
                u[eye_name].value = eye
            u["u_light_dir"].value = l_dir
            u["u_light"].value = radiance
            u["u_sky"].value = sky
            for name, value in zip(_SCOPE_UNIFORMS, scope_values):
                u[name].value = value
        for u in self._lit_frame:
            u["u_ground_bounce"].value = bounce
        self._scope_frame = scope
        self._n_occluders = 0
        self._n_boxes = 0
        self._n_translucent = 0
        self.draw_calls = 0
        self.fbo.use()
        red, green, blue = self.background if scope is None else scope.background
        self.fbo.clear(red, green, blue, 1.0, depth=1.0)
        self.ctx.enable_only(self._depth_test)
        if self.stereo:
            self.ctx.enable_direct(_GL_CLIP_DISTANCE0)
        self._in_frame = True

    @staticmethod
    def _scope_uniforms(scope: ScopeLight | None, view: np.ndarray, eye: tuple[float, ...]) -> tuple:
        """Values of :data:`_SCOPE_UNIFORMS` for a frame: the light sits at the eye and
        points along the view axis (the third row of the world-to-eye matrix, negated)."""
        if scope is None:
            return (0.0, eye, (0.0, 0.0, -1.0), (0.0, 0.0, 0.0), 1.0, 1.0, 1.0)
        axis = -np.asarray(view[2, :3], np.float64)
        axis /= max(float(np.linalg.norm(axis)), 1e-12)
        return (
            1.0,
            eye,
            (float(axis[0]), float(axis[1]), float(axis[2])),
            tuple(float(c) * scope.irradiance for c in scope.color),
            float(scope.ref_distance),
            float(scope.min_distance),
            float(scope.cone),
        )

    def _check_frame(self) -> None:
        if not self._in_frame:
            raise RuntimeError("call Renderer.begin(camera) before drawing")

    def _add_occluder(self, x: float, y: float, z: float, r: float) -> None:
        if self._n_occluders < shaders.MAX_OCCLUDERS and r > 0:
            self._occluders[self._n_occluders] = (x, y, z, r)
            self._n_occluders += 1

    def draw_mesh(
        self,
        mesh: GpuMesh,
        model: np.ndarray | None = None,
        *,
        color: ColorLike | None = None,
        roughness: float | None = None,
        wetness: float | None = None,
        metallic: float | None = None,
        shadow: bool = True,
        clip_plane: ColorLike | None = None,
    ) -> None:
        """Draw a mesh with a model matrix (rotation x scale + translation; no shear).

        Parts without a material (every mesh but glTF's) use ``color`` (linear RGBA,
        default :data:`DEFAULT_MESH_COLOR`), base ``roughness`` (0.45), ``wetness`` (weight
        of the sharp wet-film highlight, 0.6) and ``metallic`` (0). Parts with a
        :class:`~vrmed.render.meshes.Material` take its base colour (times its texture)
        **multiplied** by ``color`` (default white), and its roughness and metallic unless
        given here; their wetness defaults to 0 (a dry surface). ``shadow`` adds the mesh's
        bounding sphere to the contact shadows. One draw call per part.

        A part whose alpha is below 1 is translucent: it is queued and drawn by
        :meth:`end`, after everything opaque, back to front (see the module docstring).
        ``clip_plane`` (nx, ny, nz, d), world metres, cuts away the fragments where
        ``n . p + d < 0`` (a cross-section; the open cut shows the inside, lit from both sides).
        """
        self._check_frame()
        model = self._identity if model is None else model
        tint = None if color is None else tuple(float(c) for c in color)
        clip = clip_plane_values(clip_plane)
        queued: _Translucent | None = None
        opaque: list[int] | None = None
        for i, part in enumerate(mesh.parts):
            alpha = 1.0 if tint is None else tint[3]
            if part.material is not None:
                alpha *= part.material.base_color[3]
            if alpha < 1.0:
                if queued is None:
                    queued = self._queue_translucent(mesh, model, tint, roughness, wetness, metallic, clip)
                    opaque = [j for j in range(i)]
                queued.parts.append(i)
            elif opaque is not None:
                opaque.append(i)
        if queued is None:
            self._issue(mesh, model, tint, roughness, wetness, metallic, clip, None)
        elif opaque:
            self._issue(mesh, model, tint, roughness, wetness, metallic, clip, opaque)
        if shadow:
            self._mesh_shadow(mesh, model)

    def _queue_translucent(
        self,
        mesh: GpuMesh,
        model: np.ndarray,
        tint: tuple[float, ...] | None,
        roughness: float | None,
        wetness: float | None,
        metallic: float | None,
        clip: tuple[float, float, float, float],
    ) -> _Translucent:
        """A pooled record of a translucent draw, with the eye distance of its bounding
        sphere's centre (the sort key)."""
        if self._n_translucent == len(self._translucent):
            self._translucent.append(_Translucent())
        rec = self._translucent[self._n_translucent]
        self._n_translucent += 1
        rec.mesh = mesh
        np.copyto(rec.model, model)
        rec.tint, rec.roughness, rec.wetness, rec.metallic, rec.clip = tint, roughness, wetness, metallic, clip
        rec.parts.clear()
        b = mesh.bound
        centre = model[:3, :3] @ b[:3] + model[:3, 3]
        rec.depth = float(np.linalg.norm(centre - self.eye_position))
        return rec

    def _issue(
        self,
        mesh: GpuMesh,
        model: np.ndarray,
        tint: tuple[float, ...] | None,
        roughness: float | None,
        wetness: float | None,
        metallic: float | None,
        clip: tuple[float, float, float, float],
        only: list[int] | None,
    ) -> None:
        """The draw calls of ``mesh``'s parts (all, or the indices in ``only``)."""
        u = self._u_mesh
        np.copyto(self._mat4, model.T)
        u["u_model"].write(self._mat4)
        u["u_normal_matrix"].write(_normal_matrix(model, self._mat3))
        u["u_clip_plane"].value = clip
        for i, part in enumerate(mesh.parts):
            if only is not None and i not in only:
                continue
            mat = part.material
            if mat is None:
                rgba = DEFAULT_MESH_COLOR if tint is None else tint
                u["u_color"].value = (float(rgba[0]), float(rgba[1]), float(rgba[2]), float(rgba[3]))
                u["u_roughness"].value = DEFAULT_MESH_ROUGHNESS if roughness is None else float(roughness)
                u["u_wetness"].value = DEFAULT_MESH_WETNESS if wetness is None else float(wetness)
                u["u_metallic"].value = 0.0 if metallic is None else float(metallic)
            else:
                f = mat.base_color
                if tint is None:
                    u["u_color"].value = f
                else:
                    u["u_color"].value = (f[0] * tint[0], f[1] * tint[1], f[2] * tint[2], f[3] * tint[3])
                u["u_roughness"].value = mat.roughness if roughness is None else float(roughness)
                u["u_wetness"].value = 0.0 if wetness is None else float(wetness)
                u["u_metallic"].value = mat.metallic if metallic is None else float(metallic)
            if part.texture is not None:
                part.texture.use(0)
                u["u_textured"].value = 1
            else:
                u["u_textured"].value = 0
            mesh.vao.render(vertices=part.count, first=part.first)
            self.draw_calls += 1

    def _draw_translucent(self) -> None:
        """The queued translucent draws, farthest first, blended over the opaque frame with
        depth test on and depth writes off; each object's back faces, then its front faces."""
        self.translucent_draws = 0
        n = self._n_translucent
        if n == 0:
            return
        order = self._order
        order.clear()
        order.extend(self._translucent[:n])
        order.sort(key=lambda rec: -rec.depth)
        ctx = self.ctx
        ctx.enable(ctx.BLEND)
        ctx.blend_func = self._over_blend  # type: ignore[assignment]  # moderngl takes 4 factors; its stub says 2
        ctx.depth_mask = False  # type: ignore[attr-defined]  # moderngl's Context.depth_mask; its stub lacks it
        ctx.enable(self._cull)
        try:
            for rec in order:
                assert rec.mesh is not None
                for side in ("front", "back"):  # culling the front faces draws the back ones first
                    ctx.cull_face = side
                    before = self.draw_calls
                    self._issue(
                        rec.mesh, rec.model, rec.tint, rec.roughness, rec.wetness, rec.metallic, rec.clip, rec.parts
                    )
                    self.translucent_draws += self.draw_calls - before
        finally:
            ctx.disable(self._cull)
            ctx.cull_face = "back"
            ctx.depth_mask = True  # type: ignore[attr-defined]
            ctx.disable(ctx.BLEND)
            for rec in order:
                rec.mesh = None  # do not keep meshes alive past the frame
            order.clear()

    def draw_image(
        self,
        image: np.ndarray,
        model: np.ndarray,
        *,
        key: Hashable = "image",
        window: tuple[float, float] | None = None,
        invert: bool = False,
    ) -> None:
        """Draw a grey-scale ``image`` ((H, W) numbers, row 0 the top) on the unit quad
        x, y in [-0.5, 0.5], z = 0 of ``model`` (the image's top edge at +y, its first
        column at -x; scale the quad to the image's size in metres), unlit, opaque, with the
        window (``(centre, width)`` in the image's units; default its 0.5-99.5 percentile
        range) and ``invert`` (MONOCHROME1) of :mod:`vrmed.render.images`. The image is
        uploaded under ``key`` when a different array is drawn (see that module)."""
        self._check_frame()
        import moderngl  # deferred: GL, only once a context exists

        from .images import ImageCache, voi_uniforms  # deferred: made on the first image drawn

        if self._images is None:
            self._images = ImageCache(self.ctx)
            if self.stereo:
                prog = self.ctx.program(
                    vertex_shader=shaders.STEREO_IMAGE_VERTEX,
                    geometry_shader=shaders.STEREO_IMAGE_GEOMETRY,
                    fragment_shader=shaders.STEREO_IMAGE_FRAGMENT,
                )
            else:
                prog = self.ctx.program(vertex_shader=shaders.IMAGE_VERTEX, fragment_shader=shaders.IMAGE_FRAGMENT)
            self._objects.append(prog)
            quad = self.ctx.buffer(np.array([-0.5, -0.5, 0.5, -0.5, -0.5, 0.5, 0.5, 0.5], np.float32))
            self._objects.append(quad)
            self._image_vao = self.ctx.vertex_array(prog, [(quad, "2f", "in_corner")])
            self._objects.append(self._image_vao)
            self._image_program = prog
            self._u_image = uniforms(prog, self._eye_names[0], "u_model", "u_image", "u_center", "u_width")
            self._u_image.update(uniforms(prog, "u_invert", "u_alpha"))
            self._u_image["u_image"].value = 0
        slot = self._images.get(key, image)
        center, width, inv, alpha = voi_uniforms(slot, window, invert, 1.0)
        u = self._u_image
        vp = self._eye_names[0]
        if self.stereo:
            u[vp].write(self._eye_mats)
        else:
            np.copyto(self._mat4, self.view_proj.T)
            u[vp].write(self._mat4)
        np.copyto(self._mat4, np.asarray(model).T)
        u["u_model"].write(self._mat4)
        u["u_center"].value, u["u_width"].value = center, width
        u["u_invert"].value, u["u_alpha"].value = inv, alpha
        assert slot.texture is not None and self._image_vao is not None
        slot.texture.use(0)
        self._image_vao.render(moderngl.TRIANGLE_STRIP)
        self.draw_calls += 1

    def _mesh_shadow(self, mesh: GpuMesh, model: np.ndarray) -> None:
        """Add a drawn mesh to the contact shadows: a large one (world footprint wider than
        :data:`FOOTPRINT_HALF_EXTENT`) as its soft-edged x/z footprint, a small one as its
        bounding sphere."""
        box, corners = mesh.box, self._corners
        for i in range(8):
            corners[i, 0] = box[i & 1, 0]
            corners[i, 1] = box[(i >> 1) & 1, 1]
            corners[i, 2] = box[(i >> 2) & 1, 2]
        world = corners @ model[:3, :3].T + model[:3, 3]
        lo, hi = world.min(axis=0), world.max(axis=0)
        half = (hi - lo) / 2.0
        if max(half[0], half[2]) > FOOTPRINT_HALF_EXTENT and self._n_boxes < shaders.MAX_BOXES:
            k = self._n_boxes
            self._boxes[k] = ((lo[0] + hi[0]) / 2.0, (lo[2] + hi[2]) / 2.0, half[0], half[2])
            self._box_heights[k, :2] = (lo[1], hi[1])
            self._n_boxes += 1
            return
        b = mesh.bound
        c = model[:3, :3] @ b[:3] + model[:3, 3]
        scale = float(np.sqrt(np.einsum("ij,ij->j", model[:3, :3], model[:3, :3]).max()))
        self._add_occluder(c[0], c[1], c[2], b[3] * scale)

    def draw_spheres(
        self,
        centres: np.ndarray,
        radii: np.ndarray | float,
        colors: np.ndarray | ColorLike = (0.85, 0.85, 0.85, 1.0),
        *,
        roughness: float = 0.35,
        wetness: float = 0.6,
        shadow: bool = True,
    ) -> None:
        """Draw N spheres in one instanced call: ``centres`` (N, 3) metres, ``radii`` (N,)
        or one radius, ``colors`` (N, 4) or one linear RGBA."""
        self._check_frame()
        centres = np.asarray(centres).reshape(-1, 3)
        n = len(centres)
        if n == 0:
            return
        self._spheres.reserve(n)
        inst = self._spheres.staging[:n]
        inst[:, :3] = centres
        inst[:, 3] = radii
        inst[:, 4:] = colors
        self._spheres.buffer.write(inst)
        self._u_sphere["u_roughness"].value = float(roughness)
        self._u_sphere["u_wetness"].value = float(wetness)
        self._spheres.vao.render(instances=n)
        self.draw_calls += 1
        if shadow:
            k = min(n, shaders.MAX_OCCLUDERS - self._n_occluders)
            if k > 0:
                self._occluders[self._n_occluders : self._n_occluders + k] = inst[:k, :4]
                self._n_occluders += k

    def draw_capsules(
        self,
        a: np.ndarray,
        b: np.ndarray,
        radii: np.ndarray | float,
        colors: np.ndarray | ColorLike = (0.75, 0.77, 0.80, 1.0),
        *,
        roughness: float = 0.3,
        wetness: float = 0.0,
        shadow: bool = True,
    ) -> None:
        """Draw N capsules (instrument shafts, jaws, needles) in one instanced call: the
        segments from ``a`` (N, 3) to ``b`` (N, 3) metres swept by a sphere of ``radii``
        (N,) or one radius, with ``colors`` (N, 4) or one linear RGBA. ``shadow`` adds a
        sphere of the capsule's radius at each end and the middle to the contact shadows."""
        self._check_frame()
        a = np.asarray(a).reshape(-1, 3)
        b = np.asarray(b).reshape(-1, 3)
        if a.shape != b.shape:
            raise ValueError(f"capsule ends must have the same shape, got {a.shape} and {b.shape}")
        n = len(a)
        if n == 0:
            return
        self._capsules.reserve(n)
        inst = self._capsules.staging[:n]
        inst[:, 0:3] = a
        inst[:, 3] = radii
        inst[:, 4:7] = b
        inst[:, 8:12] = colors
        self._capsules.buffer.write(inst)
        self._u_capsule["u_roughness"].value = float(roughness)
        self._u_capsule["u_wetness"].value = float(wetness)
        self._capsules.vao.render(instances=n)
        self.draw_calls += 1
        if shadow:
            for i in range(min(n, (shaders.MAX_OCCLUDERS - self._n_occluders) // 3)):
                r = float(inst[i, 3])
                for t in (0.0, 0.5, 1.0):
                    x, y, z = inst[i, 0:3] + t * (inst[i, 4:7] - inst[i, 0:3])
                    self._add_occluder(float(x), float(y), float(z), r)

    def end(self) -> None:
        """Finish the frame: draw the ground with contact shadows, then the translucent
        meshes (back to front), resolve MSAA."""
        self._check_frame()
        if self.ground:
            g = self._u_ground
            g["u_height"].value = self.ground_height
            g["u_albedo"].value = self.ground_color
            g["u_background"].value = self.background
            far = self._far
            g["u_fade_start"].value = 0.35 * far
            g["u_fade_end"].value = 0.9 * far
            g["u_strength"].value = self.contact_shadow
            g["u_spread"].value = self.contact_spread
            g["u_count"].value = self._n_occluders
            g["u_occluders"].write(self._occluders)
            g["u_box_count"].value = self._n_boxes
            g["u_boxes"].write(self._boxes)
            g["u_box_heights"].write(self._box_heights)
            self._ground_vao.render(self._strip)
            self.draw_calls += 1
        self._draw_translucent()
        scope = self._scope_frame
        if scope is not None and scope.vignette > 0.0:
            self._scope_vignette(scope.vignette)
        if self.samples:
            self.ctx.copy_framebuffer(self._resolve, self.fbo)
        if self.stereo:
            self.ctx.disable_direct(_GL_CLIP_DISTANCE0)
        self._in_frame = False

    def _scope_vignette(self, strength: float) -> None:
        """Multiply the scene (before the overlays and the MSAA resolve) by the lens's
        cos^4 falloff; the half-angles come from this frame's projection."""
        vao = self._scope_vao
        if vao is None:  # made on the first endoscope frame: most renderers never need it
            prog = self.ctx.program(
                vertex_shader=shaders.SCOPE_VIGNETTE_VERTEX, fragment_shader=shaders.SCOPE_VIGNETTE_FRAGMENT
            )
            self._objects.append(prog)
            vao = self._scope_vao = self.ctx.vertex_array(prog, [])
            self._objects.append(vao)
            self._u_scope_vignette = uniforms(prog, "u_tan_half", "u_strength")
        p = self.proj_matrix
        self._u_scope_vignette["u_tan_half"].value = (1.0 / float(p[0, 0]), 1.0 / float(p[1, 1]))
        self._u_scope_vignette["u_strength"].value = float(strength)
        self.fbo.use()
        self.ctx.disable(self._depth_test)
        self.ctx.enable(self.ctx.BLEND)
        self.ctx.blend_func = self._multiply_blend  # type: ignore[assignment]  # moderngl takes 4 factors; its stub says 2
        try:
            vao.render(mode=self.ctx.TRIANGLES, vertices=3)
            self.draw_calls += 1
        finally:
            self.ctx.disable(self.ctx.BLEND)
            self.ctx.enable(self._depth_test)

    def vignette(self, amount: float) -> None:
        """Darken the periphery of the finished frame (after :meth:`end`): a comfort vignette.

        ``amount`` 0..1: 0 draws nothing; the clear radius shrinks and the edge darkens as it
        grows (the headset draws it during artificial motion, :mod:`vrmed.xr.comfort`).
        """
        amount = min(1.0, max(0.0, float(amount)))
        if amount <= 0.0:
            return
        if self._in_frame:
            raise RuntimeError("call Renderer.end() before drawing the vignette")
        vao = self._vignette_vao
        if vao is None:  # made on first use: most renderers never draw a vignette
            prog = self.ctx.program(vertex_shader=_VIGNETTE_VERTEX, fragment_shader=_VIGNETTE_FRAGMENT)
            self._objects.append(prog)
            vao = self._vignette_vao = self.ctx.vertex_array(prog, [])
            self._objects.append(vao)
            self._u_vignette = uniforms(prog, "u_amount")
        self._u_vignette["u_amount"].value = amount
        self._resolve.use()
        self.ctx.disable(self._depth_test)
        self.ctx.enable(self.ctx.BLEND)
        self.ctx.blend_func = self._vignette_blend
        try:
            vao.render(mode=self.ctx.TRIANGLES, vertices=3)
        finally:
            self.ctx.disable(self.ctx.BLEND)

    def read(self, *, alpha: bool = False) -> np.ndarray:
        """The last finished frame as (H, W, 3) (or (H, W, 4) with ``alpha``) uint8, top
        row first. It is a view of a buffer reused by the next read: copy it to keep it."""
        self._resolve.read_into(self._pixels, components=4, alignment=1)
        img = self._pixels[::-1]
        return img if alpha else img[:, :, :3]

    def release(self) -> None:
        """Free every GL object the renderer made (not the meshes it handed out); a second
        call does nothing (moderngl's release is idempotent)."""
        self._spheres.release()
        self._capsules.release()
        for gl_object in reversed(self._objects):
            gl_object.release()
        self._objects.clear()
        self._vignette_vao = None
        self._scope_vao = None
        if self._images is not None:
            self._images.release()
            self._images = None
        self._image_vao = self._image_program = None
        self._translucent.clear()
        self._n_translucent = 0
