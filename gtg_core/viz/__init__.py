"""Slice viewers that work without a kernel, and the book's figures.

Rooms: :mod:`~gtg_core.viz.viewer` (the kernel-free slice viewer; it needs nothing of gtg_core),
:mod:`~gtg_core.viz.live` (its kernel-backed version, ``viewer.live(...)``), :mod:`~gtg_core.viz.figures`
(generic figures, the page's text sizes and each signal's colour and style), :mod:`~gtg_core.viz.signals`
(a heatmap's profile, Eq. 6's curves), :mod:`~gtg_core.viz.tables` (decision tables that read on a phone),
:mod:`~gtg_core.viz.study_figures`
(Fig. 1 b-e, Fig. 2, Dice per click) and :mod:`~gtg_core.viz.evidence` (P(improvement), rank blobs, power,
the figures past the paper). Figures take computed values and intervals and draw them (as rliable's
``plot_utils`` takes what its ``library`` computed): the statistics are :mod:`gtg_core.study.stats`' and
:mod:`gtg_core.paper`'s.
"""

from __future__ import annotations

from .evidence import (USER_MARKERS, improvement_figure, learned_constants_figure, power_figure, rank_blobs,
                       length_evidence_figure, seed_rankings_figure, training_length_figure,
                       user_interval_figure)
from .figures import (MAX_PANELS_PER_ROW, PAGE_TEXT, PAGE_WIDTH_IN, SIGNAL_COLOURS, SIGNAL_STYLES, dice_per_click,
                      learning_curves, show_panels, training_loop_figure)
from .signals import PROFILE_STYLES, eq6_figure, eq6_lookup_figure, profiles_figure
from .study_figures import METRIC_LABELS, dice_curve_figure, hyperparameter_figure, spider_plot
from .tables import DECISION_CLASS, DecisionTable, decision_table
from .viewer import (COLOURS, DEFAULT_BUDGET_BYTES, MARKERS, MEANING_COLOURS, SliceViewer, overlay_colours,
                     slice_viewer)

__all__ = ["COLOURS", "DECISION_CLASS", "DEFAULT_BUDGET_BYTES", "DecisionTable", "decision_table", "MARKERS", "MAX_PANELS_PER_ROW", "MEANING_COLOURS", "METRIC_LABELS",
           "PAGE_TEXT", "PAGE_WIDTH_IN", "PROFILE_STYLES", "SIGNAL_COLOURS", "SIGNAL_STYLES", "USER_MARKERS", "SliceViewer",
           "dice_curve_figure", "dice_per_click", "eq6_figure", "eq6_lookup_figure", "hyperparameter_figure", "improvement_figure",
           "learned_constants_figure", "learning_curves", "overlay_colours", "power_figure", "profiles_figure", "rank_blobs",
           "length_evidence_figure", "seed_rankings_figure", "show_panels", "training_length_figure", "slice_viewer", "spider_plot", "training_loop_figure", "user_interval_figure"]
