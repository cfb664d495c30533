"""gtg_core.study.stats: the paired two-stage bootstrap, P(improvement), rank stability, power, and the
three-outcome verdicts of gtg_core.paper, each on data with a known answer (fixed seeds)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from gtg_core import paper, study
from gtg_core.study import stats

ROOT = Path(__file__).resolve().parent.parent


def setting(name, x, seeds=None):
    x = np.atleast_2d(np.asarray(x, dtype=float))
    return stats.Setting(name, tuple(seeds or range(x.shape[0])), tuple(range(x.shape[1])), {"M1_final_dice": x})


def test_the_interval_of_normal_data_is_the_textbook_one():
    rng = np.random.default_rng(0)
    x = rng.normal(0.7, 0.1, size=(1, 2000))  # one seed, 2000 volumes: the seed stage does nothing
    out = stats.interval({"a": setting("a", x)}, "M1_final_dice", n_draws=4000, seed=1).loc["a"]
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert out["estimate"] == pytest.approx(x.mean())
    assert (out["high"] - out["low"]) / 2 == pytest.approx(half, rel=0.1)
    assert out["low"] < 0.7 < out["high"]


def test_the_two_stage_interval_carries_the_seed_variance():
    rng = np.random.default_rng(2)
    tau, sigma, n_s, n_v = 0.03, 0.1, 40, 200
    x = 0.8 + rng.normal(0, tau, size=(n_s, 1)) + rng.normal(0, sigma, size=(n_s, n_v))
    out = stats.interval({"a": setting("a", x)}, "M1_final_dice", n_draws=3000, seed=3).loc["a"]
    se = np.sqrt(tau ** 2 / n_s + sigma ** 2 / (n_s * n_v))  # the grand mean's standard error
    assert (out["high"] - out["low"]) / 2 == pytest.approx(1.96 * se, rel=0.25)
    # a one-level bootstrap over all 8000 values as if independent would be far too narrow
    assert 1.96 * x.std() / np.sqrt(x.size) < 0.5 * (out["high"] - out["low"]) / 2


def test_pairing_by_volume_cancels_the_volumes_shared_difficulty():
    rng = np.random.default_rng(4)
    difficulty = rng.normal(0, 0.15, size=(1, 30))  # shared by both settings
    a = setting("a", 0.80 + difficulty + rng.normal(0, 0.01, size=(3, 30)))
    b = setting("b", 0.78 + difficulty + rng.normal(0, 0.01, size=(3, 30)))
    out = stats.compare({"a": a, "b": b}, "a", "b", "M1_final_dice", n_draws=2000, seed=5)
    assert out["low"] > 0 and out["difference"] == pytest.approx(0.02, abs=0.01)
    # each setting's own interval is wide (the difficulty), and the two overlap: only the paired view decides
    single = stats.interval({"a": a, "b": b}, "M1_final_dice", seed=5)
    assert single.loc["b", "high"] > single.loc["a", "low"]


def test_probability_of_improvement_is_rliables():
    a, b = setting("a", [[0.9, 0.8, 0.7]]), setting("b", [[0.5, 0.8, 0.9]])
    out = stats.compare({"a": a, "b": b}, "a", "b", "M1_final_dice", n_draws=200)
    assert out["p_improvement"] == pytest.approx((1 + 0.5 + 0) / 3)  # wins, ties, loses by volume
    matrix = stats.improvement_matrix({"a": a, "b": b})
    assert matrix.loc["a", "b"] + matrix.loc["b", "a"] == pytest.approx(1) and matrix.loc["a", "a"] == 0.5
    # lower is better for NoC: fewer clicks wins
    noc = {k: stats.Setting(k, (0,), (0, 1), {"NoC@90": np.array(v)}) for k, v in
           {"few": [[2.0, 3.0]], "many": [[5.0, 9.0]]}.items()}
    assert stats.compare(noc, "few", "many", "NoC@90", n_draws=100)["p_improvement"] == 1.0


def test_rank_stability_separates_a_clear_winner_from_a_tie():
    rng = np.random.default_rng(6)
    base = rng.normal(0, 0.05, size=(1, 20))
    tie = 0.7 + base + rng.normal(0, 0.05, (3, 20))
    settings = {"best": setting("best", 0.9 + base + rng.normal(0, 0.01, (3, 20))),
                "tie1": setting("tie1", tie), "tie2": setting("tie2", tie[::-1])}  # the same runs: a true tie
    ranks = stats.rank_distribution(settings, n_draws=1000, seed=7)
    assert ranks.loc["best", 1] > 0.99
    # the tie: each takes place 2 and place 3 in a good share of the draws (a shared place counts for both)
    for name in ("tie1", "tie2"):
        assert 0.3 < ranks.loc[name, 2] < 0.8 and 0.2 < ranks.loc[name, 3] < 0.7
    assert np.allclose(ranks.sum(axis=1), 1)


def test_variance_components_and_seeds_needed_match_a_simulation():
    rng = np.random.default_rng(8)
    tau, sigma, n_v = 0.02, 0.08, 25
    difficulty = rng.normal(0, 0.1, size=(1, n_v))
    settings = {f"s{i}": setting(f"s{i}", 0.8 + difficulty + rng.normal(0, tau, (6, 1))
                                 + rng.normal(0, sigma, (6, n_v))) for i in range(8)}
    comp = stats.variance_components(settings)
    assert comp["volume"] == pytest.approx(sigma ** 2, rel=0.15)
    assert comp["seed"] == pytest.approx(tau ** 2, rel=0.6) and comp["settings_with_seeds"] == 8
    truth = {"seed": tau ** 2, "volume": sigma ** 2}
    n = stats.seeds_needed(truth, 0.03, n_v)
    assert n is not None and stats.seeds_needed(truth, 0.03, n_v, power=0.9) > n
    # simulate studies with n seeds per setting and a true difference of 0.03: about 80 % are significant
    hits = 0
    for _ in range(400):
        a = 0.83 + rng.normal(0, tau, (n, 1)) + rng.normal(0, sigma, (n, n_v))
        b = 0.80 + rng.normal(0, tau, (n, 1)) + rng.normal(0, sigma, (n, n_v))
        z = (a.mean() - b.mean()) / stats.difference_se(truth, n, n_v)
        hits += abs(z) > scipy_stats.norm.ppf(0.975)
    assert hits / 400 == pytest.approx(0.8, abs=0.08)
    table = stats.power_table(truth, differences=(0.01, 0.03), volumes=(12, 100))
    assert table.loc[3.0, "100 volumes"] <= table.loc[3.0, "12 volumes"] <= table.loc[1.0, "12 volumes"]


# ------------------------------------------------------------------------------------- verdicts with traces


def study_tables(means: dict, *, noise: float, seeds=(36, 37, 38), volumes=12, seed=0, **fields):
    """A results table and traces for settings (signal -> final Dice) with per-volume noise: M2 0.5 at click
    0, the Dice rising linearly to the setting's value at click 10, plus noise per (seed, volume)."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 0.05, size=volumes)
    rows, traces = [], []
    for (signal, sigma), m1 in means.items():
        for s in seeds:
            run = f"h1/{signal}-s{sigma}-seed{s}"
            finals = m1 + difficulty + rng.normal(0, noise, size=volumes)
            for v in range(volumes):
                curve = np.linspace(0.5, finals[v], 11)
                traces += [{"run": run, "volume": f"v{v}", "click": c, "dice": d, "step_time_s": 0.01,
                            "overlap": 0.5} for c, d in enumerate(curve)]
            rows.append({"run": run, "status": "done", "signal": signal, "sigma": float(sigma), "theta": 0.0,
                         "adaptor": "concat", "p_volume": 1.0, "variant": "paper", "seed": s,
                         "M1_final_dice": float(finals.mean()), **fields})
    return pd.DataFrame(rows), pd.DataFrame(traces)


