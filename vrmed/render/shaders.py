"""GLSL 330 sources of the renderer's programs: lit meshes, lit instanced spheres and
capsules (all three share :data:`LIT_FRAGMENT`, with an optional world-space clipping
plane), the ground plane with analytic contact occlusion, the endoscope's lens vignette
and grey-scale images (a textured quad with a window/level) in the scene."""

from __future__ import annotations

#: Most sphere occluders (balls, mesh bounding spheres) the ground shader takes per frame.
MAX_OCCLUDERS = 64

_COMMON = """
const float PI = 3.14159265;

// The endoscope's light (off unless the view is a laparoscope): a spot at the lens along
// the view axis. Irradiance at distance d on a surface facing it is
// u_scope_light * (u_scope_ref / max(d, u_scope_min))^2 * cos(angle off axis)^u_scope_cone
// (inverse square, clamped near the tip where the fibre bundle is not a point source).
uniform float u_scope_on;
uniform vec3 u_scope_pos;
uniform vec3 u_scope_dir;
uniform vec3 u_scope_light;
uniform float u_scope_ref;
uniform float u_scope_min;
uniform float u_scope_cone;

// Unit direction towards the scope light from p, and its irradiance at normal incidence there.
vec3 scope_irradiance(vec3 p, out vec3 l) {
    l = vec3(0.0, 1.0, 0.0);
    if (u_scope_on == 0.0) return vec3(0.0);
    vec3 d = u_scope_pos - p;
    float dist = length(d);
    l = d / max(dist, 1e-6);
    float r = u_scope_ref / max(dist, u_scope_min);
    float spot = pow(clamp(dot(-l, u_scope_dir), 1e-4, 1.0), u_scope_cone);  // > 0: pow(0, 0) is undefined
    return u_scope_light * (r * r * spot);
}

vec3 to_srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c));
}
"""

#: The lit programs' vertex outputs, the inputs of :data:`LIT_FRAGMENT`.
_LIT_VARYINGS = """out vec3 v_world;
out vec3 v_normal;
out float v_burn;
out vec4 v_color;
out vec2 v_uv;"""
#: The end of the instanced spheres' and capsules' vertex main (v_world set): no burn, no
#: texture, the instance's colour.
_INSTANCE_END = """    v_burn = 0.0;
    v_color = in_color;
    v_uv = vec2(0.0);
    gl_Position = u_view_proj * vec4(v_world, 1.0);
}
"""
#: The fragment main of both image programs (the scene quad and the screen inset).
_IMAGE_MAIN = """
void main() {
    vec4 texel = texture(u_image, v_uv);
    if (texel.a < 0.5) discard;   // a masked texel (a single-channel texture reads alpha 1)
    float g = voi(texel.r);
    f_color = vec4(g, g, g, u_alpha);
}
"""

MESH_VERTEX = (
    """
#version 330
uniform mat4 u_view_proj;
uniform mat4 u_model;
uniform mat3 u_normal_matrix;
uniform vec4 u_color;
in vec3 in_position;
in vec3 in_normal;
in float in_burn;
in vec2 in_uv;            // only bound for textured meshes (u_textured)
"""
    + _LIT_VARYINGS
    + """
void main() {
    vec4 world = u_model * vec4(in_position, 1.0);
    v_world = world.xyz;
    v_normal = u_normal_matrix * in_normal;
    v_burn = in_burn;
    v_color = u_color;
    v_uv = in_uv;
    gl_Position = u_view_proj * world;
}
"""
)

SPHERE_VERTEX = (
    """
#version 330
uniform mat4 u_view_proj;
in vec3 in_position;      // unit sphere; its normal is its position
in vec4 in_sphere;        // per instance: centre xyz, radius w
in vec4 in_color;         // per instance: linear RGBA
"""
    + _LIT_VARYINGS
    + """
void main() {
    v_world = in_sphere.xyz + in_sphere.w * in_position;
    v_normal = in_position;
"""
    + _INSTANCE_END
)

