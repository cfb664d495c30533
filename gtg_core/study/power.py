"""Power: how many seeds and volumes a study needs to resolve a difference.

Under the paired design we run: settings of a study are trained with the same seed numbers and evaluated on
the same volumes, and the bootstrap pairs them on both. What does not cancel in a paired difference of two
settings is their interaction with the seed (setting x seed), their interaction with the volume (setting x
volume) and the residual: Var(mean difference) = 2 (s2_seed_x / k + s2_volume_x / n + s2_residual / (k n))
for k seeds and n volumes; the seed's main effect (a seed good for every setting) cancels
(:func:`paired_components` .. :func:`paired_power_table`, :func:`power_facts`). :func:`variance_components` /
:func:`seeds_needed` keep the unpaired (independent seeds) formula for comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd


def variance_components(settings: dict, metric: str = "M1_final_dice") -> dict:
    """The two sources of noise of a setting's mean, from a study's per-volume values: ``seed`` (the variance
    of a run's mean over volumes between seeds of one setting, beyond what its volumes explain) and
    ``volume`` (the variance over volumes of a run's per-volume values once the volume's shared difficulty,
    its mean over all settings, is removed: what does not cancel in a paired comparison). Method of
    moments, pooled over settings; ``seed`` is floored at 0. Also the number of settings with several
    seeds that ``seed`` rests on."""
    names = [n for n, s in settings.items() if metric in s.values]
    if not names:
        raise ValueError(f"no setting has per-volume values of {metric!r}")
    difficulty = np.nanmean(np.vstack([settings[n].values[metric] for n in names]), axis=0)
    within, within_df, between, between_df = 0.0, 0, 0.0, 0
    n_vol = len(difficulty)
    for n in names:
        x = settings[n].values[metric]
        resid = x - difficulty[None, :]
        resid = resid - resid.mean(axis=1, keepdims=True)
        within += float((resid ** 2).sum())
        within_df += x.shape[0] * (n_vol - 1)
        if x.shape[0] > 1:
            means = x.mean(axis=1)
            between += float(((means - means.mean()) ** 2).sum())
            between_df += x.shape[0] - 1
    volume = within / within_df if within_df else float("nan")
    seed = max(0.0, between / between_df - volume / n_vol) if between_df else float("nan")
    return {"seed": seed, "volume": volume, "volumes": n_vol,
            "settings_with_seeds": sum(settings[n].values[metric].shape[0] > 1 for n in names)}


def difference_se(components: dict, seeds: int, volumes: int) -> float:
    """Standard error of the difference of two settings' means, each from ``seeds`` runs evaluated on the
    same ``volumes`` volumes: sqrt(2 (seed / n_s + volume / (n_s n_v)))."""
    return float(np.sqrt(2 * (components["seed"] / seeds + components["volume"] / (seeds * volumes))))


def seeds_needed(components: dict, difference: float, volumes: int, *, power: float = 0.8, alpha: float = 0.05,
                 max_seeds: int = 1000) -> int | None:
    """The fewest seeds per setting for a two-sided test at ``alpha`` to detect ``difference`` (in the
    metric's units, e.g. 0.02 Dice) with ``power``, on ``volumes`` validation volumes (normal
    approximation: difference >= (z_{1-alpha/2} + z_power) SE). None when more than ``max_seeds``."""
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    for n in range(1, max_seeds + 1):
        if z * difference_se(components, n, volumes) <= abs(difference):
            return n
    return None


def power_table(components: dict, differences=(0.005, 0.01, 0.02, 0.03, 0.05), volumes=(12, 25, 50, 100),
                **kw) -> pd.DataFrame:
    """Seeds per setting needed (:func:`seeds_needed`) for each Dice difference (rows, in points) and number
    of validation volumes (columns)."""
    table = {f"{v} volumes": [seeds_needed(components, d, v, **kw) for d in differences] for v in volumes}
    return pd.DataFrame(table, index=pd.Index([round(100 * d, 1) for d in differences], name="difference (points)"))


def paired_components(settings: dict, metric: str = "M1_final_dice", *, level: float = 0.95) -> dict:
    """The variance components of a paired comparison, from the settings that share one seed list (the
    largest such group, at least two settings with two or more seeds): a three-way crossed ANOVA (setting x
    seed x volume, method of moments, components floored at 0). Returns ``seed_x`` (setting x seed),
    ``volume_x`` (setting x volume), ``residual``, ``seeds``, ``volumes``, ``settings`` (names used), and
    ``seed_x_range``: the ``level`` range of ``seed_x`` from the chi-square interval of its mean square on
    (settings - 1)(seeds - 1) degrees of freedom (the residual taken as known). With 2-3 seeds the range is
    wide: the design should be planned for its upper end as well as the estimate."""
    from scipy.stats import chi2

    groups = {}
    for name, s in settings.items():
        if metric in s.values and len(s.seeds) > 1:
            groups.setdefault(s.seeds, []).append(name)
    if not groups or max(len(g) for g in groups.values()) < 2:
        raise ValueError(f"paired_components needs two settings with the same two or more seeds ({metric})")
    names = max(groups.values(), key=len)
    y = np.stack([settings[n].values[metric] for n in names])  # settings x seeds x volumes
    if np.isnan(y).any():
        raise ValueError(f"paired_components: {metric} has missing values")
    a, b, c = y.shape
    m = y.mean()
    ma, mb, mc = y.mean((1, 2), keepdims=True), y.mean((0, 2), keepdims=True), y.mean((0, 1), keepdims=True)
    mab, mac, mbc = y.mean(2, keepdims=True), y.mean(1, keepdims=True), y.mean(0, keepdims=True)
    ab, ac = mab - ma - mb + m, mac - ma - mc + m
    resid = y - mab - mac - mbc + ma + mb + mc - m
    df_ab, df_ac, df_e = (a - 1) * (b - 1), (a - 1) * (c - 1), (a - 1) * (b - 1) * (c - 1)
    ms_ab, ms_ac, ms_e = c * (ab ** 2).sum() / df_ab, b * (ac ** 2).sum() / df_ac, (resid ** 2).sum() / df_e
    tail = (1 - level) / 2
    ms_range = (ms_ab * df_ab / chi2.ppf(1 - tail, df_ab), ms_ab * df_ab / chi2.ppf(tail, df_ab))
    return {"seed_x": max(0.0, (ms_ab - ms_e) / c), "volume_x": max(0.0, (ms_ac - ms_e) / b), "residual": ms_e,
            "seed_x_range": tuple(max(0.0, (ms - ms_e) / c) for ms in ms_range), "seeds": b, "volumes": c,
            "settings": list(names), "level": level}


def pair_seed_x(settings: dict, metric: str = "M1_final_dice") -> dict:
    """Each pair's own setting x seed component: for two settings on the same seeds and volumes, the seed
    term of their difference grid, max(0, (MS_S - MS_E) / n) (:func:`gtg_core.study.seedtest.crossed_moments`),
    halved (a difference carries the term of both settings), so that it reads on the scale of
    :func:`paired_components`' ``seed_x``. ``(a, b) -> seed_x``; the per-seed differences are uneven
    (table3-test's disk - adaptive heatmap: +2.1, +3.1, +13.6, +2.7 points), and the worst pair is what a
    design must be planned for."""
    from itertools import combinations

    from .seedtest import crossed_moments

    out = {}
    for (a, sa), (b, sb) in combinations(settings.items(), 2):
        if metric not in sa.values or metric not in sb.values or sa.seeds != sb.seeds or len(sa.seeds) < 2:
            continue
        grid = sa.values[metric] - sb.values[metric]
        grid = grid[:, ~np.isnan(grid).any(axis=0)]
        _, ms_s, _, ms_e = crossed_moments(grid)
        out[(a, b)] = max(0.0, float(ms_s - ms_e) / grid.shape[1]) / 2
    return out


def paired_difference_se(components: dict, seeds: int, volumes: int, *, seed_x: float | None = None) -> float:
    """Standard error of the difference of two settings' means under the paired design (the same ``seeds``
    and the same ``volumes`` for both): sqrt(2 (seed_x / k + volume_x / n + residual / (k n))).
    ``seed_x``: another value of the setting x seed component (e.g. an end of ``seed_x_range``)."""
    sx = components["seed_x"] if seed_x is None else seed_x
    return float(np.sqrt(2 * (sx / seeds + components["volume_x"] / volumes
                              + components["residual"] / (seeds * volumes))))


def test_power(difference: float, se: float, df: float, *, alpha: float) -> float:
    """The power of the two-sided t test at level ``alpha`` on ``df`` degrees of freedom against a true
    ``difference`` whose estimate has standard error ``se``: the noncentral t's mass beyond the critical
    values (the test of :mod:`gtg_core.study.seedtest`, which uses df = seeds - 1)."""
    from scipy.integrate import quad
    from scipy.stats import chi2, norm, t

    if not (df > 0 and se > 0):
        return float("nan")
    crit = t.ppf(1 - alpha / 2, df)
    ncp = abs(difference) / se

    def given(v):  # T = (Z + ncp) / sqrt(V / df), V ~ chi2(df): both tails at V = v
        scale = crit * np.sqrt(v / df)
        return (norm.sf(scale - ncp) + norm.cdf(-scale - ncp)) * chi2.pdf(v, df)
    # scipy's nct returns NaN far in its tail (df 3, ncp 10): integrate over the chi-square's bulk instead
    low, high = chi2.ppf(1e-12, df), chi2.isf(1e-12, df)
    return float(min(1.0, quad(given, low, high, limit=200, points=[df])[0]))


def detectable_difference(components: dict, seeds: int, volumes: int, *, comparisons: int = 1,
                          power: float = 0.8, alpha: float = 0.05, seed_x: float | None = None) -> float:
    """The smallest difference (the metric's units) that the test the pages run (a paired t on seeds - 1
    degrees of freedom, :mod:`gtg_core.study.seedtest`) detects with ``power``, at the level Holm's procedure
    starts from in a family of ``comparisons`` (alpha / comparisons: Bonferroni's, the conservative end), at
    the standard error :func:`paired_difference_se`; the noncentral t (:func:`test_power`), not the normal
    (with 4 seeds the normal's answer is 15-20 % too small). Infinite for one seed (nothing can be tested)."""
    from scipy.optimize import brentq

    if seeds < 2:
        return float("inf")
    se = paired_difference_se(components, seeds, volumes, seed_x=seed_x)
    if se == 0:
        return 0.0
    level = alpha / comparisons
    high = se
    while test_power(high, se, seeds - 1, alpha=level) < power:
        high *= 2
    return float(brentq(lambda d: test_power(d, se, seeds - 1, alpha=level) - power, 0.0, high, xtol=se * 1e-6))


def paired_seeds_needed(components: dict, difference: float, volumes: int, *, comparisons: int = 1,
                        power: float = 0.8, alpha: float = 0.05, seed_x: float | None = None,
                        max_seeds: int = 1000) -> int | None:
    """The fewest seeds per setting for :func:`detectable_difference` to reach ``difference`` on ``volumes``
    volumes; None when more than ``max_seeds`` (or never: the setting x volume term alone is too large)."""
    def reaches(k):
        return detectable_difference(components, k, volumes, comparisons=comparisons, power=power, alpha=alpha,
                                     seed_x=seed_x) <= abs(difference)
    if not reaches(max_seeds):
        return None
    low, high = 1, max_seeds  # reaches(high); the detectable difference falls with the seeds
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if reaches(middle) else (middle, high)
    return high


def paired_power_table(components: dict, seeds=(3, 4, 5, 6, 8, 10), volumes=(12, 50, 100, 200, 400), *,
                       comparisons: int = 15, scale: float = 100.0, **kw) -> pd.DataFrame:
    """:func:`detectable_difference` (times ``scale``: Dice points) for each number of seeds (rows) and
    volumes (columns), at the estimated setting x seed component and at the upper end of its range
    (the column level ``at``): the design assumed is the paired one, ``comparisons`` pairs under Holm."""
    frames = {}
    for label, value in (("estimate", components["seed_x"]), ("upper end", components["seed_x_range"][1])):
        frames[label] = pd.DataFrame(
            {f"{v} volumes": [scale * detectable_difference(components, k, v, comparisons=comparisons,
                                                            seed_x=value, **kw) for k in seeds] for v in volumes},
            index=pd.Index(seeds, name="seeds"))
    return pd.concat(frames, names=["setting x seed at"])


def power_facts(settings: dict, metric: str = "M1_final_dice", *, comparisons: int = 15,
                scale: float = 100.0) -> dict:
    """What a page says about a study's power (the hyperparameter chapter): from the settings that share
    their seeds (:func:`paired_components`), the setting x seed SD and the upper end of its range, the
    setting x volume and residual SDs (times ``scale``: Dice points), the smallest difference resolved with
    3 and with 12 seeds on the study's own volumes under Holm over ``comparisons`` pairs
    (``detectable_3_seeds``, ``detectable_12_seeds``), and the seeds the independent-seeds formula asks for 2
    points at one 5 % test on those volumes (``seeds_2pt_independent``, :func:`seeds_needed`); and
    ``components`` (:func:`paired_components`). A study without two settings of two or more shared seeds
    (a one-seed study) has no such components: every fact is NaN and ``components`` None."""
    try:
        comp = paired_components(settings, metric)
    except ValueError:
        names = ("var_seed_x_sd", "var_seed_x_high", "var_volume_x_sd", "var_residual_sd", "seeds_2pt_independent",
                 "detectable_3_seeds", "detectable_12_seeds")
        return {**{name: float("nan") for name in names}, "components": None}
    independent = variance_components(settings, metric)
    facts = {"var_seed_x_sd": scale * comp["seed_x"] ** 0.5, "var_seed_x_high": scale * comp["seed_x_range"][1] ** 0.5,
             "var_volume_x_sd": scale * comp["volume_x"] ** 0.5, "var_residual_sd": scale * comp["residual"] ** 0.5,
             "seeds_2pt_independent": seeds_needed(independent, 0.02, comp["volumes"]) or 0}
    for k in (3, 12):
        facts[f"detectable_{k}_seeds"] = scale * detectable_difference(comp, k, comp["volumes"], comparisons=comparisons)
    return {**{k: float(v) for k, v in facts.items()}, "components": comp}
