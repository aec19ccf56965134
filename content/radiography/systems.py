"""Radiography pack: a PA chest radiograph from a generated CT phantom.

- **Phantom** (:func:`chest_phantom`): a voxel volume of Hounsfield units built from
  analytic shapes: body outline with a fat layer, lungs (-850 HU) above the diaphragm domes,
  heart and great vessels, liver, spine, sternum, ribs, clavicles and scapulae (whose
  position follows the shoulders: rotated forward they clear the lung fields). Anatomical
  landmarks (lung apices, costophrenic angles, lateral lung edges, clavicle heads, a
  spinous process, T7) are kept with it for the image-quality criteria.
- **Attenuation**: each voxel is a water/air mix (HU <= 0) or a water/cortical-bone mix
  (HU > 0) whose mass attenuation coefficients come from NIST XCOM tables at the beam's
  effective energy (about 0.4 kVp), so bone contrast falls as kVp rises.
- **DRR** (:func:`drr`, numba, parallel over detector rows): Beer-Lambert line integrals
  from the focal spot to each detector pixel through the (rotated, shifted) phantom,
  trilinear sampling at a quarter voxel.
- **Exposure**: tube output proportional to mAs x kVp^2 / distance^2 gives the entrance
  surface dose (with backscatter) and the detector air kerma; detected quanta per pixel
  give Poisson noise; the exposure index follows IEC 62494-1 (deviation index
  DI = 10 log10(K/K_target)).
- **Detector display** (:class:`DetectorDisplayPass`, an overlay render pass): after an
  exposure the image is shown as a radiograph (MONOCHROME1: few counts, behind bone, are
  white), superior at the top and the patient's right on the viewer's left, with a window
  over the exposed pixels' range (:func:`display_window`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit, prange

import vrmed
from vrmed.api import (
    PassContext,
    Scenario,
    ScenarioState,
    SessionLog,
    evaluate_rubric,
    record_score,
    render_pipeline,
)

#: Mass attenuation coefficients (cm^2/g) at photon energy (keV), NIST XCOM / Hubbell &
#: Seltzer (NISTIR 5632): water (liquid) and cortical bone (ICRU-44, density 1.92 g/cm^3).
ENERGIES_KEV = np.array([30.0, 40.0, 50.0, 60.0, 80.0, 100.0])
MU_RHO_WATER = np.array([0.3756, 0.2683, 0.2269, 0.2059, 0.1837, 0.1707])
MU_RHO_BONE = np.array([1.331, 0.6655, 0.4242, 0.3148, 0.2229, 0.1855])
BONE_DENSITY = 1.92
#: HU of pure cortical bone in this phantom's mixing model.
BONE_HU = 1500.0
#: Effective energy as a fraction of kVp for a tungsten target with ~3 mm Al filtration
#: (a rule of thumb: one third to one half of kVp).
EFFECTIVE_ENERGY_FRACTION = 0.4
#: Tube output at 1 m and 80 kVp (mGy per mAs; typical 0.03-0.08) and its kVp^2 scaling.
OUTPUT_80KVP_MGY_PER_MAS = 0.05
#: Backscatter factor for a chest-sized field at these energies.
BACKSCATTER = 1.35
#: Photon fluence per air kerma (photons per mm^2 per uGy) at chest-beam energies, and the
#: detector's quantum efficiency.
FLUENCE_PER_UGY = 3.0e4
DETECTOR_EFFICIENCY = 0.6
#: IAEA guidance level for the entrance surface dose of a PA chest (mGy; IAEA Safety Series 115).
ESD_GUIDANCE_MGY = 0.4


def mu_per_mm(kvp: float) -> tuple[float, float]:
    """Linear attenuation (1/mm) of water and of cortical bone at the beam's effective energy."""
    e = EFFECTIVE_ENERGY_FRACTION * kvp
    w = float(np.exp(np.interp(np.log(e), np.log(ENERGIES_KEV), np.log(MU_RHO_WATER))))
    b = float(np.exp(np.interp(np.log(e), np.log(ENERGIES_KEV), np.log(MU_RHO_BONE))))
    return w * 1.0 / 10.0, b * BONE_DENSITY / 10.0


