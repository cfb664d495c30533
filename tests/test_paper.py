"""gtg_core.paper: the paper's tables as data, and each claim on crafted results where it holds and where
it does not."""

from pathlib import Path

import pandas as pd
import pytest

from gtg_core import paper
from gtg_core.guidance import PAPER_SETTINGS


def row(signal="heatmap", sigma=1.0, theta=0.0, adaptor="concat", p=1.0, seed=36, m1=0.9, m2=0.8, m3=0.05,
        m4=0.6, m5=0.5, status="done"):
    name = f"s/{signal}-s{sigma}-t{theta}-{adaptor}-p{p}-seed{seed}"
    return {"run": name, "status": status, "signal": signal, "sigma": sigma, "theta": theta, "adaptor": adaptor,
            "p_volume": p, "seed": seed, "variant": "paper", "M1_final_dice": m1, "M2_initial_dice_with_seeds": m2,
            "M3_step_time_s": m3, "M4_consistent_improvement": m4, "M5_gt_overlap_last": m5}


def table(rows):
    return pd.DataFrame(rows)



def test_tables_are_the_papers():
    assert paper.TABLE1["sigma"] == (0, 1, 5, 9, 13) and paper.TABLE1["p"] == (50, 75, 100)
    assert paper.TABLE3["msd_spleen"]["adaptive_heatmap"]["dice"] == 96.9
    assert paper.TABLE3["autopet"]["gdt"]["theta"] == 10 == PAPER_SETTINGS["autopet"]["table3"]["gdt"]["theta"]
    assert len(paper.DIVERGENCES) >= 15 and all(len(d) == 5 for d in paper.DIVERGENCES)
    assert not any("|" in cell for d in paper.DIVERGENCES for cell in d)  # renders as a Markdown table


@pytest.mark.parametrize("good", [True, False])
def test_small_sigma(good):
    m1 = {1.0: 0.9, 5.0: 0.92, 13.0: 0.95 if not good else 0.8}
    v = paper.claim_small_sigma(table([row(sigma=s, m1=m) for s, m in m1.items()]))
    assert v.verdict == (paper.HOLDS if good else paper.FAILS) and v.numbers["M1_by_sigma"][5.0] == 0.92


def test_small_sigma_not_measured_and_failed_runs_ignored():
    assert paper.claim_small_sigma(table([row(sigma=1.0), row(sigma=5.0)])).verdict == paper.NOT_MEASURED
    rows = [row(sigma=1.0, m1=0.9), row(sigma=13.0, m1=0.99, status="failed")]
    assert paper.claim_small_sigma(table(rows)).verdict == paper.NOT_MEASURED


@pytest.mark.parametrize("good", [True, False])
def test_theta_10(good):
    rows = [row(signal=s, theta=t, m1=0.9 + (0.05 if (t == 10.0) == good else 0.0)) for s in ("edt", "gdt")
            for t in (0.0, 10.0, 30.0)]
    assert paper.claim_theta_10(table(rows)).verdict == (paper.HOLDS if good else paper.FAILS)


@pytest.mark.parametrize("good", [True, False])
def test_concat(good):
    rows = [row(adaptor=a, m1=0.9 + (0.05 if (a == "concat") == good else 0.0)) for a in ("concat", "dmf", "conv1s")]
    rows.append(row(signal="disk", adaptor="dmf", m1=0.99))  # a signal with one adaptor only is left out
    assert paper.claim_concat(table(rows)).verdict == (paper.HOLDS if good else paper.FAILS)


def test_high_p_and_convergence():
    rows = [row(p=p, m1=m) for p, m in ((0.5, 0.8), (0.75, 0.9), (1.0, 0.89))]
    runs = {r["p_volume"]: r["run"] for r in rows}
    fast = pd.DataFrame([{"run": runs[p], "epoch": e, "val_final_dice": v} for p, curve in
                         ((0.75, [0.5, 0.9, 0.9]), (1.0, [0.3, 0.5, 0.89])) for e, v in enumerate(curve)])
    v = paper.claim_high_p(table(rows), fast)
    assert v.verdict == paper.HOLDS and v.numbers["epochs_to_95pct_of_best"] == {0.75: 1.0, 1.0: 2.0}
    slow = fast.assign(run=fast["run"].map({runs[0.75]: runs[1.0], runs[1.0]: runs[0.75]}))
    assert paper.claim_high_p(table(rows), slow).verdict == paper.FAILS  # 75 % converges slower
    rows[0]["M1_final_dice"] = 0.95
    assert paper.claim_high_p(table(rows)).verdict == paper.FAILS
    assert paper.claim_high_p(table(rows[1:])).verdict == paper.NOT_MEASURED


@pytest.mark.parametrize("good", [True, False])
def test_p50_below_baseline(good):
    rows = [row(p=0.0, m1=0.9), row(p=0.5, m1=0.85 if good else 0.95)]
    assert paper.claim_p50_below_baseline(table(rows)).verdict == (paper.HOLDS if good else paper.FAILS)


@pytest.mark.parametrize("good", [True, False])
def test_disks_fastest_uses_each_signals_best_setting_and_averages_seeds(good):
    rows = [row(signal="disk", m3=0.01 if good else 0.2, seed=s) for s in (36, 37)]
    rows += [row(signal="heatmap", m3=0.05), row(signal="gdt", sigma=5.0, theta=10.0, m3=0.1)]
    rows.append(row(signal="disk", sigma=9.0, m1=0.5, m3=0.0001))  # a worse disk setting does not count
    v = paper.claim_disks_fastest(table(rows))
    assert v.verdict == (paper.HOLDS if good else paper.FAILS)