@pytest.mark.parametrize("case, verdict", [("holds", paper.HOLDS), ("fails", paper.FAILS),
                                           ("noise", paper.INCONCLUSIVE)])
def test_small_sigma_has_three_outcomes_with_its_interval(case, verdict):
    gap, noise = {"holds": (0.08, 0.02), "fails": (-0.08, 0.02), "noise": (0.005, 0.1)}[case]
    means = {(signal, sigma): 0.8 + (gap if sigma <= 5 else 0.0) for signal in ("disk", "heatmap")
             for sigma in (1, 5, 9, 13)}
    results, traces = study_tables(means, noise=noise, seed=11)
    v = paper.claim_small_sigma(results, evidence=paper.Evidence(traces, n_draws=1000))
    assert v.verdict == verdict and v.interval is not None
    low, high = v.interval
    assert low <= v.margin <= high
    table = paper.claims_table(results, None, traces, n_draws=500)
    assert table.loc["small_sigma", "verdict"] == verdict and "[" in table.loc["small_sigma", "margin [95 % CI]"]
    # without traces the same claim is only the margin's sign, and says so
    plain = paper.claim_small_sigma(results)
    assert plain.verdict in (paper.HOLDS, paper.FAILS) and plain.interval is None and "no traces" in plain.note


def test_claims_on_the_committed_studies_come_with_intervals_and_some_are_inconclusive():
    verdicts = {}
    for name in ("phantom-mini", "table3-pet-cpu"):
        res = study.load_results(ROOT / "studies" / "results" / name)
        for v in paper.check_claims(res.results, res.histories, res.traces, n_draws=500):
            assert v.verdict in (paper.HOLDS, paper.FAILS, paper.INCONCLUSIVE, paper.NOT_MEASURED)
            if v.verdict != paper.NOT_MEASURED:
                assert v.interval is not None and v.interval[0] <= v.interval[1]
            verdicts[name, v.claim] = v.verdict
    assert paper.INCONCLUSIVE in verdicts.values()
    assert verdicts["phantom-mini", "small_sigma"] != paper.NOT_MEASURED


