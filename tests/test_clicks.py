"""gtg_core.clicks: the simulated users' distributions, crafted cases, device paths, bad input."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.ndimage import distance_transform_cdt, distance_transform_edt
from scipy.ndimage import label as nd_label

from gtg_core import clicks as C


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_deepedit_user_matches_exp_cdt_minus_one():
    label = torch.zeros(10, 10, 10, dtype=torch.bool)
    label[2:7, 3:8, 4:7] = True  # a 5x5x3 false-negative block: cdt 1 on its shell, 2 inside
    pred = torch.zeros_like(label)
    cdt = distance_transform_cdt(label.numpy(), metric="chessboard")
    weights = np.where(label.numpy(), np.exp(cdt) - 1, 0).ravel()
    p = weights / weights.sum()
    g = gen(123)
    n = 3000
    counts = np.zeros(label.numel())
    for _ in range(n):
        fg, bg = C.corrective_clicks(pred, label, user="deepedit", generator=g)
        assert bg.shape == (0, 3)  # no false positives -> no background click
        x, y, z = fg[0].tolist()
        counts[np.ravel_multi_index((x, y, z), label.shape)] += 1
    support = p > 0
    assert counts[~support].sum() == 0
    _, pvalue = stats.chisquare(counts[support], p[support] * n)
    assert pvalue > 1e-3
    # and it is not uniform: the 9 inner voxels are picked far more often than their share of 75
    inner = cdt.ravel() == 2
    assert counts[inner].sum() / n == pytest.approx(p[inner].sum(), abs=0.04)
    assert p[inner].sum() > 0.3 > inner.sum() / support.sum()


def test_deepedit_user_does_not_overflow_on_deep_regions():
    label = torch.zeros(200, 200, 200, dtype=torch.bool)
    label[1:199, 1:199, 1:199] = True  # cdt up to 99: exp(99) overflows float32
    fg, _ = C.corrective_clicks(torch.zeros_like(label), label, user="deepedit", generator=gen(0))
    depth = min(min(c - 1, 198 - c) for c in fg[0].tolist()) + 1
    assert depth >= 95  # sampled among the deepest voxels, not a NaN/overflow artefact
    w = C._log_weights(torch.tensor([1.0, 50.0, 99.0, 500.0]))
    assert torch.isfinite(w).all() and w[3] == pytest.approx(500.0)
    small = C._log_weights(torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert small[0] == -math.inf  # outside the error: never sampled
    np.testing.assert_allclose(small[1:].numpy(), np.log(np.expm1([1.0, 2.0, 3.0])), rtol=1e-6)


def test_deepedit_user_gives_fg_and_bg_clicks_in_their_error_regions():
    label = torch.zeros(12, 12, 12, dtype=torch.bool)
    label[2:6, 2:6, 2:6] = True
    pred = torch.zeros_like(label)
    pred[7:11, 7:11, 7:11] = True
    fg, bg = C.corrective_clicks(pred, label, user="deepedit", generator=gen(1))
    assert fg.shape == (1, 3) and bg.shape == (1, 3) and fg.dtype == torch.int64
    assert label[tuple(fg[0])] and not pred[tuple(fg[0])]
    assert pred[tuple(bg[0])] and not label[tuple(bg[0])]


def test_same_seed_same_clicks_and_perfect_prediction_gives_none():
    label = torch.rand(16, 16, 8, generator=gen(5)) > 0.5
    pred = torch.rand(16, 16, 8, generator=gen(6)) > 0.5
    image = torch.rand(16, 16, 8, generator=gen(7))
    for user in C.USERS:
        a = C.corrective_clicks(pred, label, user=user, generator=gen(9), image=image)
        b = C.corrective_clicks(pred, label, user=user, generator=gen(9), image=image)
        assert all(torch.equal(x, y) for x, y in zip(a, b))
        fg, bg = C.corrective_clicks(label, label, user=user, generator=gen(9), image=image)
        if C.USER_REGISTRY[user].model_independent:  # its clicks do not read the prediction
            assert all(torch.equal(x, y) for x, y in zip((fg, bg), a)), user
        else:
            assert fg.shape == (0, 3) and bg.shape == (0, 3), user


def test_uniform_user_is_uniform():
    label = torch.zeros(8, 8, 8, dtype=torch.bool)
    label[1:4, 1:5, 2:4] = True  # 24 voxels
    g, n = gen(7), 2400
    counts = {}
    for _ in range(n):
        fg, _ = C.corrective_clicks(torch.zeros_like(label), label, user="uniform", generator=g)
        key = tuple(fg[0].tolist())
        assert label[key]
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 24
    _, pvalue = stats.chisquare(list(counts.values()))
    assert pvalue > 1e-3


def test_center_user_clicks_the_deepest_voxel_of_the_largest_component():
    label = torch.zeros(20, 20, 20, dtype=torch.bool)
    label[2:9, 2:9, 2:9] = True  # 7^3 missed: under-segmentation
    pred = label.clone()
    pred[2:9, 2:9, 2:9] = False
    pred[14:17, 14:17, 14:17] = True  # 3^3 over-segmentation: smaller
    fg, bg = C.corrective_clicks(pred, label, user="center", generator=gen(0))
    assert fg.tolist() == [[5, 5, 5]] and bg.shape == (0, 3)
    # now the false positive is the largest -> one background click at its center
    pred2 = label.clone()
    pred2[10:19, 10:19, 10:19] = True
    fg, bg = C.corrective_clicks(pred2, label, user="center", generator=gen(0))
    assert fg.shape == (0, 3) and bg.tolist() == [[14, 14, 14]]


def test_center_user_tie_rule_and_anisotropic_spacing():
    label = torch.zeros(12, 12, 12, dtype=torch.bool)
    label[3:9, 3:9, 3:9] = True  # even-sized cube: four-fold tie per axis -> first in C order
    fg, _ = C.corrective_clicks(torch.zeros_like(label), label, user="center", generator=gen(0))
    assert fg.tolist() == [[5, 5, 5]]
    # anisotropic: a slab 8 slices (32 mm) thick but 12 mm wide, so many slices tie; the first in C order wins
    label = torch.zeros(16, 16, 10, dtype=torch.bool)
    label[2:14, 2:14, 1:9] = True
    fg, _ = C.corrective_clicks(torch.zeros_like(label), label, user="center", generator=gen(0),
                                spacing=(1.0, 1.0, 4.0))
    d = distance_transform_edt(np.pad(label.numpy(), 1), sampling=(1, 1, 4))[1:-1, 1:-1, 1:-1]
    assert fg[0].tolist() == list(np.unravel_index(np.argmax(d), d.shape))
    fg_iso, _ = C.corrective_clicks(torch.zeros_like(label), label, user="center", generator=gen(0))
    assert fg_iso[0].tolist()[2] == 4  # with 1 mm slices the middle of the slab in z is deepest


def test_initial_clicks_one_per_blob_in_one_slice():
    label = torch.zeros(20, 20, 10, dtype=torch.bool)
    label[2:6, 2:6, 4] = True
    label[12:18, 10:16, 4] = True  # two blobs, only in slice 4
    fg, bg = C.initial_clicks(label, generator=gen(3))
    assert fg.shape == (2, 3) and (fg[:, 2] == 4).all()
    blobs, _ = nd_label(label[:, :, 4].numpy())
    assert sorted(blobs[x, y] for x, y, _ in fg.tolist()) == [1, 2]
    assert bg.shape[0] >= 1 and all(not label[tuple(c)] for c in bg.tolist())
    assert len({c[2] for c in bg.tolist()}) == 1  # background seeds share their slice
    fg1, _ = C.initial_clicks(label, generator=gen(3), max_regions=1)
    assert fg1.shape == (1, 3)


def test_initial_clicks_empty_label_gives_no_foreground_click():
    fg, bg = C.initial_clicks(torch.zeros(8, 8, 4, dtype=torch.bool), generator=gen(0))
    assert fg.shape == (0, 3) and bg.shape == (1, 3)


def test_initial_clicks_prefer_deep_voxels_of_a_blob():
    label = torch.zeros(30, 30, 3, dtype=torch.int64)
    label[5:25, 5:25, 1] = 1  # a 20x20 square, cdt up to 10
    g = gen(11)
    depths = []
    for _ in range(200):
        fg, _ = C.initial_clicks(label, generator=g)
        x, y, _ = fg[0].tolist()
        depths.append(min(x - 5, 24 - x, y - 5, 24 - y) + 1)
    cdt = distance_transform_cdt(label[:, :, 1].numpy(), metric="chessboard")
    w = np.exp(cdt[cdt > 0]) - 1
    expected_mean = (w * cdt[cdt > 0]).sum() / w.sum()
    assert np.mean(depths) == pytest.approx(expected_mean, abs=0.3)


# ---------------------------------------------------------------- the torch (CUDA) code paths, run on the CPU


def _blocks(shape):
    m = torch.zeros(shape, dtype=torch.bool)
    m[(slice(1, -1),) * len(shape)] = True  # deep: the erosion loop runs long and stops early
    m[(slice(2, 4),) * len(shape)] = False
    return m


@pytest.mark.parametrize("m", [torch.rand(17, 13, 9, generator=gen(2)) > 0.3, _blocks((30, 27, 25)),
                               _blocks((40, 33)), torch.rand(19, 23, generator=gen(3)) > 0.2,
                               torch.ones(9, 9, 9, dtype=torch.bool).index_put_((torch.tensor([4]),) * 3,
                                                                                torch.tensor(False))])
def test_torch_chessboard_matches_scipy(m):
    ref = distance_transform_cdt(m.numpy(), metric="chessboard")
    assert torch.equal(C._chessboard_distance_torch(m), torch.from_numpy(ref.astype(np.float32)))
    assert torch.equal(C.chessboard_distance(m), torch.from_numpy(ref.astype(np.float32)))


def test_torch_connected_components_match_scipy():
    m = torch.rand(15, 14, 9, generator=gen(4)) > 0.7
    ref, n = nd_label(m.numpy(), structure=np.ones((3, 3, 3)))
    labels, n2 = C._connected_components_torch(m)
    assert n2 == n and np.array_equal(labels.numpy(), ref)


def test_torch_inner_distance_matches_scipy():
    m = torch.rand(11, 9, 7, generator=gen(8)) > 0.2
    ref = distance_transform_edt(np.pad(m.numpy(), 1), sampling=(0.8, 1.0, 2.5))[1:-1, 1:-1, 1:-1]
    np.testing.assert_allclose(C._inner_distance_torch(m, (0.8, 1.0, 2.5)).numpy(), ref, atol=1e-5)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("pred, label, kwargs, exc, match", [
    (torch.zeros(4, 4, 4, dtype=torch.bool), torch.zeros(4, 4, 5, dtype=torch.bool), {}, ValueError, "shapes"),
    (torch.full((4, 4, 4), 2), torch.zeros(4, 4, 4, dtype=torch.int64), {}, ValueError, "pred"),
    (torch.zeros(4, 4, 4), torch.zeros(4, 4, 4, dtype=torch.bool), {}, ValueError, "pred"),
    (torch.zeros(4, 4, 4, dtype=torch.bool), torch.zeros(4, 4), {}, ValueError, "label"),
    (torch.zeros(4, 4, 4, dtype=torch.bool), torch.zeros(4, 4, 4, dtype=torch.bool), {"user": "oracle"},
     ValueError, "user"),
    (torch.zeros(4, 4, 4, dtype=torch.bool), torch.zeros(4, 4, 4, dtype=torch.bool), {"generator": 3},
     TypeError, "generator"),
])
def test_bad_input(pred, label, kwargs, exc, match):
    args = {"generator": gen(0)}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        C.corrective_clicks(pred, label, **args)


def test_initial_clicks_bad_input():
    with pytest.raises(ValueError, match="label"):
        C.initial_clicks(torch.zeros(4, 4, 4) + 0.5, generator=gen(0))
    with pytest.raises(ValueError, match="max_regions"):
        C.initial_clicks(torch.zeros(4, 4, 4, dtype=torch.bool), generator=gen(0), max_regions=0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_users_on_cuda_match_the_cpu():
    label = torch.zeros(24, 24, 12, dtype=torch.bool)
    label[3:12, 4:14, 2:9] = True
    pred = torch.zeros_like(label)
    pred[15:22, 15:22, 3:8] = True
    image = torch.rand(24, 24, 12, generator=gen(3))
    for user in C.USERS:
        cpu = C.corrective_clicks(pred, label, user=user, generator=gen(4), image=image)
        gpu = C.corrective_clicks(pred.cuda(), label.cuda(), user=user, generator=gen(4), image=image.cuda())
        assert all(x.device.type == "cuda" for x in gpu)
        assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu, gpu)), user
    fg, bg = C.initial_clicks(label.cuda(), generator=gen(2))
    assert fg.device.type == "cuda" and label[tuple(fg[0].tolist())]


def test_chessboard_without_background_is_uniform_on_both_paths():
    full = torch.ones(5, 4, 3, dtype=torch.bool)
    assert torch.equal(C._chessboard_distance_torch(full), torch.ones(5, 4, 3))
    assert torch.equal(C.chessboard_distance(full), torch.ones(5, 4, 3))
    fg, _ = C.corrective_clicks(torch.zeros_like(full), full, user="deepedit", generator=gen(0))
    assert fg.shape == (1, 3) and full[tuple(fg[0])]


def test_torch_path_samples_a_mask_without_background_uniformly():
    from gtg_core import bench

    full = torch.ones(5, 4, 3, dtype=torch.bool)  # error = the whole volume: no background in the crop
    g = gen(11)
    counts = np.zeros(full.numel())
    with bench.cuda_code_paths():
        for _ in range(1200):
            fg, _ = C.corrective_clicks(torch.zeros_like(full), full, user="deepedit", generator=g)
            counts[np.ravel_multi_index(tuple(fg[0].tolist()), full.shape)] += 1
    assert stats.chisquare(counts).pvalue > 0.001  # 60 equally likely voxels


def test_bounding_boxes_of_several_masks_in_one_read():
    a = torch.zeros(9, 8, 7, dtype=torch.bool)
    a[2:4, 0:1, 3:7] = True
    b = torch.zeros_like(a)
    b[8, 7, 0] = True
    empty = torch.zeros_like(a)
    assert C._bboxes([a, empty, b]) == [C._bbox(a), None, C._bbox(b)]
    assert C._bbox(a) == (slice(1, 5), slice(0, 2), slice(2, 7))  # one-voxel rim, clipped to the volume
    assert C._bboxes([b], margin=0) == [(slice(8, 9), slice(7, 8), slice(0, 1))]


def test_click_density_counts_every_draw_inside_the_false_negatives():
    """The users chapter's click map (issue 26: the sampling loop moved out of the notebook)."""
    from gtg_core import clicks as user_clicks

    label = torch.zeros(12, 12, 6, dtype=torch.bool)
    label[2:10, 2:10, 1:5] = True
    pred = label.clone()
    pred[2:6, 2:10, 1:5] = False  # the missed half: the false negatives
    gen = torch.Generator().manual_seed(3)
    counts = user_clicks.click_density(pred, label, draws=200, generator=gen)
    fn, _ = user_clicks.error_masks(pred, label)
    assert counts.shape == label.shape and counts.sum() == 200
    assert counts[~fn].sum() == 0 and (counts > 0).sum() > 5  # spread over the errors, never outside them
    center = user_clicks.click_density(pred, label, draws=5, user="center", generator=gen)
    assert center.max() == 5  # the center user is deterministic: one voxel, every time
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        user_clicks.click_density(pred, label, draws=0, generator=gen)
