"""The tests that decide: the seed is the unit of seed-level noise (issue #32).

A study's settings are scored on the same volumes with the same seeds, so a comparison of settings is a
*linear contrast* of their (seeds x volumes) matrices: a k x n grid ``d[s, v]`` (A - B for a pair; the
weighted sum of a claim's settings for a margin, :func:`margin_test`). Its mean estimates the contrast, and
seeds and volumes are crossed random factors: ``d[s, v] = mu + a[s] + b[v] + e[s, v]``, with ``a`` the
setting x seed term (a contrast's seed-to-seed spread: another training run of the same settings moves it),
``b`` the setting x volume term and ``e`` the rest. For a balanced grid the moments are exact (REML equals
them; Searle, Casella and McCulloch 1992, ch. 4):

    MS_S = n * var(row means),  MS_V = k * var(column means),  MS_E = the two-way residual mean square,
    Var(mean) = sigma_a^2 / k + sigma_b^2 / n + sigma_e^2 / (k n)   estimated by   (MS_S + MS_V - MS_E) / (k n)

on the seeds' k - 1 degrees of freedom (Satterthwaite's df for the combination grows when MS_S is small by
chance and gave a family-wise error of 15 % at table3-test's design). Where ``MS_V < MS_E`` (no volume term
to see) the estimate is ``MS_S / (k n)``: exactly the paired t over the k per-seed mean differences. Either
way the seed-level variance is estimated from the k seeds and gets k - 1 degrees of freedom, which is what the two-way bootstrap did not do: with 4 seeds it used the
plug-in variance and the normal quantile, and its family-wise error under Holm over 15 pairs was 17-37 %
at table3-test's design (``../shared/notes/evidence-audit-2.md``; ``tests/test_seedtest.py`` simulates the
procedure here at every design the book runs).

One seed carries no seed-level noise: its contrast is *not assessable* (:data:`NOT_ASSESSABLE`), never
decided. The bootstrap of :mod:`gtg_core.study.bootstrap` stays for description (a setting's interval, rank
stability, P(improvement)); it decides nothing.

Everything here is numpy on the CPU (tables of a few thousand numbers); the functions accept stacks of
grids (``(..., k, n)``) so that a simulation runs thousands of studies through the same code as a page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy

from .bootstrap import FAILS, HOLDS, INCONCLUSIVE

#: The verdict of a comparison no seed-honest test can decide: one seed, or a metric saturated or tied.
NOT_ASSESSABLE = "not assessable"


@dataclass(frozen=True)
class SeedTest:
    """A contrast's estimate with its standard error ``se`` and degrees of freedom ``df`` (t-based), the
    numbers of seeds and volumes it rests on, and ``reason`` where it cannot be tested (``se`` NaN)."""

    estimate: float
    se: float
    df: float
    seeds: int
    volumes: int
    reason: str = ""

    @property
    def testable(self) -> bool:
        return not self.reason and np.isfinite(self.se) and np.isfinite(self.df) and self.df > 0

    def p(self, null: float = 0.0) -> float:
        """The two-sided p-value of "the contrast is ``null``" (t on ``df``); NaN when not testable; 0 where
        ``se`` is 0 and the estimate is not ``null`` (a contrast that does not vary at all)."""
        if not self.testable:
            return float("nan")
        if self.se == 0:
            return 1.0 if self.estimate == null else 0.0
        return float(2 * _scipy.t.sf(abs(self.estimate - null) / self.se, self.df))

    def verdict(self, level: float = 0.95) -> str:
        """The verdict of this one test at ``level`` (no family): holds / does not hold where its t interval
        lies above / below zero, inconclusive where it contains zero, not assessable where untestable."""
        if not self.testable:
            return NOT_ASSESSABLE
        low, high = self.interval(level)
        return HOLDS if low > 0 else FAILS if high < 0 else INCONCLUSIVE

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The t interval at ``level`` (NaN, NaN when not testable)."""
        if not self.testable:
            return float("nan"), float("nan")
        half = float(_scipy.t.ppf(0.5 + level / 2, self.df)) * self.se
        return self.estimate - half, self.estimate + half


