"""gtg_core.viz: the kernel-free slice viewer and its live mode."""

import base64
import re

import numpy as np
import pytest
import torch

from gtg_core import data, viz
from gtg_core.study import stats


def test_viewer_html_is_self_contained_with_unique_ids_and_fallbacks():
    image, label, _ = data.phantom("spleen_ct", shape=(48, 48, 24), seed=0)
    v = viz.slice_viewer(image, label, clicks=torch.tensor([[20, 20, 12]]), names=["spleen"], window=(-224, 212))
    h1, h2 = v._repr_html_(), viz.slice_viewer(image)._repr_html_()
    ids1 = set(re.findall(r'id="(gtgv[0-9a-f]+)"', h1))
    ids2 = set(re.findall(r'id="(gtgv[0-9a-f]+)"', h2))
    assert len(ids1) == 1 and ids1.isdisjoint(ids2)
    assert 'type="range"' in h1 and "<script>" in h1 and "http" not in h1  # nothing fetched from elsewhere
    frames = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", h1)
    assert len(frames) == 24 + 1  # every slice, plus the initial one
    assert base64.b64decode(frames[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert v._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "(48, 48, 24)" in repr(v) and "spleen" in repr(v) and "1 clicks" in repr(v)


def test_overlay_and_click_show_in_the_frame():
    image = torch.zeros(20, 20, 5)
    overlay = torch.zeros(20, 20, 5)
    overlay[5:10, 5:10, 2] = 1.0
    v = viz.slice_viewer(image, overlay, clicks=torch.tensor([[15, 15, 2]]), window=(0, 1))
    frame = v.render_slice(2)  # (Y, X, 3)
    assert tuple(frame[7, 7]) != (0, 0, 0)  # the overlay is blended in
    assert tuple(frame[15, 15]) == (0, 255, 0)  # the fg click cross
    assert tuple(v.render_slice(0)[7, 7]) == (0, 0, 0)


def test_viewer_of_msd_spleen_size_stays_in_budget():
    g = torch.Generator().manual_seed(0)
    image = torch.randn(512, 512, 89, generator=g) * 100  # noise: the worst case for PNG compression
    label = torch.zeros(512, 512, 89)
    label[200:300, 200:320, 30:60] = 1
    html = viz.slice_viewer(image, label)._repr_html_()
    assert len(html) <= 1_500_000
    assert html.count("data:image/png") >= 20  # still a usable number of slices


def test_viewer_bad_input():
    with pytest.raises(ValueError, match="3-D"):
        viz.slice_viewer(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="overlay 0"):
        viz.slice_viewer(torch.zeros(4, 4, 4), torch.zeros(4, 4, 3))


def test_live_mode_adds_clicks_and_redraws():
    image, label, spacing = data.phantom("spleen_ct", shape=(32, 32, 16), seed=0)
    box = viz.slice_viewer(image, window=(-224, 212)).live("disk", sigma=2)
    picture = box.children[0]
    before = bytes(picture.value)
    box.handle_click({"relativeX": 16, "relativeY": 8, "boundingRectWidth": 32, "boundingRectHeight": 32})
    assert box.clicks["fg"] == [[16, 8, 8]]
    assert bytes(picture.value) != before
    box.handle_click({"relativeX": 4, "relativeY": 4, "boundingRectWidth": 32, "boundingRectHeight": 32, "shiftKey": True})
    assert box.clicks["bg"] == [[4, 4, 8]]


def test_show_panels_wraps_after_four_panels():
    import matplotlib

    matplotlib.use("Agg")
    fig = viz.show_panels([np.zeros((4, 5))] * 7, titles=list("abcdefg"), ncols=7, colorbar=False)
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes if ax.get_title()}
    assert len(fig.axes) == 8 and len(rows) == 2  # 4 + 3 panels, one empty slot


def _decode(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.array(Image.open(io.BytesIO(png)).convert("RGB"))


def test_contour_outlines_keep_their_colours_in_every_frame_the_page_gets():
    """Review 4: the adaptive chapter's closing viewer showed no cyan or orange pixel in any of its 48 frames;
    the median cut merged the one-pixel outlines into the greys. Every outline pixel drawn must decode exactly
    from the base64 frames the page embeds."""
    import base64

    image, label, _ = data.phantom("spleen_ct", shape=(64, 64, 24), seed=1)
    noise = torch.rand(64, 64, 24, generator=torch.Generator().manual_seed(0))
    ring_a = torch.zeros(64, 64, 24)
    ring_a[18:30, 18:30, 8:16] = 1.0
    ring_b = torch.zeros(64, 64, 24)
    ring_b[34:40, 30:44, 10:14] = 1.0
    v = viz.slice_viewer(image, noise, ring_a, ring_b, names=["guidance", "paper", "code"], window=(-224, 212),
                         contours=[False, True, True], clicks=(torch.tensor([[24, 24, 12]]), torch.zeros(0, 3)))
    outline_colours = v.protected_colours()[len(viz.MARKERS):]
    assert len(outline_colours) == 2
    indices, pngs = v.frames()
    drawn = 0
    for k, png in zip(indices, pngs):
        frame = v.render_slice(k, v._base_factor())
        decoded = _decode(base64.b64decode(png))
        for colour in outline_colours:
            mask = np.all(frame == np.asarray(colour, dtype=np.uint8), axis=-1)
            drawn += int(mask.sum())
            assert np.all(decoded[mask] == colour), (k, colour)
    assert drawn > 100  # the outlines are there to be kept


def test_no_overlay_meaning_is_drawn_near_a_click_marker_colour():
    """Review 4: the beyond viewer's learned outline (light green) sat beside the green fg crosses."""
    import colorsys

    def hue(rgb):
        return 360 * colorsys.rgb_to_hsv(*rgb)[0]

    def apart(a, b):
        return min(abs(a - b), 360 - abs(a - b))

    assert apart(hue((0.6, 1.0, 0.3)), hue((0, 1, 0))) < 40  # the old learned colour: the check can fail
    named = list(viz.MEANING_COLOURS.items()) + [(f"spare {i}", c) for i, c in enumerate(viz.COLOURS)]
    for meaning, colour in named:  # the meanings and the spare palette of unnamed overlays
        for marker in viz.MARKERS.values():
            assert apart(hue(colour), hue(np.array(marker) / 255)) >= 40, (meaning, marker)
    assert viz.overlay_colours(["paper: fixed", "learned: Eq. 6"]) == [viz.MEANING_COLOURS["paper"],
                                                                       viz.MEANING_COLOURS["code"]]


def test_click_markers_keep_their_colours_in_the_quantised_frames():
    """The 64-colour PNGs once turned the green fg crosses grey: every marker pixel must decode exactly."""
    image, label, _ = data.phantom("spleen_ct", shape=(64, 64, 24), seed=1)
    overlay = torch.rand(64, 64, 24, generator=torch.Generator().manual_seed(0))  # many colours to merge
    fg = torch.tensor([[20, 30, 12], [40, 22, 12]])
    bg = torch.tensor([[10, 10, 12]])
    v = viz.slice_viewer(image, label.float(), overlay, clicks=(fg, bg), window=(-224, 212))
    frame = v.render_slice(12)
    decoded = _decode(v.encode_png(frame))
    for colour in viz.MARKERS.values():
        mask = np.all(frame == colour, axis=-1)
        assert mask.sum() >= 5
        assert np.all(decoded[mask] == colour)


def test_viewer_opens_on_the_slice_with_the_foreground_clicks():
    image = torch.zeros(16, 16, 30)
    fg = torch.tensor([[3, 3, 21], [5, 5, 22], [7, 7, 5]])
    bg = torch.tensor([[1, 1, 9], [2, 2, 9], [3, 3, 9], [4, 4, 9]])
    v = viz.slice_viewer(image, clicks=(fg, bg), window=(0, 1))
    assert v.start_slice() == 21  # the first of two fg-click slices; more bg clicks on slice 9 do not count
    html_text = v._repr_html_()
    start = int(re.search(r'value="(\d+)"', html_text).group(1))
    assert start == 21 and "slice 21" in html_text
    assert viz.slice_viewer(image, clicks=(torch.zeros(0, 3, dtype=torch.int64), bg)).start_slice() == 9
    # review 3: every viewer opened one slice before its clicks (the slice before counts them within one too)
    on_25 = torch.tensor([[3, 3, 25], [5, 5, 25], [8, 8, 25]])
    assert viz.slice_viewer(image, clicks=(on_25, bg)).start_slice() == 25
    spread = torch.tensor([[3, 3, 10], [5, 5, 11], [8, 8, 11], [9, 9, 12]])  # most on 11, the rest beside it
    assert viz.slice_viewer(image, clicks=(spread, bg)).start_slice() == 11
    overlay = torch.zeros(16, 16, 30)
    overlay[:, :, 4] = 1
    assert viz.slice_viewer(image, overlay).start_slice() == 4
    assert viz.slice_viewer(image).start_slice() == 15


def test_show_panels_colour_bars_grey_images_and_zero_centered_differences():
    import matplotlib

    matplotlib.use("Agg")
    image, diff = np.random.default_rng(0).random((10, 12)), np.linspace(-0.2, 1.0, 120).reshape(10, 12)
    fig = viz.show_panels([image, diff, diff], cmap=["gray", "magma", "RdBu_r"], label="guidance")
    assert len(fig.axes) == 3 + 2  # two colour bars, none for the grey image
    fig = viz.show_panels([diff], cmap="RdBu_r", symmetric=True, colorbar=False)
    low, high = fig.axes[0].images[0].get_clim()
    assert len(fig.axes) == 1 and low == pytest.approx(-1.0) and high == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cmap"):
        viz.show_panels([image, diff], cmap=["gray"])


def test_training_figures():
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    fig = viz.training_loop_figure()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "probability p" in texts and "N = 10" in texts and "training step" in texts
    history = pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [1.0, 0.8, 0.7],
                            "val_final_dice": [float("nan"), 0.6, 0.7], "val_initial_dice": [float("nan"), 0.4, 0.5]})
    fig = viz.learning_curves(history)
    assert len(fig.axes[0].lines) == 1 and len(fig.axes[1].lines) == 2
    assert fig.axes[1].lines[0].get_ydata().tolist() == [0.6, 0.7]