CAPSULE_VERTEX = (
    """
#version 330
uniform mat4 u_view_proj;
in vec3 in_position;      // unit capsule template (axis +y); its normal is its position
in float in_end;          // 0: hemisphere around end a, 1: around end b
in vec4 in_a;             // per instance: end a xyz, radius w
in vec3 in_b;             // per instance: end b xyz
in vec4 in_color;         // per instance: linear RGBA
"""
    + _LIT_VARYINGS
    + """
void main() {
    vec3 axis = in_b - in_a.xyz;
    float len = length(axis);
    vec3 u = len > 1e-9 ? axis / len : vec3(0.0, 1.0, 0.0);
    vec3 helper = abs(u.y) < 0.99 ? vec3(0.0, 1.0, 0.0) : vec3(1.0, 0.0, 0.0);
    vec3 v = normalize(cross(helper, u));
    vec3 w = cross(v, u);                  // (v, u, w) is a rotation of (x, y, z)
    vec3 n = v * in_position.x + u * in_position.y + w * in_position.z;
    v_world = mix(in_a.xyz, in_b, in_end) + in_a.w * n;
    v_normal = n;
"""
    + _INSTANCE_END
)

LIT_FRAGMENT = (
    """
#version 330
uniform vec3 u_eye;
uniform vec3 u_light_dir;      // unit, towards the light
uniform vec3 u_light;          // light colour * intensity (irradiance at normal incidence)
uniform vec3 u_sky;            // ambient from above
uniform vec3 u_ground_bounce;  // ambient from below
uniform float u_roughness;     // base lobe roughness (perceptual)
uniform float u_wetness;       // weight of the sharp wet-film lobe
uniform float u_metallic;      // 0 dielectric (tissue, plastic), 1 metal
uniform int u_textured;        // 1: multiply the base colour by u_base_map at v_uv
uniform sampler2D u_base_map;  // sRGB texture: sampling returns linear colour
uniform vec4 u_clip_plane;     // world plane (n, d): fragments with dot(n, p) + d < 0 are cut away
in vec3 v_world;
in vec3 v_normal;
in float v_burn;
in vec4 v_color;
in vec2 v_uv;
out vec4 f_color;
"""
    + _COMMON
    + """
const vec3 CHAR = vec3(0.030, 0.018, 0.012);  // charred tissue albedo (linear)

float ggx_spec(float nh, float nl, float nv, float alpha) {
    float a2 = alpha * alpha;
    float d = nh * nh * (a2 - 1.0) + 1.0;
    float D = a2 / (PI * d * d);
    float V = 0.5 / (nl * sqrt(nv * nv * (1.0 - a2) + a2) + nv * sqrt(nl * nl * (1.0 - a2) + a2) + 1e-6);
    return D * V;
}

// Surface terms shared by both lights of a fragment (computed once in main).
struct Surface {
    vec3 n, v, f0;
    vec3 diffuse;     // (1 - metallic) albedo / pi
    vec3 scatter;     // subsurface colour / pi, zero for dry surfaces, metal and char
    float rough, wet, nv;
    float wrap_w, wrap_k;   // wrap lighting: (n.l + w) / (1 + w), k = 1 / (1 + w)
    float rim;              // grazing-view glow of the scattered light
};

// Reflected radiance from one light of irradiance E (at normal incidence) from direction l.
vec3 shade(Surface s, vec3 l, vec3 E) {
    float ndl = dot(s.n, l);
    float nl = max(ndl, 0.0);
    vec3 h = normalize(l + s.v);
    float nh = max(dot(s.n, h), 0.0);
    float fc = clamp(1.0 - dot(s.v, h), 0.0, 1.0);
    float fc2 = fc * fc;
    vec3 fresnel = s.f0 + (1.0 - s.f0) * (fc2 * fc2 * fc);           // Schlick, (1 - v.h)^5
    float spec = ggx_spec(nh, nl, s.nv, s.rough * s.rough);
    if (u_wetness > 0.0) spec += s.wet * ggx_spec(nh, nl, s.nv, 0.08 * 0.08);   // uniform: dry draws skip it
    // Subsurface look, cheaply: light that entered wet tissue leaves it past the terminator
    // (wrap lighting) and red light travels furthest, so the extra wrapped light carries the
    // tissue's saturated hue instead of going grey.
    float wrapped = max((ndl + s.wrap_w) * s.wrap_k, 0.0) - nl;      // >= 0: only light past the terminator
    vec3 reflected = (1.0 - fresnel) * s.diffuse * nl + fresnel * (spec * nl);
    return (reflected + s.scatter * (wrapped + s.rim * (nl + wrapped))) * E;
}

void main() {
    // Cross-section: (0, 0, 0, 1) keeps everything (the default of every draw).
    if (dot(u_clip_plane, vec4(v_world, 1.0)) < 0.0) discard;
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;            // two-sided: open surfaces are lit from both sides
    vec3 base = v_color.rgb;
    if (u_textured == 1) base *= texture(u_base_map, v_uv).rgb;
    float burn = clamp(v_burn, 0.0, 1.0);
    vec3 albedo = mix(base, CHAR, burn);
    float metal = u_metallic * (1.0 - burn);
    Surface s;
    s.n = n;
    s.v = normalize(u_eye - v_world);
    s.nv = max(dot(n, s.v), 1e-4);
    s.f0 = mix(vec3(0.02), albedo, metal);                         // water-like F0 for dielectrics
    s.diffuse = (1.0 - metal) * albedo * (1.0 / PI);
    s.rough = mix(u_roughness, 1.0, burn);                         // charring dries the surface
    s.wet = u_wetness * (1.0 - burn);
    float sss = s.wet * (1.0 - metal);                             // wet tissue scatters, metal and char do not
    vec3 tint = vec3(1.0);
    s.scatter = vec3(0.0);
    s.wrap_w = 0.0;
    s.wrap_k = 1.0;
    s.rim = 0.0;
    if (u_wetness > 0.0) {   // uniform: instruments and dry assets skip the subsurface terms
        vec3 hue = albedo / max(max(albedo.r, albedo.g), max(albedo.b, 1e-4));   // the albedo's hue at full brightness
        s.scatter = sss * s.diffuse * hue * hue;                   // deeper and redder after travelling in tissue
        s.wrap_w = 0.5 * sss;
        s.wrap_k = 1.0 / (1.0 + s.wrap_w);
        float g = 1.0 - s.nv;
        s.rim = 0.35 * g * g * g;                                  // scattered light glows most at grazing view
        tint = mix(vec3(1.0), hue, 0.35 * sss);
    }
    vec3 color = shade(s, u_light_dir, u_light);
    if (u_scope_on != 0.0) {   // a uniform branch: ordinary views pay nothing for the scope light
        vec3 ls;
        vec3 scope = scope_irradiance(v_world, ls);
        color += shade(s, ls, scope);
    }
    // Shadowed tissue keeps its own hue (light scattered inside it) rather than the sky's grey.
    vec3 ambient = s.diffuse * PI * mix(u_ground_bounce, u_sky, 0.5 + 0.5 * n.y) * tint;
    if (u_metallic > 0.0) {   // metal has no diffuse: it mirrors the sky or the ground its reflection sees
        vec3 r = reflect(-s.v, n);
        ambient += metal * albedo * mix(u_ground_bounce, u_sky, smoothstep(-0.3, 0.3, r.y));
    }
    f_color = vec4(to_srgb(color + ambient), v_color.a);
}
"""
)

