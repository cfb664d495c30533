"""The users of issue #35, each against its law: the registry and its specs, the imprecise users (a Gaussian
displacement in mm per axis, clamped, seeded) and the model-independent user (clicks from the label alone,
revealed one per round), and both through every entry point (the loop, a run's test users, gtg evaluate)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gtg_core import clicks as C


def gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- the registry and its specs


def test_specs_are_canonical_and_name_every_option():
    assert C.check_user("center") == "center"
    assert C.check_user("noisy_center") == C.check_user("noisy_center-sd_mm=2") == "noisy_center-sd_mm=2"
    assert C.check_user("noisy_center-sd_mm=0.5") == "noisy_center-sd_mm=0.5"
    assert C.user_folder("noisy_center-sd_mm=4") != C.user_folder("noisy_center-sd_mm=2")  # two SDs, two folders
    assert C.check_user("label_only-background=ring") == "label_only-background=ring-spread_mm=10-ring_mm=10"
    assert C.parse_user("noisy_deepedit-sd_mm=3") == ("noisy_deepedit", {"sd_mm": 3.0})


@pytest.mark.parametrize("spec, match", [
    ("nobody", "user"), ("center-sd_mm=2", "options of center are: none"), ("noisy_center-sd=2", "sd_mm"),
    ("noisy_center-sd_mm=-1", "sd_mm"), ("noisy_center-sd_mm=x", "sd_mm"), ("label_only-background=mri", "background"),
    ("", "user"),
])
def test_bad_specs_name_the_argument_and_option(spec, match):
    with pytest.raises(ValueError, match=match):
        C.check_user(spec)


def test_the_cli_lists_the_users_and_their_options(capsys):
    from gtg_core.cli import main

    with pytest.raises(SystemExit):
        main(["evaluate", "somewhere", "--user", "nobody"])
    err = capsys.readouterr().err
    assert "noisy_center (sd_mm=2.0)" in err and "label_only (background=bright" in err


# ---------------------------------------------------------------- imprecise users


def _box_label():
    label = torch.zeros(61, 61, 31, dtype=torch.bool)
    label[20:41, 20:41, 10:21] = True  # the center user's click: the middle, (30, 30, 15)
    return label


def test_noisy_center_is_the_center_click_plus_a_gaussian_in_mm_per_axis():
    label, pred = _box_label(), torch.zeros(61, 61, 31, dtype=torch.bool)
    spacing, sd_mm = (1.0, 0.5, 2.0), 3.0
    exact, _ = C.corrective_clicks(pred, label, user="center", generator=gen(0), spacing=spacing)
    g = gen(1)
    moved = torch.cat([C.corrective_clicks(pred, label, user="noisy_center-sd_mm=3", generator=g,
                                           spacing=spacing)[0] for _ in range(3000)])
    offsets = (moved - exact).double()
    expected_sd = torch.tensor([sd_mm / s for s in spacing], dtype=torch.float64)  # 3, 6, 1.5 voxels
    sd = offsets.std(0)
    rounding = (expected_sd ** 2 + 1 / 12).sqrt()  # a rounded normal's SD
    assert torch.allclose(sd, rounding, rtol=0.06), (sd, rounding)
    assert (offsets.mean(0).abs() < 4 * rounding / 3000 ** 0.5).all()
    # seeded: the same generator state, the same displacement; SD 0: the center user itself
    a = C.corrective_clicks(pred, label, user="noisy_center-sd_mm=3", generator=gen(5), spacing=spacing)
    b = C.corrective_clicks(pred, label, user="noisy_center-sd_mm=3", generator=gen(5), spacing=spacing)
    assert torch.equal(a[0], b[0])
    zero = C.corrective_clicks(pred, label, user="noisy_center-sd_mm=0", generator=gen(5), spacing=spacing)
    assert torch.equal(zero[0], exact)


def test_noisy_clicks_stay_in_the_volume_and_noisy_deepedit_moves_deepedits_clicks():
    label = torch.zeros(12, 12, 6, dtype=torch.bool)
    label[0:3, 0:3, 0:2] = True  # at the corner: most displacements leave the volume unless clamped
    pred = torch.zeros_like(label)
    pred[9:12, 9:12, 4:6] = True
    for _ in range(200):
        fg, bg = C.corrective_clicks(pred, label, user="noisy_deepedit-sd_mm=20", generator=gen(_))
        for click in (fg, bg):
            assert ((click >= 0) & (click < torch.tensor(label.shape))).all()
    clicks = torch.tensor([[0, 0, 0], [11, 11, 5]])
    assert torch.equal(C.displace(clicks, label.shape, sd_mm=0, spacing=(1, 1, 1), generator=gen(0)), clicks)
    # the DeepEdit draw comes first, then the displacement: at SD 0 the same clicks as DeepEdit's user
    same = C.corrective_clicks(pred, label, user="noisy_deepedit-sd_mm=0", generator=gen(3))
    plain = C.corrective_clicks(pred, label, user="deepedit", generator=gen(3))
    assert all(torch.equal(x, y) for x, y in zip(same, plain))


# ---------------------------------------------------------------- the model-independent user


def _two_lesions():
    label = torch.zeros(40, 40, 20, dtype=torch.bool)
    label[4:20, 4:20, 4:14] = True  # the large lesion
    label[28:34, 28:34, 12:18] = True  # a small one
    image = torch.rand(40, 40, 20, generator=gen(0))
    return label, image


def test_label_only_clicks_the_lesion_centers_first_then_where_depth_and_spread_meet():
    from scipy.ndimage import distance_transform_edt

    label, image = _two_lesions()
    spacing = (1.0, 1.0, 2.0)
    fg, _ = C.label_clicks(label, image, n=5, spacing=spacing)
    depth = distance_transform_edt(np.pad(label.numpy(), 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    big = np.zeros(label.shape, bool)
    big[4:20, 4:20, 4:14] = True
    assert big[tuple(fg[0])] and depth[tuple(fg[0])] == depth[big].max()  # the largest lesion's center
    assert not big[tuple(fg[1])] and depth[tuple(fg[1])] == depth[label.numpy() & ~big].max()  # the small one's
    for k in range(2, 5):  # then the maximin rule over the whole label
        points = fg[:k].double() * torch.tensor(spacing, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(*[torch.arange(n, dtype=torch.float64) * s
                                            for n, s in zip(label.shape, spacing)], indexing="ij"), -1)
        near = torch.cdist(grid.reshape(-1, 3), points).min(1).values.reshape(label.shape)
        score = np.minimum(depth, near.numpy()) * label.numpy()
        assert score[tuple(fg[k])] == pytest.approx(score.max(), abs=1e-4)


def test_label_only_background_bright_and_ring_follow_their_rules():
    from scipy.ndimage import binary_dilation, distance_transform_edt

    label, image = _two_lesions()
    _, bright = C.label_clicks(label, image, n=4, spread_mm=8.0)
    allowed = ~binary_dilation(label.numpy(), np.ones((3, 3, 3)))
    order = image.numpy()[tuple(bright.T)]
    assert order[0] == image.numpy()[allowed].max() and all(allowed[tuple(p)] for p in bright.tolist())
    assert (np.diff(order) <= 0).all()
    assert torch.pdist(bright.double()).min() > 8.0  # spread
    fg, ring = C.label_clicks(label, None, n=4, background="ring", ring_mm=5.0)
    from_label = distance_transform_edt(~label.numpy())
    assert all(0 < from_label[tuple(p)] <= 5.0 for p in ring.tolist())
    ring_mask = (from_label > 0) & (from_label <= 5.0)
    to_fg0 = np.linalg.norm(np.argwhere(ring_mask) - fg[0].numpy(), axis=1)
    assert np.linalg.norm(ring[0].numpy() - fg[0].numpy()) == pytest.approx(to_fg0.min())
    with pytest.raises(ValueError, match="image"):
        C.label_clicks(label, None, n=2)


def test_label_only_reveals_one_click_a_round_whatever_the_model_predicts():
    label, image = _two_lesions()
    fg, bg = C.label_clicks(label, image, n=8)
    predictions = [torch.zeros_like(label), label.clone(), torch.rand(label.shape, generator=gen(1)) > 0.5]
    for step in range(8):
        seen = [C.corrective_clicks(p, label, user="label_only", generator=gen(step), image=image, step=step)
                for p in predictions]
        assert all(torch.equal(a, b) for s in seen[1:] for a, b in zip(s, seen[0]))
        assert torch.equal(seen[0][0], fg[step:step + 1]) and torch.equal(seen[0][1], bg[step:step + 1])
    tiny = torch.zeros(6, 6, 4, dtype=torch.bool)
    tiny[2, 2, 2] = True  # one voxel: one foreground click, then none left
    assert len(C.corrective_clicks(tiny, tiny, user="label_only", generator=gen(0), image=torch.rand(6, 6, 4),
                                   step=1)[0]) == 0


# ---------------------------------------------------------------- through every entry point


def test_the_new_users_click_a_trained_models_test_split_and_gtg_evaluate(tmp_path):
    """One tiny run trained with nnInteractive's encoding and the previous-mask channel, its test split clicked
    by two noise levels and the model-independent user, then gtg evaluate with a spec; collected."""
    from gtg_core import train
    from gtg_core.study.collect import collect
    from gtg_core.train import TrainConfig

    users = ("noisy_center-sd_mm=2", "noisy_center-sd_mm=6", "label_only")
    cfg = TrainConfig(name="stage/tiny", signal="nninteractive", sigma=4, previous_mask=True, epochs=1, lr=3e-3,
                      n_cases=4, phantom_shape=(32, 32, 16), target_shape=(32, 32, 16), filters=(4, 8, 16),
                      n_clicks=2, output=str(tmp_path), device="cpu", seed=0, data_seed=0, test_cases=2,
                      test_data_seed=500, test_users=users)
    run = train.fit(cfg, progress=False)
    saved = json.loads((run / "metrics.json").read_text())
    assert set(saved["test_user_metrics"]) == {C.check_user(u) for u in users}
    label_only = pd.read_csv(run / "test" / "user-label_only-background=bright-spread_mm=10-ring_mm=10" / "trace.csv")
    low, high = (pd.read_csv(run / "test" / f"user-noisy_center-sd_mm={sd}" / "trace.csv") for sd in (2, 6))
    assert len(label_only) == len(low) == len(high) > 0
    assert label_only["kind"].dropna().eq("fg+bg").all()  # one fg and one bg click a round, error or not
    again = train.evaluate(run, split="test", user="noisy_center-sd_mm=6")
    assert again["metrics"]["M1_final_dice"] == pytest.approx(saved["test_user_metrics"]["noisy_center-sd_mm=6"]
                                                              ["M1_final_dice"])
    model = train.build_model(cfg, "cpu")
    assert model.in_channels == 4  # the previous mask is the fourth input
    row = collect(tmp_path).set_index("run").loc["stage/tiny"]
    assert bool(row["previous_mask"]) and row["signal"] == "nninteractive"


def test_a_study_grid_plans_the_new_encoding_users_and_previous_mask_and_refuses_bad_ones(tmp_path):
    from gtg_core import study

    text = """name: grid2026
base: {dataset: spleen_ct, n_cases: 4, phantom_shape: [32, 32, 16], filters: [4, 8, 16], epochs: 1,
       test_cases: 2, test_users: [noisy_center-sd_mm=2, noisy_center-sd_mm=6, label_only]}
stages:
  - name: a
    grid: {signal: [heatmap, nninteractive], sigma: [4], previous_mask: [false, true]}
"""
    path = tmp_path / "grid.yml"
    path.write_text(text)
    runs, _ = study.plan(study.load_study(path))
    assert len(runs) == 4 and len({r.name for r in runs}) == 4  # previous_mask tells the run names apart
    assert {(r.config["signal"], r.config["previous_mask"]) for r in runs} == {
        ("heatmap", False), ("heatmap", True), ("nninteractive", False), ("nninteractive", True)}
    # refused when planned, naming the field: nnInteractive's radius must be an integer, a user's option known
    for old, new, match in (("sigma: [4]", "sigma: [2.5]", "sigma"),
                            ("label_only]", "label_only-background=mri]", "background")):
        path.write_text(text.replace(old, new))
        with pytest.raises(study.StudyError, match=match):
            study.plan(study.load_study(path))