def test_per_volume_metrics_average_to_the_committed_run_metrics():
    res = study.load_results(ROOT / "studies" / "results" / "phantom-mini")
    table = stats.per_volume(res.traces, res.results)
    recorded = [m for m in stats.VOLUME_METRICS if m in res.results]  # NSD came later: not in this study
    assert len(recorded) == len(stats.VOLUME_METRICS) - 2 and table["nsd_final"].isna().all()
    means = table.groupby("run")[recorded].mean()
    committed = res.results.set_index("run").loc[means.index, recorded]
    assert np.allclose(means.to_numpy(), committed.to_numpy(), atol=1e-9, equal_nan=True)
    assert len(means) == 61 and (table.groupby("run")["volume"].nunique() == 12).all()


def test_settings_evaluated_on_other_volumes_are_an_error_naming_them():
    table = pd.DataFrame({"signal": ["a", "a", "b"], "seed": [1, 1, 1], "volume": ["v1", "v2", "v1"],
                          "M1_final_dice": [0.5, 0.6, 0.7]})
    with pytest.raises(ValueError, match="setting 'b'.*v2"):
        stats.settings_from(table)


def test_within_volume_intervals_drop_the_shared_difficulty_but_keep_the_centre():
    rng = np.random.default_rng(9)
    difficulty = rng.normal(0, 0.15, size=(1, 30))
    settings = {k: setting(k, m + difficulty + rng.normal(0, 0.01, size=(3, 30)))
                for k, m in (("a", 0.80), ("b", 0.78), ("c", 0.70))}
    plain = stats.interval(settings, "M1_final_dice", seed=1)
    paired = stats.interval(settings, "M1_final_dice", seed=1, paired=True)
    assert np.allclose(plain["estimate"], paired["estimate"])
    assert ((paired["high"] - paired["low"]) < 0.3 * (plain["high"] - plain["low"])).all()
    assert (paired["low"] < paired["estimate"]).all() and (paired["estimate"] < paired["high"]).all()
    assert paired.loc["a", "low"] > paired.loc["b", "high"]  # the 0.02 difference shows once paired


def test_a_comparison_reads_as_one_line():
    text = stats.comparison_text({"a": "x", "b": "y", "difference": 0.043, "low": 0.007, "high": 0.086,
                                  "p_improvement": 0.676, "p_low": 0.42, "p_high": 0.92})
    assert text == "x against y: +4.3 points [+0.7, +8.6], P(improvement) 0.68 [0.42, 0.92]"


def test_per_volume_nsd_when_the_trace_has_it():
    rows = [{"run": "s/a", "volume": v, "click": c, "dice": 0.5, "nsd": (0.2, 0.6, 1.0)[c]}
            for v in ("v1", "v2") for c in range(3)]
    table = stats.per_volume(pd.DataFrame(rows))
    assert table["nsd_final"].tolist() == [1.0, 1.0] and table["nsd_auc"].tolist() == pytest.approx([0.6, 0.6])
    old = stats.per_volume(pd.DataFrame(rows).drop(columns="nsd"))  # the committed studies' traces
    assert old["nsd_final"].isna().all()