@pytest.mark.parametrize("good", [True, False])
def test_geodesic_least_consistent(good):
    rows = [row(signal="disk", m4=0.7), row(signal="heatmap", m4=0.72),
            row(signal="gdt", m4=0.5 if good else 0.8), row(signal="exp_gdt", m4=0.55)]
    assert paper.claim_geodesic_least_consistent(table(rows)).verdict == (paper.HOLDS if good else paper.FAILS)


@pytest.mark.parametrize("good", [True, False])
def test_adaptive_best(good):
    rows = [row(signal="heatmap", m1=0.9, m2=0.8, m4=0.6, m5=0.5),
            row(signal="adaptive_heatmap", m1=0.95, m2=0.85, m4=0.7, m5=0.6 if good else 0.4)]
    v = paper.claim_adaptive_best(table(rows))
    assert v.verdict == (paper.HOLDS if good else paper.FAILS)
    assert len(v.numbers["best_in"]) == (4 if good else 3)
    assert paper.claim_adaptive_best(table(rows[:1])).verdict == paper.NOT_MEASURED


def test_check_claims_on_the_pilot_results_reads_every_claim():
    folder = Path(__file__).resolve().parent.parent / "studies" / "results" / "phantom-mini-pilot-h200"
    verdicts = paper.check_claims(pd.read_csv(folder / "results.csv"), pd.read_csv(folder / "histories.csv"))
    assert [v.claim for v in verdicts] == [c.__name__.removeprefix("claim_") for c in paper.CLAIMS]
    assert {v.verdict for v in verdicts} <= {paper.HOLDS, paper.FAILS, paper.NOT_MEASURED}
    assert next(v for v in verdicts if v.claim == "concat").verdict == paper.NOT_MEASURED  # h3h4 never ran


PILOT = Path(__file__).resolve().parent.parent / "studies" / "results" / "phantom-mini-pilot-h200"


def test_table3_comparison_sets_our_numbers_beside_the_papers():
    rows = [row(signal="disk", seed=s, m1=m) for s, m in ((36, 0.90), (37, 0.94))]
    rows += [row(signal="disk", sigma=9.0, m1=0.5), row(signal="heatmap", p=0.0, m1=0.8)]
    out = paper.table3_comparison(table(rows)).set_index("signal")
    assert out.loc["disk", "paper_dice"] == 95.9 and out.loc["disk", "ours_dice"] == 92.0
    assert out.loc["disk", "ours_dice_sd"] == pytest.approx(2.8, abs=0.05) and out.loc["disk", "ours_seeds"] == 2
    assert out.loc["non_interactive", "ours_dice"] == 80.0 and out.loc["non_interactive", "paper_dice"] == 94.9
    assert pd.isna(out.loc["gdt", "ours_dice"])  # not run: no number invented
    assert paper.table3_comparison(table(rows), "autopet").set_index("signal").loc["disk", "paper_dice"] == 78.2
    with pytest.raises(ValueError, match="dataset"):
        paper.table3_comparison(table(rows), "brats")


def test_best_setting_metrics_feed_the_spider_plot():
    import matplotlib

    matplotlib.use("Agg")
    from gtg_core import viz

    values = paper.best_setting_metrics(table([row(signal="disk", m4=0.9), row(signal="heatmap", m4=0.5),
                                                  row(signal="gdt", m4=0.7)]))
    assert values["disk"]["M4_consistent_improvement"] == 0.9 and set(values) == {"disk", "heatmap", "gdt"}
    fig = viz.spider_plot(values)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert any("M4" in label and "disk > gdt > heatmap" in label for label in labels)
    with pytest.raises(ValueError, match="spider_plot"):
        viz.spider_plot({})


def test_hyperparameter_figure_on_the_pilot_says_what_was_not_measured():
    import matplotlib

    matplotlib.use("Agg")
    from gtg_core import viz

    fig = viz.hyperparameter_figure(pd.read_csv(PILOT / "results.csv"), provenance="pilot, NVIDIA H200")
    axes = fig.axes
    assert len(axes) == 6 and axes[0].has_data() and axes[2].has_data()  # sigma and theta were run
    texts = [t.get_text() for t in axes[3].texts]
    assert "not measured" in texts  # no adaptor comparison in the pilot
    assert any("H200" in t.get_text() for t in axes[5].texts)


def test_claims_table_lists_every_claim_with_its_numbers():
    import pandas as pd

    rows = pd.DataFrame({"run": ["a", "b"], "status": ["done", "done"], "signal": ["heatmap", "heatmap"],
                         "sigma": [1.0, 9.0], "theta": [0.0, 0.0], "adaptor": ["concat", "concat"],
                         "p_volume": [1.0, 1.0], "seed": [36, 36], "M1_final_dice": [0.9, 0.7]})
    table = paper.claims_table(rows)
    assert list(table.index) == [c(rows).claim if c is not paper.claim_high_p else c(rows, None).claim
                                 for c in paper.CLAIMS]
    assert table.loc["small_sigma", "verdict"] == paper.HOLDS
    assert "1: 0.900; 9: 0.700" in table.loc["small_sigma", "numbers"] and "best_sigma: 1" in table.loc["small_sigma", "numbers"]
    assert table.loc["concat", "verdict"] == paper.NOT_MEASURED and table.loc["concat", "numbers"] == ""