GROUND_VERTEX = """
#version 330
uniform mat4 u_view_proj;
uniform float u_height;
in vec2 in_xz;
out vec3 v_world;
void main() {
    v_world = vec3(in_xz.x, u_height, in_xz.y);
    gl_Position = u_view_proj * vec4(v_world, 1.0);
}
"""

GROUND_FRAGMENT = (
    """
#version 330
uniform vec3 u_eye;
uniform vec3 u_light_dir;
uniform vec3 u_light;
uniform vec3 u_sky;
uniform vec3 u_albedo;
uniform vec3 u_background;    // display (sRGB) colour the ground fades into far away
uniform float u_fade_start;
uniform float u_fade_end;
uniform float u_strength;     // 0: no contact shadows, 1: full analytic occlusion
uniform float u_spread;       // occluder radius multiplier (1: physical AO; >1 larger, softer blobs)
uniform int u_count;
uniform vec4 u_occluders[MAX_OCCLUDERS];   // sphere centre xyz, radius w
in vec3 v_world;
out vec4 f_color;
"""
    + _COMMON
    + """
// Cosine-weighted occlusion of the upper hemisphere at p (normal +y) by a sphere
// (the analytic sphere ambient occlusion, clamped where the sphere dips below the horizon):
// cos(t) r^2 / l^2: 1 at the contact point of a resting sphere, falling off as (r / d)^3
// along the ground and as (r / (r + h))^2 with height h; r is scaled by u_spread.
float sphere_occlusion(vec3 p, vec4 s) {
    vec3 d = s.xyz - p;
    float l2 = max(dot(d, d), 1e-12);
    float cos_t = d.y * inversesqrt(l2);
    float r = s.w * u_spread;
    return clamp(max(cos_t, 0.0) * r * r / l2, 0.0, 1.0);
}

void main() {
    float visible = 1.0;
    for (int i = 0; i < u_count; ++i) {
        visible *= 1.0 - u_strength * sphere_occlusion(v_world, u_occluders[i]);
    }
    float nl = max(u_light_dir.y, 0.0);
    vec3 ls;
    vec3 scope = scope_irradiance(v_world, ls);
    vec3 lit = u_albedo * ((u_light * nl + scope * max(ls.y, 0.0)) / PI + u_sky) * visible;
    float fade = smoothstep(u_fade_start, u_fade_end, distance(u_eye.xz, v_world.xz));
    f_color = vec4(mix(to_srgb(lit), u_background, fade), 1.0);
}
"""
)
GROUND_FRAGMENT = GROUND_FRAGMENT.replace("MAX_OCCLUDERS", str(MAX_OCCLUDERS))

