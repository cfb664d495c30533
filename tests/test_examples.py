"""gtg_core.examples (the book's helpers) and the formula helpers the chapters plot."""

import numpy as np
import pytest
import torch

from gtg_core import bench, data, examples, guidance, metrics


def test_pick_device():
    assert examples.pick_device("cpu").type == "cpu"
    assert examples.pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            examples.pick_device("cuda")


def test_load_example_from_a_phantom_and_a_folder(tmp_path):
    ex = examples.load_example("lesion_pet", shape=(32, 32, 32), seed=2)
    assert ex.image.shape == (32, 32, 32) and ex.label.dtype == torch.bool and ex.window == (0.0, 10.0)
    assert 0 <= float(ex.normalised.min()) and float(ex.normalised.max()) <= 1
    data.write_dataset(tmp_path, "spleen_ct", n_cases=2, shape=(32, 32, 16))
    folder = examples.load_example(str(tmp_path), shape=(16, 16, 8), case=1)
    assert folder.image.shape == (16, 16, 8) and "spleen_ct_001" in folder.name
    with pytest.raises(ValueError, match="case"):
        examples.load_example(str(tmp_path), case=5)
    d = examples.describe(ex)
    assert d["shape"] == (32, 32, 32) and d["label volume (ml)"] > 0


def test_toy_prediction_and_example_clicks():
    label = torch.zeros(30, 30, 10, dtype=torch.bool)
    label[5:20, 5:20, 2:8] = True
    pred = examples.toy_prediction(label, shift=3)
    fn, fp = (label & ~pred), (pred & ~label)
    assert fn.any() and fp.any() and 0 < float(metrics.dice(pred, label)) < 1
    fg, bg = examples.example_clicks(label, seed=1, n_corrective=2)
    assert len(fg) == len(bg) == 3
    assert all(label[tuple(c)] for c in fg.tolist()) and not any(label[tuple(c)] for c in bg.tolist())


def test_center_and_edge_clicks():
    label = torch.zeros(21, 21, 21, dtype=torch.bool)
    label[4:17, 4:17, 4:17] = True
    center, edge = examples.center_and_edge_clicks(label).tolist()
    assert center == [10, 10, 10] and edge == [16, 10, 10] and not label[17, 10, 10]
    image = torch.zeros(21, 21, 21)
    image[:, :4] = 5.0  # a strong edge on the low-Y side only
    center, edge = examples.center_and_edge_clicks(label, image).tolist()
    assert edge == [10, 4, 10]


def test_guidance_threshold_model_grows_with_clicks():
    image = torch.zeros(20, 20, 6)
    image[4:16, 4:16] = 0.8
    fg = torch.tensor([[8, 8, 3]])
    g = guidance.compute("heatmap", image, fg, sigma=3)
    logits = examples.GuidanceThresholdModel()(torch.stack([image, g, torch.zeros_like(g)])[None])
    pred = logits[0].argmax(0)
    assert logits.shape == (1, 2, 20, 20, 6) and pred[8, 8, 3] == 1 and pred[0, 0, 0] == 0
    assert pred[8, 8, 3] and not pred[2, 8, 3]  # intensity gate: the dark rim stays background


def test_eq6_and_lookup_curves():
    assert guidance.eq6_sigma(0.0) == 13 and guidance.eq6_sigma(100.0) == 0
    np.testing.assert_array_equal(guidance.eq6_sigma(np.array([0.0, 1.0])), [13, 11])
    assert guidance.eq6_sigma(torch.tensor([0.0, 5.0])).tolist() == [13.0, 6.0]
    np.testing.assert_array_equal(guidance.reference_lookup_sigma([0.0, 0.0125, 0.02, 0.03, 0.05], "autopet"),
                                  [0, 1, 5, 9, 13])
    with pytest.raises(ValueError, match="dataset"):
        guidance.reference_lookup_sigma([0.1], "brats")


def test_time_signals_table():
    image = torch.rand(16, 16, 8)
    table = bench.time_signals(image, torch.tensor([[8, 8, 4]]), repeats=1, signals=["disk", "heatmap"])
    assert list(table.index) == ["disk", "heatmap"] and set(table.columns) == set(bench.TIMED_VARIANTS)
    assert (table.to_numpy() > 0).all()


def test_phantom_examples_have_the_papers_voxel_size_unless_asked_otherwise():
    """sigma is in voxels: the default example must have the voxel size the paper's preprocessing gives."""
    ex = examples.load_example("spleen_ct", shape=(64, 64, 32), seed=1)
    assert ex.spacing == pytest.approx(data.PROFILES["msd_spleen"]["spacing"])
    assert ex.image.shape == (64, 64, 32) and ex.label.any() and "1.59 x 1.59 x 5.00 mm" in ex.name
    assert ex.profile == "msd_spleen" and ex.to("cpu").profile == "msd_spleen"
    wide = examples.load_example("spleen_ct", shape=(64, 64, 32), seed=1, voxel_size="field_of_view")
    assert wide.spacing == pytest.approx(data.default_spacing("spleen_ct", (64, 64, 32)))
    assert wide.spacing[0] > 2.5 * ex.spacing[0]
    with pytest.raises(ValueError, match="voxel_size"):
        examples.load_example("spleen_ct", voxel_size="mm")


