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

**Few seeds.** Our studies have 2-3 seeds per setting, and there the seed stage is nearly degenerate: with
k seeds the resampled seed mean takes few values (3 for k = 2, 10 for k = 3) and its variance is the
plug-in one, short of the unbiased one by (k - 1) / k (0.50 for k = 2, 0.67 for k = 3); a one-seed setting
carries no seed noise at all. Measured by simulation in that regime (``tests/test_stats.py``, 2-3 seeds x
12 volumes with known variances): the interval of a *paired difference* covers at or above its level (the
two-way bootstrap over-counts the interaction variance: about 96-99 % for a nominal 95 %), the interval of
*one setting's own mean* covers less (about 88-93 %): read it as a lower bound on the uncertainty of a
level, and decide claims from differences.

- :func:`interval`: a setting's estimate and 95 % interval for any metric that is a mean over volumes (M1,
  M2, M4 as improved / N transitions per volume, M5, NoC, AUC, M3's step time, NSD and its AUC).
- :func:`compare`: the interval of a difference between two settings, and P(A > B) (:func:`p_improvement`:
  rliable's probability of improvement, paired by seed where the seeds are shared).
- :func:`decide_family`, :func:`pairwise`: a family of comparisons decided together with Holm's step-down
  adjustment (:func:`holm`), each interval also shown at Holm's level, and an equivalence verdict.
- :func:`improvement_matrix`, :func:`rank_distribution`: every pair, and each setting's rank over draws.
- :func:`decide`: one margin's verdict from its interval (unadjusted: a family uses :func:`decide_family`).
- :func:`interaction`, :func:`compare_cells`: whether a gap between two settings, and the order of all of
  them, changes between two cells (users, training), on shared draws, decided with Holm over the pairs.
- :func:`paired_components`, :func:`detectable_difference`, :func:`paired_seeds_needed`,
  :func:`paired_power_table`: power under the paired design we run; :func:`variance_components` /
  :func:`seeds_needed` keep the unpaired (independent seeds) formula for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics import OPTIONAL_METRICS, VOLUME_METRICS, volume_table  # noqa: F401 (re-exported)

LOWER_IS_BETTER = ("NoC@80", "NoC@85", "NoC@90", "M3_step_time_s")
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
DEFAULT_DRAWS = 2000
#: The fields that name a setting; runs that share them differ only in the seed (and the device).
SETTING_KEYS = ("signal", "sigma", "theta", "variant", "adaptor", "p_volume")


def per_volume(traces, results=None) -> pd.DataFrame:
    """One row per (run, volume) with the metrics of :data:`VOLUME_METRICS` for that volume alone, as
    :func:`gtg_core.metrics.summary` computes them over all volumes (paper convention): M1 at the last click,
    M2 at click 0 (seeds) and -1 (no guidance), M4 = rises / N, M5 at the last click, AUC (trapezoids / N),
    NoC@x (first click reaching x, N when never), M3's mean step time (s) over clicks 1..N.

    ``results``: a results table (or :meth:`StudyResults.stage_rows` rows, whose ``same_as`` names the run
    that holds the trace); when given, its setting fields, ``seed`` and ``device`` are joined and only its
    finished runs are kept (under the row's run name). The per-volume table of one traces object is computed
    once (a book page asks for it several times) and handed out as a copy."""
    table = _volume_table(traces).copy()
    if results is None:
        return table
    runs = results[results["status"] == "done"] if "status" in results else results
    runs = runs.assign(trace_run=trace_runs(runs)["run"])
    keep = [k for k in SETTING_KEYS + ("seed", "device") if k in runs]
    merged = table.rename(columns={"run": "trace_run"}).merge(runs[["run", "trace_run"] + keep], on="trace_run")
    return merged.drop(columns="trace_run")


_TABLES: dict = {}  # id(traces) -> (weak reference to the traces, their per-volume table)


def _volume_table(traces) -> pd.DataFrame:
    import weakref

    key = id(traces)
    cached = _TABLES.get(key)
    if cached is not None and cached[0]() is traces:
        return cached[1]
    table = volume_table(traces)
    _TABLES[key] = (weakref.ref(traces, lambda _, key=key: _TABLES.pop(key, None)), table)
    return table


def trace_runs(rows):
    """``rows`` with ``run`` naming the run folder whose trace they read: a stage's row that reuses an
    earlier stage's model (``same_as``, :meth:`gtg_core.study.StudyResults.stage_rows`) reads that run's."""
    if "same_as" not in rows:
        return rows
    return rows.assign(run=rows["same_as"].where(rows["same_as"].notna(), rows["run"]))


def volume_settings(volumes, rows, by, metrics):
    """:class:`Setting` objects of ``rows`` grouped by ``by``, from the per-volume table of all runs
    (:func:`per_volume` without results): the rows' runs looked up through :func:`trace_runs`. None when
    fewer than two settings have values of the metrics."""
    table = volumes.merge(trace_runs(rows)[["run", by, "seed"]], on="run")
    present = [m for m in metrics if m in table and not table[m].isna().all()]
    if table.empty or not present or table[by].nunique() < 2:
        return None
    return settings_from(table, by, metrics=present)


@dataclass
class Setting:
    """The per-volume values of one setting: ``values[metric]`` is a (seeds x volumes) array, rows in the
    order of ``seeds``, columns in the order of ``volumes``."""

    name: str
    seeds: tuple
    volumes: tuple
    values: dict = field(default_factory=dict)


def settings_from(table: pd.DataFrame, by="signal", metrics=VOLUME_METRICS) -> dict:
    """:func:`per_volume` rows grouped into :class:`Setting` objects by ``by`` (a column or a list of them;
    the label is the value, or the values joined by " "). Every setting must have been evaluated on the
    same volumes (the paired design); a run with missing volumes is an error naming it."""
    keys = [by] if isinstance(by, str) else list(by)
    volumes = tuple(sorted(table["volume"].unique(), key=str))
    out = {}
    for label, group in table.groupby(keys, sort=False):
        label = label if isinstance(label, str) else " ".join(map(str, np.atleast_1d(label)))
        seeds = tuple(sorted(group["seed"].unique()))
        values = {}
        for metric in metrics:
            if metric not in group:
                continue
            grid = group.pivot_table(index="seed", columns="volume", values=metric, aggfunc="mean")
            grid = grid.reindex(index=list(seeds), columns=list(volumes))
            if grid.isna().all(axis=None):
                continue
            if grid.isna().any(axis=None) and metric not in OPTIONAL_METRICS:
                missing = grid.columns[grid.isna().any()].tolist()
                raise ValueError(f"setting {label!r}: no {metric} for volume(s) {missing[:5]}: every setting "
                                 "must be evaluated on the same volumes")
            values[metric] = grid.to_numpy(dtype=float)
        out[label] = Setting(label, seeds, volumes, values)
    return out


def _draws(settings: dict, n_draws: int, seed: int):
    """Index draws: one volume draw (n_draws x volumes) shared by all settings, and one seed draw per
    distinct seed list (settings with the same seeds share it: paired by seed too)."""
    rng = np.random.default_rng(seed)
    n_vol = len(next(iter(settings.values())).volumes)
    vol = rng.integers(0, n_vol, size=(n_draws, n_vol))
    seeds = {}
    for s in settings.values():
        if s.seeds not in seeds:
            seeds[s.seeds] = rng.integers(0, len(s.seeds), size=(n_draws, len(s.seeds)))
    return vol, seeds


def bootstrap(settings: dict, metric: str, *, n_draws: int = DEFAULT_DRAWS, seed: int = 0) -> pd.DataFrame:
    """The two-stage paired bootstrap: a DataFrame of ``n_draws`` rows (draws) and one column per setting,
    each the mean of ``metric`` over the drawn seeds and the drawn volumes of that draw. A setting without
    the metric is left out. Fixed ``seed``: the same draws every time."""
    settings = {k: s for k, s in settings.items() if metric in s.values}
    if not settings:
        raise ValueError(f"no setting has per-volume values of {metric!r}")
    vol, seed_draws = _draws(settings, n_draws, seed)
    out = {}
    for name, s in settings.items():
        x = s.values[metric]
        si = seed_draws[s.seeds]
        picked = x[si[:, :, None], vol[:, None, :]]  # draws x seeds x volumes
        out[name] = np.nanmean(picked, axis=(1, 2))
    return pd.DataFrame(out)


def _percentiles(samples, level):
    alpha = (1 - level) / 2
    return float(np.nanquantile(samples, alpha)), float(np.nanquantile(samples, 1 - alpha))


def within_volume(settings: dict, metric: str) -> dict:
    """The settings with each volume's shared difficulty removed (Cousineau 2005, with Morey's 2008
    correction): x - (the volume's mean over all settings) + (the grand mean), scaled about the grand mean by
    sqrt(J / (J - 1)) for J settings. Intervals of these values show the differences *between* settings that
    a paired comparison sees; a single setting's level is read from :func:`interval` without it."""
    names = [n for n, s in settings.items() if metric in s.values]
    stacked = np.vstack([settings[n].values[metric] for n in names])
    difficulty, grand = np.nanmean(stacked, axis=0), float(np.nanmean(stacked))
    scale = np.sqrt(len(names) / (len(names) - 1)) if len(names) > 1 else 1.0
    out = {}
    for n in names:
        s = settings[n]
        centred = grand + scale * (s.values[metric] - difficulty[None, :])  # recentred by interval()
        out[n] = Setting(s.name, s.seeds, s.volumes, {metric: centred})
    return out


def interval(settings: dict, metric: str, *, level: float = 0.95, n_draws: int = DEFAULT_DRAWS,
             seed: int = 0, paired: bool = False) -> pd.DataFrame:
    """Per setting: the estimate (mean over seeds and volumes), the ``level`` percentile interval of the
    two-stage bootstrap, the number of seeds and volumes. A DataFrame indexed by setting.

    ``paired=False``: the interval of the setting's own mean (how well it is known on this population of
    volumes; the volumes' spread in difficulty counts). ``paired=True``: the within-volume interval
    (:func:`within_volume`): the same centre, without the difficulty all settings share, for figures that
    compare settings (two such intervals that do not overlap mark a difference :func:`compare` confirms)."""
    source = within_volume(settings, metric) if paired else settings
    draws = bootstrap(source, metric, n_draws=n_draws, seed=seed)
    rows = []
    for name in draws:
        s = settings[name]
        centre = float(np.nanmean(s.values[metric]))
        lo, hi = _percentiles(draws[name].to_numpy(), level)
        if paired:  # centred on the setting's own mean
            shift = centre - float(np.nanmean(source[name].values[metric]))
            lo, hi = lo + shift, hi + shift
        rows.append({"setting": name, "estimate": centre, "low": lo, "high": hi,
                     "seeds": len(s.seeds), "volumes": len(s.volumes)})
    return pd.DataFrame(rows).set_index("setting")


def _wins(x: np.ndarray, y: np.ndarray, paired: bool) -> float:
    """P(X > Y) + P(X = Y) / 2 over volumes and seeds: x, y are (seeds x volumes) on the same volumes; with
    ``paired`` (the same seeds) row i meets row i only, else every seed pair. NaN comparisons are left out."""
    if not paired:
        x, y = np.broadcast_arrays(x[:, None, :], y[None, :, :])
    valid = ~(np.isnan(x) | np.isnan(y))
    if not valid.any():
        return float("nan")
    return float(((x > y) + 0.5 * (x == y))[valid].mean())


def compare(settings: dict, a: str, b: str, metric: str, *, level: float = 0.95, n_draws: int = DEFAULT_DRAWS,
            seed: int = 0) -> dict:
    """A against B on ``metric``: ``difference`` (A - B, mean over seeds and volumes), its ``low`` / ``high``
    bootstrap interval, ``p_improvement`` (P(A beats B on a random volume and seed), rliable's definition,
    oriented so that > 0.5 favours A whatever the metric's direction; paired by seed where A and B share
    their seeds, as the interval is: :func:`p_improvement`) with its interval."""
    pair = {a: settings[a], b: settings[b]}
    draws = bootstrap(pair, metric, n_draws=n_draws, seed=seed)
    diff = (draws[a] - draws[b]).to_numpy()
    x, y = settings[a].values[metric], settings[b].values[metric]
    if metric in LOWER_IS_BETTER:
        x, y = -x, -y
    paired = settings[a].seeds == settings[b].seeds
    p = _wins(x, y, paired)
    vol, seed_draws = _draws(pair, n_draws, seed + 1)
    p_draws = np.empty(n_draws)
    for i in range(n_draws):  # a few thousand small arrays: fast enough
        xs = x[seed_draws[settings[a].seeds][i]][:, vol[i]]
        ys = y[seed_draws[settings[b].seeds][i]][:, vol[i]]
        p_draws[i] = _wins(xs, ys, paired)
    lo, hi = _percentiles(diff, level)
    p_lo, p_hi = _percentiles(p_draws, level)
    estimate = float(np.nanmean(settings[a].values[metric]) - np.nanmean(settings[b].values[metric]))
    return {"a": a, "b": b, "metric": metric, "difference": estimate, "low": lo, "high": hi,
            "p_improvement": p, "p_low": p_lo, "p_high": p_hi}


def comparison_text(result: dict, *, scale: float = 100.0, unit: str = "points") -> str:
    """:func:`compare`'s result as one line: "a against b: +4.3 points [+0.7, +8.6], P(improvement) 0.68
    [0.42, 0.92]" (differences times ``scale``, in ``unit``)."""
    r = result
    return (f"{r['a']} against {r['b']}: {scale * r['difference']:+.1f} {unit} [{scale * r['low']:+.1f}, "
            f"{scale * r['high']:+.1f}], P(improvement) {r['p_improvement']:.2f} [{r['p_low']:.2f}, {r['p_high']:.2f}]")


def improvement_matrix(settings: dict, metric: str = "M1_final_dice") -> pd.DataFrame:
    """P(row beats column) for every pair of settings (:func:`compare`'s point estimate); the diagonal is
    0.5."""
    names = [n for n, s in settings.items() if metric in s.values]
    out = pd.DataFrame(0.5, index=names, columns=names)
    for a in names:
        for b in names:
            if a != b:
                out.loc[a, b] = p_improvement(settings[a], settings[b], metric)
    return out


def rank_distribution(settings: dict, metric: str = "M1_final_dice", *, n_draws: int = DEFAULT_DRAWS,
                      seed: int = 0) -> pd.DataFrame:
    """challengeR's rank stability: the share of bootstrap draws in which each setting (rows) takes each
    rank (columns, 1 = best), from the paired two-stage draws."""
    draws = bootstrap(settings, metric, n_draws=n_draws, seed=seed)
    values = -draws if metric not in LOWER_IS_BETTER else draws
    ranks = values.rank(axis=1, method="min")
    n = draws.shape[1]
    return pd.DataFrame({r: (ranks == r).mean() for r in range(1, n + 1)}).loc[list(draws.columns)]


def decide(samples, estimate: float, *, level: float = 0.95) -> tuple[str, float, float]:
    """A claim's verdict from its margin (positive: the claim holds) and the margin's bootstrap samples:
    ``holds`` when the interval lies above zero, ``does not hold`` when below, ``inconclusive`` when it
    contains zero. Returns (verdict, low, high)."""
    lo, hi = _percentiles(np.asarray(samples, dtype=float), level)
    verdict = HOLDS if lo > 0 else FAILS if hi < 0 else INCONCLUSIVE
    return verdict, lo, hi


def margin_samples(settings: dict, metrics, margin, *, n_draws: int = DEFAULT_DRAWS, seed: int = 0):
    """``margin(values)`` on the point estimates and on every bootstrap draw: ``values`` maps metric ->
    setting -> mean. One draw is shared by all metrics (the same seeds and volumes). Returns (estimate,
    samples)."""
    metrics = list(metrics)
    draws = {m: bootstrap(settings, m, n_draws=n_draws, seed=seed) for m in metrics}
    point = {m: {name: float(np.nanmean(s.values[m])) for name, s in settings.items() if m in s.values}
             for m in metrics}
    records = {m: draws[m].to_dict("records") for m in metrics}
    samples = np.array([margin({m: records[m][i] for m in metrics}) for i in range(n_draws)])
    return float(margin(point)), samples


# ---------------------------------------------------------------------------------------------- power


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


# ---------------------------------------------------------------------------------------------- families
#
# A page that draws verdicts from many intervals must control the chance of any false verdict. Each family
# (the paper's claims on one study; the 15 pairs of one Table 3; the pairs of one user comparison; the eq6
# comparisons) is decided with Holm's step-down procedure (Holm 1979) on bootstrap p-values, and each
# comparison's interval is shown at the level Holm used for it beside the plain 95 % one.

EQUIVALENT = "equivalent"


def bootstrap_p(samples, null: float = 0.0) -> float:
    """The two-sided bootstrap p-value of "the quantity is ``null``" from its draws: twice the smaller share
    of draws on either side of ``null`` (draws equal to it count on both sides), with the +1 correction of
    Davison and Hinkley (1997, eq. 4.11) so that it is never 0; at most 1. This is the p-value whose
    rejection at alpha is the percentile interval at 1 - alpha excluding ``null``."""
    x = np.asarray(samples, dtype=float)
    x = x[~np.isnan(x)]
    if not len(x):
        return float("nan")
    below, above = int((x <= null).sum()), int((x >= null).sum())
    return float(min(1.0, 2 * (min(below, above) + 1) / (len(x) + 1)))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (the same order as ``p_values``): p_(i) times (m - i + 1) for the
    i-th smallest of m, made monotone and capped at 1. Rejecting where the adjusted p < alpha controls the
    family-wise error at alpha under any dependence. NaN stays NaN and does not count in m."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        out[index] = running
    return out


def holm_levels(p_values, alpha: float = 0.05) -> np.ndarray:
    """The confidence level Holm's procedure tests each comparison at: 1 - alpha / (m - i + 1) for the one
    with the i-th smallest p-value of m (the first at alpha / m, the last at alpha)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    for i, index in enumerate(order):
        out[index] = 1 - alpha / (len(valid) - i)
    return out


class TooFewDrawsWarning(RuntimeWarning):
    """A family's bootstrap has too few draws for Holm's first level: no comparison can be decided."""


def draws_needed(m: int, alpha: float = 0.05) -> int:
    """The fewest bootstrap draws with which Holm over ``m`` comparisons can decide one: the smallest
    :func:`bootstrap_p`, 2 / (n + 1), must fall below alpha / m."""
    return int(np.floor(2 * m / alpha))


def _warn_if_undecidable(samples: dict, m: int, alpha: float, family: str) -> None:
    n = min((int(np.isfinite(np.asarray(d, dtype=float)).sum()) for d in samples.values()), default=0)
    if m and n and n < draws_needed(m, alpha):
        import warnings

        warnings.warn(f"{family or 'a family'}: {n} bootstrap draws give p >= {2 / (n + 1):.4f}, and Holm over {m} "
                      f"needs p < {alpha / m:.4f}: nothing can be decided; draw at least {draws_needed(m, alpha)}",
                      TooFewDrawsWarning, stacklevel=3)


def decide_family(samples: dict, estimates: dict, *, alpha: float = 0.05, equivalence: float | None = None,
                  family: str = "") -> pd.DataFrame:
    """Decide a family of comparisons together. ``samples``: name -> bootstrap draws of a difference (or a
    claim's margin: > 0 where it holds); ``estimates``: name -> its point estimate.

    One row per name: ``estimate``, the plain ``1 - alpha`` interval (``low``, ``high``), the bootstrap
    ``p`` (:func:`bootstrap_p`), Holm's adjusted ``p_holm`` (:func:`holm`) over the ``m`` comparisons of the
    family, Holm's ``level`` for it and the interval at that level (``adj_low``, ``adj_high``), and
    ``verdict``: ``holds`` (p_holm < alpha, estimate > 0), ``does not hold`` (p_holm < alpha, < 0) or
    ``inconclusive``; with ``equivalence`` (a margin in the quantity's units, e.g. 0.02 Dice) an
    inconclusive comparison whose adjusted interval lies inside (-equivalence, +equivalence) is
    ``equivalent`` (two one-sided tests at Holm's level, Schuirmann 1987). A DataFrame indexed by name."""
    names = list(samples)
    p = np.array([bootstrap_p(samples[n]) for n in names])
    _warn_if_undecidable(samples, int((~np.isnan(p)).sum()), alpha, family)
    adjusted, levels = holm(p), holm_levels(p, alpha)
    rows = []
    for name, p_i, p_adj, level in zip(names, p, adjusted, levels):
        draws = np.asarray(samples[name], dtype=float)
        lo, hi = _percentiles(draws, 1 - alpha)
        adj_lo, adj_hi = _percentiles(draws, level) if not np.isnan(level) else (np.nan, np.nan)
        estimate = float(estimates[name])
        verdict = INCONCLUSIVE
        if p_adj < alpha:
            verdict = HOLDS if estimate > 0 else FAILS
        elif equivalence is not None and -equivalence < adj_lo and adj_hi < equivalence:
            verdict = EQUIVALENT
        rows.append({"name": name, "estimate": estimate, "low": lo, "high": hi, "p": float(p_i),
                     "p_holm": float(p_adj), "level": float(level), "adj_low": adj_lo, "adj_high": adj_hi,
                     "verdict": verdict, "family": family, "m": int((~np.isnan(p)).sum())})
    return pd.DataFrame(rows).set_index("name")


def pairwise(settings: dict, metric: str = "M1_final_dice", *, alpha: float = 0.05,
             equivalence: float | None = None, n_draws: int = DEFAULT_DRAWS, seed: int = 0,
             order=None) -> pd.DataFrame:
    """Every pair (A, B) of ``settings`` as one family (:func:`decide_family`): A - B on ``metric`` (oriented
    so that > 0 favours A also where lower is better), from one paired two-stage bootstrap of all settings,
    with Holm's adjustment over the pairs and, with ``equivalence``, the equivalence verdict. ``order``: the
    settings in the order pairs are formed (A before B; default: the dict's). Adds ``a``, ``b`` and the
    paired P(A beats B) (:func:`p_improvement`). A DataFrame indexed by "A - B"."""
    names = [n for n in (order or settings) if n in settings and metric in settings[n].values]
    draws = bootstrap({n: settings[n] for n in names}, metric, n_draws=n_draws, seed=seed)
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    samples, estimates, extra = {}, {}, {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            key = f"{a} - {b}"
            samples[key] = sign * (draws[a] - draws[b]).to_numpy()
            estimates[key] = sign * float(np.nanmean(settings[a].values[metric]) - np.nanmean(settings[b].values[metric]))
            extra[key] = {"a": a, "b": b, "p_improvement": p_improvement(settings[a], settings[b], metric)}
    table = decide_family(samples, estimates, alpha=alpha, equivalence=equivalence, family=f"pairs of {metric}")
    return pd.DataFrame(extra).T.join(table)


def p_improvement(a: Setting, b: Setting, metric: str) -> float:
    """P(A beats B) on a random volume (rliable's probability of improvement, ties 1/2), oriented so that
    > 0.5 favours A whatever the metric's direction. Paired as the intervals are: where A and B have the
    same seeds, seed i of A meets seed i of B only (they share the seed's draw); otherwise every seed pair.
    Comparisons with a NaN on either side are left out (not counted as losses)."""
    x, y = a.values[metric], b.values[metric]
    if metric in LOWER_IS_BETTER:
        x, y = -x, -y
    return _wins(x, y, a.seeds == b.seeds)


# ---------------------------------------------------------------------------------------------- power, paired
#
# Settings of a study are trained with the same seed numbers and evaluated on the same volumes, and the
# bootstrap pairs them on both. What does not cancel in a paired difference of two settings is their
# interaction with the seed (setting x seed), their interaction with the volume (setting x volume) and the
# residual: Var(mean difference) = 2 (s2_seed_x / k + s2_volume_x / n + s2_residual / (k n)) for k seeds and
# n volumes. The seed's main effect (a seed good for every setting) cancels.


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


def paired_difference_se(components: dict, seeds: int, volumes: int, *, seed_x: float | None = None) -> float:
    """Standard error of the difference of two settings' means under the paired design (the same ``seeds``
    and the same ``volumes`` for both): sqrt(2 (seed_x / k + volume_x / n + residual / (k n))).
    ``seed_x``: another value of the setting x seed component (e.g. an end of ``seed_x_range``)."""
    sx = components["seed_x"] if seed_x is None else seed_x
    return float(np.sqrt(2 * (sx / seeds + components["volume_x"] / volumes
                              + components["residual"] / (seeds * volumes))))


def detectable_difference(components: dict, seeds: int, volumes: int, *, comparisons: int = 1,
                          power: float = 0.8, alpha: float = 0.05, seed_x: float | None = None) -> float:
    """The smallest difference (the metric's units) a paired two-sided test detects with ``power``, at the
    level Holm's procedure starts from in a family of ``comparisons`` (alpha / comparisons: Bonferroni's,
    the conservative end): (z_{1 - alpha/(2m)} + z_power) x :func:`paired_difference_se`."""
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / (2 * comparisons)) + norm.ppf(power)
    return float(z * paired_difference_se(components, seeds, volumes, seed_x=seed_x))


def paired_seeds_needed(components: dict, difference: float, volumes: int, *, comparisons: int = 1,
                        power: float = 0.8, alpha: float = 0.05, seed_x: float | None = None,
                        max_seeds: int = 1000) -> int | None:
    """The fewest seeds per setting for :func:`detectable_difference` to reach ``difference`` on ``volumes``
    volumes; None when more than ``max_seeds`` (or never: the setting x volume term alone is too large)."""
    for k in range(1, max_seeds + 1):
        if detectable_difference(components, k, volumes, comparisons=comparisons, power=power, alpha=alpha,
                                 seed_x=seed_x) <= abs(difference):
            return k
    return None


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


def interaction(draws: pd.DataFrame, point: dict, a: str, b: str, first: str, second: str) -> tuple:
    """Does the gap between settings ``a`` and ``b`` change from cell ``first`` to cell ``second``? The
    interaction (A - B in second) - (A - B in first) on the same paired draws (``draws``: columns named
    ``"<setting> | <cell>"``, one bootstrap of both cells), and its point estimate from ``point`` (the same
    names -> means). Returns (estimate, samples)."""
    def gap(frame, cell):
        return frame[f"{a} | {cell}"] - frame[f"{b} | {cell}"]
    samples = (gap(draws, second) - gap(draws, first)).to_numpy()
    return float(gap(point, second) - gap(point, first)), samples


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


# ---------------------------------------------------------------------------------------------- two cells


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors over the same items (ties in either vector count neither
    way, and the denominator leaves them out; NaN when one vector is all ties)."""
    i, j = np.triu_indices(len(x), 1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    denominator = np.sqrt(np.count_nonzero(sx) * np.count_nonzero(sy))
    return float(np.sum(sx * sy) / denominator) if denominator else float("nan")


def compare_cells(first: dict, second: dict, metric: str = "M1_final_dice", *, n_draws: int = DEFAULT_DRAWS,
                  seed: int = 0) -> dict:
    """Do the settings keep their order from one *cell* to another (e.g. the same models clicked by another
    user, or models trained another way)? ``first`` and ``second``: name -> :class:`Setting`, the same names
    in both, on the same volumes and seed numbers, so that both enter one paired bootstrap (one volume draw,
    one seed draw shared by the two cells).

    Returns ``tau`` (Kendall's tau-b between the two orders of the mean ``metric``) with its 95 % interval
    (``tau_low``, ``tau_high``; with a few near-tied settings tau-b is discrete and its percentile interval
    rough: the pairs decide); ``pairs``: per pair (A, B, in ``first``'s order), A - B in each cell (columns
    ``first``, ``first_low``, ``first_high``, ``second``, ...), each cell's pairs decided as one family
    (``first_p_holm``, ``first_verdict``, ``second_...``), the ``interaction`` (A - B in the second cell minus
    A - B in the first, on the same draws: :func:`interaction`) with its plain interval, Holm's adjusted p over
    the pairs and the interval at Holm's level, ``gap_change`` (the interaction resolved after Holm:
    "resolved", else "no") and ``swap`` ("resolved" when the order flips and the interaction is resolved,
    "unresolved" when the order flips without it, "no" otherwise); ``gain``: per setting, the second cell's
    value minus the first's with its interval, decided over the settings as one family (``verdict``: holds =
    up, does not hold = down); ``mean_gain`` over the settings with its 95 % interval."""
    signals = list(first)
    if set(second) != set(signals):
        raise ValueError(f"compare_cells: the cells hold different settings ({sorted(first)} vs {sorted(second)})")
    cells = ("first", "second")
    settings = {f"{name} | {role}": cell[name] for role, cell in zip(cells, (first, second)) for name in signals}
    draws = bootstrap(settings, metric, n_draws=n_draws, seed=seed)
    point = {k: float(np.nanmean(s.values[metric])) for k, s in settings.items()}
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0

    def column(role, frame):
        return np.array([frame[f"{s} | {role}"] for s in signals], dtype=float)

    tau = kendall_tau(sign * column("first", point), sign * column("second", point))
    taus = [kendall_tau(sign * column("first", row), sign * column("second", row))
            for row in draws.to_dict("records")]
    tau_low, tau_high = _percentiles(np.array(taus), 0.95)
    pairs, changes, change_points = [], {}, {}
    for i, a in enumerate(signals):
        for b in signals[i + 1:]:
            row = {"a": a, "b": b}
            for role in cells:
                diff = draws[f"{a} | {role}"] - draws[f"{b} | {role}"]
                lo, hi = _percentiles(diff.to_numpy(), 0.95)
                row.update({role: point[f"{a} | {role}"] - point[f"{b} | {role}"],
                            f"{role}_low": lo, f"{role}_high": hi})
            key = f"{a} / {b}"
            change_points[key], changes[key] = interaction(draws, point, a, b, "first", "second")
            pairs.append(row)
    pairs = pd.DataFrame(pairs)
    for role in cells:  # each cell's own 15 pairs, one family (as a Table 3's)
        within = {f"{r.a} / {r.b}": (draws[f"{r.a} | {role}"] - draws[f"{r.b} | {role}"]).to_numpy()
                  for r in pairs.itertuples()}
        decided = decide_family(within, dict(zip(within, pairs[role])), family=f"pairs of the {role} cell")
        pairs[f"{role}_p_holm"], pairs[f"{role}_verdict"] = decided["p_holm"].to_numpy(), decided["verdict"].to_numpy()
    decided = decide_family(changes, change_points, family="pairs of one user comparison")
    pairs["interaction"] = decided["estimate"].to_numpy()
    for column, source in (("interaction_low", "low"), ("interaction_high", "high"), ("p_holm", "p_holm"),
                           ("interaction_adj_low", "adj_low"), ("interaction_adj_high", "adj_high")):
        pairs[column] = decided[source].to_numpy()
    pairs["gap_change"] = np.where(decided["verdict"].isin([HOLDS, FAILS]), "resolved", "no")
    opposite = np.sign(pairs["first"]) != np.sign(pairs["second"])
    pairs["swap"] = np.select([opposite & (pairs["gap_change"] == "resolved"), opposite],
                              ["resolved", "unresolved"], "no")
    gain_draws = {sig: (draws[f"{sig} | second"] - draws[f"{sig} | first"]).to_numpy() for sig in signals}
    gain_points = {sig: point[f"{sig} | second"] - point[f"{sig} | first"] for sig in signals}
    decided_gain = decide_family(gain_draws, gain_points, family="gains of one user comparison")
    gain = pd.DataFrame({"signal": signals, "gain": decided_gain["estimate"].to_numpy(),
                         "low": decided_gain["low"].to_numpy(), "high": decided_gain["high"].to_numpy(),
                         "adj_low": decided_gain["adj_low"].to_numpy(), "adj_high": decided_gain["adj_high"].to_numpy(),
                         "p_holm": decided_gain["p_holm"].to_numpy(), "verdict": decided_gain["verdict"].to_numpy()})
    mean_draws = np.mean([gain_draws[sig] for sig in signals], axis=0)
    mean_low, mean_high = _percentiles(mean_draws, 0.95)
    return {"metric": metric, "tau": tau, "tau_low": tau_low, "tau_high": tau_high,
            "pairs": pairs, "gain": gain, "mean_gain": float(np.mean(list(gain_points.values()))),
            "mean_gain_low": mean_low, "mean_gain_high": mean_high}


