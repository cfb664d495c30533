"""The six click guidance signals of the paper, as the paper defines them and as the authors' code computes them.

One entry point, :func:`compute`, and a registry (:data:`SIGNALS`, :data:`VARIANTS`)::

    g = compute("heatmap", image, clicks, sigma=5)                       # paper, Eq. 2
    g = compute("gdt", image, clicks, sigma=5, theta=10, spacing=(0.8, 0.8, 5.0))
    g = compute("heatmap", image, clicks, sigma=5, variant="reference_code")

The readings live in rooms of their own, one per thing the book teaches:

- :mod:`.paper`: the paper's definitions (Eq. 1-6), variant ``"paper"``;
- :mod:`.reference`: the authors' code at 162e680 (``"reference_code"``, the paper's experiments) and at
  HEAD 51cf4a4 (``"reference_code_head"``: the heatmap no longer squared, no adaptive radius);
- :mod:`.adaptive`: the adaptive heatmap's radii, Eq. 6 beside the authors' lookup table;
- :mod:`.learned`: Eq. 6 with a and b learned with the network (the paper's footnote 1).

Conventions (shared by every signal; stated once here)
------------------------------------------------------
- ``image``: 3-D tensor (X, Y, Z), slice axis last, numpy accepted (goes to the CPU). The result is a
  float32 tensor of the same shape in [0, 1] on the image's device.
- ``clicks``: (N, 3) integer voxel indices in the same order, one guidance channel's clicks (the caller
  computes foreground and background channels separately). N = 0 gives zeros. The click coordinates are
  read to the host once per call (N x 3 integers) to validate them and to address the small boxes that
  disks and heatmaps write; the volume itself never leaves its device.
- ``sigma`` is in voxels (H1); ``spacing`` is the voxel size in mm and only enters the distances.
- ``theta`` is a percentage (H2). The paper's H2 text applies it to Eq. 3-5, so the paper's ``exp_gdt``
  discards the top theta % of its values like the distances; the authors' code forced theta to 0 for
  exp-GDT, so the reference variants accept theta = 0 only there (no silently ignored argument).
"""

from __future__ import annotations

import torch

from .. import distance
from .._checks import as_clicks, as_spacing, as_volume, check_choice, check_finite, check_sigma, check_theta
from . import paper, reference
from ._common import percentile
from .adaptive import (ADAPTIVE_A, ADAPTIVE_B, REFERENCE_ADAPTIVE_TABLES, UniformRadiiWarning,
                       adaptive_means, adaptive_sigmas, adaptive_table_for_profile, eq6_sigma,
                       reference_adaptive_sigmas_from_map, reference_lookup_sigma)
from .learned import LearnedRadius, radii_by_reading

SIGNALS = ("disk", "heatmap", "edt", "gdt", "exp_gdt", "adaptive_heatmap")
VARIANTS = ("paper", "reference_code", "reference_code_head")
REFERENCE_VARIANTS = ("reference_code", "reference_code_head")
GEODESIC_SIGNALS = ("gdt", "exp_gdt", "adaptive_heatmap")

#: Default FastGeodis options per variant: the paper variant uses FastGeodis' own default of 2 raster
#: iterations; the authors' code passed 4. lamb = 1 (purely intensity-based) in both, as the authors ran it.
GEODESIC_DEFAULTS = {"paper": paper.GEODESIC_DEFAULTS, "reference_code": reference.GEODESIC_DEFAULTS,
                     "reference_code_head": reference.GEODESIC_DEFAULTS}

_OPTIONS = {"paper": paper.OPTIONS, "reference_code": reference.OPTIONS,
            "reference_code_head": reference.OPTIONS_HEAD}

__all__ = ["ADAPTIVE_A", "ADAPTIVE_B", "GEODESIC_DEFAULTS", "GEODESIC_SIGNALS", "LearnedRadius", "PAPER_SETTINGS",
           "REFERENCE_ADAPTIVE_TABLES", "REFERENCE_VARIANTS", "SIGNALS", "UniformRadiiWarning", "VARIANTS",
           "adaptive_means", "check_signal_variant", "adaptive_sigmas", "adaptive_table_for_profile", "compute", "eq6_sigma", "percentile",
           "heatmap_profiles", "radii_by_reading", "reference_adaptive_sigmas_from_map", "reference_lookup_sigma", "support_percent"]

