"""Table 3 on held-out volumes: the test-split study (``studies/table3-test.yml``) as the book reads it.

Each run chose its best epoch on its own validation volumes; everything here is measured on the test volumes,
which chose nothing and are the same for every run and setting, so every comparison is paired by test volume
and by seed. :func:`heldout_report` gives the texts a page glues (the same keys whether the study is
complete, in progress, or has no test traces yet, so that a book builds at every stage) and the tables.
"""

from __future__ import annotations

import math

from . import beyond, paper
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


def heldout_report(res, *, paper_dataset: str = "autopet", user: str = "center", seed: int = 0,
                   n_draws: int = 2000) -> dict:
    """The test-split study ``res`` (:class:`gtg_core.study.StudyResults`) read on its test volumes:

    - ``texts``: ``heldout_paragraph`` (what the page says, in either state), ``heldout_state`` (how far the
      study is), ``heldout_ranking`` (the ranking with its pairs
      decided under Holm: :func:`gtg_core.paper.ranking_comparison`), ``heldout_smallest`` (the smallest
      difference this design resolves, :func:`smallest_resolved`), ``heldout_user`` (Kendall's tau-b between
      the orders under the deepedit user and ``user`` on the same models and volumes, with its interval) and
      ``heldout_user_changes`` (the pairs whose gap the other user changes, the interaction resolved after
      Holm: :func:`gtg_core.beyond.changes_text`);
    - ``table`` (Table 3 beside the paper's, :func:`gtg_core.paper.table3_display`), ``pairs``
      (:func:`gtg_core.paper.pairs_display`) and ``rows`` (the Table 3 rows on the test split), each None
      while the study has no test traces.
    """
    done, planned = _progress(res)
    none = "not measured yet: the study's test traces are collected when it completes"
    texts = {"heldout_state": f"{done} of {planned} runs finished", "heldout_ranking": none,
             "heldout_smallest": none, "heldout_user": none, "heldout_user_changes": none}
    out = {"texts": texts, "table": None, "pairs": None, "rows": None}
    if res.test_traces is None:
        texts["heldout_state"] += "; its test traces are not collected yet"
        texts["heldout_paragraph"] = (f"The study has finished {done} of its {planned} runs. Its per-click test "
                                      "traces are collected when it completes (studies/keep_running.sh); this "
                                      "section then reads them: nothing here is measured yet.")
        return out
    test = res.on_test_split()
    rows = test.table3_rows()
    volumes = int(test.traces["volume"].nunique())
    seeds = int(rows["seed"].nunique())
    texts["heldout_state"] += f", {seeds} seeds, {volumes} test volumes" + (
        "" if done >= planned else " (in progress: the numbers below will move)")
    table = paper.table3_comparison(rows, paper_dataset, test.traces)
    pairs = paper.table3_pairs(rows, test.traces, seed=seed, n_draws=n_draws)
    texts["heldout_ranking"] = paper.ranking_comparison(table, pairs)["text"]
    settings = {k: v for k, v in test.settings(rows).items() if k != "non_interactive"}
    smallest = smallest_resolved(settings, seeds=seeds, volumes=volumes)
    if not math.isnan(smallest["estimate"]):
        texts["heldout_smallest"] = (f"{100 * smallest['estimate']:.1f} Dice points at the estimated setting x "
                                     f"seed noise ({100 * smallest['upper']:.1f} at the upper end of its range), "
                                     f"against the {100 * TARGET:.0f} points the study was sized for")
    other = res.on_test_split(user=user) if res.test_user_traces is not None else None
    if other is not None:
        theirs = {k: v for k, v in other.settings(other.table3_rows()).items() if k != "non_interactive"}
        common = sorted(set(settings) & set(theirs))
        if len(common) >= 3:
            shift = stats.compare_cells({k: settings[k] for k in common}, {k: theirs[k] for k in common},
                                        n_draws=n_draws, seed=seed)
            texts["heldout_user"] = (f"Kendall's tau-b {shift['tau']:+.2f} [{shift['tau_low']:+.2f}, "
                                     f"{shift['tau_high']:+.2f}] over {len(common)} signals")
            texts["heldout_user_changes"] = beyond.changes_text(shift)
    texts["heldout_paragraph"] = (
        f"The study: {texts['heldout_state']}. {texts['heldout_ranking']} With its seeds and volumes, a difference "
        f"between two signals is resolved (80 % power, Holm over the {TABLE3_PAIRS} pairs) from about "
        f"{texts['heldout_smallest']}. Clicked by the {user} user instead of DeepEdit's, the same models on the same "
        f"volumes rank as {texts['heldout_user']}; pairs whose gap that user changes (the interaction, resolved "
        f"after Holm): {texts['heldout_user_changes']}. Every pair below.")
    out.update(table=paper.table3_display(table), pairs=paper.pairs_display(pairs), rows=rows)
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
