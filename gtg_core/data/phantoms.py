"""Synthetic phantoms that pose the problems of the paper's two datasets.

``spleen_ct`` (like MSD Spleen): CT in Hounsfield units, anisotropic voxels (about 0.8 mm in plane and 5 mm
slices at 512 x 512 x 89, the same field of view scaled to the requested shape), a body outline with
subcutaneous fat and muscle, liver, kidneys, stomach, spine and ribs, and a spleen of irregular smooth shape
(contrast-enhanced, 100-130 HU) that touches the left kidney and the liver's left lobe, organs of close
density (weak boundaries). CT-like noise and partial-volume blur. Label: the spleen.

``lesion_pet`` (like AutoPET): PET in SUV over a whole-body field of view (AutoPET's 192 x 192 x 256 crop
at 2.036 x 2.036 x 3 mm, scaled to the requested shape): low body background, lungs, physiological uptake
in brain, heart, liver, kidneys and bladder (brain and bladder hotter than most lesions), one to several
lesions of 5-40 mm diameter with contrasts from barely above their surroundings to very hot. PET-like
noise and blur. Label: all lesions.

Anatomy is defined in normalised coordinates of the field of view, so it scales with the shape; lesion
sizes are in mm. Everything is numpy + scipy on one core; a 128 x 128 x 64 case takes well under a second.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

KINDS = ("spleen_ct", "lesion_pet")

#: What the phantoms imitate: the paper's two datasets (section 2.2) and the authors' preprocessing.
DATASETS = {
    "MSD Spleen": {"modality": "CT (HU)", "volumes": "41 (33 train / 8 val)", "mean shape": "512 x 512 x 89",
                   "voxel (mm), paper": "0.79 x 0.79 x 5.00", "voxel (mm), preprocessed": "1.586 x 1.586 x 5.0",
                   "intensity window": "-224 .. 212 HU", "target": "spleen", "phantom": "spleen_ct"},
    "AutoPET": {"modality": "PET (SUV)", "volumes": "1014 studies, 501 with tumour", "mean shape": "400 x 400 x 352",
                "voxel (mm), paper": "2.0 x 2.0 x 2.0", "voxel (mm), preprocessed": "2.036 x 2.036 x 3.0",
                "intensity window": "0 .. 43 SUV", "target": "tumour lesions", "phantom": "lesion_pet"},
}

#: Field of view (mm) that the default spacing spreads over the requested shape.
FIELD_OF_VIEW_MM = {"spleen_ct": (0.8 * 512, 0.8 * 512, 5.0 * 89), "lesion_pet": (2.036 * 192, 2.036 * 192, 3.0 * 256)}


def default_spacing(kind: str, shape) -> tuple[float, float, float]:
    """Voxel size (mm) that spreads the kind's field of view over ``shape``."""
    fov = FIELD_OF_VIEW_MM[kind]
    return tuple(float(f) / int(n) for f, n in zip(fov, shape))


def _grid(shape):
    axes = [np.linspace(-1.0, 1.0, int(n), dtype=np.float32) for n in shape]
    return np.meshgrid(*axes, indexing="ij", sparse=True)


def _ellipsoid(u, v, w, center, radii):
    return ((u - center[0]) / radii[0]) ** 2 + ((v - center[1]) / radii[1]) ** 2 + ((w - center[2]) / radii[2]) ** 2


def _irregular(u, v, w, center, radii, rng, amplitude=0.18):
    """An ellipsoid whose surface is perturbed by a few smooth random harmonics (implicit value <= 1 inside)."""
    q = _ellipsoid(u, v, w, center, radii)
    du, dv, dw = (u - center[0]) / radii[0], (v - center[1]) / radii[1], (w - center[2]) / radii[2]
    bump = np.zeros_like(q)
    for _ in range(4):
        k = rng.normal(size=3) * 2.2
        phase = rng.uniform(0, 2 * np.pi)
        bump = bump + np.sin(k[0] * du + k[1] * dv + k[2] * dw + phase)
    return q * (1.0 + amplitude * bump / 2.0)


