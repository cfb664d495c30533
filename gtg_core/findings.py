"""What the book found: every claim of the paper, with the evidence that decides it or why none does.

The "What we found" page reads this module. :data:`STATEMENTS` lists the paper's claims (abstract, section
3.1, section 3.2, Table 3 / Fig. 2) in its own order, each tied to the test of :mod:`gtg_core.paper` that
decides it and to the evidence that test reads:

- ``"sweep"``: the hyperparameter study (H1-H4: sigma, theta, adaptors, p; e.g. phantom-mini);
- ``"table3"``: the Table 3 study (each signal at its Table 3 setting), read on its held-out test split when
  it has one;
- ``"bench"``: the benchmark of the click step (one process, one idle device), for the speed claims.

A claim that no test decides says why (``untested``). :func:`decide` decides them all from the committed
results and :func:`answer` computes the answer box's facts; the page's rows and sentences are written from
them in :mod:`gtg_core.words` (``findings_table``, ``answer_page``); nothing on the page is typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import paper


@dataclass(frozen=True)
class Statement:
    """One claim of the paper: where it is (``section``), what it says (``says``, close to its words), the
    name of the :mod:`gtg_core.paper` test that decides it (``claim``, None when none does), which evidence
    that test reads (``source``: ``"sweep"``, ``"table3"`` or ``"bench"``), and, for a claim no test decides,
    why (``untested``)."""

    section: str
    says: str
    claim: str | None = None
    source: str = ""
    untested: str = ""


#: The paper's claims, in the paper's order.
STATEMENTS = (
    Statement("abstract", "adaptive heatmaps improve Dice by 14 % over non-interactive models on AutoPET",
              "adaptive_over_non_interactive", "table3"),
    Statement("3.1 H1", "sigma <= 5 gives the best final Dice", "small_sigma", "sweep"),
    Statement("3.1 H1", "geodesic maps score lower for sigma < 5 and best at sigma = 5",
              untested="our sigma sweep trains one seed per setting: too few to decide one signal's optimum"),
    Statement("3.1 H1", "larger sigma gives a worse initial Dice for every signal",
              untested="our sigma sweep trains one seed per setting: too few to decide it per signal"),
    Statement("3.1 H1", "the differences between sigma values are larger on AutoPET than on MSD Spleen",
              untested="needs both real datasets; the book's main study uses PET lesion phantoms only"),
    Statement("3.1 H2", "theta = 10 % gives the best final Dice for EDT and GDT", "theta_10", "sweep"),
    Statement("3.1 H3", "concatenating the guidance with the image is the best input adaptor, substantially",
              "concat", "sweep"),
    Statement("3.1 H4", "p >= 75 % gives the best final Dice", "high_p", "sweep"),
    Statement("3.1 H4", "p = 75 % converges faster than p = 100 %",
              untested="the p sweep trains one seed per setting, validated after epochs 2 and 3 only: no interval "
                       "for the epoch a run converges at (the chapter shows the curves)"),
    Statement("3.1 H4", "with p = 50 % the final Dice is below the non-interactive baseline's (MSD Spleen)",
              "p50_below_baseline", "sweep"),
    Statement("3.1 H4", "p = 100 % gives a lower initial Dice and needs more clicks to converge",
              untested="our p sweep covers the heatmap and GDT with one seed each: too few to decide it"),
    Statement("3.2 M2", "the geodesic signals have lower initial Dice", "geodesic_lower_initial", "table3"),
    Statement("3.2 M4", "consistent improvement is about 65 % on both datasets",
              untested="a level on the paper's data, not a comparison: our phantoms set their own level"),
    Statement("3.2 M4", "heatmaps and disks improve most consistently", "disks_heatmaps_most_consistent", "table3"),
    Statement("3.2 M4", "the geodesic signals improve least consistently", "geodesic_least_consistent", "table3"),
    Statement("3.2 M5", "heatmaps, disks and EDT overlap the ground truth more than the geodesic signals",
              "overlap_geodesic_lowest", "table3"),
    Statement("3.2 M5", "the signals rank in the same order in consistent improvement and overlap",
              "m4_m5_same_order", "table3"),
    Statement("Table 3, Fig. 2", "disks are the most efficient signal", "disks_fastest", "bench"),
    Statement("3.2, Table 3", "the adaptive heatmap has the best final and initial Dice, consistent "
              "improvement and overlap", "adaptive_best", "table3"),
    Statement("3.2", "the adaptive heatmap has an efficiency cost (a GDT and a heatmap per click)",
              "adaptive_costs_time", "bench"),
)

#: Said of a claim read from a sweep whose settings have one seed each: no test can count their seed noise.
ONE_SEED = "the sweep's settings have one seed each: the seed-to-seed noise of a training run cannot be estimated"

#: What each tested claim's verdict cannot say, beyond "on our phantoms, not a replication".
CAVEATS = {
    "adaptive_over_non_interactive": "the +14 points are AutoPET's: here the direction is decided, its size only "
                                     "set beside the paper's",
    "p50_below_baseline": "the paper's claim is for MSD Spleen; tested on PET lesion phantoms",
    "small_sigma": ONE_SEED,
    "theta_10": ONE_SEED,
    "concat": ONE_SEED,
    "high_p": ONE_SEED,
    "overlap_geodesic_lowest": "M5 measures where the guidance is non-zero (a heatmap is cut off at 4 sigma), "
                               "not how good it is",
    "adaptive_best": "Eq. 6 barely adapts on these phantoms (nearly a plain heatmap of one large sigma); M5 "
                     "measures support, not quality",
    "disks_fastest": "one CPU, one process; a GPU makes every step cheaper and can reorder them",
    "adaptive_costs_time": "one CPU, one process; the GDT is computed on boxes around the clicks",
    "m4_m5_same_order": "Kendall's tau-b over five signals is shown, not decided: an order is no margin",
}

#: Said of every decided claim: the phantoms are a stand-in, not the paper's data.
SCOPE = "on our phantoms, not a replication"


def decide(sweep=None, table3=None, step_samples=None, *, step_device: str = "", n_draws: int = 2000,
           seed: int = 0) -> dict:
    """Every test of :data:`STATEMENTS`, on its evidence: ``sweep`` and ``table3`` are
    :class:`gtg_core.study.StudyResults` (None: not available), ``step_samples`` the click-step benchmark's
    samples (a DataFrame). The claims of one study are decided together (:func:`gtg_core.paper.check_claims`,
    Holm over that study's margins), reading its Table 3 rows. Returns claim name -> (source, Verdict)."""
    out, decided = {}, {}
    for source, res in (("sweep", sweep), ("table3", table3)):
        if res is None:
            continue
        if id(res) not in decided:  # one study serving as both is decided once
            decided[id(res)] = paper.check_claims(res.results, res.histories, res.traces, n_draws=n_draws,
                                                  seed=seed, table3=res.table3_rows())
        wanted = {s.claim for s in STATEMENTS if s.source == source}
        for v in decided[id(res)]:
            if v.claim in wanted:
                out[v.claim] = (source, v)
    if step_samples is not None:
        for claim in (paper.speed_claim, paper.adaptive_cost_claim):
            v = claim(step_samples, n_draws=n_draws, seed=seed, device=step_device)
            out[v.claim] = ("bench", v)
    return out


def per_seed_ranking(res, metric: str = "M1_final_dice"):
    """The Table 3 study ``res`` (:class:`gtg_core.study.StudyResults`, e.g. its test split) seed by seed: a
    DataFrame indexed by seed with one column per signal (each at its Table 3 setting; the non-interactive
    baseline as ``non_interactive``), the mean of ``metric`` over the volumes that seed's model was
    evaluated on. The seeds the signals share only (a signal missing a seed leaves that seed out)."""
    return _seed_means(res.settings(res.table3_rows()), metric)


def _seed_means(settings: dict, metric: str):
    import pandas as pd

    means = {name: dict(zip(s.seeds, np.nanmean(s.values[metric], axis=1))) for name, s in settings.items()
             if metric in s.values}
    return pd.DataFrame(means).dropna().sort_index().rename_axis("seed") if means else pd.DataFrame()


def still_improving(histories) -> dict:
    """How far training had come when it stopped, from a study's per-epoch histories (validated epochs
    only): ``runs``, ``best_at_last`` (runs whose best validation Dice is at their last validated epoch),
    ``median_last_rise`` (the median change of validation Dice from the second-last validated epoch to the
    last, in Dice) and ``epochs`` (the most epochs a run trained; the histories count from 0). NaN where no
    run was validated twice."""
    val = histories.dropna(subset=["val_final_dice"]) if histories is not None else None
    if val is None or val.empty:
        return {"runs": 0, "best_at_last": 0, "median_last_rise": float("nan"), "epochs": 0}
    val = val.sort_values(["run", "epoch"])
    last = val.groupby("run").tail(1).set_index("run")["val_final_dice"]
    best = val.groupby("run")["val_final_dice"].max()
    rises = val.groupby("run")["val_final_dice"].apply(lambda d: d.iloc[-1] - d.iloc[-2] if len(d) > 1 else np.nan)
    return {"runs": int(len(last)), "best_at_last": int((last >= best.reindex(last.index) - 1e-12).sum()),
            "median_last_rise": float(rises.median()), "epochs": int(histories["epoch"].max()) + 1}


def answer(res, *, seed: int = 0, n_draws: int = 2000, target: float = 0.02, other=None, split=None) -> dict:
    """The facts of the answer box on "What we found", computed from the Table 3 study ``res`` read where the
    page decides it (its test split): a dict of numbers (the words are the page's) and ``ranking``
    (:func:`per_seed_ranking`, the per-seed rankings the page draws).

    ``pairs``, ``pairs_resolved`` (pairs of the paper's six signals whose difference Holm's procedure over
    the pairs resolves, :func:`gtg_core.paper.table3_pairs`); ``seeds``, ``volumes``; ``tau_mean`` (Kendall's
    tau-b between the six signals' orders of two seeds, averaged over the pairs of seeds) and ``best_by_seed``
    (seed -> the best signal); ``largest_gap`` (between two of the six signals' means over the seeds, in
    Dice); ``beats_baseline`` / ``cells`` (signal x seed cells where the signal's mean
    Dice beats the non-interactive model's of the same seed) and ``least_gain`` (the smallest such gain, in
    Dice); ``smallest`` / ``smallest_upper`` / ``smallest_worst`` with ``worst_pair`` (the difference this
    design resolves, :func:`gtg_core.heldout.smallest_resolved`); the training facts of
    :func:`still_improving`; and the cheapest design that resolves ``target``: ``needed_seeds`` on
    ``needed_volumes`` test volumes, ``needed_hours`` of one CPU worker
    (:func:`gtg_core.study.stats.paired_seeds_needed` at the measured components, Holm over the pairs; the cost at the study's own measured rate, one user,
    :func:`gtg_core.study.cost.design_table`), and ``designs``: that table, this study's design first
    (``other``: ``(device, speedup)``, a column of that device's estimated hours; ``split``: the study's
    measured rate, :func:`gtg_core.study.cost.measured_split` of the whole study, which its test split
    alone cannot give)."""
    from itertools import combinations

    from . import heldout
    from .study import cost, stats

    rows = res.table3_rows()
    pairs = paper.table3_pairs(rows, res.traces, seed=seed, n_draws=n_draws)
    resolved = int(pairs["verdict"].isin([paper.HOLDS, paper.FAILS]).sum()) if pairs is not None else 0
    every = res.settings(rows)  # the signals and the baseline, each at its Table 3 setting
    ranking = _seed_means(every, "M1_final_dice")
    signals = [s for s in paper.SIGNAL_ORDER if s in ranking]
    taus = [stats.kendall_tau(ranking.loc[a, signals].to_numpy(), ranking.loc[b, signals].to_numpy())
            for a, b in combinations(ranking.index, 2)]
    gains = ranking[signals].sub(ranking["non_interactive"], axis=0) if "non_interactive" in ranking else None
    settings = {k: v for k, v in every.items() if k != "non_interactive"}
    volumes = int(res.traces["volume"].nunique())
    smallest = heldout.smallest_resolved(settings, seeds=len(ranking), volumes=volumes)
    components = smallest["components"]
    options = {} if components is None else {
        v: stats.paired_seeds_needed(components, target, v, comparisons=heldout.TABLE3_PAIRS)
        for v in (100, 200, 310, 400, 1000)}
    options = {v: k for v, k in options.items() if k is not None}
    designs = cost.design_table([(volumes, len(ranking))] + list(options.items()),
                                split or cost.measured_split(res), settings=len(ranking.columns), other=other)
    cheapest = designs.iloc[1:].sort_values("worker hours").iloc[0] if len(designs) > 1 else None
    return {"pairs": int(len(pairs)) if pairs is not None else 0, "pairs_resolved": resolved,
            "seeds": int(len(ranking)), "volumes": volumes,
            "tau_mean": float(np.nanmean(taus)) if taus else float("nan"),
            "best_by_seed": {int(s): str(ranking.loc[s, signals].idxmax()) for s in ranking.index},
            "beats_baseline": int((gains > 0).to_numpy().sum()) if gains is not None else 0,
            "cells": int(gains.size) if gains is not None else 0,
            "least_gain": float(gains.to_numpy().min()) if gains is not None else float("nan"),
            "largest_gap": float(ranking[signals].mean().max() - ranking[signals].mean().min()),
            "smallest": smallest["estimate"], "smallest_upper": smallest["upper"],
            "smallest_worst": smallest["worst"], "worst_pair": smallest["worst_pair"],
            **still_improving(res.histories), "target": target,
            "needed_seeds": None if cheapest is None else int(cheapest["seeds"]),
            "needed_volumes": None if cheapest is None else int(cheapest["test volumes"]),
            "needed_hours": float("nan") if cheapest is None else float(cheapest["worker hours"]),
            "designs": designs, "ranking": ranking}


