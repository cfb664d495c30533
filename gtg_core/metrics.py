"""Dice, the paper's metrics M1-M5, and NoC / AUC / Dice drops, over a per-click trace table.

Numbering follows the paper's Table 2 (its section 3.2 swaps the names: there M3 is consistent
improvement, M4 overlap and M5 efficiency):

- M1 final Dice: mean Dice after the last click (N = 10 in the paper).
- M2 initial Dice: mean Dice before any corrective click. The paper means N = 0 (no guidance at all);
  the authors' code measured it after the initial seed clicks. :func:`initial_dice` has a flag for both.
- M3 efficiency: 1 - T, T in seconds per click step; for the signal alone and for the whole step
  (errors + sampling + signal), which is what the authors timed.
- M4 consistent improvement: clicks that strictly improve Dice / (N x number of volumes).
- M5 ground-truth overlap: |M and G| / |G| with G the support (> 0) of the foreground guidance, per click
  and at the last click.

Beyond the paper: NoC@x, the Dice AUC, Dice drops, and the normalised surface Dice (:func:`surface_dice`,
NSD with a tolerance of :data:`NSD_TOLERANCE_MM` mm) per click, at the last click and as an AUC, as today's
interactive 3-D benchmarks score boundaries.

Conventions
-----------
:func:`summary` computes the metrics with the paper's reading (``convention="paper"``, the default) or as
the authors' ``exp/spider_plot.py`` (162e680) indexed them (``"reference_code"``):

=====  =========================================  =====================================================
       paper                                      reference_code
=====  =========================================  =====================================================
M1     after the last click (click N)             at j = N - 1 (seeds + 9 clicks for N = 10)
M3     mean over every click step                 the step at j = N - 1 only (the N-th click step)
M4     N transitions 0 -> N                       N - 1 transitions 0 -> N - 1 (pooled over validation
                                                  epochs by :func:`gtg_core.train.fit`)
M5     guidance at the last click                 guidance at j = N - 1
=====  =========================================  =====================================================

The authors report M3 as the time T itself ("1 - T" is commented out); both conventions here give T
(``M3_step_time_s``) and 1 - T.

The trace
---------
One row per volume and prediction (:data:`TRACE_COLUMNS`): ``click`` is the number of corrective clicks
made before that prediction (0 = with the initial seed clicks only); ``click = -1`` marks a prediction made
with no guidance at all (no seeds either), recorded when the loop is asked to.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ._checks import as_binary_mask

TRACE_COLUMNS = ("volume", "click", "dice", "n_fg", "n_bg", "new_fg", "new_bg", "kind", "signal_time_s",
                 "step_time_s", "overlap", "nsd")

#: The tolerance of the normalised surface Dice (:func:`surface_dice`), in mm: about one voxel of the
#: preprocessed AutoPET (2.04 x 2.04 x 3 mm) and two of MSD Spleen in plane (0.79 mm).
NSD_TOLERANCE_MM = 2.0


def dice(pred, label) -> torch.Tensor:
    """Foreground Dice 2|P and L| / (|P| + |L|) as a 0-d float32 tensor on the inputs' device.

    Both masks empty gives 1.0 (nothing to find, nothing found). Masks are bool or 0/1 integers of the
    same shape; a probability map must be thresholded first.
    """
    pred, label = as_binary_mask(pred, "pred"), as_binary_mask(label, "label")
    if pred.shape != label.shape:
        raise ValueError(f"pred and label shapes differ: {tuple(pred.shape)} vs {tuple(label.shape)}")
    inter = (pred & label).sum(dtype=torch.float32)
    total = pred.sum(dtype=torch.float32) + label.sum(dtype=torch.float32)
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))


def surface_dice(pred, label, *, spacing=(1.0, 1.0, 1.0), tolerance_mm: float = NSD_TOLERANCE_MM) -> torch.Tensor:
    """Normalised surface Dice (NSD, Nikolov et al. 2021) of the foreground: the share of both masks'
    boundary voxels that lie within ``tolerance_mm`` of the other mask's boundary, with ``spacing`` the
    voxel size in mm along (X, Y, Z). MONAI's ``compute_surface_dice`` does the work. Both masks empty gives
    1.0, one empty 0.0. A 0-d float32 tensor on the inputs' device."""
    import warnings

    from monai.metrics import compute_surface_dice

    pred, label = as_binary_mask(pred, "pred"), as_binary_mask(label, "label")
    if pred.shape != label.shape:
        raise ValueError(f"pred and label shapes differ: {tuple(pred.shape)} vs {tuple(label.shape)}")
    if not tolerance_mm > 0:
        raise ValueError(f"tolerance_mm must be positive, got {tolerance_mm!r}")
    if not pred.any() or not label.any():
        return torch.tensor(float(not pred.any() and not label.any()), device=pred.device)

    def one_hot(mask):
        return torch.stack([~mask, mask])[None].float()

    with warnings.catch_warnings():  # MONAI 1.5 warns about its own deprecated argument
        warnings.simplefilter("ignore", FutureWarning)
        value = compute_surface_dice(one_hot(pred), one_hot(label), class_thresholds=[float(tolerance_mm)],
                                     spacing=tuple(float(s) for s in spacing))
    return value.reshape(()).to(device=pred.device, dtype=torch.float32)


