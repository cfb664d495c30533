"""How long to train, from a pilot's validation curves (issue #33): the rule ``studies/training-length.yml``
states before its first run, as code.

The rule: per setting, the mean over its seeds of the validation Dice after each validated epoch, and the
standard error of that mean (the seeds' standard deviation / sqrt(seeds)); a setting has levelled off at the
first length E after which the mean rises by less than one standard error of E over the following ``window``
epochs (every validated length in (E, E + window] below mean(E) + SE(E)), the window fully observed. The
study's length is the longest of the settings' lengths (both must have levelled off); if a setting never levels
off, the longest length trained, said as not levelled off.
"""

from __future__ import annotations

import math

#: The epochs after a length over which the validation Dice must stay within one standard error (the yml's 6).
DEFAULT_WINDOW = 6


def validation_curves(histories, results, *, metric: str = "val_final_dice"):
    """Per setting (signal and sigma) and training length (epochs trained, ``epoch + 1`` of history.csv): the
    mean of ``metric`` over the setting's seeds, their standard deviation, their number and the standard
    error of the mean. ``histories``: a study's histories.csv (``run``, ``epoch``, ``metric``); ``results``: its
    results.csv (``run``, ``signal``, ``sigma``, ``seed``). Only lengths every seed of a setting validated.
    A DataFrame with columns setting, length, mean, sd, seeds, se."""
    import pandas as pd

    keys = results.set_index("run")[["signal", "sigma", "seed"]]
    rows = histories.dropna(subset=[metric]).join(keys, on="run", how="inner")
    rows = rows.assign(setting=rows["signal"] + "|" + rows["sigma"].map(lambda s: f"{s:g}"),
                       length=rows["epoch"].astype(int) + 1)
    seeds = rows.groupby("setting")["seed"].nunique()
    stats = rows.groupby(["setting", "length"])[metric].agg(["mean", "std", "count"]).reset_index()
    stats = stats[stats["count"] == stats["setting"].map(seeds)]  # every seed validated this length
    stats = stats.rename(columns={"std": "sd", "count": "seeds"})
    stats["se"] = stats["sd"] / stats["seeds"].map(math.sqrt)
    return pd.DataFrame(stats[["setting", "length", "mean", "sd", "seeds", "se"]]).reset_index(drop=True)


def levelled_length(curve, *, window: int = DEFAULT_WINDOW):
    """The first length of one setting's ``curve`` (rows of :func:`validation_curves`, sorted by length) after
    which the mean stays below mean + SE for the next ``window`` epochs, all of them observed; None if none."""
    curve = curve.sort_values("length")
    lengths, means, ses = curve["length"].tolist(), curve["mean"].tolist(), curve["se"].tolist()
    last = lengths[-1] if lengths else 0
    for i, length in enumerate(lengths):
        if length + window > last:
            break
        later = [m for e, m in zip(lengths[i + 1:], means[i + 1:]) if e <= length + window]
        if later and max(later) < means[i] + ses[i]:
            return int(length)
    return None


def chosen_length(histories, results, *, window: int = DEFAULT_WINDOW, metric: str = "val_final_dice") -> dict:
    """The study's training length by the rule (module docstring): ``{"length", "levelled", "per_setting",
    "longest"}``; ``per_setting``: setting -> its levelled length or None; ``levelled``: every setting
    levelled off (else ``length`` is the longest trained, ``longest``)."""
    curves = validation_curves(histories, results, metric=metric)
    if not len(curves):
        raise ValueError("no validated epochs in the histories: nothing to choose a training length from")
    per_setting = {s: levelled_length(c, window=window) for s, c in curves.groupby("setting")}
    longest = int(curves["length"].max())
    levelled = all(v is not None for v in per_setting.values())
    return {"length": max(per_setting.values()) if levelled else longest, "levelled": levelled,
            "per_setting": per_setting, "longest": longest}
