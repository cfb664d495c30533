"""Table 3 on held-out volumes: the test-split study (``studies/table3-test.yml``) as the book reads it.

Each run chose its best epoch on its own validation volumes; everything here is measured on the test volumes,
which chose nothing and are the same for every run and setting, so every comparison is paired by test volume
and by seed. :func:`heldout_reading` gives the numbers and tables; the page's words, with the same keys
whether the study is complete, in progress, or has no test traces yet, are :func:`gtg_core.words.heldout_report`.
"""

from __future__ import annotations

import math

from . import paper
from .study import stats

#: The pairs of one Table 3 (six signals), decided together under Holm.
TABLE3_PAIRS = 15
#: A difference the study was sized to resolve (Dice), as issue 25 asks: 2 points at 80 % power after Holm.
TARGET = 0.02


def _progress(res) -> tuple[int, int]:
    """(finished, planned) runs of the study's Table 3 stage; without a study file, the results' own rows."""
    stages = res.stage_table() if res.study is not None else None
    if stages is not None and "table3" in stages.index and stages.loc["table3", "planned"] != "pending":
        return int(stages.loc["table3", "done"]), int(stages.loc["table3", "planned"])
    return int(len(res.done)), int(len(res.results))


def smallest_resolved(settings: dict, *, seeds: int, volumes: int, power: float = 0.8) -> dict:
    """The smallest Dice difference a paired comparison of two signals resolves with ``power`` under Holm over
    :data:`TABLE3_PAIRS`, with ``seeds`` x ``volumes``, from the study's own variance components
    (:func:`gtg_core.study.stats.paired_components`): ``estimate`` and ``upper`` (at the upper end of the
    setting x seed range) and ``worst`` (at the setting x seed component of the pair whose own is largest,
    ``worst_pair``: :func:`gtg_core.study.stats.pair_seed_x`), in Dice, and the ``components`` they rest
    on; NaN (components None) when the study has no two settings with shared repeated seeds."""
    try:
        components = stats.paired_components(settings)
    except ValueError:
        return {"estimate": math.nan, "upper": math.nan, "worst": math.nan, "worst_pair": None, "components": None}
    kw = dict(comparisons=TABLE3_PAIRS, power=power)
    pairs = stats.pair_seed_x(settings)
    worst = max(pairs, key=pairs.get) if pairs else None
    return {"estimate": stats.detectable_difference(components, seeds, volumes, **kw),
            "upper": stats.detectable_difference(components, seeds, volumes,
                                                 seed_x=components["seed_x_range"][1], **kw),
            "worst": math.nan if worst is None else stats.detectable_difference(
                components, seeds, volumes, seed_x=pairs[worst], **kw),
            "worst_pair": worst, "components": components}


def heldout_reading(res, *, paper_dataset: str = "autopet", user: str = "center", seed: int = 0,
                    n_draws: int = 2000) -> dict:
    """The test-split study ``res`` (:class:`gtg_core.study.StudyResults`) read on its test volumes, as numbers
    and tables (the page's words: :func:`gtg_core.words.heldout_report`):

    ``done`` / ``planned`` (runs of the Table 3 stage), ``collected`` (whether its test traces are), and once
    they are: ``seeds``, ``volumes``, ``rows`` (the Table 3 rows on the test split), ``table``
    (:func:`gtg_core.paper.table3_comparison`), ``pairs`` (:func:`gtg_core.paper.table3_pairs`), ``ranking``
    (:func:`gtg_core.paper.ranking_comparison`), ``smallest`` (:func:`smallest_resolved`), ``user`` and
    ``shift``: the same models clicked by ``user`` against DeepEdit's user
    (:func:`gtg_core.study.stats.compare_cells` over the signals both have, ``common`` of them; None without
    that user's test traces or with fewer than 3 signals in common)."""
    done, planned = _progress(res)
    out = {"done": done, "planned": planned, "collected": res.test_traces is not None, "user": user}
    if res.test_traces is None:
        return out
    test = res.on_test_split()
    rows = test.table3_rows()
    table = paper.table3_comparison(rows, paper_dataset, test.traces)
    pairs = paper.table3_pairs(rows, test.traces, seed=seed, n_draws=n_draws)
    settings = {k: v for k, v in test.settings(rows).items() if k != "non_interactive"}
    seeds, volumes = int(rows["seed"].nunique()), int(test.traces["volume"].nunique())
    out.update(seeds=seeds, volumes=volumes, rows=rows, table=table, pairs=pairs,
               ranking=paper.ranking_comparison(table, pairs),
               smallest=smallest_resolved(settings, seeds=seeds, volumes=volumes), shift=None, common=0)
    other = res.on_test_split(user=user) if res.test_user_traces is not None else None
    if other is not None:
        theirs = {k: v for k, v in other.settings(other.table3_rows()).items() if k != "non_interactive"}
        common = sorted(set(settings) & set(theirs))
        if len(common) >= 3:
            out["common"] = len(common)
            out["shift"] = stats.compare_cells({k: settings[k] for k in common}, {k: theirs[k] for k in common},
                                               n_draws=n_draws, seed=seed)
    return out


def heldout_claims(res, *, seed: int = 0, n_draws: int = 2000):
    """The paper's claims decided on the test split of the held-out study ``res``
    (:func:`gtg_core.paper.claims_table` of :meth:`~gtg_core.study.StudyResults.on_test_split`, its Table 3
    rows), the reading "What we found" decides Table 3 and section 3.2 from; None while it has no test
    traces. Pages that read another study show it beside their own (:func:`gtg_core.paper.with_heldout`)."""
    if res is None or res.test_traces is None:
        return None
    test = res.on_test_split()
    return paper.claims_table(test.results, test.histories, test.traces, seed=seed, n_draws=n_draws,
                              table3=test.table3_rows())
