"""What the book found: every claim of the paper, with the evidence that decides it or why none does.

The "What we found" page reads this module. :data:`STATEMENTS` lists the paper's claims (abstract, section
3.1, section 3.2, Table 3 / Fig. 2) in its own order, each tied to the test of :mod:`gtg_core.paper` that
decides it and to the evidence that test reads:

- ``"sweep"``: the hyperparameter study (H1-H4: sigma, theta, adaptors, p; e.g. phantom-mini);
- ``"table3"``: the Table 3 study (each signal at its Table 3 setting), read on its held-out test split when
  it has one;
- ``"bench"``: the benchmark of the click step (one process, one idle device), for the speed claims.

A claim that no test decides says why (``untested``). :func:`findings_table` decides them all from the
committed results; nothing on the page is typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def direction(verdict: paper.Verdict) -> str:
    """Which way the estimate points, also for an inconclusive verdict: ``for the claim`` (margin > 0),
    ``against the claim`` (< 0) or ``neither`` (0); a rank agreement (tau-b) is for the claim only at 1."""
    if verdict.margin is None or verdict.margin != verdict.margin:
        return ""
    if verdict.unit == "tau-b":
        return "for the claim" if verdict.margin >= 1 - 1e-12 else "against the claim (the orders differ)"
    return "for the claim" if verdict.margin > 0 else "against the claim" if verdict.margin < 0 else "neither"


def _estimate(verdict: paper.Verdict) -> str:
    """The margin in its unit with its plain 95 % interval; a time in milliseconds."""
    if verdict.margin is None:
        return ""
    if verdict.unit == "s":
        low, high = verdict.interval or (None, None)
        interval = f" [{1e3 * low:+.1f}, {1e3 * high:+.1f}]" if low is not None and low == low else ""
        return f"{1e3 * verdict.margin:+.1f} ms{interval}"
    text = f"{paper._signed(verdict.margin)} {verdict.unit}".strip()
    return f"{text} {paper._interval_text(verdict.interval)}".strip()


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


def evidence_text(res, *, split: str) -> str:
    """What a study's claims were tested on, in a few words: its name, the split, volumes, runs and seeds."""
    summary = res.summary()
    seeds = res.done["seed"].nunique() if "seed" in res.done else 0
    name = res.provenance.get("study") or res.source.name
    return (f"{name}: {split}, {summary['volumes']} volumes, {summary['runs_done']} runs, "
            f"{seeds} seed{'s' if seeds != 1 else ''}")


def findings_table(decided: dict, sources: dict):
    """One row per statement of :data:`STATEMENTS`: the section, what the paper says, what it was tested on
    (``sources``: source -> a short text, e.g. :func:`evidence_text`), the verdict (``not tested`` with the
    reason where no test decides it), the estimate with its unit and 95 % interval, its direction and the
    caveat (:data:`SCOPE` and :data:`CAVEATS`). ``decided``: :func:`decide`'s result. A pandas DataFrame."""
    import pandas as pd

    rows = []
    for s in STATEMENTS:
        found = decided.get(s.claim) if s.claim else None
        if found is None:
            why = s.untested or f"no {s.source} evidence given"
            rows.append({"section": s.section, "the paper says": s.says, "tested on": "", "verdict": "not tested",
                         "estimate [95 % CI]": "", "direction": "", "caveat": why})
            continue
        source, v = found
        if v.verdict == paper.NOT_MEASURED:
            caveat = v.note or "the evidence does not have what the test needs"
        else:
            caveat = "; ".join(c for c in (SCOPE, CAVEATS.get(s.claim, "")) if c)
        tested_on = sources.get(source, source)
        if v.seeds and source != "bench":  # the seeds of the settings the claim compares (one for the sweeps)
            tested_on += f"; {v.seeds} seed{'s' if v.seeds != 1 else ''} per setting compared"
        rows.append({"section": s.section, "the paper says": s.says, "tested on": tested_on,
                     "verdict": v.verdict, "estimate [95 % CI]": _estimate(v), "direction": direction(v),
                     "caveat": caveat})
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