#: The laparoscope's lens vignette, drawn over the finished scene when the view is an
#: endoscope: natural illumination falloff cos^4(theta) of the angle theta off the optical
#: axis, blended in by ``u_strength`` (0: none, 1: the full cos^4 law).
SCOPE_VIGNETTE_VERTEX = """
#version 330
out vec2 v_ndc;
void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    v_ndc = p;
    gl_Position = vec4(p, 0.0, 1.0);
}
"""
SCOPE_VIGNETTE_FRAGMENT = """
#version 330
uniform vec2 u_tan_half;      // tan of half the horizontal and vertical field of view
uniform float u_strength;
in vec2 v_ndc;
out vec4 f_color;
void main() {
    vec2 t = v_ndc * u_tan_half;            // tan of the ray's angle off axis, per image axis
    float cos2 = 1.0 / (1.0 + dot(t, t));   // cos^2(theta)
    float keep = mix(1.0, cos2 * cos2, u_strength);
    // The blend multiplies the stored (sRGB-encoded) colour: scaling linear light by keep is
    // scaling the encoded value by about keep^(1/2.2).
    f_color = vec4(0.0, 0.0, 0.0, 1.0 - pow(keep, 1.0 / 2.2));
}
"""

#: Most footprint occluders (large meshes: beds, carts) the ground shader takes per frame.
MAX_BOXES = 16

# Contact shadow of a large mesh: a soft-edged darkening of its footprint (its world x/z
# bounding box on the floor), not a ball of its bounding-sphere size (which would blacken
# the floor around a bed). Darkest under the footprint (about 45 % at full strength for an
# object standing on the floor), fading with the gap between the object's bottom and the
# floor, with an edge as soft as the object is small or raised.
GROUND_FOOTPRINT = """
uniform int u_box_count;
uniform vec4 u_boxes[MAX_BOXES];         // footprint centre x, z and half extents x, z
uniform vec4 u_box_heights[MAX_BOXES];   // bottom y, top y (world)
float box_occlusion(vec3 p, vec4 b, vec4 h) {
    float height = max(h.y - h.x, 1e-3);
    float gap = max(h.x - p.y, 0.0);
    float soft = 0.05 + 0.2 * min(min(b.z, b.w), height) + 0.5 * gap;
    vec2 q = abs(p.xz - b.xy) - b.zw;
    float outside = length(max(q, 0.0)) + min(max(q.x, q.y), 0.0);   // signed distance to the rectangle
    float cover = 1.0 - smoothstep(-soft, soft, outside);
    return 0.45 * cover / (1.0 + gap / (0.5 * height + 0.05));
}
""".replace("MAX_BOXES", str(MAX_BOXES))