def test_spider_plot_carries_the_provenance_line():
    import matplotlib

    matplotlib.use("Agg")
    values = {"disk": {"M1_final_dice": 0.8}, "gdt": {"M1_final_dice": 0.7}}
    fig = viz.spider_plot(values, provenance="study x; 2 of 2 runs done")
    assert [t.get_text() for t in fig.texts] == ["study x; 2 of 2 runs done"]
    assert viz.spider_plot(values).texts == []


def test_study_figures_keep_coinciding_lines_apart_and_the_footnote_clear_of_the_axis_label():
    import pandas as pd

    curves = pd.DataFrame({"disk": [0.5, 0.7, 0.8], "heatmap": [0.5, 0.7, 0.8]}, index=[0, 1, 2])
    fig = viz.dice_curve_figure(curves, provenance="study x; " + "a long provenance line " * 12)
    ax = fig.axes[0]
    disk, heatmap = ax.get_lines()
    assert (disk.get_marker(), disk.get_linestyle()) != (heatmap.get_marker(), heatmap.get_linestyle())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    xlabel = ax.xaxis.label.get_window_extent(renderer)
    footnote = fig.texts[0].get_window_extent(renderer)
    assert footnote.y1 < xlabel.y0  # under the label, not over it
    assert footnote.x1 <= fig.bbox.x1 + 1  # wrapped to the figure's width
    values = {"disk": {"M1_final_dice": 0.8, "M3_efficiency_step": 0.9},
              "heatmap": {"M1_final_dice": 0.8, "M3_efficiency_step": 0.9}}
    spider = viz.spider_plot(values, m3_device="NVIDIA H200")
    labels = [t.get_text() for t in spider.axes[0].get_xticklabels()]
    assert any("M3" in label and "timed on NVIDIA H200" in label for label in labels)
    a, b = spider.axes[0].get_lines()
    assert (a.get_marker(), a.get_linestyle()) != (b.get_marker(), b.get_linestyle())
    # review 3: "the best on the outer ring" while the rings were stretched to fit the interval bars
    values = {"disk": {"M1_final_dice": 0.9, "M4_consistent_improvement": 0.5},
              "heatmap": {"M1_final_dice": 0.7, "M4_consistent_improvement": 0.8}}
    wide = {"disk": {"M1_final_dice": (0.6, 1.2)}, "heatmap": {"M1_final_dice": (0.5, 0.75)}}
    ax = viz.spider_plot(values, intervals=wide).axes[0]
    assert tuple(map(float, ax.get_ylim())) == (0.0, 1.0) and ax.get_yticklabels()[-1].get_text() == "best"
    assert "worst" in [t.get_text() for t in ax.texts]
    disk, heatmap = (line for line in ax.get_lines() if line.get_label() in ("disk", "heatmap"))
    assert list(disk.get_ydata()) == [1.0, 0.0, 1.0] and list(heatmap.get_ydata()) == [0.0, 1.0, 0.0]
    assert disk.get_color() != heatmap.get_color() and disk.get_color() == viz.SIGNAL_COLOURS["disk"]
    bars = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert bars and all(0.0 <= r <= 1.0 for line in bars for r in line.get_ydata())


