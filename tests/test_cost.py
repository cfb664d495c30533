"""What a study costs before it runs (gtg study plan --on DEVICE): the committed benchmark tables scaled to
each run's volume, network and device, with known answers."""

import math
from pathlib import Path

import pandas as pd
import pytest

from gtg_core import study, words
from gtg_core.model import DEEPEDIT_FILTERS
from gtg_core.study import cost

ROOT = Path(__file__).resolve().parent.parent


def _table(folder, name, size="10x10x10", network_ms=1000.0, clicks_ms=100.0):
    folder.mkdir(exist_ok=True)
    pd.DataFrame([{"size": size, "driver": "gtg_core", "network_ms": network_ms, "clicks_guidance_ms": clicks_ms,
                   "total_ms": network_ms + clicks_ms},
                  {"size": size, "driver": "MONAI transforms", "network_ms": 9e9, "clicks_guidance_ms": 9e9,
                   "total_ms": 9e9}]).to_csv(folder / f"train-{name}.csv", index=False)


def test_network_cost_weighs_each_level_by_its_voxels():
    assert cost.network_cost((4, 8)) == 16 + 64 / 8
    assert cost.network_cost(DEEPEDIT_FILTERS) > 4 * cost.network_cost((16, 32, 64, 128))


def test_a_run_costs_its_iterations_scaled_to_its_volume_and_network(tmp_path):
    _table(tmp_path, "Some_GPU")
    rate = cost.benchmark_rate("Some GPU", tmp_path)
    assert (rate.network_s, rate.clicks_s, rate.shape) == (1.0, 0.1, (10, 10, 10))
    config = {"dataset": "spleen_ct", "n_cases": 10, "epochs": 2, "val_every": 1, "target_shape": (20, 10, 10),
              "filters": DEEPEDIT_FILTERS}
    assert cost.run_size(config)[:3] == ((20, 10, 10), 8, 2)
    # (2 epochs x 8 + 2 validations x 2 volumes) x twice the voxels x (1 s + 0.1 s)
    assert cost.run_seconds(config, rate) == pytest.approx(20 * 2 * 1.1)
    small = dict(config, filters=(16, 32, 64, 128), val_every=2)  # one validation, a cheaper network
    network = cost.network_cost((16, 32, 64, 128)) / cost.network_cost(DEEPEDIT_FILTERS)
    assert cost.run_seconds(small, rate) == pytest.approx((2 * 8 + 1 * 2) * 2 * (1.0 * network + 0.1))
    with pytest.raises(ValueError, match="device: no benchmark table for 'Other' .*tables for: Some_GPU"):
        cost.benchmark_rate("Other", tmp_path)


def test_one_count_of_iterations_serves_the_benchmark_estimate_and_the_measured_one(tmp_path):
    """#36: one estimator. The benchmark-scaled cost (study_cost) and what is left at a study's measured rate
    (estimate_seconds, ``gtg study plan``) count the same iterations: training volumes every epoch and
    validation volumes at each validated epoch, from the epoch a partial run has reached."""
    config = {"dataset": "spleen_ct", "n_cases": 10, "epochs": 4, "val_every": 2, "target_shape": (20, 10, 10)}
    assert cost.run_iterations(config, 8, 2) == 4 * 8 + 2 * 2  # validated after epochs 2 and 4
    assert cost.run_iterations(config, 8, 2, from_epoch=2) == 2 * 8 + 1 * 2
    assert cost.run_iterations(config, 8, 2, from_epoch=3) == 1 * 8 + 1 * 2  # the last epoch is validated
    runs = [study.Run(name=f"s/r{i}", stage="s", config=dict(config, seed=i)) for i in range(2)]
    assert study.estimate_seconds(runs, None, seconds_per_iteration=0.5) == 2 * 36 * 0.5
    _table(tmp_path, "Some_GPU")
    rate = cost.benchmark_rate("Some GPU", tmp_path)
    assert cost.run_seconds(config, rate) == pytest.approx(
        cost.run_iterations(config, 8, 2) * (rate.network_s + rate.clicks_s) * cost.iteration_scale(config, rate))
    assert cost.measured_rate(tmp_path / "no study") is None


def test_the_papers_datasets_are_sized_by_the_paper_when_absent_and_counted_when_here(tmp_path):
    from gtg_core.data.layouts import write_dataset

    shape, n_train, n_val, source = cost.run_size({"dataset": "data/Task09_Spleen"})
    assert (shape, n_train, n_val) == ((255, 255, 89), 33, 8) and "msd_spleen" in source  # the authors' 33 / 8
    assert cost.run_size({"dataset": "x/FDG-PET-CT-Lesions", "crop_shape": (192, 192, 256)})[0] == (192, 192, 256)
    write_dataset(tmp_path / "mine", "spleen_ct", n_cases=5, shape=(16, 16, 8))
    shape, n_train, n_val, source = cost.run_size({"dataset": str(tmp_path / "mine"), "crop_shape": (16, 16, 8)})
    assert (n_train + n_val, shape) == (5, (16, 16, 8)) and str(tmp_path / "mine") in source
    with pytest.raises(ValueError, match="dataset 'elsewhere': not here"):
        cost.run_size({"dataset": "elsewhere"})


