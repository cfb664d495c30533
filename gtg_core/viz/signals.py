"""Figures of the signals themselves: a heatmap's profile in every reading, Eq. 6's radius against its
constants, and Eq. 6 against the authors' lookup tables. They draw curves that :mod:`gtg_core.guidance`
computes."""

from __future__ import annotations

import numpy as np

#: Line styles that keep coinciding profiles visible (the paper's and HEAD's heatmaps are one curve).
PROFILE_STYLES = (("-", 4, None), ("--", 2, None), (":", 2, "o"), ("-.", 1.5, None))


def profiles_figure(offsets, profiles: dict, *, sigma: float):
    """Profiles along a line through one click (:func:`gtg_core.guidance.heatmap_profiles`): one line per
    entry of ``profiles``, in :data:`PROFILE_STYLES`, over +-4 ``sigma`` voxels. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for (name, values), (ls, lw, marker) in zip(profiles.items(), PROFILE_STYLES * len(profiles)):
        ax.plot(np.asarray(offsets), np.asarray(values), ls=ls, lw=lw, marker=marker, ms=3, label=name)
    ax.set(xlim=(-4 * sigma, 4 * sigma), xlabel="voxels from the click", ylabel="guidance")
    ax.legend(fontsize=8)
    return fig


def eq6_figure(a: float, b: float, a_values, b_values, *, x_max: float = 30.0):
    """Eq. 6's radius sigma(x) = floor(a exp(-b x)) (:func:`gtg_core.guidance.eq6_sigma`) against the mean
    GDT x around a click: left, ``a_values`` at ``b``; right, ``b_values`` at ``a``. Returns the figure."""
    import matplotlib.pyplot as plt

    from ..guidance import eq6_sigma

    x = np.linspace(0, x_max, 301)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for av in a_values:
        axes[0].plot(x, eq6_sigma(x, av, b), label=f"a={av:g}, b={b:g}")
    for bv in b_values:
        axes[1].plot(x, eq6_sigma(x, a, bv), label=f"a={a:g}, b={bv:g}")
    for ax in axes:
        ax.set(xlabel="mean GDT around the click, x", ylabel="sigma (voxels)")
        ax.legend()
    return fig


def eq6_lookup_figure(a: float, b: float, *, x_max: float = 0.06):
    """Eq. 6 at (``a``, ``b``) against the authors' lookup tables
    (:func:`gtg_core.guidance.reference_lookup_sigma`, one step line per table of
    :data:`~gtg_core.guidance.REFERENCE_ADAPTIVE_TABLES`) on the normalised GDT window's mean. Returns the
    figure."""
    import matplotlib.pyplot as plt

    from ..guidance import REFERENCE_ADAPTIVE_TABLES, eq6_sigma, reference_lookup_sigma

    x = np.linspace(0, x_max, 601)
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.plot(x, eq6_sigma(x, a, b), label="Eq. 6 (paper)")
    for name in REFERENCE_ADAPTIVE_TABLES:
        ax.step(x, reference_lookup_sigma(x, name), where="post", label=f"code lookup, {name}")
    ax.set(xlabel="mean of the normalised GDT window", ylabel="sigma (voxels)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return fig