def hu_to_mu(hu: np.ndarray, kvp: float) -> np.ndarray:
    """Linear attenuation (1/mm) of each voxel: air/water mix at and below 0 HU, water/bone
    mix above (bone fraction HU/BONE_HU), at the effective energy of ``kvp``."""
    mu_w, mu_b = mu_per_mm(kvp)
    hu = np.asarray(hu, dtype=np.float64)
    soft = mu_w * np.clip(1.0 + hu / 1000.0, 0.0, None)
    frac = np.clip(hu / BONE_HU, 0.0, 1.0)
    return np.where(hu <= 0.0, soft, (1.0 - frac) * mu_w + frac * mu_b).astype(np.float32)


# --------------------------------------------------------------------------- phantom


#: Height of T7 (the PA chest centring point, mid lung fields) in the phantom frame (mm).
T7_Z = 20.0


@dataclass
class Phantom:
    """A HU volume (indexed [x, y, z]: patient left, anterior, up) with its voxel size
    (mm), the position of voxel (0, 0, 0)'s centre (mm, patient frame) and landmarks."""

    hu: np.ndarray
    spacing: float
    origin: np.ndarray
    landmarks: dict[str, np.ndarray]


def chest_phantom(spacing: float = 4.0, shoulders_forward: bool = True) -> Phantom:
    """An adult chest (34 x 24 cm, 44 cm tall) in HU; the patient frame has its origin at
    T7 on the midline, x to the patient's left, y anterior, z up. HU: fat -100, muscle and
    blood 40, liver 60, lung -850, trabecular spine 300, cortical bone 1200-1500 (typical
    CT numbers, e.g. Hounsfield 1980; Bushberg et al. 2012)."""
    nx, ny, nz = int(400 / spacing), int(300 / spacing), int(460 / spacing)
    origin = np.array([-(nx - 1) / 2 * spacing, -(ny - 1) / 2 * spacing - 10.0, -(nz - 1) / 2 * spacing + 20.0])
    x = origin[0] + spacing * np.arange(nx)[:, None, None]
    y = origin[1] + spacing * np.arange(ny)[None, :, None]
    z = origin[2] + spacing * np.arange(nz)[None, None, :]
    hu = np.full((nx, ny, nz), -1000.0)
    # body: elliptic cylinder 34 x 24 cm (centre 1 cm posterior), 8 mm fat layer
    ex = (x / 170.0) ** 2 + ((y + 10.0) / 120.0) ** 2
    body = (ex <= 1.0) & (z > -230) & (z < 220)
    hu[body & (ex > 0.90)] = -100.0
    hu[body & (ex <= 0.90)] = 40.0
    # lungs: two half-ellipsoids, apices at z = +150, bases at the diaphragm domes
    for side in (-1.0, 1.0):
        cx = side * 75.0
        lung = ((x - cx) / 65.0) ** 2 + ((y + 15.0) / 95.0) ** 2 + (np.maximum(z - 0.0, 0.0) / 150.0) ** 2 <= 1.0
        dome = -110.0 + (25.0 if side < 0 else 0.0) + 40.0 * (1 - ((x - cx) / 65.0) ** 2)  # right dome higher
        lung &= z > dome - 50.0 * ((y + 15.0) / 95.0) ** 2
        hu[lung & body] = -850.0
    # heart (left-anterior ellipsoid) and the liver under the right dome
    heart = ((x - 25.0) / 65.0) ** 2 + ((y - 20.0) / 55.0) ** 2 + ((z + 60.0) / 70.0) ** 2 <= 1.0
    hu[heart] = 40.0
    mediast = (np.abs(x) < 25) & (y > -60) & (y < 60) & (z > -40) & (z < 150)
    hu[mediast & body] = 40.0
    liver = ((x + 60.0) / 110.0) ** 2 + ((y + 5.0) / 90.0) ** 2 + ((z + 170.0) / 70.0) ** 2 <= 1.0
    hu[liver & body & (hu > -500)] = 60.0
    hu[liver & body & (z < -100)] = 60.0
    # spine: vertebral bodies (trabecular, cortical rim) and spinous processes, posterior
    vb = (x**2 + (y + 70.0) ** 2 <= 20.0**2) & body
    hu[vb] = 300.0
    hu[vb & (x**2 + (y + 70.0) ** 2 >= 17.0**2)] = 1200.0
    spinous = (np.abs(x) < 5) & (y < -90) & (y > -120) & body
    hu[spinous] = 1000.0
    # sternum
    hu[(np.abs(x) < 18) & (y > 95) & (y < 107) & (z > -60) & (z < 130)] = 1000.0
    # ribs: elliptic hoops every 24 mm, 8 mm thick, sloping down anteriorly
    for level in np.arange(-110.0, 150.0, 24.0):
        zr = level - 30.0 * ((y + 10.0) / 120.0)
        hoop = (np.abs(z - zr) < 5.0) & (ex <= 0.86) & (ex >= 0.74) & (np.abs(x) > 20)
        hu[hoop] = 1300.0
    # clavicles: from the sternal notch out to the shoulders, anterior, at z ~ 160
    for side in (-1.0, 1.0):
        t = np.clip(side * x / 150.0, 0.0, 1.0)
        cy, cz = 90.0 - 40.0 * t, 160.0 + 10.0 * t
        clav = (side * x > 15) & (side * x < 160) & ((y - cy) ** 2 + (z - cz) ** 2 <= 8.0**2)
        hu[clav] = 1300.0
    # scapulae: posterior plates; rotated forward (protracted) they lie lateral to the lungs
    for side in (-1.0, 1.0):
        medial = 145.0 if shoulders_forward else 60.0
        # the blade is thin (~6 mm); its lateral border is thicker
        scap = (side * x > medial) & (side * x < medial + 70.0) & (np.abs(y + 70.0) < 3.0) & (z > 20) & (z < 170)
        border = (
            (side * x > medial + 55.0) & (side * x < medial + 70.0) & (np.abs(y + 70.0) < 8.0) & (z > 20) & (z < 170)
        )
        hu[(scap | border) & (ex <= 1.05)] = 1000.0
    landmarks = {
        "lung_apex_r": np.array([-75.0, -15.0, 150.0]),
        "lung_apex_l": np.array([75.0, -15.0, 150.0]),
        "lung_lateral_r": np.array([-140.0, -15.0, 0.0]),
        "lung_lateral_l": np.array([140.0, -15.0, 0.0]),
        "costophrenic_r": np.array([-135.0, -15.0, -85.0]),
        "costophrenic_l": np.array([135.0, -15.0, -110.0]),
        "clavicle_head_r": np.array([-20.0, 90.0, 160.0]),
        "clavicle_head_l": np.array([20.0, 90.0, 160.0]),
        "spinous_t3": np.array([0.0, -105.0, 160.0]),
        "t7": np.array([0.0, -70.0, T7_Z]),
        "scapula_medial_r": np.array([-(145.0 if shoulders_forward else 60.0), -70.0, 100.0]),
        "scapula_medial_l": np.array([145.0 if shoulders_forward else 60.0, -70.0, 100.0]),
    }
    return Phantom(hu.astype(np.float32), spacing, origin, landmarks)


