"""The six click guidance signals of the paper, as the paper defines them and as the authors' code computes them,
and nnInteractive's point encoding (2025) beside them.

One entry point, :func:`compute`, and a registry (:data:`SIGNALS`, :data:`VARIANTS`)::

    g = compute("heatmap", image, clicks, sigma=5)                       # paper, Eq. 2
    g = compute("gdt", image, clicks, sigma=5, theta=10, spacing=(0.8, 0.8, 5.0))
    g = compute("heatmap", image, clicks, sigma=5, variant="reference_code")

The readings live in rooms of their own, one per thing the book teaches:

- :mod:`.paper`: the paper's definitions (Eq. 1-6), variant ``"paper"``;
- :mod:`.reference`: the authors' code at 162e680 (``"reference_code"``, the paper's experiments) and at
  HEAD 51cf4a4 (``"reference_code_head"``: the heatmap no longer squared, no adaptive radius);
- :mod:`.adaptive`: the adaptive heatmap's radii, Eq. 6 beside the authors' lookup table;
- :mod:`.learned`: Eq. 6 with a and b learned with the network (the paper's footnote 1);
- :mod:`.nninteractive`: nnInteractive's point encoding, a seventh signal (not one of the paper's);
- :mod:`.registry`: one record per signal, from which the checks, benchmarks and figures are derived.

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
from . import nninteractive, paper, reference, registry
from .reference import reference_adaptive_sigmas
from ._common import percentile
from .adaptive import (ADAPTIVE_A, ADAPTIVE_B, REFERENCE_ADAPTIVE_TABLES, UniformRadiiWarning,
                       adaptive_means, adaptive_sigmas, adaptive_table_for_profile, eq6_sigma,
                       reference_adaptive_sigmas_from_map, reference_lookup_sigma)
from .learned import LearnedRadius, radii_by_reading
from .registry import REGISTRY, VARIANTS, Signal

#: The signals of the registry (:mod:`.registry`): the paper's six, then nnInteractive's point encoding.
SIGNALS = registry.SIGNALS
REFERENCE_VARIANTS = ("reference_code", "reference_code_head")
#: The signals that call FastGeodis in the paper variant (the reference code's EDT does too:
#: :func:`needs_fastgeodis` answers for any variant).
GEODESIC_SIGNALS = tuple(s for s in SIGNALS if registry.needs_fastgeodis(s, "paper"))
needs_fastgeodis = registry.needs_fastgeodis
reads_click_order = registry.reads_click_order

#: Default FastGeodis options per variant: the paper variant uses FastGeodis' own default of 2 raster
#: iterations; the authors' code passed 4. lamb = 1 (purely intensity-based) in both, as the authors ran it.
GEODESIC_DEFAULTS = {"paper": paper.GEODESIC_DEFAULTS, "reference_code": reference.GEODESIC_DEFAULTS,
                     "reference_code_head": reference.GEODESIC_DEFAULTS}

__all__ = ["ADAPTIVE_A", "ADAPTIVE_B", "GEODESIC_DEFAULTS", "GEODESIC_SIGNALS", "LearnedRadius",
           "REFERENCE_ADAPTIVE_TABLES", "REFERENCE_VARIANTS", "REGISTRY", "SIGNALS", "Signal", "UniformRadiiWarning",
           "VARIANTS", "adaptive_means", "adaptive_sigmas", "adaptive_table_for_profile", "check_setting",
           "check_signal_variant", "compute", "eq6_sigma", "heatmap_profiles", "needs_fastgeodis", "percentile",
           "radii_by_reading", "reads_click_order", "reference_adaptive_sigmas", "reference_adaptive_sigmas_from_map",
           "reference_lookup_sigma", "support_percent"]

def check_signal_variant(name: str, variant: str) -> None:
    """ValueError naming the argument when ``name`` is no signal, ``variant`` no variant, or the variant has
    no such signal (the authors' HEAD has no adaptive heatmap). What :func:`compute` and a training
    configuration's check (at plan time) both ask."""
    record = registry.signal(name)
    check_choice(variant, VARIANTS, "variant")
    if variant == "reference_code_head" and name == "adaptive_heatmap":
        raise ValueError("variant: the authors' HEAD (51cf4a4) has no adaptive heatmap (it was deleted on "
                         "2023-03-30); use variant='reference_code' (162e680) or 'paper'")
    if variant not in record.compute:
        raise ValueError(f"variant: {name} has one reading, as {record.source} defines it: "
                         f"variant {record.variants[0]!r}, not {variant!r}")


def check_setting(name: str, variant: str, sigma, theta, options: dict) -> None:
    """The checks of :func:`check_signal_variant` and the signal's own rules for its sigma, theta and options
    (its registry record's ``check``, e.g. nnInteractive's integer radius), without clicks: what a training
    configuration asks at plan time. ValueError naming the argument."""
    check_signal_variant(name, variant)
    given = {k: v for k, v in options.items() if k != "radius"}  # a learned radius comes from the model
    _check_record_options(name, variant, float(sigma), float(theta), None, given)


def _check_record_options(name, variant, sigma, theta, n_clicks, options) -> None:
    """The options the signal's registry record accepts in ``variant``, and its own check (``n_clicks`` None:
    without clicks, at plan time). ValueError naming the option."""
    record = registry.REGISTRY[name]
    accepted = record.options[variant]
    unknown = set(options) - accepted
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for signal {name!r} ({variant}); "
                         f"accepted: {sorted(accepted) or 'none'}")
    if record.check is not None:
        record.check(sigma, theta, n_clicks, options)


