"""The "What we found" page's module: every claim of the paper on the page, each decided as the study
chapters decide it, or said untested with a reason."""

from pathlib import Path

import pandas as pd
import pytest

from gtg_core import findings, paper, study, words

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
    assert words.direction(v) == expected


@pytest.fixture(scope="module")
def phantom_mini():
    return study.load_results(ROOT / "studies" / "results" / "phantom-mini")


def test_the_page_reads_each_claim_as_the_study_chapter_decides_it(phantom_mini):
    """Same rows, same draws, same family: every verdict and estimate on the page equals the study chapter's
    claims table; the speed claims come from the benchmark, not from the runs' M3."""
    res = phantom_mini
    decided = findings.decide(res, res, pd.read_csv(STEPS), step_device="cpu", n_draws=1000)
    table = words.findings_table(decided, {"sweep": "S", "table3": "T", "bench": "B"})
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
    facts = words.findings_facts(table)
    assert facts["n_statements"] == len(findings.STATEMENTS) == facts["n_tested"] + facts["n_not_tested"]
    assert (facts["n_holds"] + facts["n_does_not_hold"] + facts["n_inconclusive"] + facts["n_not_assessable"]
            + facts["n_not_measured"]) == facts["n_tested"]
    assert facts["n_against"] == int(((table["verdict"] == paper.INCONCLUSIVE)
                                      & table["direction"].str.startswith("against")).sum()) >= 1


def test_missing_evidence_leaves_its_claims_untested_and_says_which(phantom_mini):
    decided = findings.decide(sweep=phantom_mini, n_draws=1000)
    table = words.findings_table(decided, {"sweep": "S"})
    by_claim = {s.claim: table.loc[i] for i, s in enumerate(findings.STATEMENTS) if s.claim}
    assert by_claim["small_sigma"]["verdict"] != "not tested"
    assert by_claim["adaptive_best"]["verdict"] == "not tested"
    assert by_claim["adaptive_best"]["caveat"] == "no table3 evidence given"
    assert by_claim["disks_fastest"]["caveat"] == "no bench evidence given"
    text = words.evidence_text(phantom_mini, split="validation")
    # 61 trained runs; its Table 3 stage reuses 5 of the sweeps' (review 4: a page's count must say which runs)
    assert text == ("phantom-mini: validation, 12 volumes, 61 runs (h1 25; h2 12; extras 6; h3h4 8; table3 15, "
                    "5 shared), 3 seeds")


# ------------------------------------------------------------------------------------- the answer box


@pytest.fixture(scope="module")
def table3_test():
    return study.load_results(ROOT / "studies" / "results" / "table3-test").on_test_split()


def test_the_answer_box_is_computed_from_the_held_out_study(table3_test):
    """Each fact of the box recomputed another way from the committed test traces: the per-seed means from
    the per-volume table, the baseline's margin cell by cell, the pairs from the Table 3 family."""
    import numpy as np
    from scipy.stats import kendalltau

    from gtg_core.study import cost

    whole = study.load_results(ROOT / "studies" / "results" / "table3-test")
    facts = findings.answer(table3_test, n_draws=200, split=cost.measured_split(whole))
    ranking = facts["ranking"]
    volumes = study.stats.per_volume(table3_test.traces, table3_test.table3_rows())
    labelled = volumes.assign(signal=volumes["signal"].where(volumes["p_volume"] > 0, "non_interactive"))
    by_hand = labelled.groupby(["seed", "signal"])["M1_final_dice"].mean().unstack()
    assert np.allclose(ranking.sort_index(axis=1), by_hand.sort_index(axis=1))
    signals = [s for s in paper.SIGNAL_ORDER if s in ranking]
    gains = ranking[signals].sub(ranking["non_interactive"], axis=0)
    assert facts["cells"] == gains.size == 6 * facts["seeds"]
    assert facts["beats_baseline"] == int((gains > 0).sum().sum())
    assert facts["least_gain"] == pytest.approx(gains.min().min())
    taus = [kendalltau(ranking.loc[a, signals], ranking.loc[b, signals]).statistic
            for i, a in enumerate(ranking.index) for b in ranking.index[i + 1:]]
    assert facts["tau_mean"] == pytest.approx(np.mean(taus))
    pairs = paper.table3_pairs(table3_test.table3_rows(), table3_test.traces, n_draws=200)
    assert facts["pairs"] == 15 and facts["pairs_resolved"] == int(pairs["verdict"].isin(
        [paper.HOLDS, paper.FAILS]).sum())
    assert facts["best_by_seed"] == {int(s): ranking.loc[s, signals].idxmax() for s in ranking.index}
    # the design that resolves the target does, and this study's does not
    assert facts["smallest"] > facts["target"]
    designs = facts["designs"]
    assert (designs.iloc[0]["seeds"], designs.iloc[0]["test volumes"]) == (facts["seeds"], facts["volumes"])
    assert facts["needed_hours"] == designs.iloc[1:]["worker hours"].min()
    means = ranking[signals].mean()
    assert facts["largest_gap"] == pytest.approx(means.max() - means.min())
    texts = words.answer_texts(facts)
    assert texts["answer_pairs"].startswith(f"{facts['pairs_resolved']} of the 15 pairs")
    assert (texts["answer_headline"] == "No encoding is shown better than another") == (facts["pairs_resolved"] == 0)
    assert words.answer_texts(dict(facts, pairs_resolved=2))["answer_headline"] == "2 of the 15 pairs differ"
    assert "not measured" in words.answer_texts(None)["answer_decide"]