# --------------------------------------------------------------------------- projection


@njit(cache=True, fastmath=False)
def _trilinear(vol: np.ndarray, fx: float, fy: float, fz: float) -> float:
    nx, ny, nz = vol.shape
    if fx < 0.0 or fy < 0.0 or fz < 0.0 or fx > nx - 1 or fy > ny - 1 or fz > nz - 1:
        return 0.0
    i, j, k = min(int(fx), nx - 2), min(int(fy), ny - 2), min(int(fz), nz - 2)
    u, v, w = fx - i, fy - j, fz - k
    c00 = vol[i, j, k] * (1 - u) + vol[i + 1, j, k] * u
    c10 = vol[i, j + 1, k] * (1 - u) + vol[i + 1, j + 1, k] * u
    c01 = vol[i, j, k + 1] * (1 - u) + vol[i + 1, j, k + 1] * u
    c11 = vol[i, j + 1, k + 1] * (1 - u) + vol[i + 1, j + 1, k + 1] * u
    return (c00 * (1 - v) + c10 * v) * (1 - w) + (c01 * (1 - v) + c11 * v) * w


@njit(cache=True, parallel=True)
def drr(
    mu: np.ndarray,
    origin: np.ndarray,
    spacing: float,
    source: np.ndarray,
    det_centre: np.ndarray,
    det_u: np.ndarray,
    det_v: np.ndarray,
    nu: int,
    nv: int,
    pitch: float,
    out: np.ndarray,
) -> None:
    """Line integrals of ``mu`` (1/mm, voxel centres at ``origin + spacing * index``) from
    ``source`` to every detector pixel (centre ``det_centre``, unit axes ``det_u``/``det_v``,
    ``pitch`` mm), all in the volume's frame. Samples every quarter voxel between the ray's
    entry and exit of the volume's bounding box (trilinear, zero outside). ``out[iv, iu]``."""
    nx, ny, nz = mu.shape
    lo = origin - 0.5 * spacing
    hi = origin + (np.array([nx, ny, nz]) - 0.5) * spacing
    step = 0.25 * spacing
    for iv in prange(nv):
        for iu in range(nu):
            ou = (iu - 0.5 * (nu - 1)) * pitch
            ov = (iv - 0.5 * (nv - 1)) * pitch
            p = det_centre + ou * det_u + ov * det_v
            d = p - source
            length = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
            d = d / length
            t0, t1 = 0.0, length
            for a in range(3):
                if abs(d[a]) < 1e-12:
                    if source[a] < lo[a] or source[a] > hi[a]:
                        t1 = -1.0
                else:
                    ta = (lo[a] - source[a]) / d[a]
                    tb = (hi[a] - source[a]) / d[a]
                    if ta > tb:
                        ta, tb = tb, ta
                    t0 = max(t0, ta)
                    t1 = min(t1, tb)
            total = 0.0
            if t1 > t0:
                n = int(math.ceil((t1 - t0) / step))
                h = (t1 - t0) / n
                for s in range(n):
                    t = t0 + (s + 0.5) * h  # midpoint rule
                    q0 = (source[0] + t * d[0] - origin[0]) / spacing
                    q1 = (source[1] + t * d[1] - origin[1]) / spacing
                    q2 = (source[2] + t * d[2] - origin[2]) / spacing
                    total += _trilinear(mu, q0, q1, q2)
                total *= h
            out[iv, iu] = total


