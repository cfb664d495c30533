"""The registry of guidance signals: one record per encoding, from which everything else is derived.

``guidance.compute`` dispatches through it and checks a signal's options against it; the click loop asks it
whether a signal needs FastGeodis and whether it reads the order of the clicks; the benchmarks take each
signal's setting and baseline from it; the figures their colour, marker and line style; the book its lists.
A new encoding is one :class:`Signal` entry in :data:`REGISTRY` (and the module that computes it). Which
signals the paper's claims compare is not the registry's business: :data:`gtg_core.paper.PAPER_SIGNALS`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from .._checks import check_choice
from . import nninteractive, paper, reference

#: The readings a signal can have: the paper's definitions and the authors' code at 162e680 and at HEAD.
VARIANTS = ("paper", "reference_code", "reference_code_head")

#: Benchmark baselines (``gtg bench guidance``): what a user would otherwise run for the signal.
BASELINES = ("monai_guidance", "scipy_edt", "fastgeodis", "nninteractive_code")


@dataclass(frozen=True)
class Signal:
    """One encoding of clicks.

    name: the key (``compute(name, ...)``, ``TrainConfig.signal``, run names); title: how pages print it;
    source: where it is defined; compute: variant -> the function of checked inputs ``(name, image, clicks,
    host, sigma, theta, spacing, options)``; options: variant -> the option names it accepts; geodesic: the
    variants in which it calls FastGeodis; check: an extra check of ``(sigma, theta, n_clicks, options)`` or
    None; click_order: True if the map depends on the order of all clicks (``ages``, both channels);
    bench_setting: (sigma, theta) of the benchmarks; baseline: one of :data:`BASELINES`; colour, marker,
    linestyle: the figures' (matplotlib specs)."""

    name: str
    title: str
    source: str
    compute: dict
    options: dict
    colour: str
    marker: str
    linestyle: object
    baseline: str
    bench_setting: tuple
    geodesic: frozenset = frozenset()
    check: Callable | None = None
    click_order: bool = False

    def __post_init__(self):
        if self.baseline not in BASELINES:  # no silent default baseline (a bare FastGeodis call) for a new signal
            raise ValueError(f"signal {self.name!r}: baseline must be one of {BASELINES}, got {self.baseline!r}")
        if not set(self.compute) <= set(VARIANTS) or set(self.options) != set(self.compute):
            raise ValueError(f"signal {self.name!r}: compute and options must name the same variants of {VARIANTS}")

    @property
    def variants(self) -> tuple:
        return tuple(v for v in VARIANTS if v in self.compute)

    def needs_fastgeodis(self, variant: str) -> bool:
        return variant in self.geodesic


_reference_head = functools.partial(reference.compute_signal, head=True)
_ALL_READINGS = {"paper": paper.compute_signal, "reference_code": reference.compute_signal,
                 "reference_code_head": _reference_head}
_REFERENCES = ("reference_code", "reference_code_head")


def _paper_signal(name, title, source, colour, marker, linestyle, baseline, bench_setting, geodesic=(),
                  readings=VARIANTS):
    return Signal(name, title, source, compute={v: _ALL_READINGS[v] for v in readings},
                  options={"paper": frozenset(paper.OPTIONS[name]),
                           **{v: frozenset(reference.OPTIONS[name]) for v in readings if v in _REFERENCES}},
                  colour=colour, marker=marker, linestyle=linestyle, baseline=baseline,
                  bench_setting=bench_setting, geodesic=frozenset(geodesic))


REGISTRY = {s.name: s for s in (
    _paper_signal("disk", "disk", "paper Eq. 1", "C0", "o", "-", "monai_guidance", (1, 0)),
    _paper_signal("heatmap", "heatmap", "paper Eq. 2", "C1", "s", "--", "monai_guidance", (3, 0)),
    _paper_signal("edt", "EDT", "paper Eq. 3", "C2", "^", "-.", "scipy_edt", (1, 10), geodesic=_REFERENCES),
    _paper_signal("gdt", "GDT", "paper Eq. 4", "C3", "v", ":", "fastgeodis", (5, 10), geodesic=VARIANTS),
    _paper_signal("exp_gdt", "exp-GDT", "paper Eq. 5", "C4", "D", (0, (5, 1, 1, 1)), "fastgeodis", (5, 0),
                  geodesic=VARIANTS),
    _paper_signal("adaptive_heatmap", "adaptive heatmap", "paper Eq. 6", "C5", "P", "-", "fastgeodis", (5, 10),
                  geodesic=VARIANTS, readings=("paper", "reference_code")),
    Signal("nninteractive", "nnInteractive point", "nnInteractive point.py (154d9c6)",
           compute={"paper": nninteractive.compute_signal}, options={"paper": frozenset(nninteractive.OPTIONS)},
           colour="C6", marker="*", linestyle=(0, (3, 1)), baseline="nninteractive_code",
           bench_setting=(nninteractive.DEFAULT_RADIUS, 0), check=nninteractive.check_options, click_order=True),
)}

SIGNALS = tuple(REGISTRY)


def signal(name: str) -> Signal:
    """The record of ``name``; ValueError listing the signals for anything else."""
    return REGISTRY[check_choice(name, tuple(REGISTRY), "signal")]


def needs_fastgeodis(name: str, variant: str) -> bool:
    """True when ``name`` in ``variant`` calls FastGeodis (the paper's EDT is scipy's, the code's FastGeodis)."""
    return signal(name).needs_fastgeodis(variant)


def reads_click_order(name: str) -> bool:
    """True when the map of ``name`` depends on the order of the clicks of both channels (the ``ages`` option)."""
    return signal(name).click_order