def test_panel_figures_are_drawn_at_the_page_width_so_colour_bar_ticks_stay_readable():
    import matplotlib

    matplotlib.use("Agg")
    fig = viz.show_panels([np.random.rand(8, 8)] * 4, titles=list("abcd"), label="guidance")
    assert fig.get_figwidth() <= viz.PAGE_WIDTH_IN  # the page shows it at 100 %: 8 pt ticks stay 8 pt
    bars = [ax for ax in fig.axes if not ax.get_title()]
    # four maps in [0, 1] (guidance) share one bar, so each panel gets the width (review 4: 95 px panels)
    assert len(bars) == 1 and all(t.get_fontsize() >= 8 for ax in bars for t in ax.get_yticklabels())
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in fig.axes if ax.get_title())
    fig.canvas.draw()
    panel_px = [ax.get_window_extent().width for ax in fig.axes if ax.get_title()]
    assert min(panel_px) > 0.8 * 100 * viz.PAGE_WIDTH_IN / 4 * 0.85
    small = viz.show_panels([np.random.rand(8, 8)], titles=["a"])
    assert small.get_figwidth() == pytest.approx(2.6 * 1.25)  # one panel keeps its natural size


def test_evidence_figures_draw_the_matrix_the_rank_blobs_and_the_power_curves():
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    matrix = pd.DataFrame([[0.5, 0.9], [0.1, 0.5]], index=["a", "b"], columns=["a", "b"])
    fig = viz.improvement_figure(matrix)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["0.10", "0.50", "0.50", "0.90"]
    ranks = pd.DataFrame({1: [0.9, 0.1], 2: [0.1, 0.9]}, index=["a", "b"])
    fig = viz.rank_blobs({"M1": ranks, "M4": ranks[::-1]})
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["M1", "M4"]
    sizes = fig.axes[0].collections[0].get_sizes()  # setting a: large disc at rank 1, small at rank 2
    assert sizes[0] > 5 * sizes[1]
    comp = {"seed_x": 1e-5, "volume_x": 4e-4, "residual": 3e-3, "seed_x_range": (0.0, 2e-4)}
    power = stats.paired_power_table(comp, seeds=(3, 6), volumes=(12, 100))
    fig = viz.power_figure(power)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 5  # two seeds x (estimate, upper end) and the target
    assert list(lines[0].get_ydata()) == list(power.loc[("estimate", 3)])  # drawn as computed
    assert (lines[2].get_ydata() < lines[0].get_ydata()).all()  # more seeds, smaller differences
    assert (lines[1].get_ydata() > lines[0].get_ydata()).all()  # the upper end of setting x seed: larger
    fig.canvas.draw()  # only the volumes are labelled: no log-scale minor labels between them (review 4)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["12", "100"]
    assert not [t.get_text() for t in ax.get_xminorticklabels() if t.get_text()]


