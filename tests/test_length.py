"""The training-length rule of studies/training-length.yml (issue #33) as code: checked on curves whose answer
is known, and on the pilot's committed runs as far as they go."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gtg_core.study import length

ROOT = Path(__file__).resolve().parents[1]


def _study(curves: dict):
    """histories and results of runs named setting/seed, validated every 2 epochs: curves maps
    (signal, seed) -> the validation Dice after epochs 2, 4, 6, ..."""
    histories, results = [], []
    for (signal, seed), values in curves.items():
        run = f"s/{signal}-seed{seed}"
        results.append({"run": run, "signal": signal, "sigma": 5.0, "seed": seed})
        for k, value in enumerate(values):
            histories += [{"run": run, "epoch": 2 * k, "val_final_dice": None},
                          {"run": run, "epoch": 2 * k + 1, "val_final_dice": value}]
    return pd.DataFrame(histories), pd.DataFrame(results)


def test_a_curve_that_levels_off_is_cut_where_it_stops_rising_beyond_its_seed_noise():
    rise = [0.50, 0.60, 0.70, 0.75, 0.76, 0.765, 0.766, 0.767, 0.767, 0.768]  # lengths 2, 4, ..., 20
    hist, res = _study({("disk", 1): [v - 0.01 for v in rise], ("disk", 2): [v + 0.01 for v in rise]})
    curves = length.validation_curves(hist, res)
    assert list(curves["length"]) == list(range(2, 21, 2)) and (curves["seeds"] == 2).all()
    assert curves["se"].iloc[0] == pytest.approx(0.01, rel=1e-6)  # seeds 0.02 apart: sd 0.0141, / sqrt 2
    out = length.chosen_length(hist, res)
    # at 8 epochs (0.75) the next 6 epochs reach 0.766 > 0.75 + 0.01; at 10 (0.76) they stay below 0.77
    assert out == {"length": 10, "levelled": True, "per_setting": {"disk|5": 10}, "longest": 20}


def test_a_setting_still_rising_decides_and_is_said_not_levelled():
    steady = [0.7, 0.75, 0.76, 0.761, 0.762, 0.762, 0.762, 0.762]
    rising = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
    hist, res = _study({("disk", 1): steady, ("disk", 2): [v + 0.004 for v in steady],
                        ("exp_gdt", 1): rising, ("exp_gdt", 2): [v + 0.004 for v in rising]})
    out = length.chosen_length(hist, res)
    # the disk: at 8 epochs (0.763) the next 6 stay below 0.763 + 0.002 (its seed SE); at 6 they reach it
    assert out["per_setting"]["exp_gdt|5"] is None and out["per_setting"]["disk|5"] == 8
    assert out == {**out, "length": 16, "levelled": False, "longest": 16}
    with pytest.raises(ValueError, match="no validated epochs"):
        length.chosen_length(hist.assign(val_final_dice=None), res)


def test_the_pilots_committed_runs_give_curves_of_every_seed_they_have():
    folder = ROOT / "studies" / "results" / "training-length"
    hist, res = pd.read_csv(folder / "histories.csv"), pd.read_csv(folder / "results.csv")
    res = res[res["status"] == "done"]
    curves = length.validation_curves(hist, res)
    assert set(curves["setting"]) == {"disk|5", "exp_gdt|0"}
    # validated every 2 epochs and at the tested epoch 3, up to 24
    assert set(range(2, 25, 2)) <= set(curves["length"]) and curves["length"].max() == 24


def test_the_figure_draws_a_curve_and_a_band_per_setting():
    import matplotlib

    matplotlib.use("Agg")
    from gtg_core import viz

    hist, res = _study({("disk", 1): [0.5, 0.6, 0.7], ("disk", 2): [0.52, 0.61, 0.69],
                        ("exp_gdt", 1): [0.4, 0.5, 0.6], ("exp_gdt", 2): [0.42, 0.52, 0.61]})
    fig = viz.training_length_figure(length.validation_curves(hist, res))
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")] == [
        "disk|5 (2 seeds)", "exp_gdt|5 (2 seeds)"]
    assert len(ax.collections) == 2 and ax.get_lines()[0].get_color() == viz.SIGNAL_COLOURS["disk"]


def _snapshots(effects: dict, *, volumes: int = 30, lengths=(3, 24), noise: float = 0.02, rng_seed: int = 0):
    """snapshot_traces and results of runs named signal-seed: ``effects`` maps (signal, seed) -> the run's
    final Dice offset at each length (a dict length -> offset); every volume adds its own difficulty (shared
    by the settings) and independent noise; clicks -1, 0, 1, 2 with the last one's Dice the final Dice."""
    rng = np.random.default_rng(rng_seed)
    difficulty = rng.uniform(0.5, 0.8, volumes)
    traces, results = [], []
    for (signal, seed), by_length in effects.items():
        run = f"s/{signal}-seed{seed}"
        results.append({"run": run, "status": "done", "signal": signal, "sigma": 5.0, "seed": seed})
        for length in lengths:
            final = difficulty + by_length[length] + rng.normal(0, noise, volumes)
            for v in range(volumes):
                for click, dice in zip((-1, 0, 1, 2), (0.1, 0.3, final[v] - 0.05, final[v])):
                    traces.append({"run": run, "volume": f"vol_{v:03d}", "click": click, "dice": dice,
                                   "snapshot_epoch": length, "best_epoch": length - 2})
    return pd.DataFrame(traces), pd.DataFrame(results)


