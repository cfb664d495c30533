"""The words of the Beyond chapter: the learned Eq. 6 and the user comparisons in sentences and display tables,
written from what :mod:`gtg_core.beyond` returns."""

from __future__ import annotations

import pandas as pd

from .. import beyond, formatting, guidance, paper
from ..study import stats


def user_table_wide(table, *, scale: float = 100.0):
    """:func:`gtg_core.beyond.user_table` as the book shows it: signals (rows) by cells
    (:func:`gtg_core.beyond.cell_name`), each "estimate [low, high]" times ``scale`` (Dice points by default)."""
    text = [f"{scale * e:.1f} [{scale * lo:.1f}, {scale * hi:.1f}]"
            for e, lo, hi in zip(table["estimate"], table["low"], table["high"])]
    cells = [beyond.cell_name(t, e) for t, e in zip(table["trained"], table["evaluated"])]
    wide = table.assign(cell=cells, value=text).pivot(index="signal", columns="cell", values="value")
    order = [s for s in paper.SIGNAL_ORDER if s in wide.index]
    return wide.loc[order + [s for s in wide.index if s not in order], list(dict.fromkeys(cells))]


def comparison_table(comparisons, *, scale: float = 100.0) -> pd.DataFrame:
    """One row per comparison of :func:`gtg_core.beyond.user_comparisons` (index: what it asks): the two cells,
    Kendall's tau-b with its interval, how many pairs of signals swap places, how many pairs change their gap (the
    interaction resolved after Holm over the pairs) and how many of those are swaps, the mean gain over the signals
    (second cell minus first, times ``scale``: Dice points) with its 95 % interval and the signals whose gain is
    resolved up or down (Holm over the signals)."""
    rows = []
    for key, shift in comparisons.items():
        pairs, gain = shift["pairs"], shift["gain"]
        (swapped, resolved), (up, down) = beyond.swaps(pairs), beyond.resolved_gains(gain)
        rows.append({"question": beyond.USER_COMPARISONS[key][0], "from": beyond.cell_name(*shift["first"]),
                     "to": beyond.cell_name(*shift["second"]),
                     "tau_b": f"{shift['tau']:.2f} [{shift['tau_low']:.2f}, {shift['tau_high']:.2f}]",
                     "pairs swapped": f"{swapped} of {len(pairs)}",
                     "gaps changed": int((pairs["gap_change"] == "resolved").sum()), "swaps resolved": resolved,
                     "mean gain": f"{scale * shift['mean_gain']:+.1f} [{scale * shift['mean_gain_low']:+.1f}, "
                                  f"{scale * shift['mean_gain_high']:+.1f}]",
                     "resolved up": ", ".join(up) or "none", "resolved down": ", ".join(down) or "none"})
    return pd.DataFrame(rows).set_index("question")


def comparison_texts(results, comparisons) -> dict:
    """The chapter's words for every comparison of :data:`gtg_core.beyond.USER_COMPARISONS`, keyed ``"<key>_<fact>"``:
    ``shift`` (:func:`shift_text`), ``gain`` (:func:`gain_text`), ``changes`` (:func:`changes_text`), and
    from :func:`comparison_table` ``tau`` ("0.60 [-0.07, 0.87]"), ``mean`` (the mean gain with its interval,
    "+5.4 [+3.1, +7.9]" Dice points), ``up`` / ``down`` (the signals whose gain is resolved up / down, or
    "none"), ``changes_count`` (how many pairs change their gap); and ``swaps_where``: the questions whose
    comparison resolves a swap, or "none". For a comparison whose stages are not whole, each says so
    (:func:`progress_text`) instead of reading part of a stage."""
    table = comparison_table(comparisons) if comparisons else None
    out = {}
    for key, (question, _, _) in beyond.USER_COMPARISONS.items():
        shift = comparisons.get(key)
        missing = f"Not measured yet. {progress_text(results)}"
        out[f"{key}_shift"] = shift_text(shift) if shift else missing
        out[f"{key}_gain"] = gain_text(shift) if shift else missing
        out[f"{key}_changes"] = changes_text(shift) if shift else missing
        out[f"{key}_changes_count"] = (str(table.loc[question, "gaps changed"]) if shift
                                       else "(not measured yet)")
        for fact, column in (("tau", "tau_b"), ("mean", "mean gain"), ("up", "resolved up"),
                             ("down", "resolved down")):
            out[f"{key}_{fact}"] = table.loc[question, column] if shift else "(not measured yet)"
    swapped = [] if table is None else [q for q, n in table["swaps resolved"].items() if n]
    out["swaps_where"] = "; ".join(swapped) or "none"
    return out


