"""Families of verdicts. A page that draws verdicts from many intervals must control the chance of any false
verdict. Each family (the paper's claims on one study; the 15 pairs of one Table 3; the pairs of one user
comparison; the eq6 comparisons) is decided with Holm's step-down procedure (Holm 1979) on bootstrap
p-values, and each comparison's interval is shown at the level Holm used for it beside the plain 95 % one.
Whether an order changes between two cells (users, training) is an interaction on shared draws
(:func:`interaction`, :func:`compare_cells`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bootstrap import (DEFAULT_DRAWS, FAILS, HOLDS, INCONCLUSIVE, LOWER_IS_BETTER, _percentiles, bootstrap,
                        kendall_tau, p_improvement)


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


def interaction(draws: pd.DataFrame, point: dict, a: str, b: str, first: str, second: str) -> tuple:
    """Does the gap between settings ``a`` and ``b`` change from cell ``first`` to cell ``second``? The
    interaction (A - B in second) - (A - B in first) on the same paired draws (``draws``: columns named
    ``"<setting> | <cell>"``, one bootstrap of both cells), and its point estimate from ``point`` (the same
    names -> means). Returns (estimate, samples)."""
    def gap(frame, cell):
        return frame[f"{a} | {cell}"] - frame[f"{b} | {cell}"]
    samples = (gap(draws, second) - gap(draws, first)).to_numpy()
    return float(gap(point, second) - gap(point, first)), samples


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
