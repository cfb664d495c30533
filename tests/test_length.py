"""The training-length rule of studies/training-length.yml (issue #33) as code: checked on curves whose answer
is known, and on the pilot's committed runs as far as they go."""

from pathlib import Path

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
