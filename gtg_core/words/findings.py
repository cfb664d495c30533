"""The words of "What we found": each claim's row (verdict, estimate, Holm's interval, direction, caveat), what
it was tested on, the counts the page says, and the answer box's sentences, from what
:mod:`gtg_core.findings` decides and computes."""

from __future__ import annotations

from .. import findings, formatting, paper


def direction(verdict) -> str:
    """Which way the estimate points, also for an inconclusive verdict: ``for the claim`` (margin > 0),
    ``against the claim`` (< 0) or ``neither`` (0); a rank agreement (tau-b) is for the claim only at 1."""
    if verdict.margin is None or verdict.margin != verdict.margin:
        return ""
    if verdict.unit == "tau-b":
        return "for the claim" if verdict.margin >= 1 - 1e-12 else "against the claim (the orders differ)"
    return "for the claim" if verdict.margin > 0 else "against the claim" if verdict.margin < 0 else "neither"


def estimate_text(verdict) -> str:
    """The margin in its unit with its plain 95 % interval; a time in milliseconds."""
    if verdict.margin is None:
        return ""
    if verdict.unit == "s":
        low, high = verdict.interval or (None, None)
        interval = f" [{1e3 * low:+.1f}, {1e3 * high:+.1f}]" if low is not None and low == low else ""
        return f"{1e3 * verdict.margin:+.1f} ms{interval}"
    text = f"{formatting.signed(verdict.margin)} {verdict.unit}".strip()
    return f"{text} {formatting.interval_text(verdict.interval)}".strip()


def adjusted_text(verdict) -> str:
    """The interval at the level Holm's procedure tested the margin at, with Holm's p; a claim decided alone
    (the speed claims, one benchmark each) or by parts says so; empty where no test ran."""
    if verdict.parts:
        return "by its parts (each must hold): " + "; ".join(
            f"{p.claim.removeprefix(verdict.claim).strip(' _()')} {adjusted_text(p) or p.verdict}"
            for p in verdict.parts)
    if verdict.p_holm is None or verdict.p_holm != verdict.p_holm or verdict.adjusted_interval is None:
        test = verdict.samples
        if verdict.p_holm is None and getattr(test, "testable", False):
            return f"decided alone (no family): p {test.p():.3g}"
        return ""
    low, high = verdict.adjusted_interval
    if verdict.unit == "s":
        interval = f"[{1e3 * low:+.1f}, {1e3 * high:+.1f}] ms"
    else:
        interval = formatting.interval_text(verdict.adjusted_interval)
    return f"{interval} at {100 * verdict.level:.2f} %, p_Holm {verdict.p_holm:.3f}"


def evidence_text(res, *, split: str) -> str:
    """What a study's claims were tested on, in a few words: its name, the split, volumes, runs and seeds. Where
    a stage reuses another's runs, the runs per stage (table3-test's 31 trained runs are the precision stage's 6
    and the Table 3 stage's 28, 3 of them shared: the 28 other pages count)."""
    summary = res.summary()
    seeds = res.done["seed"].nunique() if "seed" in res.done else 0
    name = res.provenance.get("study") or res.source.name
    runs = f"{summary['runs_done']} runs"
    stages = res.stage_table()
    if len(stages) > 1 and "shared" in stages and stages["shared"].sum() > 0:
        parts = [f"{stage} {int(row['done'])}" + (f", {int(row['shared'])} shared" if row["shared"] else "")
                 for stage, row in stages.iterrows()]
        runs += " (" + "; ".join(parts) + ")"
    return f"{name}: {split}, {summary['volumes']} volumes, {runs}, {seeds} seed{'s' if seeds != 1 else ''}"


def findings_table(decided: dict, sources: dict):
    """One row per statement of :data:`gtg_core.findings.STATEMENTS`: the section, what the paper says, what it was
    tested on (``sources``: source -> a short text, e.g. :func:`evidence_text`), the verdict (``not tested`` with
    the reason where no test decides it), the estimate with its unit and 95 % interval, the interval at Holm's level
    with Holm's p (``Holm-adjusted``, what decided the verdict), its direction and the caveat
    (:data:`gtg_core.findings.SCOPE` and :data:`~gtg_core.findings.CAVEATS`). ``decided``:
    :func:`gtg_core.findings.decide`'s result. A pandas DataFrame."""
    import pandas as pd

    rows = []
    for s in findings.STATEMENTS:
        found = decided.get(s.claim) if s.claim else None
        if found is None:
            why = s.untested or f"no {s.source} evidence given"
            rows.append({"section": s.section, "the paper says": s.says, "tested on": "", "verdict": "not tested",
                         "estimate [95 % CI]": "", "Holm-adjusted": "", "direction": "", "caveat": why})
            continue
        source, v = found
        if v.verdict == paper.NOT_MEASURED:
            caveat = v.note or "the evidence does not have what the test needs"
        else:
            caveat = "; ".join(c for c in (findings.SCOPE, findings.CAVEATS.get(s.claim, "")) if c)
        tested_on = sources.get(source, source)
        if v.seeds and source != "bench":  # the seeds of the settings the claim compares (one for the sweeps)
            tested_on += f"; {v.seeds} seed{'s' if v.seeds != 1 else ''} per setting compared"
        rows.append({"section": s.section, "the paper says": s.says, "tested on": tested_on,
                     "verdict": v.verdict, "estimate [95 % CI]": estimate_text(v), "Holm-adjusted": adjusted_text(v),
                     "direction": direction(v), "caveat": caveat})
    return pd.DataFrame(rows)