def guidance_overlap(guidance, label) -> torch.Tensor:
    """M5 for one guidance map: |M and G| / |G|, G = voxels where ``guidance > 0``; NaN when G is empty."""
    if not isinstance(guidance, torch.Tensor) or not guidance.dtype.is_floating_point:
        raise ValueError("guidance must be a floating-point tensor")
    label = as_binary_mask(label, "label")
    if guidance.shape != label.shape:
        raise ValueError(f"guidance and label shapes differ: {tuple(guidance.shape)} vs {tuple(label.shape)}")
    support = guidance > 0
    size = support.sum(dtype=torch.float32)
    inter = (support & label).sum(dtype=torch.float32)
    return torch.where(size > 0, inter / size.clamp(min=1), torch.full_like(size, float("nan")))


def trace_frame(rows) -> pd.DataFrame:
    """A trace DataFrame from a list of row dicts (missing columns are filled with NaN)."""
    df = pd.DataFrame(list(rows))
    for col in TRACE_COLUMNS:
        if col not in df:
            df[col] = np.nan
    return df[list(TRACE_COLUMNS) + [c for c in df.columns if c not in TRACE_COLUMNS]]


def _check_trace(trace: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(trace, pd.DataFrame):
        raise TypeError("trace must be a pandas DataFrame (see gtg_core.metrics.trace_frame)")
    missing = {"volume", "click", "dice"} - set(trace.columns)
    if missing:
        raise ValueError(f"trace lacks the column(s) {sorted(missing)}")
    return trace


def _curves(trace: pd.DataFrame) -> pd.DataFrame:
    """Dice per volume (rows) and click 0..N (columns)."""
    t = _check_trace(trace)
    t = t[t["click"] >= 0]
    if t.empty:
        raise ValueError("trace has no rows with click >= 0")
    return t.pivot_table(index="volume", columns="click", values="dice", aggfunc="last").sort_index(axis=1)


# ---------------------------------------------------------------------- one volume's curve, the one formula
#
# Each curve metric is defined once, on one volume's values per click (NaN where the volume has no such click):
# summary() averages it over a run's volumes, volume_table() keeps it per volume, so the two read alike.


def _volume_final(curve: np.ndarray) -> float:
    """The value after the volume's last click (its last finite one)."""
    values = curve[np.isfinite(curve)]
    return float(values[-1]) if len(values) else math.nan


def _volume_rises(curve: np.ndarray) -> int:
    """How many clicks j -> j+1 raised the value (strictly); M4's numerator for one volume."""
    steps = np.diff(curve)
    return int(np.sum(steps[np.isfinite(steps)] > 0))


def _volume_auc(curve: np.ndarray, clicks: np.ndarray) -> float:
    """The area under the value-per-click curve (trapezoids over its finite points) / the clicks it spans; a
    single point: its value."""
    keep = np.isfinite(curve)
    y, x = curve[keep], clicks[keep].astype(float)
    if len(y) == 1:
        return float(y[0])
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def _volume_noc(curve: np.ndarray, clicks: np.ndarray, threshold: float, cap: int) -> tuple[float, bool]:
    """(the first click up to ``cap`` whose Dice reaches ``threshold``, or ``cap``; whether it never did)."""
    keep = np.isfinite(curve) & (clicks <= cap)
    hit = clicks[keep][curve[keep] >= threshold]
    return (float(hit[0]), False) if len(hit) else (float(cap), True)


def _rows(curves: pd.DataFrame):
    """Each volume's curve of a :func:`_curves` table as (values, clicks) arrays."""
    clicks = curves.columns.to_numpy()
    return ((row, clicks) for row in curves.to_numpy(dtype=float))


def final_dice(trace: pd.DataFrame, *, click: int | None = None) -> float:
    """M1: mean over volumes of the Dice after each volume's last click (or at the given ``click`` index)."""
    curves = _curves(trace)
    if click is not None:
        if int(click) not in curves.columns:
            raise ValueError(f"trace has no click == {click} rows")
        return float(curves[int(click)].mean())
    return float(np.mean([_volume_final(row) for row, _ in _rows(curves)]))


def initial_dice(trace: pd.DataFrame, *, with_seeds: bool = True) -> float:
    """M2: mean Dice before any corrective click.

    ``with_seeds=True`` (the authors' code): the prediction with the initial seed clicks (``click == 0``).
    ``with_seeds=False`` (the paper's N = 0): the prediction with no guidance (``click == -1`` rows).
    """
    t = _check_trace(trace)
    rows = t[t["click"] == (0 if with_seeds else -1)]
    if rows.empty:
        raise ValueError(f"trace has no click == {0 if with_seeds else -1} rows for initial_dice(with_seeds={with_seeds})")
    return float(rows.groupby("volume")["dice"].last().mean())


def improvement_counts(trace: pd.DataFrame, n_clicks: int | None = None) -> tuple[int, int]:
    """(clicks j -> j+1, j = 0..N-1, with Dice strictly higher; N x number of volumes): M4's numerator and
    denominator, so that several traces (validation epochs) can be pooled."""
    curves = _curves(trace)
    n = int(curves.columns.max()) if n_clicks is None else int(n_clicks)
    if n <= 0:
        return 0, 0
    values = curves.reindex(columns=range(n + 1)).to_numpy(dtype=float)
    return sum(_volume_rises(row) for row in values), n * len(curves)


def consistent_improvement(trace: pd.DataFrame, n_clicks: int | None = None) -> float:
    """M4: number of clicks j -> j+1 (j = 0..N-1) with Dice strictly higher, / (N x number of volumes).

    ``n_clicks`` defaults to the largest click index in the trace.
    """
    improved, transitions = improvement_counts(trace, n_clicks)
    return float(improved / transitions) if transitions else float("nan")


def step_time(trace: pd.DataFrame, *, which: str = "step", click: int | None = None) -> float:
    """T of M3: the mean time in seconds per corrective click step (``click >= 1`` rows, or the rows of one
    ``click`` index: the step that led to that prediction).

    ``which="step"``: the whole click step (errors + sampling + signal), as the authors timed it;
    ``which="signal"``: the guidance computation alone.
    """
    col = {"step": "step_time_s", "signal": "signal_time_s"}.get(which)
    if col is None:
        raise ValueError(f"which must be 'step' or 'signal', got {which!r}")
    t = _check_trace(trace)
    rows = t["click"] >= 1 if click is None else t["click"] == int(click)
    times = t.loc[rows, col].dropna() if col in t else pd.Series(dtype=float)
    return float(times.mean()) if not times.empty else float("nan")


def efficiency(trace: pd.DataFrame, *, which: str = "step", click: int | None = None) -> float:
    """M3: 1 - T with T from :func:`step_time`. T is in seconds, so M3 goes negative for steps slower than
    1 s (the paper's A100 figures were all under 1 s); the timed steps follow a warm-up, see
    :func:`gtg_core.train.evaluate_volumes`."""
    return 1.0 - step_time(trace, which=which, click=click)


def gt_overlap(trace: pd.DataFrame, *, at="last") -> float:
    """M5: mean |M and G| / |G| of the foreground guidance; ``at="last"`` (each volume's last click),
    ``"all"`` (every click row with guidance) or a click index (the authors': N - 1)."""
    t = _check_trace(trace)
    if "overlap" not in t:
        return float("nan")
    t = t[t["click"] >= 0]
    if not isinstance(at, str):
        return float(t.loc[t["click"] == int(at), "overlap"].mean())
    if at == "last":
        idx = t.groupby("volume")["click"].idxmax()
        return float(t.loc[idx, "overlap"].mean())
    if at == "all":
        return float(t["overlap"].mean())
    raise ValueError(f"at must be 'last' or 'all', got {at!r}")


def noc(trace: pd.DataFrame, threshold: float, *, max_clicks: int | None = None) -> tuple[float, int]:
    """Number of clicks to reach ``threshold`` Dice (0..1): (mean NoC, number of failures).

    Per volume, the first click index j with Dice >= threshold (0 if the seeds already suffice); a volume
    that never gets there within ``max_clicks`` (default: its last click) counts ``max_clicks`` and is a
    failure.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold is a Dice in [0, 1], got {threshold!r}")
    curves = _curves(trace)
    cap = int(curves.columns.max()) if max_clicks is None else int(max_clicks)
    counts = [_volume_noc(row, clicks, threshold, cap) for row, clicks in _rows(curves)]
    return float(np.mean([c for c, _ in counts])), sum(failed for _, failed in counts)


def dice_auc(trace: pd.DataFrame) -> float:
    """Area under the Dice-per-click curve (trapezoids over clicks 0..N) / N, mean over volumes; in [0, 1]."""
    return float(np.mean([_volume_auc(row, clicks) for row, clicks in _rows(_curves(trace))]))


def dice_drops(trace: pd.DataFrame) -> tuple[float, float]:
    """(rate, mean size) of Dice drops: transitions j -> j+1 with lower Dice, and by how much on average."""
    curves = _curves(trace)
    diffs = np.diff(curves.to_numpy(dtype=float), axis=1)
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size == 0:
        return float("nan"), float("nan")
    drops = -diffs[diffs < 0]
    return float(drops.size / diffs.size), float(drops.mean()) if drops.size else 0.0


def surface_dice_summary(trace: pd.DataFrame, *, click: int | None = None) -> dict:
    """``nsd_final`` (mean NSD after each volume's last click, or at ``click``) and ``nsd_auc`` (the area
    under the NSD-per-click curve / N, as :func:`dice_auc` for the Dice): how the 2025 interactive benchmarks
    score boundaries. NaN for a trace without NSD (runs made before it was recorded)."""
    t = _check_trace(trace)
    if "nsd" not in t or t["nsd"].isna().all():
        return {"nsd_final": math.nan, "nsd_auc": math.nan}
    as_dice = t[["volume", "click"]].assign(dice=t["nsd"])
    return {"nsd_final": final_dice(as_dice, click=click), "nsd_auc": dice_auc(as_dice)}


CONVENTIONS = ("paper", "reference_code")


def summary(trace: pd.DataFrame, *, thresholds=(0.80, 0.85, 0.90), max_clicks: int | None = None,
            convention: str = "paper") -> dict:
    """Every metric of this module in one flat dict (JSON-ready), M1/M3/M4/M5 read with ``convention``
    (see the module docstring); the dict records the convention."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    t = _check_trace(trace)
    n = int(t["click"].max()) if max_clicks is None else int(max_clicks)
    at = None if convention == "paper" else n - 1  # the authors' j = 9 of 10
    if at is not None and at < 0:
        raise ValueError("the reference_code convention needs at least one corrective click")
    step_click = None if convention == "paper" else n
    out = {
        "convention": convention,
        "M1_final_dice": final_dice(t, click=at),
        "M2_initial_dice_with_seeds": initial_dice(t, with_seeds=True) if (t["click"] == 0).any() else math.nan,
        "M2_initial_dice_no_guidance": initial_dice(t, with_seeds=False) if (t["click"] == -1).any() else math.nan,
        "M3_step_time_s": step_time(t, which="step", click=step_click),
        "M3_efficiency_step": efficiency(t, which="step", click=step_click),
        "M3_efficiency_signal": efficiency(t, which="signal", click=step_click),
        "M4_consistent_improvement": consistent_improvement(t, n if at is None else at),
        "M5_gt_overlap_last": gt_overlap(t, at="last" if at is None else at),
        "M5_gt_overlap_all": gt_overlap(t, at="all"),
        "auc": dice_auc(t),
    }
    out.update(surface_dice_summary(t, click=at))
    rate, size = dice_drops(t)
    out["dice_drop_rate"], out["dice_drop_mean"] = rate, size
    for thr in thresholds:
        mean, fails = noc(t, thr, max_clicks=max_clicks)
        out[f"NoC@{int(round(thr * 100))}"] = mean
        out[f"NoC@{int(round(thr * 100))}_failures"] = fails
    out["volumes"] = int(t["volume"].nunique())
    return out


# ------------------------------------------------------------------------------------- per volume

#: Per-volume metrics :func:`volume_table` computes from a trace (all "higher is better" except NoC and M3).
VOLUME_METRICS = ("M1_final_dice", "M2_initial_dice_with_seeds", "M2_initial_dice_no_guidance",
                  "M4_consistent_improvement", "M5_gt_overlap_last", "auc", "NoC@80", "NoC@85", "NoC@90",
                  "M3_step_time_s", "nsd_final", "nsd_auc")
#: Metrics a trace may lack (no no-guidance row; a run recorded before NSD was).
OPTIONAL_METRICS = ("M2_initial_dice_no_guidance", "nsd_final", "nsd_auc")


def volume_table(traces) -> pd.DataFrame:
    """One row per (run, volume) of ``traces`` (a study's traces.csv: a ``run`` column beside the trace
    columns) with the metrics of :data:`VOLUME_METRICS` for that volume alone, read as :func:`summary` reads
    them over all volumes (the paper's convention): M1 at the last click, M2 at click 0 (seeds) and -1 (no
    guidance), M4 = rises / N, M5 at the last click, AUC (trapezoids / N), NoC@x (first click reaching x, N
    when never), M3's mean step time (s) over clicks 1..N, NSD after the last click and its AUC, each from the
    same one-volume formula :func:`summary` averages (``_volume_final``, ``_volume_rises``, ``_volume_auc``,
    ``_volume_noc``); the per-run means equal :func:`summary`'s values (a test checks it on the committed
    studies). :mod:`gtg_core.study.stats` bootstraps these."""
    t = traces[["run", "volume", "click", "dice"] + [c for c in ("overlap", "step_time_s", "nsd") if c in traces]]
    rows = []
    for (run, volume), g in t.groupby(["run", "volume"], sort=False):
        g = g.sort_values("click")
        clicked = g[g["click"] >= 0]
        if clicked.empty:
            continue
        curve, clicks = clicked["dice"].to_numpy(dtype=float), clicked["click"].to_numpy()
        n = int(clicks[-1])
        none = g.loc[g["click"] == -1, "dice"]
        rows.append({"run": run, "volume": volume, "M1_final_dice": _volume_final(curve),
                     "M2_initial_dice_with_seeds": curve[0],
                     "M2_initial_dice_no_guidance": float(none.iloc[-1]) if len(none) else np.nan,
                     "M4_consistent_improvement": _volume_rises(curve) / n if n else np.nan,
                     "M5_gt_overlap_last": float(clicked["overlap"].iloc[-1]) if "overlap" in g else np.nan,
                     "auc": _volume_auc(curve, clicks),
                     **{f"NoC@{p}": _volume_noc(curve, clicks, p / 100, n)[0] for p in (80, 85, 90)},
                     "M3_step_time_s": float(g.loc[g["click"] >= 1, "step_time_s"].mean())
                     if "step_time_s" in g else np.nan, **_nsd(clicked, clicks)})
    return pd.DataFrame(rows)


def _nsd(clicked, clicks) -> dict:
    """One volume's NSD after its last click and the area under its NSD-per-click curve / N (NaN without
    NSD in the trace), read as the Dice's (:func:`surface_dice_summary`)."""
    nsd = clicked["nsd"].to_numpy(dtype=float) if "nsd" in clicked else np.array([])
    if not len(nsd) or np.isnan(nsd).all():
        return {"nsd_final": np.nan, "nsd_auc": np.nan}
    return {"nsd_final": _volume_final(nsd), "nsd_auc": _volume_auc(nsd, clicks)}