def test_the_training_loop_figure_says_what_p_0_trains_on():
    import matplotlib

    matplotlib.use("Agg")
    fig = viz.training_loop_figure()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "all-zero" in texts and "no seeds" in texts and "seeds only" not in texts  # review item 1
    # review 3: the "yes" of the coin was crossed by a box's edge; no label may overlap a box
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [p.get_window_extent(renderer) for p in fig.axes[0].patches if type(p).__name__ == "FancyBboxPatch"]
    labels = [t for t in fig.axes[0].texts if t.get_text() in ("yes",)]
    assert len(boxes) == 6 and labels
    for label in labels:
        extent = label.get_window_extent(renderer)
        assert not any(extent.overlaps(box) for box in boxes), label.get_text()


def test_a_page_figure_leaves_the_notebooks_interactive_mode_as_the_backend_set_it(monkeypatch):
    """The inline backend turns interactive mode on when it is first resolved, which can happen inside the
    first figure of a page; restoring every rcParam afterwards (``plt.rc_context``) turned it off again, and
    the study chapter's next figure (the power curves) was never shown. Only the text sizes are restored."""
    import matplotlib

    sizes = {key: matplotlib.rcParams[key] for key in viz.PAGE_TEXT}
    seen = {}

    def draw(panels, provenance):  # stands in for the backend resolved during the first figure
        matplotlib.interactive(True)
        seen.update({key: matplotlib.rcParams[key] for key in viz.PAGE_TEXT})
        return "figure"

    monkeypatch.setattr(viz.study_figures, "_hyperparameter_figure", draw)
    was = matplotlib.is_interactive()
    matplotlib.interactive(False)
    try:
        assert viz.hyperparameter_figure({}) == "figure"  # computed panels are drawn as given
        assert matplotlib.is_interactive()
    finally:
        matplotlib.interactive(was)
    assert seen == viz.PAGE_TEXT  # the sizes applied inside ...
    assert {key: matplotlib.rcParams[key] for key in viz.PAGE_TEXT} == sizes  # ... and restored after