def _spleen_ct(shape, spacing, rng, parts: bool):
    u, v, w = _grid(shape)
    img = np.full(np.broadcast_shapes(u.shape, v.shape, w.shape), -1000.0, dtype=np.float32)  # air
    # body: elliptic cylinder, subcutaneous fat, muscle wall, abdominal soft tissue
    body_r = (u / 0.88) ** 2 + (v / 0.68) ** 2
    body = body_r <= 1.0
    img = np.where(body, np.float32(-90.0), img)
    inner = (u / 0.80) ** 2 + (v / 0.60) ** 2
    img = np.where(inner <= 1.0, np.float32(45.0), img)  # muscle wall
    cavity = (u / 0.74) ** 2 + (v / 0.54) ** 2 <= 1.0
    img = np.where(cavity, np.float32(-20.0), img)  # abdominal fat / bowel mix
    organs = {}
    # spine (vertebral body + canal) and ribs
    spine = ((u / 0.09) ** 2 + ((v - 0.42) / 0.09) ** 2 <= 1.0) & (w > -2)
    img = np.where(spine, np.float32(600.0), img)
    canal = (u / 0.035) ** 2 + ((v - 0.53) / 0.035) ** 2 <= 1.0
    img = np.where(canal, np.float32(25.0), img)
    rib_band = np.abs(np.sqrt(inner) - 1.04) < 0.025
    rib_rows = np.sin(w * 11.0) > 0.55
    ribs = rib_band & rib_rows & (w > -0.3) & (v > -0.25) & (np.abs(u) > 0.3)  # lateral-posterior arcs
    img = np.where(ribs, np.float32(700.0), img)
    # liver (right of the patient = left of the image in RAS-less display), with a left lobe towards the spleen
    liver_hu = rng.uniform(105, 125)
    liver = (_ellipsoid(u, v, w, (-0.33, 0.02, 0.22), (0.36, 0.42, 0.42)) <= 1.0) | (
        _ellipsoid(u, v, w, (0.14, -0.14, 0.33), (0.30, 0.16, 0.16)) <= 1.0)
    liver &= cavity
    img = np.where(liver, np.float32(liver_hu), img)
    # stomach (fluid / gas) anterior-left, kidneys posterior
    stomach = _ellipsoid(u, v, w, (0.22, -0.25, 0.10), (0.14, 0.12, 0.16)) <= 1.0
    img = np.where(stomach & cavity, np.float32(15.0), img)
    kidney_hu = rng.uniform(125, 150)
    kidney_l = _ellipsoid(u, v, w, (0.33, 0.30, -0.05), (0.09, 0.10, 0.22)) <= 1.0
    kidney_r = _ellipsoid(u, v, w, (-0.33, 0.30, -0.12), (0.09, 0.10, 0.22)) <= 1.0
    img = np.where(kidney_l | kidney_r, np.float32(kidney_hu), img)
    # spleen: irregular, postero-lateral left, touching the left kidney and the liver's left lobe
    spleen_hu = rng.uniform(100, 130)
    center = (0.45 + rng.uniform(-0.02, 0.02), 0.20 + rng.uniform(-0.03, 0.03), 0.16 + rng.uniform(-0.05, 0.05))
    radii = (0.14 * rng.uniform(0.9, 1.15), 0.22 * rng.uniform(0.9, 1.15), 0.21 * rng.uniform(0.9, 1.15))
    spleen = (_irregular(u, v, w, center, radii, rng) <= 1.0) & cavity
    img = np.where(spleen, np.float32(spleen_hu), img)
    # partial-volume blur (about one voxel in plane) and CT noise
    img = gaussian_filter(img, sigma=(0.8, 0.8, 0.5))
    img += rng.normal(0.0, 12.0, size=img.shape).astype(np.float32)
    label = spleen.astype(np.uint8)
    if parts:
        organs = {"liver": liver, "kidney_left": kidney_l, "kidney_right": kidney_r, "stomach": stomach,
                  "spine": np.broadcast_to(spine, img.shape), "body": np.broadcast_to(body, img.shape),
                  "hu": {"spleen": spleen_hu, "liver": liver_hu, "kidney": kidney_hu}}
    return img.astype(np.float32), label, organs


