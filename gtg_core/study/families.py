"""Families of verdicts. A page that draws verdicts from many comparisons must control the chance of any false
verdict. Each family (the paper's claims on one study; the 15 pairs of one Table 3; the pairs of one user
comparison; the eq6 comparisons) is decided with Holm's step-down procedure (Holm 1979) on the p-values of
seed-honest t tests (:mod:`gtg_core.study.seedtest`), and each comparison's interval is shown at the level
Holm used for it beside the plain 95 % one. Whether an order changes between two cells (users, training) is
an interaction, a contrast of four settings tested the same way (:func:`compare_cells`).
:func:`bootstrap_p` stays for the record (the bootstrap p-value the pages once decided with); it decides
nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bootstrap import (DEFAULT_DRAWS, FAILS, HOLDS, INCONCLUSIVE, LOWER_IS_BETTER, percentiles, bootstrap,
                        kendall_tau, p_improvement)
from .seedtest import NOT_ASSESSABLE, linear_test, pair_test


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


def decide_family(tests: dict, *, alpha: float = 0.05, equivalence: float | None = None,
                  family: str = "") -> pd.DataFrame:
    """Decide a family of comparisons together. ``tests``: name -> :class:`~gtg_core.study.seedtest.SeedTest`
    of a difference (or a claim's margin: > 0 where it holds), seed-honest (:mod:`gtg_core.study.seedtest`).

    One row per name: ``estimate``, its ``se`` and ``df``, the plain ``1 - alpha`` t interval (``low``,
    ``high``), the two-sided t ``p``, Holm's adjusted ``p_holm`` (:func:`holm`) over the ``m`` testable
    comparisons of the family, Holm's ``level`` for it and the t interval at that level (``adj_low``,
    ``adj_high``), and ``verdict``: ``holds`` (p_holm < alpha, estimate > 0), ``does not hold`` (p_holm <
    alpha, < 0), ``inconclusive``, or ``not assessable`` (no seed-level replication: the test's ``reason``);
    with ``equivalence`` (a margin in the quantity's units, e.g. 0.02 Dice) an inconclusive comparison whose
    adjusted interval lies inside (-equivalence, +equivalence) is ``equivalent`` (two one-sided tests at
    Holm's level, Schuirmann 1987). A DataFrame indexed by name."""
    names = list(tests)
    p = np.array([tests[n].p() for n in names])
    adjusted, levels = holm(p), holm_levels(p, alpha)
    m = int((~np.isnan(p)).sum())
    rows = []
    for name, p_i, p_adj, level in zip(names, p, adjusted, levels):
        test = tests[name]
        lo, hi = test.interval(1 - alpha)
        adj_lo, adj_hi = test.interval(level) if not np.isnan(level) else (np.nan, np.nan)
        verdict = INCONCLUSIVE
        if not test.testable:
            verdict = NOT_ASSESSABLE
        elif p_adj < alpha:
            verdict = HOLDS if test.estimate > 0 else FAILS
        elif equivalence is not None and -equivalence < adj_lo and adj_hi < equivalence:
            verdict = EQUIVALENT
        rows.append({"name": name, "estimate": float(test.estimate), "se": float(test.se), "df": float(test.df),
                     "seeds": test.seeds, "volumes": test.volumes, "low": lo, "high": hi, "p": float(p_i),
                     "p_holm": float(p_adj), "level": float(level), "adj_low": adj_lo, "adj_high": adj_hi,
                     "verdict": verdict, "reason": test.reason, "family": family, "m": m})
    return pd.DataFrame(rows).set_index("name")


def pairwise(settings: dict, metric: str = "M1_final_dice", *, alpha: float = 0.05,
             equivalence: float | None = None, n_draws: int | None = None, seed: int | None = None,
             order=None) -> pd.DataFrame:
    """Every pair (A, B) of ``settings`` as one family (:func:`decide_family`): A - B on ``metric`` (oriented
    so that > 0 favours A also where lower is better), each pair tested seed-honestly
    (:func:`gtg_core.study.seedtest.pair_test`: paired by seed, seeds and volumes crossed), with Holm's
    adjustment over the pairs and, with ``equivalence``, the equivalence verdict. ``order``: the settings in
    the order pairs are formed (A before B; default: the dict's). Adds ``a``, ``b`` and the paired P(A beats
    B) (:func:`p_improvement`, a description). A DataFrame indexed by "A - B". (``n_draws`` and ``seed``,
    which the bootstrap once decided with, are accepted and ignored.)"""
    names = [n for n in (order or settings) if n in settings and metric in settings[n].values]
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    tests, extra = {}, {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            key = f"{a} - {b}"
            tests[key] = pair_test(settings[a], settings[b], metric, sign=sign)
            extra[key] = {"a": a, "b": b, "p_improvement": p_improvement(settings[a], settings[b], metric)}
    table = decide_family(tests, alpha=alpha, equivalence=equivalence, family=f"pairs of {metric}")
    return pd.DataFrame(extra).T.join(table)


def compare_cells(first: dict, second: dict, metric: str = "M1_final_dice", *, n_draws: int = DEFAULT_DRAWS,
                  seed: int = 0) -> dict:
    """Do the settings keep their order from one *cell* to another (e.g. the same models clicked by another
    user, or models trained another way)? ``first`` and ``second``: name -> :class:`Setting`, the same names
    in both, on the same volumes and seed numbers.

    Returns ``tau`` (Kendall's tau-b between the two orders of the mean ``metric``) with a 95 % interval
    from the paired two-way bootstrap (``tau_low``, ``tau_high``; ``n_draws``, ``seed``: a description,
    which decides nothing); ``pairs``: per pair (A, B, in ``first``'s order), A - B in each cell (columns
    ``first``, ``first_low``, ``first_high``, ``second``, ... : t intervals), each cell's pairs decided as one
    family (``first_p_holm``, ``first_verdict``, ``second_...``), the ``interaction`` (A - B in the second
    cell minus A - B in the first) with its plain interval, Holm's adjusted p over the pairs and the interval
    at Holm's level, ``gap_change`` (the interaction resolved after Holm: "resolved", else "no") and ``swap``
    ("resolved" when the order flips and the interaction is resolved, "unresolved" when the order flips
    without it, "no" otherwise); ``gain``: per setting, the second cell's value minus the first's with its
    interval, decided over the settings as one family (``verdict``: holds = up, does not hold = down);
    ``mean_gain`` over the settings with its 95 % interval. Every test is seed-honest
    (:func:`gtg_core.study.seedtest.linear_test`)."""
    signals = list(first)
    if set(second) != set(signals):
        raise ValueError(f"compare_cells: the cells hold different settings ({sorted(first)} vs {sorted(second)})")
    cells = ("first", "second")
    settings = {f"{name} | {role}": cell[name] for role, cell in zip(cells, (first, second)) for name in signals}
    settings = {k: type(s)(k, s.seeds, s.volumes, s.values, s.nested) for k, s in settings.items()}  # named by cell
    draws = bootstrap(settings, metric, n_draws=n_draws, seed=seed)
    point = {k: float(np.nanmean(s.values[metric])) for k, s in settings.items()}
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0

    def column(role, frame):
        return np.array([frame[f"{s} | {role}"] for s in signals], dtype=float)

    def test(weights):
        return linear_test({(k, metric): w for k, w in weights.items()}, settings)

    tau = kendall_tau(sign * column("first", point), sign * column("second", point))
    taus = [kendall_tau(sign * column("first", row), sign * column("second", row))
            for row in draws.to_dict("records")]
    tau_low, tau_high = percentiles(np.array(taus), 0.95)
    pairs, within, changes = [], {role: {} for role in cells}, {}
    for i, a in enumerate(signals):
        for b in signals[i + 1:]:
            row, key = {"a": a, "b": b}, f"{a} / {b}"
            for role in cells:
                within[role][key] = test({f"{a} | {role}": 1.0, f"{b} | {role}": -1.0})
                lo, hi = within[role][key].interval(0.95)
                row.update({role: within[role][key].estimate, f"{role}_low": lo, f"{role}_high": hi})
            changes[key] = test({f"{a} | second": 1.0, f"{b} | second": -1.0, f"{a} | first": -1.0,
                                 f"{b} | first": 1.0})
            pairs.append(row)
    pairs = pd.DataFrame(pairs)
    for role in cells:  # each cell's own 15 pairs, one family (as a Table 3's)
        decided = decide_family(within[role], family=f"pairs of the {role} cell")
        pairs[f"{role}_p_holm"], pairs[f"{role}_verdict"] = decided["p_holm"].to_numpy(), decided["verdict"].to_numpy()
    decided = decide_family(changes, family="pairs of one user comparison")
    pairs["interaction"] = decided["estimate"].to_numpy()
    for column_name, source in (("interaction_low", "low"), ("interaction_high", "high"), ("p_holm", "p_holm"),
                                ("interaction_adj_low", "adj_low"), ("interaction_adj_high", "adj_high")):
        pairs[column_name] = decided[source].to_numpy()
    pairs["gap_change"] = np.where(decided["verdict"].isin([HOLDS, FAILS]), "resolved", "no")
    opposite = np.sign(pairs["first"]) != np.sign(pairs["second"])
    pairs["swap"] = np.select([opposite & (pairs["gap_change"] == "resolved"), opposite],
                              ["resolved", "unresolved"], "no")
    gains = {sig: test({f"{sig} | second": 1.0, f"{sig} | first": -1.0}) for sig in signals}
    decided_gain = decide_family(gains, family="gains of one user comparison")
    gain = pd.DataFrame({"signal": signals, "gain": decided_gain["estimate"].to_numpy(),
                         "low": decided_gain["low"].to_numpy(), "high": decided_gain["high"].to_numpy(),
                         "adj_low": decided_gain["adj_low"].to_numpy(), "adj_high": decided_gain["adj_high"].to_numpy(),
                         "p_holm": decided_gain["p_holm"].to_numpy(), "verdict": decided_gain["verdict"].to_numpy()})
    mean = test({f"{sig} | {role}": (1.0 if role == "second" else -1.0) / len(signals)
                 for sig in signals for role in cells})
    mean_low, mean_high = mean.interval(0.95)
    return {"metric": metric, "tau": tau, "tau_low": tau_low, "tau_high": tau_high,
            "pairs": pairs, "gain": gain, "mean_gain": float(mean.estimate),
            "mean_gain_low": mean_low, "mean_gain_high": mean_high}