def test_the_test_split_at_each_length_gives_means_differences_and_components_of_the_shared_seeds():
    effects = {("disk", s): {3: 0.02 * s, 24: 0.10 + 0.02 * s} for s in (1, 2, 3)}
    effects |= {("exp_gdt", s): {3: 0.02 * s - 0.05, 24: 0.12 + 0.02 * s} for s in (1, 2, 3)}
    effects[("disk", 4)] = {3: 0.3, 24: 0.3}  # a seed the other setting lacks: left out of every number
    traces, results = _snapshots(effects)
    table = length.test_by_length(traces, results, designs=((4, 100), (4, 400)))
    assert list(table["length"]) == [3, 24] and (table["seeds"] == 3).all() and (table["volumes"] == 30).all()
    final = traces[traces["click"] == 2].merge(results, on="run")
    for _, row in table.iterrows():
        at = final[(final["snapshot_epoch"] == row["length"]) & (final["seed"] < 4)]
        means = at.groupby("signal")["dice"].mean()
        assert row["M1 disk"] == pytest.approx(means["disk"]) and row["M1 exp_gdt"] == pytest.approx(means["exp_gdt"])
        per_seed = at.pivot_table(index="seed", columns="signal", values="dice").eval("disk - exp_gdt")
        assert (row["difference"], row["low"], row["high"]) == pytest.approx(
            (per_seed.mean(), per_seed.min(), per_seed.max()))
    # the seeds move both settings alike (no setting x seed term); volumes differ only by noise
    assert table["difference"].tolist() == pytest.approx([0.05, -0.02], abs=0.01)
    assert (table["seed_x_low"] <= table["seed_x"]).all() and (table["seed_x"] <= table["seed_x_high"]).all()
    assert table["residual"].tolist() == pytest.approx([0.02, 0.02], rel=0.25)
    assert table["best_epoch"].tolist() == [2, 23]  # best_epoch counts from 0 in the traces
    assert (table["detectable 4x400"] < table["detectable 4x100"]).all()


def test_a_length_that_was_not_tested_or_a_seed_no_setting_shares_is_named():
    traces, results = _snapshots({("disk", 1): {3: 0.0}, ("exp_gdt", 2): {3: 0.0}}, lengths=(3,))
    with pytest.raises(ValueError, match="length 6: the snapshot traces have no snapshot_epoch 6"):
        length.snapshot_settings(traces, results, 6)
    with pytest.raises(ValueError, match="length 3: no seed was tested for every setting"):
        length.snapshot_settings(traces, results, 3)


