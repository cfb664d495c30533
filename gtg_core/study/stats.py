"""Evidence, not only numbers: intervals, P(improvement), families of verdicts, rank stability and power for
a study's runs.

Every signal of a study is evaluated on the same volumes with the same seeds' clicks, so settings are
compared **paired**. A setting's runs (one per seed) give a matrix of per-volume values (seeds x volumes) for
each metric (:func:`per_volume`, from traces.csv). Seeds and volumes are *crossed* (every run is scored on
every volume), and the bootstrap (:func:`bootstrap`) is the two-way ("pigeonhole", Owen 2007) bootstrap of
crossed data: each draw takes seed indices and volume indices independently, one volume draw shared by every
setting and one seed draw shared by settings with the same seeds, and applies both to every setting. It is
not the nested (hierarchical) bootstrap of Saravanan et al. (2020), which resamples volumes within each drawn
seed, nor rliable's stratified bootstrap (Agarwal et al., NeurIPS 2021), which resamples runs within fixed
tasks; challengeR (Wiesenfarth et al., Sci Rep 2021) resamples cases only. ``scipy.stats.bootstrap``
resamples one level of independent observations, so the draw is done here with numpy (vectorised over the
draws) and the percentile interval read from it.

**What decides.** The bootstrap *describes* (a setting's interval, P(improvement), rank stability): with 4
seeds it treats the observed seeds as the population (the plug-in variance, the normal quantile), and under
no true difference, Holm over table3-test's 15 pairs declared one in 17-37 % of simulated studies. Every
verdict is decided by :mod:`~gtg_core.study.seedtest`: a t test with the seed as the unit of seed-level
noise (seeds and volumes crossed, on the seeds' k - 1 degrees of freedom), Holm within a named family; a
one-seed setting is "not assessable". ``tests/test_seedtest.py`` simulates the procedure under the null at
the designs the book runs (family-wise error, coverage, power).

- :func:`interval`: a setting's estimate and 95 % interval for any metric that is a mean over volumes (M1,
  M2, M4 as improved / N transitions per volume, M5, NoC, AUC, M3's step time, NSD and its AUC).
- :func:`compare`: the interval of a difference between two settings, and P(A > B) (:func:`p_improvement`:
  rliable's probability of improvement, paired by seed where the seeds are shared).
- :func:`pair_test`, :func:`linear_test`, :func:`margin_test`: seed-honest tests of a difference, a contrast,
  a claim's margin (:mod:`~gtg_core.study.seedtest`).
- :func:`decide_family`, :func:`pairwise`: a family of those tests decided together with Holm's step-down
  adjustment (:func:`holm`), each interval also shown at Holm's level, and an equivalence verdict.
- :func:`improvement_matrix`, :func:`rank_distribution`: every pair, and each setting's rank over draws.
- :func:`decide`: the verdict a bootstrap interval alone would give (a description; families decide).
- :func:`compare_cells`: whether a gap between two settings, and the order of all of them, changes between
  two cells (users, training), decided with Holm over the pairs.
- :func:`paired_components`, :func:`detectable_difference`, :func:`paired_seeds_needed`,
  :func:`paired_power_table`: power under the paired design we run; :func:`variance_components` /
  :func:`seeds_needed` keep the unpaired (independent seeds) formula for comparison.

Rooms: :mod:`~gtg_core.study.bootstrap` (the per-volume tables, the draws, a setting's interval, a
difference, ranks), :mod:`~gtg_core.study.seedtest` (the tests that decide), :mod:`~gtg_core.study.families`
(Holm, equivalence, pairs, interactions between cells) and :mod:`~gtg_core.study.power` (the paired and the
unpaired power analysis).
This module is their face: import the names from here.
"""

from __future__ import annotations

# the per-volume metrics are gtg_core.metrics' (one definition); re-exported for the pages that read them here
from ..metrics import OPTIONAL_METRICS, VOLUME_METRICS, volume_table  # noqa: F401
from .bootstrap import (DEFAULT_DRAWS, FAILS, HOLDS, INCONCLUSIVE, LOWER_IS_BETTER, SETTING_KEYS, Setting,  # noqa: F401
                        percentiles, bootstrap, compare, decide, improvement_matrix, interval,
                        kendall_tau, margin_samples, p_improvement, per_volume, rank_distribution, settings_from,
                        trace_runs, volume_settings, within_volume)
from .families import (EQUIVALENT, bootstrap_p, compare_cells, decide_family, holm, holm_levels,  # noqa: F401
                       pairwise)
from .seedtest import (NOT_ASSESSABLE, SeedTest, crossed_se_df, grid_test, linear_test, margin_test,  # noqa: F401
                       margin_weights, pair_test, sign_flip_floor)
from .power import (detectable_difference, difference_se, paired_components, paired_difference_se,  # noqa: F401
                    pair_seed_x, paired_power_table, paired_seeds_needed, power_facts, power_table, seeds_needed,
                    variance_components)