#: Optimal settings per dataset and signal: the paper's Table 3, and the authors' run scripts where they
#: differ. sigma in voxels, theta in percent, p the probability of interaction (H4).
PAPER_SETTINGS = {
    "msd_spleen": {
        "table3": {
            "disk": {"sigma": 1, "theta": None, "adaptor": "concat", "p": 0.75},
            "heatmap": {"sigma": 1, "theta": None, "adaptor": "concat", "p": 0.75},
            "edt": {"sigma": 1, "theta": 10, "adaptor": "concat", "p": 0.75},
            "gdt": {"sigma": 5, "theta": 10, "adaptor": "concat", "p": 0.75},
            "exp_gdt": {"sigma": 5, "theta": None, "adaptor": "concat", "p": 0.75},
            "adaptive_heatmap": {"sigma": "adaptive", "theta": None, "adaptor": "concat", "p": 0.75},
            "non_interactive": {"sigma": None, "theta": None, "adaptor": "concat", "p": 0.0},
        },
        "scripts": {
            "disk": {"sigma": 1}, "heatmap": {"sigma": 1}, "exp_gdt": {"sigma": 5},
            "edt": {"sigma": 1, "theta": 10}, "gdt": {"sigma": 5, "theta": 30},
        },
        "dice_table3": {"non_interactive": 94.9, "disk": 95.9, "heatmap": 95.8, "edt": 95.8, "gdt": 95.2,
                        "exp_gdt": 95.2, "adaptive_heatmap": 96.9},
        "spacing": (1.586, 1.586, 5.0),
    },
    "autopet": {
        "table3": {
            "disk": {"sigma": 0, "theta": None, "adaptor": "concat", "p": 1.0},
            "heatmap": {"sigma": 0, "theta": None, "adaptor": "concat", "p": 1.0},
            "edt": {"sigma": 1, "theta": 10, "adaptor": "concat", "p": 1.0},
            "gdt": {"sigma": 5, "theta": 10, "adaptor": "concat", "p": 1.0},
            "exp_gdt": {"sigma": 5, "theta": None, "adaptor": "concat", "p": 1.0},
            "adaptive_heatmap": {"sigma": "adaptive", "theta": None, "adaptor": "concat", "p": 1.0},
            "non_interactive": {"sigma": None, "theta": None, "adaptor": "concat", "p": 0.0},
        },
        "scripts": {
            "disk": {"sigma": 0}, "heatmap": {"sigma": 0}, "exp_gdt": {"sigma": 5},
            "edt": {"sigma": 1, "theta": 50}, "gdt": {"sigma": 5, "theta": 10},
        },
        "dice_table3": {"non_interactive": 64.9, "disk": 78.2, "heatmap": 78.2, "edt": 75.2, "gdt": 74.5,
                        "exp_gdt": 73.2, "adaptive_heatmap": 79.9},
        "spacing": (2.036, 2.036, 3.0),
    },
}


def check_signal_variant(name: str, variant: str) -> None:
    """ValueError naming the argument when ``name`` is no signal, ``variant`` no variant, or the variant has
    no such signal (the authors' HEAD has no adaptive heatmap). What :func:`compute` and a training
    configuration's check (at plan time) both ask."""
    check_choice(name, SIGNALS, "signal")
    check_choice(variant, VARIANTS, "variant")
    if variant == "reference_code_head" and name == "adaptive_heatmap":
        raise ValueError("variant: the authors' HEAD (51cf4a4) has no adaptive heatmap (it was deleted on "
                         "2023-03-30); use variant='reference_code' (162e680) or 'paper'")