def test_the_rate_ignores_a_paused_epoch_and_a_length_is_planned_at_its_nearest_tested_one():
    hist = pd.DataFrame({"time_s": [100.0, 110.0, 2300.0, 105.0, None]})
    assert length.epoch_seconds(hist) == pytest.approx(107.5)
    with pytest.raises(ValueError, match="no epoch has a time_s"):
        length.epoch_seconds(pd.DataFrame({"time_s": [None]}))
    assert [length.nearest_tested(e, (3, 6, 12, 18, 24)) for e in (2, 4, 5, 9, 15, 30)] == [3, 3, 6, 12, 18, 24]


def test_the_evidence_figure_draws_each_settings_test_dice_and_the_components_in_points():
    import matplotlib

    matplotlib.use("Agg")
    from gtg_core import viz

    effects = {(signal, s): {3: 0.02 * s + shift, 24: 0.1 + shift} for s in (1, 2, 3)
               for signal, shift in (("disk", 0.0), ("exp_gdt", -0.03))}
    table = length.test_by_length(*_snapshots(effects, volumes=12))
    fig = viz.length_evidence_figure(table)
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()] == ["disk", "exp_gdt"]
    assert list(left.get_lines()[0].get_ydata()) == pytest.approx(table["M1 disk"].tolist())
    seed_x = right.containers[0].lines[0]  # the error bar's line: the setting x seed SD in points
    assert list(seed_x.get_ydata()) == pytest.approx((100 * table["seed_x"]).tolist())
    assert list(right.get_xticks()) == [3, 24]


def test_the_next_design_follows_the_rules_from_the_pilots_tables():
    from gtg_core.study import cost, power

    rise = [0.50, 0.60, 0.70, 0.75, 0.76, 0.765, 0.766, 0.767, 0.767, 0.768]  # levels off at 10 epochs
    hist, res = _study({("disk", 1): [v - 0.01 for v in rise], ("disk", 2): [v + 0.01 for v in rise],
                        ("exp_gdt", 1): [v - 0.01 for v in rise], ("exp_gdt", 2): [v + 0.01 for v in rise]})
    hist["time_s"] = 50.0
    effects = {(signal, s): {3: 0.02 * s, 12: 0.05 + 0.01 * s * (signal == "disk"), 24: 0.06}
               for s in (1, 2) for signal in ("disk", "exp_gdt")}
    traces, _ = _snapshots(effects, lengths=(3, 12, 24), volumes=20)  # the same run names as _study's
    res = res.assign(status="done")
    out = length.next_design(hist, res, traces, {"episode_s": 2.0}, settings=2, users=3, budget_worker_hours=5,
                             volumes=(20,))
    assert out["choice"]["length"] == 10 and out["planned_at"] == 12  # 10 is nearer 12 than 3
    assert out["train_s"] == 500.0
    comp = power.paired_components(length.snapshot_settings(traces, res, 12))
    assert out["components"] == comp
    expected = cost.budget_designs(comp, budget_worker_hours=5, train_s=500.0, episode_s=2.0, settings=2, users=3,
                                   volumes=(20,))
    pd.testing.assert_frame_equal(out["designs"], expected)
    assert out["design"]["seeds"] == 5 * 3600 // (2 * (500 + 2 * 20 * 3))
    seeds = power.paired_seeds_needed(comp, 0.03, 20, comparisons=15)
    assert seeds is not None and out["needed"].to_dict("records") == [
        {"test volumes": 20, "seeds": seeds, "worker hours": pytest.approx(2 * seeds * 620 / 3600)}]
    facts = length.design_facts(out)
    assert facts == {**facts, "budget": 5, "train_s": 500.0, "planned_at": 12, "needed_seeds": seeds,
                     "needed_volumes": 20, "design_seeds": out["design"]["seeds"], "design_volumes": 20}
    assert facts["design_detectable"] == pytest.approx(100 * out["design"]["detectable"])
    nothing = length.design_facts({**out, "needed": out["needed"].iloc[:0]})
    assert math.isnan(nothing["needed_seeds"]) and math.isnan(nothing["needed_hours"])