def test_still_improving_counts_runs_best_at_their_last_validated_epoch():
    histories = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 3, "epoch": [0, 1, 2] * 2, "time_s": 1.0,
                              "val_final_dice": [None, 0.5, 0.6, None, 0.7, 0.65]})
    facts = findings.still_improving(histories)
    assert facts == {"runs": 2, "best_at_last": 1, "median_last_rise": pytest.approx(0.025), "epochs": 3}


def test_a_design_costs_its_runs_at_the_measured_rate():
    from gtg_core.study import cost

    split = {"train_s": 500.0, "episode_s": 4.0}
    table = cost.design_table({100: 4, 310: 73}, split, settings=7, other=("card", 4.0))
    assert list(table["runs"]) == [28, 511]
    assert table.iloc[1]["worker hours"] == round(511 * (500 + 4 * 310) / 3600)
    assert table.iloc[1]["card hours (estimate)"] == round(511 * (500 + 4 * 310) / 3600 / 4)


def test_the_measured_split_and_the_device_times_read_the_committed_runs(table3_test):
    from gtg_core.study import cost

    full = study.load_results(ROOT / "studies" / "results" / "table3-test")
    split = cost.measured_split(full)
    train = full.histories.groupby("run")["time_s"].sum()
    assert split["train_s"] == pytest.approx(train.mean())
    wall = full.done.set_index("run")["wall_time_s"]
    per_run = (wall - train.reindex(wall.index)) / (full.done.set_index("run")["test_cases"] * 2)  # + the center user
    assert split["episode_s"] == pytest.approx(per_run.mean())
    times = cost.training_seconds_by_device(full)
    assert list(times) == ["cpu (x86_64)"] and times["cpu (x86_64)"] == (pytest.approx(train.median()), len(train))


def test_a_pages_claims_show_the_held_out_verdict_beside_their_own(phantom_mini, table3_test):
    from gtg_core import heldout

    own = paper.claims_table(phantom_mini.results, phantom_mini.histories, phantom_mini.traces, n_draws=200,
                             table3=phantom_mini.table3_rows())
    held = heldout.heldout_claims(study.load_results(ROOT / "studies" / "results" / "table3-test"), n_draws=200)
    shown = paper.with_heldout(own, held)
    assert list(shown["held-out verdict"]) == [held["verdict"].get(c, paper.NOT_MEASURED) for c in own.index]
    assert shown.loc["small_sigma", "verdict"] == paper.NOT_ASSESSABLE  # one seed in the sweep
    assert shown.loc["geodesic_lower_initial", "held-out verdict"] == held.loc["geodesic_lower_initial", "verdict"]
    assert set(paper.with_heldout(own, None)["held-out verdict"]) == {"no held-out study"}


def test_the_answer_page_reads_the_held_out_split_and_the_cards_measured_times(phantom_mini):
    """answer_page: the facts of the whole study's test split, and the card's speed-up from the sweep's runs
    on both devices (median training seconds per run, measured); a study without a test split gives no facts
    and says so in every sentence."""
    import numpy as np

    from gtg_core.study import cost

    whole = study.load_results(ROOT / "studies" / "results" / "table3-test")
    facts, texts = words.answer_page(whole, phantom_mini, n_draws=200)
    seconds = phantom_mini.histories.groupby("run")["time_s"].sum()
    devices = phantom_mini.done.set_index("run")["device"]
    h200 = seconds[devices.reindex(seconds.index) == "NVIDIA H200"]
    assert texts["gpu_device"] == "NVIDIA H200" and texts["gpu_s"] == f"{np.median(h200):.0f}"
    assert texts["gpu_runs"] == len(h200)
    assert facts["designs"].columns[-1] == "NVIDIA H200 hours (estimate)"
    assert facts["designs"].iloc[0]["worker hours"] == cost.design_table(
        [(100, 4)], cost.measured_split(whole), settings=7).iloc[0]["worker hours"]
    none, texts = words.answer_page(phantom_mini, phantom_mini, n_draws=200)
    assert none is None and all("not measured" in texts[k] for k in ("answer_pairs", "answer_decide"))