def compute(name: str, image, clicks, *, sigma: float, theta: float = 0.0, spacing=(1.0, 1.0, 1.0),
            variant: str = "paper", **options) -> torch.Tensor:
    """Guidance map of one channel's clicks.

    Parameters
    ----------
    name : str
        One of :data:`SIGNALS` (the registry, :mod:`.registry`).
    image : (X, Y, Z) tensor or numpy array
        The volume. Only the geodesic signals read its values (and need them finite).
    clicks : (N, 3) integer tensor
        Voxel indices inside the volume; N = 0 gives zeros.
    sigma : float >= 0
        Radius in voxels (H1): disk radius, heatmap standard deviation, or the seed ball of the distances.
        Ignored by the paper's ``adaptive_heatmap``; ``nninteractive``'s ball radius (an integer >= 1).
    theta : float in [0, 100)
        Percent of the largest distances discarded (H2); used by ``edt``, ``gdt`` and the reference-code
        ``adaptive_heatmap``; also by the paper's ``exp_gdt`` (H2 names Eq. 3-5), 0 only for the reference
        ``exp_gdt`` (the code forced it to 0).
    spacing : three positive floats
        Voxel size in mm (X, Y, Z).
    variant : ``"paper"``, ``"reference_code"`` (162e680) or ``"reference_code_head"`` (HEAD)
        The paper's definitions or the authors' code's behaviour (:mod:`.paper`, :mod:`.reference`).
        ``nninteractive`` has one reading, as its released code builds it: ``"paper"`` (:mod:`.nninteractive`).
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
        ``nninteractive``: ``decay`` (default 0.98) and ``ages``, each click's number of later interactions.

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
    _check_record_options(name, variant, sigma, theta, len(clicks), options)
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
    record = registry.REGISTRY[name]
    if record.needs_fastgeodis(variant):
        distance._fastgeodis()  # ImportError with the install recipe, even for an empty click set
        if not host:
            check_finite(image)  # with clicks, geodesic_distance checks (once, on the device)
    if not host:
        return torch.zeros(tuple(image.shape), device=image.device)
    return record.compute[variant](name, image, clicks, host, sigma, theta, spacing, options)


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