def findings_facts(table) -> dict:
    """Counts for the page's sentences: ``n_statements``, ``n_tested`` and one ``n_<verdict>`` per verdict
    (``n_holds``, ``n_does_not_hold``, ``n_inconclusive``, ``n_not_assessable``, ``n_not_tested``,
    ``n_not_measured``), and
    ``n_against`` (inconclusive ones whose estimate runs against the claim)."""
    counts = table["verdict"].value_counts()
    facts = {"n_statements": int(len(table)), "n_tested": int((table["verdict"] != "not tested").sum())}
    for verdict in (paper.HOLDS, paper.FAILS, paper.INCONCLUSIVE, paper.NOT_ASSESSABLE, "not tested",
                    paper.NOT_MEASURED):
        facts["n_" + verdict.replace(" ", "_")] = int(counts.get(verdict, 0))
    open_ones = table[table["verdict"] == paper.INCONCLUSIVE]
    facts["n_against"] = int(open_ones["direction"].str.startswith("against").sum())
    return facts


def answer_texts(facts: dict | None, *, study: str = "") -> dict:
    """The answer box's sentences from :func:`gtg_core.findings.answer`'s facts (None: the Table 3 study has no test
    split): ``answer_pairs``, ``answer_seeds``, ``answer_baseline``, ``answer_smallest``, ``answer_training`` and
    ``answer_decide``, each one sentence; the page glues them."""
    if facts is None:
        none = f"not measured: {study or 'the Table 3 study'} has no held-out test split"
        return {k: none for k in ("answer_pairs", "answer_seeds", "answer_baseline", "answer_smallest",
                                  "answer_training", "answer_decide", "answer_headline",
                                  "answer_largest_gap")} | {"answer_target_points": "2"}
    best = facts["best_by_seed"]
    by_best = {}
    for seed, signal in best.items():
        by_best.setdefault(signal, []).append(str(seed))
    best_text = "; ".join(f"{signal} in seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}"
                          for signal, seeds in by_best.items())
    every = facts["beats_baseline"] == facts["cells"]
    needed = ("no design up to 1000 volumes and 1000 seeds" if facts["needed_seeds"] is None else
              f"about {facts['needed_seeds']} seeds per setting on {facts['needed_volumes']} test volumes "
              f"(about {facts['needed_hours']:.0f} hours of one CPU worker at this study's measured rate, one user)")
    return {
        "answer_pairs": (f"{facts['pairs_resolved']} of the {facts['pairs']} pairs of the paper's six signals "
                         f"differ once the seeds are counted as the unit of training noise "
                         f"({facts['seeds']} seeds x {facts['volumes']} test volumes, Holm over the pairs)"),
        "answer_seeds": (f"the best signal is {best_text}; two seeds' orders of the six agree with a mean "
                         f"Kendall tau-b of {facts['tau_mean']:.2f} (1: the same order)"),
        "answer_baseline": (f"{'every' if every else 'not every'} signal beats the non-interactive model in "
                            f"{'every seed' if every else 'each seed'} ({facts['beats_baseline']} of "
                            f"{facts['cells']} signal x seed cells), by at least "
                            f"{100 * facts['least_gain']:.1f} Dice points"),
        "answer_smallest": (f"{100 * facts['smallest']:.1f} Dice points (80 % power under Holm; "
                            f"{100 * facts['smallest_upper']:.1f} at the upper end of the seed noise's range, "
                            f"{100 * facts['smallest_worst']:.1f} at the seed noise of the noisiest pair, "
                            f"{' - '.join(facts['worst_pair'] or ('none',))})"),
        "answer_training": (f"{facts['best_at_last']} of {facts['runs']} runs were best at their last "
                            f"validated epoch, and validation Dice still rose a median "
                            f"{100 * facts['median_last_rise']:.1f} points in it ({facts['epochs']} epochs)"),
        "answer_decide": needed,
        "answer_target_points": f"{100 * facts['target']:.0f}",
        "answer_headline": ("No encoding is shown better than another" if facts["pairs_resolved"] == 0 else
                            f"{facts['pairs_resolved']} of the {facts['pairs']} pairs differ"),
        "answer_largest_gap": f"{100 * facts['largest_gap']:.1f}",
    }


def answer_page(table3, sweep, *, seed: int = 0, n_draws: int = 2000) -> tuple:
    """What "What we found" needs for its answer box: ``(facts, texts)``. ``table3``: the Table 3 study
    (:class:`gtg_core.study.StudyResults`, read on its test split here whatever the page's ``table3_split``;
    facts None where it has none); ``sweep``: the study whose runs on a card and on the CPU give the
    card's speedup for the design table (:func:`gtg_core.study.cost.training_seconds_by_device`). ``texts``:
    :func:`answer_texts` and ``gpu_device``, ``gpu_s``, ``gpu_runs``, ``cpu_s``, ``cpu_runs`` (median
    seconds of training a run, and runs, per kind of device)."""
    from ..study import cost

    times = cost.training_seconds_by_device(sweep)
    gpu = next(((d, t) for d, t in times.items() if not d.startswith("cpu")), ("no card", (float("nan"), 0)))
    cpu = next(((d, t) for d, t in times.items() if d.startswith("cpu")), ("no CPU", (float("nan"), 0)))
    other = (gpu[0], cpu[1][0] / gpu[1][0]) if gpu[1][1] and cpu[1][1] else None
    facts = None
    if table3.test_traces is not None:
        facts = findings.answer(table3.on_test_split(), seed=seed, n_draws=n_draws, other=other,
                       split=cost.measured_split(table3))
    texts = answer_texts(facts, study=str(table3.provenance.get("study") or table3.source.name))
    texts |= {"gpu_device": gpu[0], "gpu_s": f"{gpu[1][0]:.0f}", "gpu_runs": gpu[1][1],
              "cpu_s": f"{cpu[1][0]:.0f}", "cpu_runs": cpu[1][1]}
    return facts, texts