def test_the_rules_answer_reads_as_a_sentence_either_way():
    from gtg_core import words

    levelled = {"length": 4, "levelled": True, "per_setting": {"disk|5": 3, "exp_gdt|0": 4}, "longest": 24}
    assert words.study.length_choice_text(levelled) == (
        "The rule stops at 4 epochs: by its criterion, disk (sigma 5) after 3 epochs and exp_gdt (sigma 0) after "
        "4 epochs had levelled off; the latest of them decides.")
    rising = {"length": 24, "levelled": False, "per_setting": {"disk|5": 3, "exp_gdt|0": None}, "longest": 24}
    assert "no length at which exp_gdt (sigma 0) levelled off" in words.study.length_choice_text(rising)
    assert "takes the longest, 24 epochs" in words.study.length_choice_text(rising)


def test_what_the_curves_did_after_a_length_and_the_designs_as_the_page_shows_them():
    from gtg_core import words

    hist, res = _study({("disk", 1): [0.5, 0.6, 0.7], ("disk", 2): [0.52, 0.64, 0.73]})
    after = length.rise_after(length.validation_curves(hist, res), 2)
    assert after.loc["disk|5", "rise"] == pytest.approx(0.715 - 0.51)
    assert after.loc["disk|5", "se"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="length 3: disk|5 was not validated after 3 epochs"):
        length.rise_after(length.validation_curves(hist, res), 3)
    designs = pd.DataFrame({"seeds": [9, 1], "test volumes": [100, 600], "runs": [72, 8],
                            "worker hours": [44.3, 25.4], "detectable": [0.0736, float("inf")],
                            "detectable (upper end)": [0.3425, float("inf")]})
    shown = words.design_display(designs)
    assert shown.to_dict("records") == [
        {"seeds": 9, "test volumes": 100, "runs": 72, "worker hours": 44, "resolves (points)": "7.4",
         "at the upper end": "34.2"},
        {"seeds": 1, "test volumes": 600, "runs": 8, "worker hours": 25, "resolves (points)": "not testable",
         "at the upper end": "not testable"}]


def test_the_preregistered_study_is_the_design_the_pilots_rules_give():
    """studies/encodings-prereg.yml: its length, seeds and test volumes are what next_design gives on the
    committed pilot (the rule, the components at the nearest tested length, the budget at the measured cost),
    eight settings a seed, seed-major, the four users."""
    from gtg_core import study
    from gtg_core.study import cost

    pilot = study.load_results(ROOT / "studies" / "results" / "training-length")
    snapshots = pd.read_csv(ROOT / "studies" / "results" / "training-length" / "snapshot_traces.csv")
    split = cost.measured_split(study.load_results(ROOT / "studies" / "results" / "table3-test"))
    design = length.next_design(pilot.histories, pilot.done, snapshots, split, settings=8, users=4, target=None)
    runs, pending = study.plan(study.load_study(ROOT / "studies" / "encodings-prereg.yml"))
    assert not pending and len(runs) == 8 * design["design"]["seeds"]
    assert {r.config["epochs"] for r in runs} == {design["choice"]["length"]}
    assert {r.config["test_cases"] for r in runs} == {design["design"]["test volumes"]}
    seeds = [r.config["seed"] for r in runs]
    assert seeds == sorted(seeds) and len(set(seeds)) == design["design"]["seeds"]  # seed-major
    assert all(r.config["data_seed"] == 100 * r.config["seed"] for r in runs)
    assert {r.config["signal"] for r in runs} == {"disk", "heatmap", "edt", "gdt", "exp_gdt", "adaptive_heatmap",
                                                  "nninteractive"}
    assert {tuple(r.config["test_users"]) for r in runs} == {("center", "noisy_center", "label_only")}