def crossed_moments(grid):
    """The mean squares of a (..., k, n) stack of seeds x volumes grids (NaN-free): ``(mean, ms_seed,
    ms_volume, ms_error)``, each of shape ``(...)``. ``ms_volume`` and ``ms_error`` are NaN for n = 1,
    ``ms_seed`` and ``ms_error`` for k = 1."""
    grid = np.asarray(grid, dtype=float)
    k, n = grid.shape[-2:]
    mean = grid.mean(axis=(-2, -1))
    rows, cols = grid.mean(axis=-1), grid.mean(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ms_s = n * ((rows - mean[..., None]) ** 2).sum(axis=-1) / (k - 1) if k > 1 else np.full(mean.shape, np.nan)
        ms_v = k * ((cols - mean[..., None]) ** 2).sum(axis=-1) / (n - 1) if n > 1 else np.full(mean.shape, np.nan)
        resid = grid - rows[..., :, None] - cols[..., None, :] + mean[..., None, None]
        dof = (k - 1) * (n - 1)
        ms_e = (resid ** 2).sum(axis=(-2, -1)) / dof if dof else np.full(mean.shape, np.nan)
    return mean, ms_s, ms_v, ms_e


def crossed_se_df(grid, *, nested: bool = False):
    """The standard error of a grid's mean under the crossed model and its degrees of freedom, k - 1
    (module docstring), for a (..., k, n) stack: arrays ``(mean, se, df)``. k = 1: se and df NaN.

    ``nested``: each seed has volumes of its own (column j is not one volume across seeds): the volumes
    are nested in the seeds, the per-seed means carry all of the variance, ``MS_S / (k n)``, the paired t
    over the k per-seed mean differences."""
    grid = np.asarray(grid, dtype=float)
    k, n = grid.shape[-2:]
    mean, ms_s, ms_v, ms_e = crossed_moments(grid)
    if k < 2:
        nan = np.full(mean.shape, np.nan)
        return mean, nan, nan
    if n < 2 or nested:  # one volume, or volumes nested in the seeds: the seeds alone
        return mean, np.sqrt(ms_s / (k * n)), np.full(mean.shape, float(k - 1))
    combined = ms_s + np.maximum(ms_v - ms_e, 0.0)  # the volume term only where it is seen
    return mean, np.sqrt(combined / (k * n)), np.full(mean.shape, float(k - 1))


def _complete(grid: np.ndarray) -> np.ndarray:
    """The grid's volumes that every seed has (a volume missing for one seed is left out for all)."""
    return grid[:, ~np.isnan(grid).any(axis=0)]


def grid_test(grid, *, estimate: float | None = None, nested: bool = False) -> SeedTest:
    """:class:`SeedTest` of one k x n contrast grid (:func:`crossed_se_df`, ``nested`` as there);
    ``estimate`` replaces the grid's mean (a margin's plug-in value where the margin is not linear)."""
    grid = _complete(np.atleast_2d(np.asarray(grid, dtype=float)))
    k, n = grid.shape
    if n == 0:
        return SeedTest(float("nan"), float("nan"), float("nan"), k, 0, "no volume has a value for every seed")
    mean, se, df = (float(x) for x in crossed_se_df(grid, nested=nested))
    value = mean if estimate is None else float(estimate)
    if k < 2:
        return SeedTest(value, float("nan"), float("nan"), k, n,
                        "one seed: the seed-to-seed noise of a training run cannot be estimated")
    return SeedTest(value, se, df, k, n)


def pair_test(a, b, metric: str, *, sign: float = 1.0) -> SeedTest:
    """A - B (times ``sign``) on ``metric`` for two :class:`~gtg_core.study.bootstrap.Setting` objects on the
    same volumes: paired by seed where they have the same seeds (:func:`grid_test` of the difference),
    otherwise the two settings' seed means compared by Welch's t (their seeds are independent training
    runs; the shared volumes cancel in the difference)."""
    return linear_test({(a.name, metric): sign, (b.name, metric): -sign}, {a.name: a, b.name: b})


def linear_test(weights: dict, settings: dict, *, estimate: float | None = None) -> SeedTest:
    """The test of ``sum_j w_j * mean_j``, ``weights``: ``(setting, metric) -> w_j``. Settings that share
    their seeds form one group, paired by seed (:func:`grid_test` of the group's weighted grid); independent
    groups (other seeds) add their variances and Welch-Satterthwaite degrees of freedom. A group of one seed
    makes the contrast not assessable. Nested settings (:class:`~gtg_core.study.bootstrap.Setting`) are
    paired within a seed (:func:`crossed_se_df`)."""
    groups = {}
    for (name, metric), w in weights.items():
        if w == 0:
            continue
        s = settings[name]
        groups.setdefault((s.seeds, s.volumes, s.nested), []).append((w, s.values[metric]))
    if not groups:
        return SeedTest(0.0 if estimate is None else float(estimate), 0.0, float("inf"), 0, 0,
                        "the margin does not depend on any setting")
    tests = [grid_test(sum(w * grid for w, grid in members), nested=nested)
             for (_, _, nested), members in groups.items()]
    value = float(sum(t.estimate for t in tests)) if estimate is None else float(estimate)
    seeds, volumes = min(t.seeds for t in tests), max(t.volumes for t in tests)
    reasons = [t.reason for t in tests if t.reason]
    if reasons:
        return SeedTest(value, float("nan"), float("nan"), seeds, volumes, reasons[0])
    if len(tests) == 1:
        return SeedTest(value, tests[0].se, tests[0].df, seeds, volumes)
    variances = np.array([t.se ** 2 for t in tests])
    dfs = np.array([t.df for t in tests])
    total = float(variances.sum())
    df = total ** 2 / float((variances ** 2 / dfs).sum()) if total > 0 else float(dfs.min())
    return SeedTest(value, float(np.sqrt(total)), df, seeds, volumes)


def margin_weights(margin, point: dict, *, step: float = 1e-6) -> dict:
    """The linearisation of a claim's ``margin(values)`` (values: metric -> setting -> mean) at the point
    estimates: ``(setting, metric) -> d margin / d mean`` by central differences. A margin built from
    differences, maxima and minima of means is piecewise linear: at the point it *is* this weighted sum of
    the means that are active there (the best other signal, the lowest of a group)."""
    weights = {}
    for metric, by_setting in point.items():
        for name, value in by_setting.items():
            h = step * max(1.0, abs(value))
            up = {m: dict(v) for m, v in point.items()}
            down = {m: dict(v) for m, v in point.items()}
            up[metric][name], down[metric][name] = value + h, value - h
            w = (float(margin(up)) - float(margin(down))) / (2 * h)
            if abs(w) > 1e-6:
                weights[(name, metric)] = round(w, 6)
    return weights


def margin_test(settings: dict, metrics, margin) -> SeedTest:
    """A claim's margin (> 0 where it holds), computed from the settings' means, as a :class:`SeedTest`: its
    plug-in estimate, and the seed-honest test of the linear contrast it is at the point
    (:func:`margin_weights`, :func:`linear_test`)."""
    point = {m: {name: float(np.nanmean(s.values[m])) for name, s in settings.items() if m in s.values}
             for m in metrics}
    estimate = float(margin(point))
    return linear_test(margin_weights(margin, point), settings, estimate=estimate)


def sign_flip_floor(seeds: int) -> float:
    """The smallest two-sided p-value an exact sign-flip (permutation) test over ``seeds`` paired seed
    differences can reach: 2 / 2^k (0.125 at 4 seeds, 0.0625 at 5; 0.05 needs 6 seeds and Holm's first step
    over 15 pairs, 0.05 / 15, needs 10). Why no study of 4 seeds can resolve a pair by sign flips, however
    large the gap."""
    return min(1.0, 2.0 / 2 ** int(seeds))