def test_each_meaning_keeps_its_colour_and_compared_maps_are_outlines():
    """Review 3, defect 15: red meant the label, the GDT, false negatives and the paper's map on different
    pages, and two maps blended into grey. Colours follow the overlay's meaning (its name), whatever its
    position; an outline is drawn opaque, one pixel wide, at half the map's maximum."""
    image = torch.zeros(24, 24, 4)
    label = torch.zeros(24, 24, 4)
    label[6:18, 6:18] = 1
    disk = torch.zeros(24, 24, 4)
    disk[9:15, 9:15] = 1
    first = viz.slice_viewer(image, label, disk, names=["label", "guidance: GDT"], window=(0, 1))
    second = viz.slice_viewer(image, disk, label, names=["guidance: GDT", "label"], window=(0, 1))
    assert first.colours[0] == second.colours[1] == viz.MEANING_COLOURS["label"]
    assert first.colours[1] == second.colours[0] == viz.MEANING_COLOURS["guidance"]
    assert viz.overlay_colours(["false negatives", "false positives"]) == [viz.MEANING_COLOURS["false negatives"],
                                                                         viz.MEANING_COLOURS["false positives"]]
    assert viz.MEANING_COLOURS["label"] not in viz.overlay_colours(["a map", "another map"])  # red means label
    both = viz.slice_viewer(image, label, disk, names=["paper: Eq. 6", "code: table"], contours=True, window=(0, 1))
    frame = both.render_slice(2).transpose(1, 0, 2)  # back to (X, Y)
    paper, code = (np.all(frame == (np.asarray(c) * 255).astype(np.uint8), axis=-1) for c in both.colours)
    assert paper[6, 10] and paper[17, 10] and not paper[10, 10]  # the label's outline, its inside untouched
    assert code[9, 12] and not code[11, 12] and code.sum() == 20  # a 6 x 6 square's outline: 20 pixels
    assert "half-maximum outline" in both._repr_html_()
    with pytest.raises(ValueError, match="contours: one flag per overlay"):
        viz.slice_viewer(image, label, contours=[True, False])