def test_the_paper_grid_on_a_named_card_from_its_committed_table():
    runs, pending = study.plan(study.load_study(ROOT / "studies" / "paper-msd.yml"), None)
    out = cost.study_cost(runs, "NVIDIA H200")
    table = pd.read_csv(ROOT / "benchmarks" / "results" / "train-NVIDIA_H200.csv").query("driver == 'gtg_core'")
    per_iteration = float(table["total_ms"].iloc[0]) / 1e3
    expected = 100 * (33 + 8) * per_iteration * math.prod((255, 255, 89)) / 128 ** 3 / 3600
    assert out["runs"] == len([r for r in runs if r.same_as is None]) and pending == ["stage2"]
    assert out["per_run_hours"][0] == pytest.approx(expected, rel=1e-6) and not out["lower_bound"]
    assert "train-NVIDIA_H200.csv (128x128x128, DeepEdit filters)" in words.cost_text(out)
    small = cost.study_cost(study.plan(study.load_study(ROOT / "studies" / "phantom-mini.yml"), None)[0], "cpu")
    assert small["lower_bound"] and "a lower bound" in words.cost_text(small)


def test_durations_read_in_their_unit():
    assert [words.duration_text(h) for h in (72.6, 0.5, 0.0004)] == ["72.6 h", "30 min", "1.4 s"]


def test_the_package_ships_the_benchmark_tables_the_estimates_read():
    """Issue #34: after `pip install gtg_core` (Colab) there is no benchmarks/results to read. The training
    tables ship inside the package, byte for byte the committed ones, and give the same rate."""
    from pathlib import Path

    from gtg_core.study import cost

    committed = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    shipped = sorted(p.name for p in cost.SHIPPED_TABLES.glob("train-*.csv"))
    assert shipped == sorted(p.name for p in committed.glob("train-*.csv"))
    for name in shipped:
        assert (cost.SHIPPED_TABLES / name).read_bytes() == (committed / name).read_bytes(), name
    for device in ("cpu", "NVIDIA H200"):
        a, b = cost.benchmark_rate(device, cost.SHIPPED_TABLES), cost.benchmark_rate(device, committed)
        assert (a.network_s, a.clicks_s, a.shape) == (b.network_s, b.clicks_s, b.shape)


def test_the_whole_grid_is_planned_with_the_stage_that_waits_for_the_first():
    """The paper's grid is 97 trainings (55 + 40 new of stage 2's 45 + 2), not the 57 planned before stage 1
    has results: complete_plan plans the best-of stage on stand-in results, with the first stage as plan
    gives it."""
    from pathlib import Path

    from gtg_core.study import cost, load_study, plan

    study = load_study(Path(__file__).resolve().parents[1] / "studies" / "paper-msd.yml")
    first, pending = plan(study)
    runs = cost.complete_plan(study)
    assert pending == ["stage2"] and len(first) == 57
    assert len(runs) == 102 and sum(r.same_as is None for r in runs) == 97
    assert {r.name for r in first} <= {r.name for r in runs}
    assert sum(r.stage == "stage2" for r in runs) == 45


def test_a_budget_buys_the_most_seeds_that_fit_and_the_design_is_the_one_planned_for_the_seed_noise():
    from gtg_core.study import power

    comp = {"seed_x": 0.02 ** 2, "volume_x": 0.07 ** 2, "residual": 0.06 ** 2, "seed_x_range": (0.0, 0.06 ** 2)}
    table = cost.budget_designs(comp, budget_worker_hours=10, train_s=600, episode_s=4.0, settings=2, users=2,
                                volumes=(50, 100, 2000))
    # a run: 600 s + 4 s x n x 2 users; 2 runs a seed in 36000 s
    assert table["seeds"].tolist() == [36000 // (2 * 1000), 36000 // (2 * 1400), 36000 // (2 * 16600)]
    assert (table["worker hours"] <= 10).all() and table["runs"].tolist() == [2 * k for k in table["seeds"]]
    row = table.iloc[1]
    assert row["detectable"] == pytest.approx(power.detectable_difference(comp, 12, 100, comparisons=15))
    assert row["detectable (upper end)"] == pytest.approx(
        power.detectable_difference(comp, 12, 100, comparisons=15, seed_x=0.06 ** 2))
    assert table["detectable"].iloc[2] == float("inf")  # one seed: nothing can be tested
    best = cost.chosen_design(table)
    assert isinstance(best["seeds"], int) and isinstance(best["test volumes"], int)
    assert best["test volumes"] == table.loc[table["detectable (upper end)"].idxmin(), "test volumes"]
    with pytest.raises(ValueError, match="no design of the budget has two seeds"):
        cost.chosen_design(table.iloc[2:])
    with pytest.raises(ValueError, match="budget_worker_hours > 0"):
        cost.budget_designs(comp, budget_worker_hours=0, train_s=1, episode_s=1, settings=1)
