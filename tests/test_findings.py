"""The "What we found" page's module: every claim of the paper on the page, each decided as the study
chapters decide it, or said untested with a reason."""

from pathlib import Path

import pandas as pd
import pytest

from gtg_core import findings, paper, study

ROOT = Path(__file__).resolve().parent.parent
STEPS = ROOT / "benchmarks" / "results" / "step-samples-cpu-1threads-x86_64.csv"


def test_every_claim_the_package_tests_is_on_the_page_once_and_each_untested_one_says_why():
    tested = [s.claim for s in findings.STATEMENTS if s.claim]
    names = {c.__name__.removeprefix("claim_") for c in paper.CLAIMS} | {"adaptive_costs_time"}
    assert sorted(tested) == sorted(names)  # each once, none missing, none invented
    for s in findings.STATEMENTS:
        assert (s.claim is None) == bool(s.untested), s
        assert s.claim is None or s.source in ("sweep", "table3", "bench"), s
    sections = [s.section for s in findings.STATEMENTS]
    assert sections[0] == "abstract" and {"3.1 H1", "3.1 H4", "3.2 M2", "3.2 M5"} <= set(sections)


@pytest.mark.parametrize("margin, unit, expected", [(0.1, "Dice", "for the claim"), (-0.1, "Dice", "against the claim"),
                                                     (0.0, "Dice", "neither"), (1.0, "tau-b", "for the claim"),
                                                     (0.6, "tau-b", "against the claim (the orders differ)"),
                                                     (None, "", "")])
def test_the_direction_of_an_estimate(margin, unit, expected):
    v = paper.Verdict("c", "", paper.INCONCLUSIVE, margin=margin, unit=unit)
    assert findings.direction(v) == expected


@pytest.fixture(scope="module")
def phantom_mini():
    return study.load_results(ROOT / "studies" / "results" / "phantom-mini")


def test_the_page_reads_each_claim_as_the_study_chapter_decides_it(phantom_mini):
    """Same rows, same draws, same family: every verdict and estimate on the page equals the study chapter's
    claims table; the speed claims come from the benchmark, not from the runs' M3."""
    res = phantom_mini
    decided = findings.decide(res, res, pd.read_csv(STEPS), step_device="cpu", n_draws=1000)
    table = findings.findings_table(decided, {"sweep": "S", "table3": "T", "bench": "B"})
    chapter = paper.claims_table(res.results, res.histories, res.traces, table3=res.table3_rows(), n_draws=1000)
    rows = {s.claim: i for i, s in enumerate(findings.STATEMENTS) if s.claim}
    for claim in ("small_sigma", "high_p", "geodesic_lower_initial", "adaptive_best", "m4_m5_same_order"):
        row = table.loc[rows[claim]]
        assert row["verdict"] == chapter.loc[claim, "verdict"], claim
        shown = f"{chapter.loc[claim, 'margin']} {chapter.loc[claim, '95 % CI']}".strip()
        assert row["estimate [95 % CI]"] == shown, claim
    assert table.loc[rows["small_sigma"], "tested on"] == "S; 1 seed per setting compared"
    assert table.loc[rows["geodesic_lower_initial"], "tested on"] == "T; 3 seeds per setting compared"
    speed = table.loc[rows["disks_fastest"]]
    assert speed["tested on"] == "B" and speed["estimate [95 % CI]"].split()[1] == "ms"
    assert speed["verdict"] == paper.speed_claim(pd.read_csv(STEPS), n_draws=1000).verdict
    assert table.loc[rows["adaptive_costs_time"], "verdict"] == paper.HOLDS
    assert table.loc[rows["geodesic_lower_initial"], "direction"] == "against the claim"
    for i, s in enumerate(findings.STATEMENTS):
        caveat = table.loc[i, "caveat"]
        assert caveat == s.untested if s.claim is None else caveat.startswith(findings.SCOPE), s
    facts = findings.findings_facts(table)
    assert facts["n_statements"] == len(findings.STATEMENTS) == facts["n_tested"] + facts["n_not_tested"]
    assert (facts["n_holds"] + facts["n_does_not_hold"] + facts["n_inconclusive"] + facts["n_not_assessable"]
            + facts["n_not_measured"]) == facts["n_tested"]
    assert facts["n_against"] == int(((table["verdict"] == paper.INCONCLUSIVE)
                                      & table["direction"].str.startswith("against")).sum()) >= 1


def test_missing_evidence_leaves_its_claims_untested_and_says_which(phantom_mini):
    decided = findings.decide(sweep=phantom_mini, n_draws=1000)
    table = findings.findings_table(decided, {"sweep": "S"})
    by_claim = {s.claim: table.loc[i] for i, s in enumerate(findings.STATEMENTS) if s.claim}
    assert by_claim["small_sigma"]["verdict"] != "not tested"
    assert by_claim["adaptive_best"]["verdict"] == "not tested"
    assert by_claim["adaptive_best"]["caveat"] == "no table3 evidence given"
    assert by_claim["disks_fastest"]["caveat"] == "no bench evidence given"
    text = findings.evidence_text(phantom_mini, split="validation")
    assert text == "phantom-mini: validation, 12 volumes, 61 runs, 3 seeds"