GROUND_FRAGMENT = GROUND_FRAGMENT.replace(
    "void main() {\n    float visible = 1.0;",
    GROUND_FOOTPRINT
    + "\nvoid main() {\n    float visible = 1.0;\n"
    + "    for (int i = 0; i < u_box_count; ++i) {\n"
    + "        visible *= 1.0 - u_strength * box_occlusion(v_world, u_boxes[i], u_box_heights[i]);\n"
    + "    }",
)
assert "box_occlusion(v_world" in GROUND_FRAGMENT

# -- single-pass (instanced) stereo ----------------------------------------------------------
# The stereo variants of the programs draw both eyes of a headset frame in one draw per
# batch, into one side-by-side target (left eye in the left half): the vertex shader leaves
# world positions, a geometry shader emits every triangle twice, projected by each eye's
# view-projection, squeezed into that eye's half of clip space and clipped at the middle
# (gl_ClipDistance[0]), and hands the fragment shader its eye position (v_eye).
_VARYINGS = {"v_world": "vec3", "v_normal": "vec3", "v_burn": "float", "v_color": "vec4", "v_uv": "vec2"}


def _stereo_vertex(source: str, varyings: tuple[str, ...]) -> str:
    """A vertex shader whose outputs go to the stereo geometry shader (renamed ``g_*``)
    and which does not project (the geometry shader does, per eye)."""
    import re  # deferred: only the stereo programs are rewritten

    out = re.sub(r"gl_Position = u_view_proj \* [^;]*;", "gl_Position = vec4(0.0);", source)
    out = out.replace("uniform mat4 u_view_proj;\n", "")
    for name in varyings:
        out = re.sub(rf"\b{name}\b", "g_" + name[2:], out)
    return out


def _stereo_geometry(varyings: tuple[str, ...]) -> str:
    decl_in = "".join(f"in {_VARYINGS[n]} g_{n[2:]}[];\n" for n in varyings)
    decl_out = "".join(f"out {_VARYINGS[n]} {n};\n" for n in varyings)
    copy = "".join(f"            {n} = g_{n[2:]}[k];\n" for n in varyings)
    return f"""
#version 330
layout(triangles) in;
layout(triangle_strip, max_vertices = 6) out;
uniform mat4 u_view_projs[2];   // left, right
uniform vec3 u_eyes[2];
{decl_in}{decl_out}out vec3 v_eye;
void main() {{
    for (int e = 0; e < 2; ++e) {{
        float side = e == 0 ? -1.0 : 1.0;
        for (int k = 0; k < 3; ++k) {{
            vec4 clip = u_view_projs[e] * vec4(g_world[k], 1.0);
            gl_ClipDistance[0] = clip.w - side * clip.x;   // keep this eye's own frustum only
            clip.x = 0.5 * clip.x + side * 0.5 * clip.w;   // into this eye's half of the target
            gl_Position = clip;
{copy}            v_eye = u_eyes[e];
            EmitVertex();
        }}
        EndPrimitive();
    }}
}}
"""


def _stereo_fragment(source: str) -> str:
    return source.replace("uniform vec3 u_eye;", "in vec3 v_eye;\n#define u_eye v_eye", 1)


LIT_VARYINGS = tuple(_VARYINGS)
STEREO_MESH_VERTEX = _stereo_vertex(MESH_VERTEX, LIT_VARYINGS)
STEREO_SPHERE_VERTEX = _stereo_vertex(SPHERE_VERTEX, LIT_VARYINGS)
STEREO_CAPSULE_VERTEX = _stereo_vertex(CAPSULE_VERTEX, LIT_VARYINGS)
STEREO_LIT_GEOMETRY = _stereo_geometry(LIT_VARYINGS)
STEREO_LIT_FRAGMENT = _stereo_fragment(LIT_FRAGMENT)
STEREO_GROUND_VERTEX = _stereo_vertex(GROUND_VERTEX, ("v_world",))
STEREO_GROUND_GEOMETRY = _stereo_geometry(("v_world",))
STEREO_GROUND_FRAGMENT = _stereo_fragment(GROUND_FRAGMENT)

