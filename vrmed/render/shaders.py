"""GLSL 330 sources of the renderer's programs: lit meshes, lit instanced spheres and
capsules (all three share :data:`LIT_FRAGMENT`) and the ground plane with analytic contact occlusion."""

from __future__ import annotations

#: Most sphere occluders (balls, mesh bounding spheres) the ground shader takes per frame.
MAX_OCCLUDERS = 64

_COMMON = """
const float PI = 3.14159265;

vec3 to_srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c));
}
"""

MESH_VERTEX = """
#version 330
uniform mat4 u_view_proj;
uniform mat4 u_model;
uniform mat3 u_normal_matrix;
uniform vec4 u_color;
in vec3 in_position;
in vec3 in_normal;
in float in_burn;
out vec3 v_world;
out vec3 v_normal;
out float v_burn;
out vec4 v_color;
void main() {
    vec4 world = u_model * vec4(in_position, 1.0);
    v_world = world.xyz;
    v_normal = u_normal_matrix * in_normal;
    v_burn = in_burn;
    v_color = u_color;
    gl_Position = u_view_proj * world;
}
"""

SPHERE_VERTEX = """
#version 330
uniform mat4 u_view_proj;
in vec3 in_position;      // unit sphere; its normal is its position
in vec4 in_sphere;        // per instance: centre xyz, radius w
in vec4 in_color;         // per instance: linear RGBA
out vec3 v_world;
out vec3 v_normal;
out float v_burn;
out vec4 v_color;
void main() {
    v_world = in_sphere.xyz + in_sphere.w * in_position;
    v_normal = in_position;
    v_burn = 0.0;
    v_color = in_color;
    gl_Position = u_view_proj * vec4(v_world, 1.0);
}
"""

CAPSULE_VERTEX = """
#version 330
uniform mat4 u_view_proj;
in vec3 in_position;      // unit capsule template (axis +y); its normal is its position
in float in_end;          // 0: hemisphere around end a, 1: around end b
in vec4 in_a;             // per instance: end a xyz, radius w
in vec3 in_b;             // per instance: end b xyz
in vec4 in_color;         // per instance: linear RGBA
out vec3 v_world;
out vec3 v_normal;
out float v_burn;
out vec4 v_color;
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
    v_burn = 0.0;
    v_color = in_color;
    gl_Position = u_view_proj * vec4(v_world, 1.0);
}
"""

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
in vec3 v_world;
in vec3 v_normal;
in float v_burn;
in vec4 v_color;
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

void main() {
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;            // two-sided: open surfaces are lit from both sides
    vec3 v = normalize(u_eye - v_world);
    vec3 l = u_light_dir;
    vec3 h = normalize(l + v);
    float burn = clamp(v_burn, 0.0, 1.0);
    vec3 albedo = mix(v_color.rgb, CHAR, burn);
    float nl = max(dot(n, l), 0.0);
    float nv = max(dot(n, v), 1e-4);
    float nh = max(dot(n, h), 0.0);
    float fresnel = 0.02 + 0.98 * pow(1.0 - max(dot(v, h), 0.0), 5.0);   // water-like F0
    float rough = mix(u_roughness, 1.0, burn);                            // charring dries the surface
    float spec = ggx_spec(nh, nl, nv, rough * rough)
               + u_wetness * (1.0 - burn) * ggx_spec(nh, nl, nv, 0.08 * 0.08);
    vec3 direct = ((1.0 - fresnel) * albedo / PI + fresnel * spec) * u_light * nl;
    vec3 ambient = albedo * mix(u_ground_bounce, u_sky, 0.5 + 0.5 * n.y);
    f_color = vec4(to_srgb(direct + ambient), v_color.a);
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
    vec3 lit = u_albedo * (u_light * nl / PI + u_sky) * visible;
    float fade = smoothstep(u_fade_start, u_fade_end, distance(u_eye.xz, v_world.xz));
    f_color = vec4(mix(to_srgb(lit), u_background, fade), 1.0);
}
"""
)
GROUND_FRAGMENT = GROUND_FRAGMENT.replace("MAX_OCCLUDERS", str(MAX_OCCLUDERS))