def compute(name: str, image, clicks, *, sigma: float, theta: float = 0.0, spacing=(1.0, 1.0, 1.0),
            variant: str = "paper", **options) -> torch.Tensor:
    """Guidance map of one channel's clicks.

    Parameters
    ----------
    name : str
        One of :data:`SIGNALS`.
    image : (X, Y, Z) tensor or numpy array
        The volume. Only the geodesic signals read its values (and need them finite).
    clicks : (N, 3) integer tensor
        Voxel indices inside the volume; N = 0 gives zeros.
    sigma : float >= 0
        Radius in voxels (H1): disk radius, heatmap standard deviation, or the seed ball of the distances.
        Ignored by the paper's ``adaptive_heatmap``.
    theta : float in [0, 100)
        Percent of the largest distances discarded (H2); used by ``edt``, ``gdt`` and the reference-code
        ``adaptive_heatmap``; also by the paper's ``exp_gdt`` (H2 names Eq. 3-5), 0 only for the reference
        ``exp_gdt`` (the code forced it to 0).
    spacing : three positive floats
        Voxel size in mm (X, Y, Z).
    variant : ``"paper"``, ``"reference_code"`` (162e680) or ``"reference_code_head"`` (HEAD)
        The paper's definitions or the authors' code's behaviour (:mod:`.paper`, :mod:`.reference`).
    **options
        Geodesic signals: ``lamb`` (FastGeodis' lambda in [0, 1], default 1.0) and ``iterations`` (raster
        passes; default 2 for the paper variant, 4 for the reference code, see :data:`GEODESIC_DEFAULTS`).
        Paper ``adaptive_heatmap``: ``a``, ``b`` (Eq. 6) and ``intensity_scale`` (:mod:`.adaptive`), or
        ``radius``, a :class:`~.learned.LearnedRadius` whose trainable a and b replace them (no floor; the
        map is differentiable in a and b, :mod:`.learned`).
        Reference ``adaptive_heatmap``: ``dataset`` (``"autopet"`` or ``"msd_spleen"``, the lookup table)
        and ``channel`` (``"foreground"`` or ``"background"``; background clicks get sigma 1). The reference
        ``edt`` always uses lamb 0. Reference geodesic signals: ``geodesic_image``, a (C, X, Y, Z) tensor on
        the image's device that FastGeodis reads instead of the image (the authors' in-loop behaviour).

    Returns
    -------
    (X, Y, Z) float32 tensor in [0, 1] on the image's device.

    Raises
    ------
    ValueError naming the argument for bad input; ImportError with install instructions when a geodesic
    signal is asked for without FastGeodis.
    """
    check_signal_variant(name, variant)
    image = as_volume(image)
    clicks, host = as_clicks(clicks, image.shape, image.device)
    sigma = check_sigma(sigma)
    theta = check_theta(theta)
    if name == "exp_gdt" and theta != 0 and variant != "paper":
        raise ValueError(f"theta must be 0 for the {variant} exp_gdt (got {theta!r}): the authors' code forced it "
                         "to 0; the paper variant applies it as H2 says")
    spacing = as_spacing(spacing)
    unknown = set(options) - _OPTIONS[variant][name]
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for signal {name!r} ({variant}); "
                         f"accepted: {sorted(_OPTIONS[variant][name]) or 'none'}")
    if "channel" in options:
        check_choice(options["channel"], ("foreground", "background"), "channel")
    if "dataset" in options:
        check_choice(options["dataset"], tuple(REFERENCE_ADAPTIVE_TABLES), "dataset")
    if options.get("radius") is not None:
        if not isinstance(options["radius"], LearnedRadius):
            raise ValueError(f"radius must be a LearnedRadius, got {type(options['radius']).__name__}")
        if "a" in options or "b" in options:
            raise ValueError("give radius (learned a and b) or the constants a and b, not both")
    if "lamb" in options and not 0.0 <= float(options["lamb"]) <= 1.0:
        raise ValueError(f"lamb must be in [0, 1], got {options['lamb']!r}")
    if "iterations" in options and (int(options["iterations"]) != options["iterations"] or options["iterations"] < 1):
        raise ValueError(f"iterations must be a positive integer, got {options['iterations']!r}")
    if options.get("geodesic_image") is not None:
        g = options["geodesic_image"]
        if (not isinstance(g, torch.Tensor) or g.ndim != 4 or tuple(g.shape[1:]) != tuple(image.shape)
                or g.device != image.device):
            raise ValueError(f"geodesic_image must be a (C, X, Y, Z) tensor on {image.device} with (X, Y, Z) = "
                             f"{tuple(image.shape)}, got {getattr(g, 'shape', type(g).__name__)}")
    needs_geodesic = name in GEODESIC_SIGNALS or (variant in REFERENCE_VARIANTS and name == "edt")
    if needs_geodesic:
        distance._fastgeodis()  # ImportError with the install recipe, even for an empty click set
        if not host:
            check_finite(image)  # with clicks, geodesic_distance checks (once, on the device)
    if not host:
        return torch.zeros(tuple(image.shape), device=image.device)
    if variant == "paper":
        return paper.compute_signal(name, image, clicks, host, sigma, theta, spacing, options)
    return reference.compute_signal(name, image, clicks, host, sigma, theta, spacing, options,
                                    head=variant == "reference_code_head")


def support_percent(guidance_map) -> float:
    """The share of the volume, in percent, where a guidance map is non-zero: what a theta keeps (H2) and the
    support M5 measures. ``guidance_map``: any tensor, on any device."""
    return 100.0 * float((torch.as_tensor(guidance_map) > 0).float().mean())


def heatmap_profiles(image, click, *, sigma: float, spacing=(1.0, 1.0, 1.0)):
    """The heatmap of one click along the line through it (X, at the click's Y and Z) in every variant of
    :data:`VARIANTS`, and Eq. 2 as printed, exp(-|r| / (2 sigma^2)), which is no Gaussian (the paper's typo:
    no square). ``image``: (X, Y, Z); ``click``: one (x, y, z) voxel (a (3,) or (1, 3) tensor or a
    sequence); ``sigma`` in voxels. Returns ``(offsets, profiles)``: the voxels from the click along X (an
    int64 CPU tensor) and name -> the profile (a float CPU tensor), in the order variants, then the
    printed formula."""
    image = as_volume(image)
    point = torch.as_tensor(click, dtype=torch.int64).reshape(-1, 3)
    if point.shape[0] != 1:
        raise ValueError(f"click must be one (x, y, z) voxel, got {tuple(point.shape[:-1])} clicks")
    x, y, z = point[0].tolist()
    sigma = float(check_sigma(sigma))
    profiles = {variant: compute("heatmap", image, point.to(image.device), sigma=sigma, spacing=spacing,
                                 variant=variant)[:, y, z].cpu()
                for variant in VARIANTS}
    offsets = torch.arange(image.shape[0]) - x
    profiles["Eq. 2 as printed"] = torch.exp(-offsets.abs() / (2 * sigma ** 2))
    return offsets, profiles
