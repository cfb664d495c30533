"""The words of the held-out Table 3 (the signals-compared page's test-split section), from
:func:`gtg_core.heldout.heldout_reading`."""

from __future__ import annotations

import math

from .. import heldout
from .beyond import changes_text
from .paper import pairs_display, ranking_text, table3_display


def heldout_report(res, *, paper_dataset: str = "autopet", user: str = "center", seed: int = 0,
                   n_draws: int = 2000) -> dict:
    """:func:`gtg_core.heldout.heldout_reading` of the test-split study ``res`` as the page says it:

    - ``texts``: ``heldout_paragraph`` (what the page says, in either state), ``heldout_state`` (how far the
      study is), ``heldout_ranking`` (the ranking with its pairs decided under Holm: :func:`ranking_text`),
      ``heldout_smallest`` (the smallest difference this design resolves,
      :func:`gtg_core.heldout.smallest_resolved`), ``heldout_user`` (Kendall's tau-b between the orders under
      the deepedit user and ``user`` on the same models and volumes, with its interval) and
      ``heldout_user_changes`` (the pairs whose gap the other user changes, the interaction resolved after
      Holm: :func:`changes_text`); the same keys whether the study is complete, in progress, or has no test
      traces yet, so that a book builds at every stage;
    - ``table`` (Table 3 beside the paper's, :func:`table3_display`), ``pairs`` (:func:`pairs_display`) and
      ``rows`` (the Table 3 rows on the test split), each None while the study has no test traces.
    """
    r = heldout.heldout_reading(res, paper_dataset=paper_dataset, user=user, seed=seed, n_draws=n_draws)
    done, planned = r["done"], r["planned"]
    none = "not measured yet: the study's test traces are collected when it completes"
    texts = {"heldout_state": f"{done} of {planned} runs finished", "heldout_ranking": none,
             "heldout_smallest": none, "heldout_user": none, "heldout_user_changes": none}
    out = {"texts": texts, "table": None, "pairs": None, "rows": None}
    if not r["collected"]:
        texts["heldout_state"] += "; its test traces are not collected yet"
        texts["heldout_paragraph"] = (f"The study has finished {done} of its {planned} runs. Its per-click test "
                                      "traces are collected when it completes (studies/keep_running.sh); this "
                                      "section then reads them: nothing here is measured yet.")
        return out
    texts["heldout_state"] += f", {r['seeds']} seeds, {r['volumes']} test volumes" + (
        "" if done >= planned else " (in progress: the numbers below will move)")
    texts["heldout_ranking"] = ranking_text(r["ranking"])
    smallest = r["smallest"]
    if not math.isnan(smallest["estimate"]):
        texts["heldout_smallest"] = (f"{100 * smallest['estimate']:.1f} Dice points at the estimated setting x "
                                     f"seed noise ({100 * smallest['upper']:.1f} at the upper end of its range), "
                                     f"against the {100 * heldout.TARGET:.0f} points the study was sized for")
    shift = r["shift"]
    if shift is not None:
        texts["heldout_user"] = (f"Kendall's tau-b {shift['tau']:+.2f} [{shift['tau_low']:+.2f}, "
                                 f"{shift['tau_high']:+.2f}] over {r['common']} signals")
        texts["heldout_user_changes"] = changes_text(shift)
    texts["heldout_paragraph"] = (
        f"The study: {texts['heldout_state']}. {texts['heldout_ranking']} With its seeds and volumes, a difference "
        f"between two signals is resolved (80 % power, Holm over the {heldout.TABLE3_PAIRS} pairs) from about "
        f"{texts['heldout_smallest']}. Clicked by the {user} user instead of DeepEdit's, the same models on the same "
        f"volumes rank as {texts['heldout_user']}; pairs whose gap that user changes (the interaction, resolved "
        f"after Holm): {texts['heldout_user_changes']}. Every pair below.")
    out.update(table=table3_display(r["table"]), pairs=pairs_display(r["pairs"]), rows=r["rows"])
    return out