#: Copies one eye's half of a side-by-side stereo image into an eye-sized framebuffer.
HALF_COPY_VERTEX = """
#version 330
uniform float u_offset;   // 0: left half, 0.5: right half
out vec2 v_uv;
void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    v_uv = vec2(u_offset + 0.25 * (p.x + 1.0), 0.5 * (p.y + 1.0));
    gl_Position = vec4(p, 0.0, 1.0);
}
"""
HALF_COPY_FRAGMENT = """
#version 330
uniform sampler2D u_image;
in vec2 v_uv;
out vec4 f_color;
void main() {
    f_color = texelFetch(u_image, ivec2(v_uv * vec2(textureSize(u_image, 0))), 0);
}
"""

# -- grey-scale images (a slice of a volume, a radiograph) on a quad in the scene ----------------
#: The VOI LUT function LINEAR_EXACT of DICOM PS3.3 C.11.2.1.3.2: with window centre c and
#: width w > 0, y = (x - c) / w + 0.5 clamped to [0, 1]; ``u_invert`` = 1 shows low values
#: white (MONOCHROME1, PS3.3 C.7.6.3.1.2: a radiograph, where the detector counts are
#: lowest behind bone). The grey is written as a display value (like the overlays): a
#: display panel, not a lit surface.
_VOI = """
uniform sampler2D u_image;    // the value in red; alpha 0 where masked (vrmed.render.images)
uniform float u_center;
uniform float u_width;
uniform float u_invert;
uniform float u_alpha;
float voi(float x) {
    float y = clamp((x - u_center) / u_width + 0.5, 0.0, 1.0);
    return mix(y, 1.0 - y, u_invert);
}
"""
IMAGE_VERTEX = """
#version 330
uniform mat4 u_view_proj;
uniform mat4 u_model;
in vec2 in_corner;        // unit quad, -0.5..0.5 (x right, y up)
out vec3 v_world;
out vec2 v_uv;
void main() {
    vec4 world = u_model * vec4(in_corner, 0.0, 1.0);
    v_world = world.xyz;
    v_uv = vec2(in_corner.x + 0.5, 0.5 - in_corner.y);   // image row 0 along the top (+y) edge
    gl_Position = u_view_proj * world;
}
"""
IMAGE_FRAGMENT = (
    """
#version 330
in vec3 v_world;
in vec2 v_uv;
out vec4 f_color;
"""
    + _VOI
    + _IMAGE_MAIN
)
STEREO_IMAGE_VERTEX = _stereo_vertex(IMAGE_VERTEX, ("v_world", "v_uv"))
STEREO_IMAGE_GEOMETRY = _stereo_geometry(("v_world", "v_uv"))
STEREO_IMAGE_FRAGMENT = IMAGE_FRAGMENT
#: The same for a screen-space inset (overlay pixels from the top-left, as the overlays).
OVERLAY_IMAGE_VERTEX = """
#version 330
uniform vec2 u_size;      // viewport size in pixels
uniform vec4 u_rect;      // x, y (top-left), width, height in pixels
out vec2 v_uv;
void main() {
    vec2 c = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));   // strip: 0,0 1,0 0,1 1,1
    vec2 xy = u_rect.xy + c * u_rect.zw;
    v_uv = c;                                                                 // row 0 at the top
    gl_Position = vec4(xy.x / u_size.x * 2.0 - 1.0, 1.0 - xy.y / u_size.y * 2.0, 0.0, 1.0);
}
"""
OVERLAY_IMAGE_FRAGMENT = (
    """
#version 330
in vec2 v_uv;
out vec4 f_color;
"""
    + _VOI
    + _IMAGE_MAIN
)