def claims_by_user_table(results, *, n_draws: int = stats.DEFAULT_DRAWS, seed: int = 0) -> pd.DataFrame:
    """The Table 3 claims (rows) in every (trained, evaluated) cell (columns :func:`gtg_core.beyond.cell_name`):
    "verdict margin [95 % CI]"."""
    columns = {}
    for trained in beyond.trained_users(results):
        for evaluated in beyond.USER_STAGES:
            verdicts = beyond.claims_by_user(results, trained, evaluated, n_draws=n_draws, seed=seed)
            columns[beyond.cell_name(trained, evaluated)] = {
                v.claim: v.verdict + ("" if v.interval is None else
                                      f" {formatting.compact(v.margin)} [{formatting.compact(v.interval[0])}, "
                                      f"{formatting.compact(v.interval[1])}]") for v in verdicts}
    return pd.DataFrame(columns)


def eq6_text(table, *, scale: float = 100.0) -> str:
    """:func:`gtg_core.beyond.eq6_comparisons` in sentences: each difference in Dice points with its interval and
    answer."""
    return " ".join(f"{r.a} against {r.b}: {scale * r.difference:+.1f} points [{scale * r.low:+.1f}, "
                    f"{scale * r.high:+.1f}], {r.answer}." for r in table.itertuples())


def _comparison_words(shift) -> str:
    (t1, e1), (t2, e2) = shift["first"], shift["second"]
    if t1 == t2:
        return f"Models trained with the {t1} user, clicked by the {e2} user instead of the {e1} user"
    if e1 == e2:
        return f"The {e1} user clicking models trained with the {t2} user instead of the {t1} user"
    return f"{beyond.cell_name(t2, e2)} against {beyond.cell_name(t1, e1)}"


def shift_text(shift) -> str:
    """:func:`gtg_core.beyond.ranking_shift` in two sentences: tau-b with its interval, and the pairs that swap
    places."""
    pairs = shift["pairs"]
    listing = ", ".join(f"{r.a} / {r.b}" for r in pairs[pairs["swap"] != "no"].itertuples()) or "none"
    return (f"{_comparison_words(shift)}: Kendall's tau-b between the two rankings {shift['tau']:.2f} "
            f"[{shift['tau_low']:.2f}, {shift['tau_high']:.2f}] (1: the same order). Pairs whose order flips: "
            f"{listing}; of these, resolved (the change of the pair's gap, Holm over the {len(pairs)} pairs): "
            f"{beyond.swaps(pairs)[1]}.")


def gain_text(shift, *, scale: float = 100.0) -> str:
    """:func:`gtg_core.beyond.ranking_shift`'s per-signal gain (second cell minus first) in one sentence, in Dice
    points (``scale``), with how many of the intervals exclude zero."""
    gain = shift["gain"]
    listing = ", ".join(f"{r.signal} {scale * r.gain:+.1f} [{scale * r.low:+.1f}, {scale * r.high:+.1f}]"
                        for r in gain.itertuples())
    up, down = beyond.resolved_gains(gain)
    return (f"{_comparison_words(shift)}, per signal: {listing} points; resolved after Holm over the "
            f"{len(gain)} signals: {len(up) + len(down)}.")


