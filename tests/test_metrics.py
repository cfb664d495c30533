"""gtg_core.metrics against hand computations, including degenerate cases."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from gtg_core import metrics as M


def test_dice_by_hand():
    pred = torch.zeros(4, 4, 4, dtype=torch.bool)
    label = torch.zeros_like(pred)
    pred[0, 0, :3] = True  # 3 voxels
    label[0, 0, 1:] = True  # 3 voxels, 2 shared
    assert float(M.dice(pred, label)) == pytest.approx(2 * 2 / 6)
    assert float(M.dice(label, label)) == 1.0
    assert float(M.dice(torch.zeros_like(pred), torch.zeros_like(pred))) == 1.0  # empty/empty
    assert float(M.dice(torch.zeros_like(pred), label)) == 0.0
    assert float(M.dice(pred.long(), label.numpy())) == pytest.approx(2 / 3)


def test_dice_bad_input():
    with pytest.raises(ValueError, match="shapes"):
        M.dice(torch.zeros(2, 2, 2, dtype=torch.bool), torch.zeros(2, 2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="pred"):
        M.dice(torch.rand(2, 2, 2), torch.zeros(2, 2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="label"):
        M.dice(torch.zeros(2, 2, 2, dtype=torch.bool), torch.full((2, 2, 2), 3))


def test_guidance_overlap_by_hand():
    label = torch.zeros(3, 3, 3, dtype=torch.bool)
    label[0] = True  # 9 voxels
    g = torch.zeros(3, 3, 3)
    g[0, 0, 0], g[1, 0, 0], g[2, 0, 0] = 1.0, 0.2, 1e-4  # 3 voxels in the support, 1 in the label
    assert float(M.guidance_overlap(g, label)) == pytest.approx(1 / 3)
    assert math.isnan(float(M.guidance_overlap(torch.zeros(3, 3, 3), label)))


def make_trace():
    # volume a: 0.5 -> 0.6 -> 0.6 -> 0.9 ; volume b: 0.2 -> 0.5 -> 0.4 -> 0.86 ; plus no-guidance rows
    rows = []
    for vol, curve, nog in (("a", [0.5, 0.6, 0.6, 0.9], 0.3), ("b", [0.2, 0.5, 0.4, 0.86], 0.1)):
        rows.append({"volume": vol, "click": -1, "dice": nog})
        for j, d in enumerate(curve):
            rows.append({"volume": vol, "click": j, "dice": d, "n_fg": 1 + j, "n_bg": 1,
                         "signal_time_s": 0.01 if j else np.nan, "step_time_s": 0.05 if j else np.nan,
                         "overlap": 1.0 - 0.1 * j})
    return M.trace_frame(rows)


def test_trace_metrics_by_hand():
    t = make_trace()
    assert list(t.columns[:len(M.TRACE_COLUMNS)]) == list(M.TRACE_COLUMNS)
    assert M.final_dice(t) == pytest.approx((0.9 + 0.86) / 2)
    assert M.initial_dice(t, with_seeds=True) == pytest.approx((0.5 + 0.2) / 2)
    assert M.initial_dice(t, with_seeds=False) == pytest.approx((0.3 + 0.1) / 2)
    # strict improvements: a: 0.5->0.6 yes, 0.6->0.6 no, ->0.9 yes; b: yes, no, yes -> 4 / (3 * 2)
    assert M.consistent_improvement(t) == pytest.approx(4 / 6)
    assert M.efficiency(t, which="step") == pytest.approx(0.95)
    assert M.efficiency(t, which="signal") == pytest.approx(0.99)
    assert M.gt_overlap(t, at="last") == pytest.approx(0.7)
    assert M.gt_overlap(t, at="all") == pytest.approx(np.mean([1, 0.9, 0.8, 0.7]))
    # NoC@85: a reaches 0.9 at click 3, b reaches 0.86 at click 3; NoC@90: b never -> cap 3, 1 failure
    assert M.noc(t, 0.85) == (3.0, 0)
    assert M.noc(t, 0.90) == (3.0, 1)
    assert M.noc(t, 0.5) == (0.5, 0)  # a at click 0, b at click 1
    assert M.noc(t, 0.95, max_clicks=2) == (2.0, 2)
    auc_a = (0.55 + 0.6 + 0.75) / 3
    auc_b = (0.35 + 0.45 + 0.63) / 3
    assert M.dice_auc(t) == pytest.approx((auc_a + auc_b) / 2)
    rate, size = M.dice_drops(t)
    assert rate == pytest.approx(1 / 6) and size == pytest.approx(0.1)
    s = M.summary(t)
    assert s["M1_final_dice"] == pytest.approx(0.88) and s["NoC@90_failures"] == 1 and s["volumes"] == 2


def test_degenerate_traces():
    seeds_only = M.trace_frame([{"volume": "a", "click": 0, "dice": 0.7}])
    assert M.final_dice(seeds_only) == pytest.approx(0.7)
    assert math.isnan(M.consistent_improvement(seeds_only))
    assert M.dice_auc(seeds_only) == pytest.approx(0.7)
    assert math.isnan(M.efficiency(seeds_only))
    perfect = M.trace_frame([{"volume": "a", "click": j, "dice": 1.0} for j in range(4)])
    assert M.consistent_improvement(perfect) == 0.0 and M.noc(perfect, 0.9) == (0.0, 0)
    assert M.dice_drops(perfect) == (0.0, 0.0)
    with pytest.raises(ValueError, match="click == -1"):
        M.initial_dice(perfect, with_seeds=False)
    with pytest.raises(ValueError, match="dice"):
        M.final_dice(pd.DataFrame({"volume": ["a"], "click": [0]}))
    with pytest.raises(ValueError, match="threshold"):
        M.noc(perfect, 85)


def _crafted_trace():
    """Two volumes, 3 corrective clicks (N = 3): Dice, overlaps and step times chosen so that each reading of
    M1 / M3 / M4 / M5 gives a different number."""
    rows = []
    curves = {"a": [0.5, 0.6, 0.7, 0.65], "b": [0.2, 0.2, 0.4, 0.8]}
    overlaps = {"a": [1.0, 0.9, 0.8, 0.7], "b": [0.5, 0.5, 0.4, 0.3]}
    steps = [None, 0.1, 0.2, 0.6]
    for v in curves:
        for j in range(4):
            rows.append({"volume": v, "click": j, "dice": curves[v][j], "overlap": overlaps[v][j],
                         "step_time_s": steps[j], "signal_time_s": None if steps[j] is None else steps[j] / 2})
    return M.trace_frame(rows)


def test_summary_conventions_on_a_crafted_trace():
    t = _crafted_trace()
    paper = M.summary(t, max_clicks=3)
    ref = M.summary(t, max_clicks=3, convention="reference_code")
    assert paper["convention"] == "paper" and ref["convention"] == "reference_code"
    assert paper["M1_final_dice"] == pytest.approx((0.65 + 0.8) / 2)  # after click 3
    assert ref["M1_final_dice"] == pytest.approx((0.7 + 0.4) / 2)  # at j = N - 1 = 2
    assert paper["M5_gt_overlap_last"] == pytest.approx((0.7 + 0.3) / 2)
    assert ref["M5_gt_overlap_last"] == pytest.approx((0.8 + 0.4) / 2)
    # M4: paper over 3 transitions (a: up, up, down; b: flat, up, up) = 4 / 6; authors over 2: (2 + 1) / 4
    assert paper["M4_consistent_improvement"] == pytest.approx(4 / 6)
    assert ref["M4_consistent_improvement"] == pytest.approx(3 / 4)
    # M3: the mean of all steps vs the last step only; T and 1 - T
    assert paper["M3_step_time_s"] == pytest.approx(0.3) and paper["M3_efficiency_step"] == pytest.approx(0.7)
    assert ref["M3_step_time_s"] == pytest.approx(0.6) and ref["M3_efficiency_step"] == pytest.approx(0.4)
    assert ref["M3_efficiency_signal"] == pytest.approx(0.7)
    assert paper["M2_initial_dice_with_seeds"] == ref["M2_initial_dice_with_seeds"] == pytest.approx(0.35)
    with pytest.raises(ValueError, match="convention"):
        M.summary(t, convention="spider")


def test_m3_can_go_negative_for_slow_steps():
    t = _crafted_trace()
    t["step_time_s"] = t["step_time_s"] * 10
    assert M.efficiency(t) == pytest.approx(1 - 3.0)


def test_normalised_surface_dice_counts_boundaries_within_the_tolerance():
    label = torch.zeros(24, 24, 12, dtype=torch.bool)
    label[6:16, 6:16, 3:9] = True
    shifted = torch.roll(label, 1, dims=0)  # every boundary one voxel (2 mm along X) away or on it
    assert float(M.surface_dice(label, label)) == pytest.approx(1.0)
    assert float(M.surface_dice(shifted, label, spacing=(2.0, 1.0, 1.0), tolerance_mm=2.0)) == pytest.approx(1.0)
    tight = float(M.surface_dice(shifted, label, spacing=(2.0, 1.0, 1.0), tolerance_mm=1.0))
    # the X faces moved 2 mm: out of a 1 mm tolerance; the rest still touch. Pinned to MONAI's own value
    assert tight == pytest.approx(0.7907, abs=1e-4)
    import warnings

    from monai.metrics import compute_surface_dice
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for tol in (1.0, 2.0, 3.0):
            monai = float(compute_surface_dice(torch.stack([~shifted, shifted])[None].float(),
                                               torch.stack([~label, label])[None].float(), class_thresholds=[tol],
                                               spacing=(2.0, 1.0, 1.0)))
            assert float(M.surface_dice(shifted, label, spacing=(2.0, 1.0, 1.0), tolerance_mm=tol)) == pytest.approx(monai)
    far = torch.zeros_like(label)
    far[18:22, 18:22, 1:3] = True
    assert float(M.surface_dice(far, label)) == 0.0
    empty = torch.zeros_like(label)
    assert float(M.surface_dice(empty, empty)) == 1.0 and float(M.surface_dice(empty, label)) == 0.0
    with pytest.raises(ValueError, match="tolerance_mm"):
        M.surface_dice(label, label, tolerance_mm=0)
    with pytest.raises(ValueError, match="shapes differ"):
        M.surface_dice(label[:-1], label)


def test_the_summary_scores_nsd_at_the_last_click_and_over_the_clicks():
    trace = M.trace_frame([{"volume": v, "click": c, "dice": 0.5, "nsd": n}
                                 for v in ("a", "b") for c, n in enumerate((0.2, 0.6, 1.0))])
    out = M.summary(trace)
    assert out["nsd_final"] == pytest.approx(1.0) and out["nsd_auc"] == pytest.approx((0.4 + 0.8) / 2)
    assert M.summary(trace, convention="reference_code")["nsd_final"] == pytest.approx(0.6)
    old = trace.drop(columns="nsd")  # a trace recorded before NSD was
    assert math.isnan(M.summary(old)["nsd_final"])


def test_the_per_volume_table_and_the_summary_read_every_metric_alike():
    """Issue 26: one room for the metrics. The per-volume table the statistics bootstrap
    (M.volume_table) averages, volume by volume, to what summary() reports for a run: on a trace with
    uneven curves, a volume that never reaches 90 %, NSD and a no-guidance row."""
    rng = np.random.default_rng(5)
    rows = []
    for v in range(4):
        curve = np.clip(np.cumsum(rng.uniform(-0.05, 0.2, 11)) + 0.3, 0, 0.95 if v else 0.85)
        rows.append({"volume": f"v{v}", "click": -1, "dice": 0.2, "step_time_s": np.nan, "overlap": np.nan,
                     "nsd": np.nan})
        for c, d in enumerate(curve):
            rows.append({"volume": f"v{v}", "click": c, "dice": float(d), "step_time_s": 0.01 * (v + 1) if c else np.nan,
                         "overlap": 0.5 + 0.01 * c, "nsd": float(d) - 0.05})
    trace = pd.DataFrame(rows)
    summary = M.summary(trace)
    table = M.volume_table(trace.assign(run="r"))
    assert len(table) == 4
    for name in M.VOLUME_METRICS:
        assert table[name].mean() == pytest.approx(summary[name], abs=1e-12), name
    assert summary["NoC@90_failures"] == int((table["NoC@90"] == 10).sum()) >= 1