def rotation_z(deg: float) -> np.ndarray:
    """Rotation about the vertical axis (patient turned: positive = left side forward)."""
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])


@dataclass
class Geometry:
    """A PA projection: source-image distance, detector plane (y, mm, patient frame before
    rotation), the central ray's point on the detector (x, z mm; T7 is at z = T7_Z), the patient's rotation
    about the vertical axis (deg) and the collimated field (width, height mm at the detector)."""

    sid: float = 1800.0
    detector_y: float = 140.0
    centre_x: float = 0.0
    centre_z: float = T7_Z
    rotation_deg: float = 0.0
    field_w: float = 350.0
    field_h: float = 350.0
    detector_size: float = 430.0
    pixels: int = 128

    @property
    def source(self) -> np.ndarray:
        return np.array([self.centre_x, self.detector_y - self.sid, self.centre_z])

    def project(self, point: np.ndarray) -> tuple[float, float]:
        """Where a point of the (rotated) patient lands on the detector, relative to the
        central ray (mm: x, z)."""
        p = rotation_z(self.rotation_deg) @ point
        s = self.source
        k = (self.detector_y - s[1]) / (p[1] - s[1])
        return float(s[0] + k * (p[0] - s[0]) - self.centre_x), float(s[2] + k * (p[2] - s[2]) - self.centre_z)