def changes_text(shift, *, scale: float = 100.0) -> str:
    """The pairs of :func:`gtg_core.beyond.ranking_shift` whose gap changes between the two cells (the interaction
    resolved after Holm over the pairs), as "disk / gdt +17.9 [+12.3, +25.5] (order flips)", or "none"."""
    pairs = shift["pairs"]
    changed = pairs[pairs["gap_change"] == "resolved"]
    return "; ".join(
        f"{r.a} / {r.b} {scale * r.interaction:+.1f} [{scale * r.interaction_low:+.1f}, "
        f"{scale * r.interaction_high:+.1f}]" + (" (order flips)" if r.swap == "resolved" else "")
        for r in changed.itertuples()) or "none"


def eq6_facts(results, comparisons, *, scale: float = 100.0) -> dict:
    """The numbers the chapter says about stage eq6: the half-widths of the comparisons' 95 % intervals
    (``halfwidth``, "2.5-3.4" Dice points), the seeds and volumes per encoding (``seeds``, ``volumes``), and
    how many learning runs raised or lowered b from its start (``b_up``, ``b_down``)."""
    half = scale * (comparisons["high"] - comparisons["low"]) / 2
    settings = beyond.eq6_settings(results)
    any_setting = next(iter(settings.values()))
    start = guidance.LearnedRadius().values()["b"]
    b_values = beyond.learned_mean(results)["b_values"]
    return {"halfwidth": f"{half.min():.1f}-{half.max():.1f}", "seeds": len(any_setting.seeds),
            "volumes": len(any_setting.volumes), "b_up": sum(b > start for b in b_values),
            "b_down": sum(b < start for b in b_values)}


def progress_text(results) -> str:
    """Which stages this reading can use: "eq6 9 of 9 runs, deepedit 12 of 12, center 0 of 12", and the
    stages left out because they are not whole."""
    stages = [beyond.EQ6_STAGE] + list(beyond.USER_STAGES.values())
    counts = {s: beyond.stage_progress(results, s) for s in stages}
    text = ", ".join(f"{s} {d} of {p} runs" for s, (d, p) in counts.items())
    missing = [s for s, (d, p) in counts.items() if d < p]
    if missing:
        text += (f"; not read until whole: {', '.join(missing)} (a ranking of some signals is none; the "
                 "study folder's README says what is left to run)")
    return f"Finished: {text}."


def ranking_facts(users, shift) -> dict:
    """Short facts for the text: the spread of the signals' estimates in :func:`gtg_core.beyond.ranking_shift`'s
    first cell (``own_spread``, points), how many pairs that cell resolves (``own_resolved``, Holm over its pairs),
    how many pairs swap in the second cell (``swapped``) and how many swaps are resolved (``swaps_resolved``), each
    "k of n" over the pairs of :func:`gtg_core.beyond.ranking_shift`."""
    trained, evaluated = shift["first"]
    own = users[(users["trained"] == trained) & (users["evaluated"] == evaluated)]
    pairs = shift["pairs"]
    n = len(pairs)
    resolved = int(pairs["first_verdict"].isin([stats.HOLDS, stats.FAILS]).sum())  # Holm over the cell's pairs
    swapped, swaps_resolved = beyond.swaps(pairs)
    return {"own_spread": f"{100 * (own['estimate'].max() - own['estimate'].min()):.1f}",
            "own_resolved": f"{resolved} of {n}", "swapped": f"{swapped} of {n}",
            "swaps_resolved": f"{swaps_resolved} of {n}"}


def claims_change_text(table) -> str:
    """Whether a claim's verdict differs between the cells of :func:`claims_by_user_table`, in one sentence."""
    words = (paper.FAILS, paper.HOLDS, paper.INCONCLUSIVE, paper.NOT_MEASURED)  # "does not hold" first

    def verdict(text):
        return next(w for w in words if text.startswith(w))
    changed = [claim for claim, row in table.iterrows() if len({verdict(v) for v in row}) > 1]
    if not changed:
        return "No verdict changes with the user who clicks."
    return f"Verdicts that change with the user: {', '.join(changed)}."
