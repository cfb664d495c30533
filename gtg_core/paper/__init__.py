"""The paper's own numbers and claims as data, and each claim as a test on a results table.

- :data:`TABLE1`: the hyperparameter grid (H1-H4).
- :data:`TABLE3`: the optimal settings and Dice per dataset (from :data:`PAPER_SETTINGS`, the paper's Table 3
  and the authors' run scripts).
- :data:`CLAIMS`: the findings of section 3 and the conclusion, each a function of a results table as
  :func:`gtg_core.study.collect` writes it (one row per run: config fields, M1-M5, ``status``) that answers
  ``"holds"``, ``"does not hold"``, ``"inconclusive"`` or ``"not measured"``, with the numbers behind the
  answer (:func:`check_claims`). Runs that share a setting and differ only in ``seed`` are averaged first.
  Each claim is a *margin* (> 0 where it holds); with the study's traces its 95 % interval under the paired
  two-stage bootstrap of :mod:`gtg_core.study.stats` decides: above zero holds, below does not hold,
  across zero inconclusive.
- :data:`DIVERGENCES`: where the paper's text, the authors' code (162e680 and HEAD) and gtg_core differ,
  and the option that reproduces each reading.

Metric names follow gtg_core's Table 2 numbering (M1 final Dice, M2 initial Dice, M3 efficiency, M4
consistent improvement, M5 ground-truth overlap); section 3.2 of the paper swaps M3-M5.

Rooms: :mod:`~gtg_core.paper.numbers` (the paper's tables and groups), :mod:`~gtg_core.paper.verdicts` (a
claim's verdict, its margin and interval, the family and Holm), :mod:`~gtg_core.paper.claims` (the claims and
:func:`check_claims`), :mod:`~gtg_core.paper.speed` (the M3 claims, from a benchmark),
:mod:`~gtg_core.paper.table3` (Table 3 and Fig. 2 on our runs), :mod:`~gtg_core.paper.fig1` (what Fig. 1
b-e's panels show). What a results table means (settings, their
means, each signal's best setting) is :mod:`gtg_core.study.settings`'. The names below are the package's
public ones; every name the notebooks, tests and studies used before the split still works.
"""

from __future__ import annotations

from ..study.settings import TIME_METRICS, m3_device, seed_spread
# the verdict words and the fields that name a setting: one definition, in the statistics
from ..study.stats import FAILS, HOLDS, INCONCLUSIVE, NOT_ASSESSABLE, SETTING_KEYS
from .claims import (ADAPTIVE_METRICS, CLAIMS, check_claims, claim_adaptive_best, claim_adaptive_over_non_interactive,
                     claim_concat, claim_disks_heatmaps_most_consistent, claim_geodesic_least_consistent,
                     claim_geodesic_lower_initial, claim_high_p, claim_m4_m5_same_order, claim_overlap_geodesic_lowest,
                     claim_p50_below_baseline, claim_small_sigma, claim_theta_10, claims_table, with_heldout)
from .fig1 import hyperparameter_panels
from .numbers import (DIVERGENCES, GEODESIC, METRIC_UNITS, PAPER_SETTINGS, PAPER_SIGNALS, SIGNAL_ORDER,
                      SPIDER_METRICS, STUDIED, TABLE1, TABLE3)
from .speed import M3_NOT_DECIDED, adaptive_cost_claim, claim_disks_fastest, speed_claim
from .table3 import (EQUIVALENCE_MARGIN, baseline_clicks_effect, best_setting_intervals, best_setting_metrics,
                     rank_stability, ranking_comparison, table3_comparison, table3_pairs, table3_summary)
from .verdicts import CLAIMS_FAMILY, NOT_MEASURED, Evidence, Verdict, decide_claims

__all__ = ["ADAPTIVE_METRICS", "CLAIMS", "CLAIMS_FAMILY", "DIVERGENCES", "EQUIVALENCE_MARGIN", "FAILS", "GEODESIC",
           "HOLDS", "INCONCLUSIVE", "M3_NOT_DECIDED", "NOT_ASSESSABLE",
           "METRIC_UNITS", "NOT_MEASURED", "PAPER_SETTINGS", "PAPER_SIGNALS", "SETTING_KEYS", "SIGNAL_ORDER",
           "SPIDER_METRICS", "STUDIED", "TABLE1", "TABLE3", "TIME_METRICS", "Evidence", "Verdict",
           "adaptive_cost_claim", "baseline_clicks_effect", "best_setting_intervals", "best_setting_metrics",
           "check_claims", "claim_adaptive_best", "claim_adaptive_over_non_interactive",
           "claim_concat", "claim_disks_fastest", "claim_disks_heatmaps_most_consistent",
           "claim_geodesic_least_consistent", "claim_geodesic_lower_initial", "claim_high_p", "claim_m4_m5_same_order",
           "claim_overlap_geodesic_lowest", "claim_p50_below_baseline", "claim_small_sigma", "with_heldout",
           "claim_theta_10", "claims_table", "decide_claims", "hyperparameter_panels", "m3_device",
           "rank_stability", "ranking_comparison", "seed_spread", "speed_claim", "table3_comparison",
           "table3_pairs", "table3_summary"]