def line_integrals(phantom: Phantom, geo: Geometry, kvp: float) -> np.ndarray:
    """The DRR's line integrals (dimensionless mu*l) over the whole detector, (pixels, pixels)
    with row 0 at the bottom (-z)."""
    mu = hu_to_mu(phantom.hu, kvp)
    rot_inv = rotation_z(geo.rotation_deg).T  # rays into the phantom's own frame
    source = rot_inv @ geo.source
    centre = rot_inv @ np.array([geo.centre_x, geo.detector_y, geo.centre_z])
    u, v = rot_inv @ np.array([1.0, 0.0, 0.0]), rot_inv @ np.array([0.0, 0.0, 1.0])
    out = np.zeros((geo.pixels, geo.pixels))
    pitch = geo.detector_size / geo.pixels
    drr(mu, phantom.origin, phantom.spacing, source, centre, u, v, geo.pixels, geo.pixels, pitch, out)
    return out


# --------------------------------------------------------------------------- exposure


def entrance_dose_mgy(kvp: float, mas: float, source_to_skin_mm: float) -> float:
    """Entrance surface dose (mGy): tube output x (kVp/80)^2 x mAs at the skin (inverse
    square from 1 m) x backscatter."""
    return OUTPUT_80KVP_MGY_PER_MAS * (kvp / 80.0) ** 2 * mas * (1000.0 / source_to_skin_mm) ** 2 * BACKSCATTER


def detector_kerma_ugy(kvp: float, mas: float, sid_mm: float) -> float:
    """Unattenuated air kerma at the detector (uGy)."""
    return 1000.0 * OUTPUT_80KVP_MGY_PER_MAS * (kvp / 80.0) ** 2 * mas * (1000.0 / sid_mm) ** 2