def test_dice_per_click_draws_the_mean_and_with_several_volumes_their_range():
    """Issue 26: the Dice-per-click plot was drawn in two notebooks."""
    import pandas as pd

    one = pd.DataFrame({"volume": "a", "click": [-1, 0, 1, 2], "dice": [0.0, 0.5, 0.7, 0.9]})
    fig = viz.dice_per_click(one)
    ax = fig.axes[0]
    assert list(ax.get_lines()[0].get_ydata()) == [0.5, 0.7, 0.9] and not ax.collections  # click -1 left out
    two = pd.concat([one, one.assign(volume="b", dice=[0.0, 0.3, 0.5, 0.7])])
    ax = viz.dice_per_click(two, ylabel="validation Dice").axes[0]
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx([0.4, 0.6, 0.8]) and len(ax.collections) == 1
    assert ax.get_ylabel() == "validation Dice" and "range over 2 volumes" in ax.get_legend_handles_labels()[1]


def test_signal_figures_draw_the_curves_guidance_computes():
    """The adaptive and paper-vs-code chapters' curves (issue #26: out of the notebooks): each line is what
    gtg_core.guidance computes, one per a, b, table or reading."""
    import matplotlib.pyplot as plt
    import numpy as np

    from gtg_core import guidance

    fig = viz.eq6_figure(13.0, 0.15, [9.0, 13.0], [0.05, 0.15, 0.3])
    left, right = fig.axes
    assert [ln.get_label() for ln in left.lines] == ["a=9, b=0.15", "a=13, b=0.15"]
    x = left.lines[0].get_xdata()
    assert np.array_equal(left.lines[0].get_ydata(), guidance.eq6_sigma(x, 9.0, 0.15))
    assert np.array_equal(right.lines[2].get_ydata(), guidance.eq6_sigma(x, 13.0, 0.3))
    plt.close(fig)
    fig = viz.eq6_lookup_figure(13.0, 0.15)
    lines = fig.axes[0].lines
    assert len(lines) == 1 + len(guidance.REFERENCE_ADAPTIVE_TABLES)
    name = next(iter(guidance.REFERENCE_ADAPTIVE_TABLES))
    assert np.array_equal(lines[1].get_ydata(), guidance.reference_lookup_sigma(lines[1].get_xdata(), name))
    plt.close(fig)
    offsets, profiles = guidance.heatmap_profiles(torch.rand(30, 9, 9), [15, 4, 4], sigma=2.0)
    fig = viz.profiles_figure(offsets, profiles, sigma=2.0)
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.lines] == list(profiles) and ax.get_xlim() == (-8.0, 8.0)
    assert np.array_equal(ax.lines[-1].get_ydata(), profiles["Eq. 2 as printed"].numpy())
    plt.close(fig)


def test_seed_rankings_draw_each_seeds_ranks_with_ties_sharing_the_better_rank():
    import pandas as pd

    ranking = pd.DataFrame({"disk": [0.8, 0.7], "heatmap": [0.8, 0.6], "edt": [0.5, 0.9],
                            "non_interactive": [0.4, 0.3]}, index=pd.Index([40, 41], name="seed"))
    fig = viz.seed_rankings_figure(ranking)
    lines = {line.get_label(): list(line.get_ydata()) for line in fig.axes[0].get_lines()}
    assert set(lines) == {"disk", "heatmap", "edt"}  # the baseline is not ranked
    assert lines["disk"] == [1, 2] and lines["heatmap"] == [1, 3] and lines["edt"] == [3, 1]  # a tie: both 1st
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "80.0" in labels and "90.0" in labels  # each point's mean Dice in points
