"""The words of the paper's pages: Table 3 and its pairs as a page shows them, the ranking in a sentence, the
claims' and the speed claim's short texts. Everything here formats what :mod:`gtg_core.paper` returns."""

from __future__ import annotations

from ..paper import EQUIVALENCE_MARGIN
from ..study.stats import FAILS, HOLDS, INCONCLUSIVE


def order_text(values: dict) -> str:
    """signal -> value as "a (79.9) > b = c (78.2) > ...", best first, equal values joined by "="."""
    groups = {}
    for signal, value in sorted(values.items(), key=lambda kv: -kv[1]):
        groups.setdefault(value, []).append(signal)
    return " > ".join(f"{' = '.join(names)} ({value:.1f})" for value, names in groups.items())


def count(n: int, one: str, many: str) -> str:
    """``n`` with the singular or plural noun: "1 pair differs", "3 pairs differ"."""
    return f"{n} {one if n == 1 else many}"


def effect_text(effect, *, scale: float = 100.0) -> str:
    """An estimate with its interval as "+1.2 [-0.3, +2.8]" (times ``scale``), or "not measured"."""
    if not effect:
        return "not measured"
    return f"{scale * effect['estimate']:+.1f} [{scale * effect['low']:+.1f}, {scale * effect['high']:+.1f}]"


#: :func:`table3_display`'s short headers, so that Table 3 fits the book's page width.
TABLE3_HEADERS = {"paper_sigma": "paper σ", "paper_theta": "paper θ %", "paper_dice": "paper Dice %",
                  "ours_sigma": "our σ", "ours_theta": "our θ %", "ours_dice": "our Dice %", "ours_ci": "95 % CI",
                  "ours_dice_sd": "seed SD", "ours_seeds": "seeds"}


def table3_display(table):
    """:func:`gtg_core.paper.table3_comparison` as a page shows it: indexed by signal, short headers
    (:data:`TABLE3_HEADERS`), sigma and theta as plain numbers, Dice with one decimal, empty cells blank."""
    def text(value, column):
        if value is None or (isinstance(value, float) and value != value):
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value:.1f}" if column in ("paper_dice", "ours_dice", "ours_dice_sd") else f"{value:g}"
        return str(value)

    shown = table.set_index("signal")
    if "ours_low" in shown:
        shown = shown.assign(ours_ci=[f"{lo:.1f}-{hi:.1f}" if lo == lo else ""
                                      for lo, hi in zip(shown["ours_low"], shown["ours_high"])])
    shown = shown[[c for c in TABLE3_HEADERS if c in shown]]
    shown = shown.apply(lambda col: col.map(lambda v: text(v, col.name)))
    return shown.rename(columns=TABLE3_HEADERS)


def pairs_display(pairs, *, scale: float = 100.0):
    """:func:`gtg_core.paper.table3_pairs` as a page shows it: one row per pair ("A - B"), the difference and both
    intervals in Dice points (``scale``), Holm's p, the verdict and P(A beats B)."""
    import pandas as pd

    if pairs is None:
        return pd.DataFrame()

    def span(lo, hi):
        return f"[{scale * lo:+.1f}, {scale * hi:+.1f}]"
    return pd.DataFrame({
        "A - B (points)": [f"{scale * v:+.1f}" for v in pairs["estimate"]],
        "95 % CI": [span(lo, hi) for lo, hi in zip(pairs["low"], pairs["high"])],
        "at Holm's level": [f"{span(lo, hi)} at {100 * lv:.2f} %"
                            for lo, hi, lv in zip(pairs["adj_low"], pairs["adj_high"], pairs["level"])],
        "p_Holm": [f"{p:.3f}" for p in pairs["p_holm"]],
        "verdict": [{HOLDS: f"{a} better", FAILS: f"{b} better", INCONCLUSIVE: "not resolved"}.get(v, v)
                    for a, b, v in zip(pairs["a"], pairs["b"], pairs["verdict"])],
        "P(A > B)": [f"{p:.2f}" for p in pairs["p_improvement"]]}, index=pairs.index)


def ranking_text(comparison: dict) -> str:
    """:func:`gtg_core.paper.ranking_comparison` in one sentence: both rankings, and what of ours the paired
    intervals decide (the pairs that differ after Holm, those equivalent within the margin)."""
    c = comparison
    if not c["ours"]:
        return "No signal of the paper's Table 3 was measured."
    both = (f"The paper ranks {order_text(c['paper_dice'])}; "
            f"ours (mean Dice over seeds, %) {order_text(c['ours_dice'])}. ")
    if not c["compared"]:
        return both + "Without the traces no pair is compared: the order of the means alone decides nothing."
    kept = "; ".join(f"{a} > {b} (+{gap:.1f})" for a, b, gap in c["separated"]) or "none"
    same = "; ".join(f"{a} = {b}" for a, b, _ in c["equivalent"]) or "none"
    n = c["pairs"]
    return (both + f"Of our {n} pairs, compared volume by volume and seed by seed with Holm's adjustment "
            f"over all {n}, {count(len(c['separated']), 'pair differs', 'pairs differ')}: {kept}; "
            f"{count(len(c['equivalent']), 'pair is', 'pairs are')} equivalent within "
            f"+-{100 * EQUIVALENCE_MARGIN:g} points: {same}; the order of the rest is not decided by this study.")


def claim_texts(table) -> dict:
    """Short texts of :func:`gtg_core.paper.claims_table` for a page, keyed by the row's name made safe for a glue key
    ("adaptive_best (M1)" -> "adaptive_best_m1"): ``verdict_<key>`` and ``margin_<key>`` (the margin with its
    unit and plain 95 % interval)."""
    out = {}
    for name, row in table.iterrows():
        key = name.replace(" (", "_").replace(")", "").lower()
        out[f"verdict_{key}"] = row["verdict"]
        out[f"margin_{key}"] = f"{row['margin']} {row['95 % CI']}".strip()
    return out


def changed_by_holm(table) -> str:
    """The rows of :func:`gtg_core.paper.claims_table` whose verdict Holm's adjustment changed, as "name (unadjusted
    -> adjusted)" joined by "; ", or "none"."""
    changed = table[(table["unadjusted verdict"] != "") & (table["verdict"] != table["unadjusted verdict"])]
    return "; ".join(f"{name} ({r['unadjusted verdict']} -> {r['verdict']})"
                     for name, r in changed.iterrows()) or "none"


def speed_texts(verdict) -> dict:
    """:func:`gtg_core.paper.speed_claim`'s verdict as a page says it: ``speed_verdict``, ``speed_margin`` (ms with
    its interval) and ``speed_order`` (the signals, fastest first)."""
    if verdict.interval is None:
        return {"speed_verdict": verdict.verdict, "speed_margin": "not measured", "speed_order": "not measured"}
    lo, hi = verdict.interval
    return {"speed_verdict": verdict.verdict,
            "speed_margin": f"{1e3 * verdict.margin:+.1f} ms [{1e3 * lo:+.1f}, {1e3 * hi:+.1f}]",
            "speed_order": " > ".join(verdict.numbers["fastest_first"])}