def test_folders_use_their_own_profile_and_case(tmp_path):
    data.write_dataset(tmp_path / "ct", "spleen_ct", n_cases=2, shape=(48, 48, 16), seed=4)
    data.write_dataset(tmp_path / "pet", "lesion_pet", n_cases=1, shape=(48, 48, 48), seed=4)
    assert data.folder_profile(tmp_path / "ct") == "msd_spleen"
    assert data.folder_profile(tmp_path / "pet") == "autopet"
    ct = examples.load_example(str(tmp_path / "ct"), shape=(32, 32, 16), case=1)
    assert "spleen_ct_001" in ct.name and "msd_spleen profile" in ct.name and ct.profile == "msd_spleen"
    assert ct.spacing == pytest.approx(data.PROFILES["msd_spleen"]["spacing"], rel=1e-3)
    generic = tmp_path / "own"
    for sub in ("images", "labels"):
        (generic / sub).mkdir(parents=True)
    image, label, spacing = data.phantom("spleen_ct", shape=(32, 32, 16), seed=0)
    data.save_nifti(generic / "images" / "a.nii.gz", image.numpy(), spacing)
    data.save_nifti(generic / "labels" / "a.nii.gz", label.numpy(), spacing)
    assert data.folder_profile(generic) == "generic"


def test_a_label_lost_in_the_resize_is_a_clear_error(tmp_path):
    """A one-voxel lesion vanished in the resize to the book's shape and the guidance chapter crashed later."""
    folder = tmp_path / "tiny"
    for sub in ("images", "labels"):
        (folder / sub).mkdir(parents=True)
    image = np.random.default_rng(0).random((96, 96, 48)).astype(np.float32)
    label = np.zeros((96, 96, 48), np.uint8)
    label[41, 41, 21] = 1  # one voxel
    data.save_nifti(folder / "images" / "case7.nii.gz", image, (1.0, 1.0, 1.0))
    data.save_nifti(folder / "labels" / "case7.nii.gz", label, (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match=r"case 0 .*case7.*no foreground voxel"):
        examples.load_example(str(folder), shape=(24, 24, 12), voxel_size="field_of_view")
    kept = examples.load_example(str(folder), shape=(24, 24, 12))  # cropped at its own voxel size
    assert int(kept.label.sum()) == 1
    with pytest.raises(ValueError, match="no foreground voxel"):
        examples.example_clicks(torch.zeros(8, 8, 8, dtype=torch.bool))


def test_the_adaptive_chapters_viewer_shows_both_rings_in_its_frames():
    """Review 4: the closing viewer of the adaptive chapter had no cyan or orange pixel in any frame (the
    lookup gave both clicks radius 0, and the PNGs merged the outlines). The chapter's own recipe: clicks where
    both readings give radius >= 2, both outlines decoded from the base64 frames the page embeds."""
    import base64
    import io

    from PIL import Image

    from gtg_core import viz

    ex = examples.load_example("spleen_ct", shape=[96, 96, 48], seed=0, case=0)
    table = guidance.adaptive_table_for_profile(ex.profile)
    ring = examples.visible_ring_clicks(ex.label, ex.image, ex.normalised, spacing=ex.spacing, table=table)
    assert ring["found"] and min(ring["paper"] + ring["code"]) >= 2 and ring["clicks"][0, 2] == ring["clicks"][1, 2]
    assert ring["paper"] == guidance.adaptive_sigmas(ex.image, ring["clicks"], spacing=ex.spacing).tolist()
    code_map = guidance.compute("adaptive_heatmap", ex.normalised, ring["clicks"], sigma=5, theta=10,
                                spacing=ex.spacing, variant="reference_code", dataset=table)
    paper_map = guidance.compute("adaptive_heatmap", ex.image, ring["clicks"], sigma=0, spacing=ex.spacing)
    v = viz.slice_viewer(ex.image, paper_map, code_map, clicks=ring["clicks"], window=ex.window, contours=True,
                         names=["paper: Eq. 6", "code: table"])
    cyan, orange = v.protected_colours()[-2:]
    seen = {cyan: 0, orange: 0}
    for png in v.frames()[1]:
        decoded = np.array(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB"))
        for colour in seen:
            seen[colour] += int(np.all(decoded == np.asarray(colour, dtype=np.uint8), axis=-1).sum())
    assert min(seen.values()) >= 20, seen


def test_visible_ring_clicks_falls_back_or_says_why():
    label = torch.zeros(24, 24, 12, dtype=torch.bool)
    label[10:13, 10:13, 5:7] = True  # too small for two separate rings
    image = torch.rand(24, 24, 12, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="no two clicks"):
        examples.visible_ring_clicks(label, image * 100, image, spacing=(1, 1, 1), table="msd_spleen")
    out = examples.visible_ring_clicks(label, image * 100, image, spacing=(1, 1, 1), table="msd_spleen",
                                       fallback=[[11, 11, 5]])
    assert not out["found"] and out["clicks"].tolist() == [[11, 11, 5]]
    assert len(out["paper"]) == len(out["code"]) == 1