def _lesion_pet(shape, spacing, rng, parts: bool):
    u, v, w = _grid(shape)
    fov = np.asarray(shape, dtype=np.float64) * np.asarray(spacing)
    suv = np.zeros(np.broadcast_shapes(u.shape, v.shape, w.shape), dtype=np.float32) + 0.05  # air
    trunk = ((u / 0.75) ** 2 + (v / 0.55) ** 2 <= 1.0) & (w < 0.62) & (w > -0.98)
    head = _ellipsoid(u, v, w, (0.0, 0.0, 0.82), (0.22, 0.26, 0.17)) <= 1.0
    neck = ((u / 0.14) ** 2 + (v / 0.14) ** 2 <= 1.0) & (w >= 0.55) & (w <= 0.72)
    body = trunk | head | neck
    background = rng.uniform(0.6, 1.0)
    suv = np.where(body, np.float32(background), suv)
    lungs = (_ellipsoid(u, v, w, (-0.32, 0.0, 0.36), (0.26, 0.36, 0.22)) <= 1.0) | (
        _ellipsoid(u, v, w, (0.32, 0.0, 0.36), (0.26, 0.36, 0.22)) <= 1.0)
    suv = np.where(lungs, np.float32(0.35), suv)
    organs_spec = {
        "brain": ((0.0, 0.0, 0.84), (0.17, 0.21, 0.12), rng.uniform(7.0, 11.0)),
        "heart": ((0.08, -0.12, 0.30), (0.15, 0.14, 0.09), rng.uniform(2.5, 8.0)),
        "liver": ((-0.30, 0.0, 0.08), (0.32, 0.36, 0.13), rng.uniform(2.0, 2.8)),
        "kidney_left": ((0.30, 0.25, -0.05), (0.08, 0.09, 0.08), rng.uniform(3.0, 6.0)),
        "kidney_right": ((-0.30, 0.25, -0.08), (0.08, 0.09, 0.08), rng.uniform(3.0, 6.0)),
        "bladder": ((0.0, -0.15, -0.86), (0.14, 0.12, 0.06), rng.uniform(12.0, 25.0)),
    }
    organ_masks = {}
    for name, (center, radii, value) in organs_spec.items():
        m = _ellipsoid(u, v, w, center, radii) <= 1.0
        suv = np.where(m, np.float32(value), suv)
        organ_masks[name] = m
    # lesions: in the trunk (lungs, liver, lymph-node areas), away from the hottest organs
    n_lesions = int(rng.integers(1, 7))
    label = np.zeros(suv.shape, dtype=np.uint8)
    contrasts, diameters = [], []
    hot = organ_masks["brain"] | organ_masks["bladder"] | organ_masks["heart"]
    candidates = np.argwhere(np.broadcast_to(trunk & ~hot, suv.shape))
    for i in range(n_lesions):
        diameter = float(rng.uniform(5.0, 40.0))
        # contrast relative to the surroundings, log-uniform from barely visible (x1.3) to very hot (x15);
        # the first lesion of every third seed is forced faint so the set always has hard cases
        contrast = float(np.exp(rng.uniform(np.log(1.3), np.log(15.0))))
        if i == 0 and rng.uniform() < 0.34:
            contrast = float(rng.uniform(1.3, 1.8))
        c = candidates[rng.integers(len(candidates))]
        center = [(c[k] / max(shape[k] - 1, 1)) * 2 - 1 for k in range(3)]
        radii = [diameter / 2.0 / fov[k] * 2.0 for k in range(3)]
        radii = [max(r, 0.6 * 2.0 / shape[k]) for k, r in enumerate(radii)]  # at least about one voxel
        m = _irregular(u, v, w, center, radii, rng, amplitude=0.25) <= 1.0
        if not m.any():
            m = np.zeros(suv.shape, dtype=bool)
            m[tuple(c)] = True
        local = float(np.median(suv[m]))
        suv = np.where(m, np.float32(max(local, background) * contrast), suv)
        label[m] = 1
        contrasts.append(contrast)
        diameters.append(diameter)
    # PET resolution (about 6 mm FWHM) and multiplicative noise
    sigma_vox = [2.5 / s for s in spacing]
    suv = gaussian_filter(suv, sigma=sigma_vox)
    suv = suv * (1.0 + rng.normal(0.0, 0.12, size=suv.shape).astype(np.float32))
    suv = np.clip(suv, 0.0, None).astype(np.float32)
    extra = {}
    if parts:
        extra = dict(organ_masks, lungs=lungs, body=np.broadcast_to(body, suv.shape), lesion_contrasts=contrasts,
                     lesion_diameters_mm=diameters, background_suv=background)
    return suv, label, extra


def phantom(kind: str, *, shape=(96, 96, 48), spacing=None, seed: int = 0, parts: bool = False):
    """A synthetic (image, label, spacing) case.

    Parameters
    ----------
    kind : ``"spleen_ct"`` or ``"lesion_pet"``
    shape : three ints (X, Y, Z), each >= 8
    spacing : three positive floats in mm, optional
        Defaults to the kind's field of view spread over ``shape`` (:func:`default_spacing`); giving one
        changes the field of view, not the anatomy's proportions.
    seed : int
        The same seed gives the same case; different seeds vary organ densities, the spleen's shape and
        the lesions' number, size, place and contrast.
    parts : bool
        Also return a dict of organ masks and the drawn parameters (for teaching and tests).

    Returns
    -------
    image : (X, Y, Z) float32 tensor, HU (``spleen_ct``) or SUV (``lesion_pet``)
    label : (X, Y, Z) uint8 tensor, 1 on the spleen / lesions
    spacing : tuple of three floats (mm)
    (parts : dict, when asked)
    """
    from .._checks import as_spacing, check_choice

    check_choice(kind, KINDS, "kind")
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be three ints, got {shape!r}") from None
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"shape must be three ints >= 8, got {shape!r}")
    spacing = default_spacing(kind, shape) if spacing is None else as_spacing(spacing)
    rng = np.random.default_rng(int(seed))
    make = _spleen_ct if kind == "spleen_ct" else _lesion_pet
    image, label, extra = make(shape, spacing, rng, parts)
    out = (torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(np.ascontiguousarray(label)), spacing)
    return out + (extra,) if parts else out