def expose(
    integrals: np.ndarray, kvp: float, mas: float, geo: Geometry, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Detected quanta per pixel (Poisson) and their expectation: N = N0 exp(-integral)
    inside the collimated field, 0 outside."""
    pitch = geo.detector_size / geo.pixels
    n0 = detector_kerma_ugy(kvp, mas, geo.sid) * FLUENCE_PER_UGY * pitch**2 * DETECTOR_EFFICIENCY
    c = (np.arange(geo.pixels) - 0.5 * (geo.pixels - 1)) * pitch
    inside = (np.abs(c)[None, :] <= geo.field_w / 2) & (np.abs(c)[:, None] <= geo.field_h / 2)
    expected = np.where(inside, n0 * np.exp(-integrals), 0.0)
    return rng.poisson(expected).astype(np.float64), expected


# --------------------------------------------------------------------------- components, events


@vrmed.component
@dataclass
class XrayRoom:
    """The X-ray room's state (one entity: the tube/detector stand): the positioning and
    exposure the radiographer has set, the exposures made and the last image."""

    rotation_deg: float = 0.0
    shoulders_forward: bool = False
    #: central ray offset from T7 (mm)
    centre_x_mm: float = 0.0
    centre_z_mm: float = 0.0
    field_w_mm: float = 430.0
    field_h_mm: float = 430.0
    kvp: float = 80.0
    mas: float = 4.0
    #: the reference technique whose lung-field detector kerma defines DI = 0
    target_kvp: float = 125.0
    target_mas: float = 2.0
    staff_clear: bool = False
    exposures: int = 0
    total_esd_mgy: float = 0.0
    image: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


@dataclass(frozen=True)
class PatientIdentified(vrmed.Event):
    """Identity confirmed with three identifiers against the request (IR(ME)R)."""


@dataclass(frozen=True)
class PregnancyChecked(vrmed.Event):
    """Pregnancy status asked and recorded (a person of childbearing potential)."""

    status: str


@dataclass(frozen=True)
class PatientPositioned(vrmed.Event):
    """Patient against the detector: rotation about the vertical (deg), shoulders rolled forward."""

    rotation_deg: float
    shoulders_forward: bool


@dataclass(frozen=True)
class TubeCentred(vrmed.Event):
    """Central ray offset from T7 (mm, left +; up +)."""

    offset_x_mm: float
    offset_z_mm: float


@dataclass(frozen=True)
class CollimationSet(vrmed.Event):
    """Field size at the detector (mm)."""

    width_mm: float
    height_mm: float


@dataclass(frozen=True)
class ExposureSet(vrmed.Event):
    """Exposure factors."""

    kvp: float
    mas: float


@dataclass(frozen=True)
class StaffCleared(vrmed.Event):
    """Everyone else out of the room; the radiographer behind the protective screen."""


@dataclass(frozen=True)
class ExposureMade(vrmed.Event):
    """The radiographer exposes."""


@dataclass(frozen=True)
class ImageAcquired(vrmed.Event):
    """The image and its criteria: rotation (clavicle heads vs spinous process, mm),
    centring error (mm), whether the collimated field holds the whole lung fields and by
    how much it exceeds them (mm, worst side), whether the scapulae clear the lungs,
    deviation index (IEC 62494-1), SNR in the lung field, rib-to-lung contrast, the
    entrance surface dose (mGy) and the exposure count so far."""

    exposure: int
    kvp: float
    mas: float
    rotation_offset_mm: float
    centring_error_mm: float
    lungs_in_field: bool
    field_excess_mm: float
    scapulae_clear: bool
    deviation_index: float
    snr_lung: float
    rib_contrast: float
    esd_mgy: float
    staff_clear: bool


# --------------------------------------------------------------------------- criteria


def image_criteria(room: XrayRoom, rng: np.random.Generator, pixels: int = 128) -> dict[str, Any]:
    """Make the exposure: phantom for the positioning, DRR, quanta, criteria and dose."""
    phantom = chest_phantom(shoulders_forward=room.shoulders_forward)
    geo = Geometry(
        centre_x=room.centre_x_mm,
        centre_z=T7_Z + room.centre_z_mm,
        rotation_deg=room.rotation_deg,
        field_w=room.field_w_mm,
        field_h=room.field_h_mm,
        pixels=pixels,
    )
    lm = phantom.landmarks
    proj = {k: geo.project(v) for k, v in lm.items()}
    mid_clav = 0.5 * (proj["clavicle_head_r"][0] + proj["clavicle_head_l"][0])
    rotation_offset = mid_clav - proj["spinous_t3"][0]
    t7 = geo.project(lm["t7"])
    centring = math.hypot(t7[0], t7[1])
    lung = [
        proj[k]
        for k in ("lung_apex_r", "lung_apex_l", "lung_lateral_r", "lung_lateral_l", "costophrenic_r", "costophrenic_l")
    ]
    xs, zs = [p[0] for p in lung], [p[1] for p in lung]
    half_w, half_h = room.field_w_mm / 2, room.field_h_mm / 2
    margins = [half_w - max(xs), min(xs) + half_w, half_h - max(zs), min(zs) + half_h]
    lungs_in = min(margins) >= 0.0
    excess = max(margins)
    scap_clear = proj["scapula_medial_r"][0] <= proj["lung_lateral_r"][0] + 10.0 and proj["scapula_medial_l"][0] >= (
        proj["lung_lateral_l"][0] - 10.0
    )
    integrals = line_integrals(phantom, geo, room.kvp)
    counts, expected = expose(integrals, room.kvp, room.mas, geo, rng)
    pitch = geo.detector_size / pixels
    c = (np.arange(pixels) - 0.5 * (pixels - 1)) * pitch

    # regions of interest: mid right lung field (between ribs) and a rib over it
    def roi(x_mm: float, z_mm: float, half: float = 10.0) -> tuple[slice, slice]:
        iu = np.flatnonzero(np.abs(c - x_mm) <= half)
        iv = np.flatnonzero(np.abs(c - z_mm) <= half)
        return slice(iv[0], iv[-1] + 1), slice(iu[0], iu[-1] + 1)

    sv, su = roi(*geo.project(LUNG_ROI))
    # quantum SNR of a pixel in the lung field: N / sqrt(N) for Poisson counts (the image
    # itself carries the noise; the criterion uses its expectation so it does not jitter)
    snr = math.sqrt(max(float(expected[sv, su].mean()), 0.0))
    # contrast: attenuation difference of a rib and the lung next to it, -ln(I_rib/I_lung)
    rib_z = -110.0 + 24.0 * 5 - 30.0 * ((-15.0 + 10.0) / 120.0)
    rib_pt = geo.project(np.array([-80.0, -15.0, rib_z]))
    iu = int(np.argmin(np.abs(c - rib_pt[0])))
    col = integrals[:, iu]
    near = np.flatnonzero(np.abs(c - rib_pt[1]) <= 12.0)
    rib_contrast = float(col[near].max() - col[near].min()) if near.size else 0.0
    k_lung = lung_kerma(integrals, geo, room.kvp, room.mas)
    di = 10.0 * math.log10(max(k_lung, 1e-12) / reference_kerma(room.target_kvp, room.target_mas, pixels))
    skin = geo.sid - (geo.detector_y + 130.0)  # posterior skin ~130 mm behind the origin
    esd = entrance_dose_mgy(room.kvp, room.mas, skin)
    return {
        "rotation_offset_mm": round(rotation_offset, 1),
        "centring_error_mm": round(centring, 1),
        "lungs_in_field": bool(lungs_in),
        "field_excess_mm": round(excess, 1),
        "scapulae_clear": bool(scap_clear),
        "deviation_index": round(di, 2),
        "snr_lung": round(snr, 1),
        "rib_contrast": round(rib_contrast, 3),
        "esd_mgy": round(esd, 4),
        "image": counts,
        "expected": expected,
    }


#: Point (patient frame, mm) at the middle of the right lung field: the exposure-index ROI.
LUNG_ROI = np.array([-80.0, -15.0, 40.0])


def lung_kerma(integrals: np.ndarray, geo: Geometry, kvp: float, mas: float) -> float:
    """Mean detector air kerma (uGy) over a 2 x 2 cm ROI in the middle of the right lung."""
    c = (np.arange(geo.pixels) - 0.5 * (geo.pixels - 1)) * geo.detector_size / geo.pixels
    px, pz = geo.project(LUNG_ROI)
    iu, iv = np.flatnonzero(np.abs(c - px) <= 10.0), np.flatnonzero(np.abs(c - pz) <= 10.0)
    t = float(np.mean(np.exp(-integrals[iv[0] : iv[-1] + 1, iu[0] : iu[-1] + 1])))
    return t * detector_kerma_ugy(kvp, mas, geo.sid)


_REFERENCE_KERMA: dict[tuple[float, float, int], float] = {}


def reference_kerma(kvp: float, mas: float, pixels: int) -> float:
    """The exposure index target K_T: lung-field detector kerma (uGy) of the standard
    patient, well positioned, at the reference technique (cached)."""
    key = (kvp, mas, pixels)
    if key not in _REFERENCE_KERMA:
        geo = Geometry(pixels=pixels)
        integrals = line_integrals(chest_phantom(shoulders_forward=True), geo, kvp)
        _REFERENCE_KERMA[key] = lung_kerma(integrals, geo, kvp, mas)
    return _REFERENCE_KERMA[key]


# --------------------------------------------------------------------------- systems


@dataclass
class RadiographyReaders:
    """The pack's event readers (a resource)."""

    readers: dict[str, Any]


def setup(app: vrmed.App, scenario: object) -> None:
    """Per-session event readers."""
    kinds = (PatientPositioned, TubeCentred, CollimationSet, ExposureSet, StaffCleared, ExposureMade)
    app.insert_resource(RadiographyReaders({k.__name__: app.event_reader(k) for k in kinds}))
    render_pipeline(app).add(DetectorDisplayPass())


def display_image(counts: np.ndarray) -> np.ndarray:
    """The detector image as displayed: rows flipped so that row 0 is the top (the DRR's
    row 0 is at the patient's feet end, -z); columns already run from the patient's right
    (-x) to left, the PA convention of viewing the patient face to face."""
    return np.ascontiguousarray(counts[::-1])


def display_window(counts: np.ndarray) -> tuple[float, float]:
    """(centre, width) over the exposed pixels (counts > 0): their 1st to 99th percentile,
    so the collimated-off border does not compress the grey scale of the lungs."""
    exposed = counts[counts > 0]
    if exposed.size == 0:
        return 0.5, 1.0
    lo, hi = (float(v) for v in np.percentile(exposed, (1.0, 99.0)))
    return 0.5 * (lo + hi), max(hi - lo, 1.0)


def detector_rect(size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Where the detector display goes (x, y, w, h pixels from the top-left): a square of
    0.45 of the view's smaller side at the top-right corner."""
    w, h = size
    side = float(round(0.45 * min(w, h)))
    return float(w - side - 8), 8.0 + 18.0, side, side


class DetectorDisplayPass:
    """Overlay pass ``detector_display``: the last radiograph on the room's display after an
    exposure (grey scale with :func:`display_window`, MONOCHROME1), with its technique."""

    name = "detector_display"
    phase = "overlay"

    def __init__(self) -> None:
        self._shown: tuple[Any, np.ndarray, tuple[float, float]] | None = None

    def draw(self, ctx: PassContext) -> None:
        """Draw the display when an image has been acquired."""
        rooms = ctx.app.query(XrayRoom)
        if not rooms or rooms[0][1].image.size == 0:
            return
        room = rooms[0][1]
        if self._shown is None or self._shown[0] is not room.image:  # a new exposure: flip and window once
            self._shown = (room.image, display_image(room.image), display_window(room.image))
        _, image, window = self._shown
        x, y, w, h = detector_rect(ctx.size)
        ov = ctx.overlay
        ov.rect(x - 3, y - 21, w + 6, h + 24, (0.0, 0.0, 0.0, 0.9))
        ov.text(f"#{room.exposures}  {room.kvp:.0f} kVp  {room.mas:g} mAs", x, y - 19, size=14)
        ov.image(image, x, y, w, h, key="detector_display", window=window, invert=True)


@vrmed.system("logic", in_set="logic.interaction")
def radiography_room(app: vrmed.App) -> None:
    """Apply the radiographer's settings; on an exposure, compute the image and its criteria."""
    readers = app.try_resource(RadiographyReaders)
    rooms = app.query(XrayRoom)
    if readers is None or not rooms:
        return
    room = rooms[0][1]
    r = readers.readers
    for ev in r["PatientPositioned"].read():
        room.rotation_deg, room.shoulders_forward = float(ev.rotation_deg), bool(ev.shoulders_forward)
        room.staff_clear = False  # someone went into the room
    for ev in r["TubeCentred"].read():
        room.centre_x_mm, room.centre_z_mm = float(ev.offset_x_mm), float(ev.offset_z_mm)
        room.staff_clear = False
    for ev in r["CollimationSet"].read():
        room.field_w_mm, room.field_h_mm = float(ev.width_mm), float(ev.height_mm)
    for ev in r["ExposureSet"].read():
        room.kvp, room.mas = float(ev.kvp), float(ev.mas)
    for _ in r["StaffCleared"].read():
        room.staff_clear = True
    for _ in r["ExposureMade"].read():
        room.exposures += 1
        crit = image_criteria(room, app.resource(vrmed.Rng).generator)
        room.image = crit.pop("image")
        crit.pop("expected")
        room.total_esd_mgy += crit["esd_mgy"]
        app.send(
            ImageAcquired(exposure=room.exposures, kvp=room.kvp, mas=room.mas, staff_clear=room.staff_clear, **crit)
        )


# --------------------------------------------------------------------------- scoring


def evaluate(records: list[dict[str, Any]], end_time: float, scenario: Any) -> dict[str, Any]:
    """Rubric score, failed rules, each image's criteria and the total dose."""
    out: dict[str, Any] = {}
    if scenario.rubric is not None:
        result = evaluate_rubric(scenario.rubric, records, end_time)
        out.update(score=result.score, passed=result.passed, failed_rules=[r.id for r in result.rules if not r.passed])
    images = [r["data"] for r in records if r["type"].endswith(":ImageAcquired")]
    out["images"] = images
    out["metrics"] = {"exposures": float(len(images)), "total_esd_mgy": round(sum(i["esd_mgy"] for i in images), 4)}
    return out


def summary(app: vrmed.App) -> dict[str, Any]:
    """What `vrmed run radiography/...` prints."""
    state = app.try_resource(ScenarioState)
    out: dict[str, Any] = {"outcome": state.outcome if state else None}
    out.update(evaluate(app.resource(SessionLog).events, float(app.clock.frame_time), app.resource(Scenario)))
    return out


def score(log: SessionLog) -> dict[str, Any]:
    """The learning-records score of a stored session (docs/records.md)."""
    return record_score(log, Path(__file__).resolve().parent, evaluate)
