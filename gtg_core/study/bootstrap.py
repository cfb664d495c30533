"""The paired two-way bootstrap of a study's runs: the per-volume tables, a setting's matrix of seeds x
volumes, the draws, a setting's interval, the difference of two settings with P(improvement), ranks over
draws, and one margin's verdict. :mod:`gtg_core.study.stats` explains the design and is the face to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics import OPTIONAL_METRICS, VOLUME_METRICS, volume_table


LOWER_IS_BETTER = ("NoC@80", "NoC@85", "NoC@90", "M3_step_time_s")


HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


DEFAULT_DRAWS = 2000


#: The fields that name a setting; runs that share them differ only in the seed (and the device).
SETTING_KEYS = ("signal", "sigma", "theta", "variant", "adaptor", "p_volume", "amp", "previous_mask")


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
    order of ``seeds``, columns in the order of ``volumes``.

    ``nested``: every seed was evaluated on volumes of its own (a study that draws each seed's validation
    phantoms anew): column j is then the j-th volume of each seed (``volumes`` names the positions), the
    settings are paired within a seed only, and no volume term is shared between seeds."""

    name: str
    seeds: tuple
    volumes: tuple
    values: dict = field(default_factory=dict)
    nested: bool = False


def settings_from(table: pd.DataFrame, by="signal", metrics=VOLUME_METRICS) -> dict:
    """:func:`per_volume` rows grouped into :class:`Setting` objects by ``by`` (a column or a list of them;
    the label is the value, or the values joined by " "). Every setting must have been evaluated on the
    same volumes (the paired design); a run with missing volumes is an error naming it.

    Where the seeds were evaluated on different volumes (each seed its own validation phantoms) the
    settings are paired within a seed: every seed must hold the same number of volumes, and the same
    volumes in every setting of that seed; the Settings are then ``nested`` (column j: each seed's j-th
    volume in name order)."""
    keys = [by] if isinstance(by, str) else list(by)
    table, nested = _within_seed_positions(table)
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
        out[label] = Setting(label, seeds, volumes, values, nested)
    return out


def _within_seed_positions(table: pd.DataFrame):
    """``(table, nested)``: the table as it is when every seed has the same volumes (crossed), else with
    ``volume`` replaced by the volume's position in its seed's sorted volumes (nested). Raises where the
    seeds hold different numbers of volumes or the settings of one seed different volumes: such settings
    are paired neither by volume nor within a seed."""
    per_seed = {seed: tuple(sorted(v.unique(), key=str)) for seed, v in table.groupby("seed")["volume"]}
    if len(set(per_seed.values())) <= 1:
        return table, False
    sizes = {seed: len(v) for seed, v in per_seed.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the seeds were evaluated on different volumes and on different numbers of them "
                         f"({sizes}): settings can be paired neither by volume nor within a seed")
    position = {(seed, v): f"#{j:03d}" for seed, vols in per_seed.items() for j, v in enumerate(vols)}
    return table.assign(volume=[position[(s, v)] for s, v in zip(table["seed"], table["volume"])]), True


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


def percentiles(samples, level):
    alpha = (1 - level) / 2
    return float(np.nanquantile(samples, alpha)), float(np.nanquantile(samples, 1 - alpha))


def within_volume(settings: dict, metric: str) -> dict:
    """The settings with each volume's shared difficulty removed (Cousineau 2005, with Morey's 2008
    correction): x - (the volume's mean over all settings) + (the grand mean), scaled about the grand mean by
    sqrt(J / (J - 1)) for J settings (nested settings: the mean of the same seed's volume, which needs the
    settings on the same seeds). Intervals of these values show the differences *between* settings that
    a paired comparison sees; a single setting's level is read from :func:`interval` without it."""
    names = [n for n, s in settings.items() if metric in s.values]
    if any(settings[n].nested for n in names):  # each seed its own volumes: a (seed, volume) cell's difficulty
        difficulty = np.nanmean(np.stack([settings[n].values[metric] for n in names]), axis=0)
        grand = float(np.nanmean(difficulty))
    else:
        stacked = np.vstack([settings[n].values[metric] for n in names])
        difficulty, grand = np.nanmean(stacked, axis=0), float(np.nanmean(stacked))
    scale = np.sqrt(len(names) / (len(names) - 1)) if len(names) > 1 else 1.0
    out = {}
    for n in names:
        s = settings[n]
        centered = grand + scale * (s.values[metric] - (difficulty if s.nested else difficulty[None, :]))
        out[n] = Setting(s.name, s.seeds, s.volumes, {metric: centered}, s.nested)  # recentered by interval()
    return out


def interval(settings: dict, metric: str, *, level: float = 0.95, n_draws: int = DEFAULT_DRAWS,
             seed: int = 0, paired: bool = False) -> pd.DataFrame:
    """Per setting: the estimate (mean over seeds and volumes), the ``level`` percentile interval of the
    two-stage bootstrap, the number of seeds and volumes. A DataFrame indexed by setting.

    ``paired=False``: the interval of the setting's own mean (how well it is known on this population of
    volumes; the volumes' spread in difficulty counts). ``paired=True``: the within-volume interval
    (:func:`within_volume`): the same center, without the difficulty all settings share, for figures that
    compare settings (two such intervals that do not overlap mark a difference :func:`compare` confirms)."""
    source = within_volume(settings, metric) if paired else settings
    draws = bootstrap(source, metric, n_draws=n_draws, seed=seed)
    rows = []
    for name in draws:
        s = settings[name]
        center = float(np.nanmean(s.values[metric]))
        lo, hi = percentiles(draws[name].to_numpy(), level)
        if paired:  # centered on the setting's own mean
            shift = center - float(np.nanmean(source[name].values[metric]))
            lo, hi = lo + shift, hi + shift
        rows.append({"setting": name, "estimate": center, "low": lo, "high": hi,
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
    lo, hi = percentiles(diff, level)
    p_lo, p_hi = percentiles(p_draws, level)
    estimate = float(np.nanmean(settings[a].values[metric]) - np.nanmean(settings[b].values[metric]))
    return {"a": a, "b": b, "metric": metric, "difference": estimate, "low": lo, "high": hi,
            "p_improvement": p, "p_low": p_lo, "p_high": p_hi}


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
    lo, hi = percentiles(np.asarray(samples, dtype=float), level)
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


def p_improvement(a: Setting, b: Setting, metric: str) -> float:
    """P(A beats B) on a random volume (rliable's probability of improvement, ties 1/2), oriented so that
    > 0.5 favours A whatever the metric's direction. Paired as the intervals are: where A and B have the
    same seeds, seed i of A meets seed i of B only (they share the seed's draw); otherwise every seed pair.
    Comparisons with a NaN on either side are left out (not counted as losses)."""
    x, y = a.values[metric], b.values[metric]
    if metric in LOWER_IS_BETTER:
        x, y = -x, -y
    return _wins(x, y, a.seeds == b.seeds)


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors over the same items (ties in either vector count neither
    way, and the denominator leaves them out; NaN when one vector is all ties)."""
    i, j = np.triu_indices(len(x), 1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    denominator = np.sqrt(np.count_nonzero(sx) * np.count_nonzero(sy))
    return float(np.sum(sx * sy) / denominator) if denominator else float("nan")
