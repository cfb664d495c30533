"""How long to train, from a pilot's validation curves (issue #33): the rule ``studies/training-length.yml``
states before its first run, as code.

The rule: per setting, the mean over its seeds of the validation Dice after each validated epoch, and the
standard error of that mean (the seeds' standard deviation / sqrt(seeds)); a setting has levelled off at the
first length E after which the mean rises by less than one standard error of E over the following ``window``
epochs (every validated length in (E, E + window] below mean(E) + SE(E)), the window fully observed. The
study's length is the longest of the settings' lengths (both must have levelled off); if a setting never levels
off, the longest length trained, said as not levelled off (:func:`chosen_length`).

The rest of the pilot's analysis plan: the held-out test split at each tested length (:func:`test_by_length`:
each setting's test M1, the paired difference, the variance components and what designs would resolve), and
the next study's design (:func:`next_design`: the length by the rule, the components at the nearest tested
length, a run's measured cost, the designs a budget buys and the one planned for the upper end of the seed
noise).
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


#: The designs whose smallest resolvable difference :func:`test_by_length` reports: (seeds, test volumes).
LENGTH_DESIGNS = ((4, 100), (8, 100), (8, 200))


def snapshot_settings(snapshot_traces, results, length: int, *, by: str = "signal") -> dict:
    """The held-out test split of every finished run as it would have stopped after ``length`` epochs
    (snapshot_traces.csv rows of that ``snapshot_epoch``, :mod:`gtg_core.train`'s ``test-at/``), as
    :class:`~gtg_core.study.bootstrap.Setting` objects grouped by ``by``, restricted to the seeds that every
    setting has at that length (a paired comparison needs them shared). ValueError naming ``length`` when the
    snapshots have no such epoch or no seed is shared."""
    from .bootstrap import per_volume, settings_from

    rows = snapshot_traces[snapshot_traces["snapshot_epoch"] == length]
    if rows.empty:
        raise ValueError(f"length {length}: the snapshot traces have no snapshot_epoch {length} "
                         f"(they have {sorted(set(snapshot_traces['snapshot_epoch']))})")
    table = per_volume(rows.drop(columns=["snapshot_epoch", "best_epoch"], errors="ignore"), results)
    seeds = set.intersection(*(set(g["seed"]) for _, g in table.groupby(by)))
    if not seeds:
        raise ValueError(f"length {length}: no seed was tested for every setting")
    return settings_from(table[table["seed"].isin(seeds)], by)


def test_by_length(snapshot_traces, results, *, metric: str = "M1_final_dice", designs=LENGTH_DESIGNS,
                   comparisons: int = 15) -> "pd.DataFrame":
    """What the held-out test split says at each tested training length of a pilot (issue #33's analysis
    plan), one row per ``snapshot_epoch`` (the lengths of ``test_epochs`` and the run's full length):
    ``seeds`` (shared by every setting), ``volumes``, ``M1 <setting>`` (the mean over seeds of each setting's
    test ``metric``), ``difference`` (first setting - second, mean over seeds) with its per-seed ``low`` and
    ``high``, ``best_epoch`` (the mean over those runs of the epoch, counted from 1, whose model a run of that
    length returns: its best validated one), the variance components of a paired difference as SDs
    (:func:`gtg_core.study.power.paired_components`: ``seed_x`` with its 95 % range ``seed_x_low`` ..
    ``seed_x_high``, ``volume_x``, ``residual``), and for each (k seeds, n volumes) of ``designs`` the smallest
    difference that design resolves at 80 % power under Holm over ``comparisons`` pairs (``detectable kxn``,
    t-based: :func:`gtg_core.study.power.detectable_difference`). Values in the metric's units. Describes; it
    decides no comparison of the settings."""
    import numpy as np
    import pandas as pd

    from .power import detectable_difference, paired_components

    rows = []
    for length in sorted(set(snapshot_traces["snapshot_epoch"])):
        settings = snapshot_settings(snapshot_traces, results, int(length))
        names = list(settings)
        grids = [settings[n].values[metric] for n in names]
        comp = paired_components(settings, metric)
        per_seed = grids[0].mean(1) - grids[1].mean(1)
        runs = set(results.loc[results["seed"].isin(settings[names[0]].seeds), "run"])
        at = snapshot_traces[snapshot_traces["run"].isin(runs)
                             & (snapshot_traces["snapshot_epoch"] == length)]
        best = at.drop_duplicates("run")["best_epoch"].astype(float) + 1
        row = {"length": int(length), "seeds": comp["seeds"], "volumes": comp["volumes"],
               **{f"M1 {n}": float(g.mean()) for n, g in zip(names, grids)},
               "difference": float(per_seed.mean()), "low": float(per_seed.min()), "high": float(per_seed.max()),
               "best_epoch": float(best.mean()), "seed_x": np.sqrt(comp["seed_x"]),
               "seed_x_low": np.sqrt(comp["seed_x_range"][0]), "seed_x_high": np.sqrt(comp["seed_x_range"][1]),
               "volume_x": np.sqrt(comp["volume_x"]), "residual": np.sqrt(comp["residual"])}
        for seeds, volumes in designs:
            row[f"detectable {seeds}x{volumes}"] = detectable_difference(comp, seeds, volumes,
                                                                         comparisons=comparisons)
        rows.append(row)
    return pd.DataFrame(rows)


def epoch_seconds(histories) -> float:
    """The median seconds of one epoch (its training and, where it had one, its validation) over every epoch
    of every run of ``histories`` (histories.csv's ``time_s``): the pilot's rate for a study of its design.
    The median, because an epoch during which the machine was paused or shared (a session's end, a build
    beside it) takes many times longer and says nothing about the design."""
    seconds = histories["time_s"].dropna()
    if seconds.empty:
        raise ValueError("histories: no epoch has a time_s to measure a rate from")
    return float(seconds.median())


def nearest_tested(length: int, tested) -> int:
    """The tested length of ``tested`` (a pilot's snapshot epochs) nearest to ``length``, the longer on a tie:
    whose components a study of ``length`` epochs is planned with."""
    tested = sorted(int(t) for t in tested)
    if not tested:
        raise ValueError("tested: no tested length")
    return min(tested, key=lambda t: (abs(t - length), -t))


#: The next study's budget (issue #33): about 24 hours of this machine's two workers.
BUDGET_WORKER_HOURS = 48.0


def next_design(histories, results, snapshot_traces, split: dict, *, settings: int, users: int,
                budget_worker_hours: float = BUDGET_WORKER_HOURS, volumes=(100, 200, 300, 400, 600),
                comparisons: int = 15, window: int = DEFAULT_WINDOW, target: float = 0.03) -> dict:
    """The next study's design from a finished pilot, every step a stated rule: the training length
    (:func:`chosen_length` on the pilot's validation curves), the variance components of its test split at
    the tested length nearest to it (:func:`nearest_tested`, :func:`snapshot_settings`,
    :func:`gtg_core.study.power.paired_components`), a run's cost (:func:`epoch_seconds` x the length for
    training and validation; ``split["episode_s"]`` a test episode, from :func:`gtg_core.study.cost.
    measured_split` of a finished study of the same design), the designs ``budget_worker_hours`` buys for
    ``settings`` settings clicked by ``users`` users on the test split (:func:`gtg_core.study.cost.
    budget_designs`) and the one planned for the upper end of the seed noise
    (:func:`gtg_core.study.cost.chosen_design`); and what resolving ``target`` (Dice) at the estimated
    components would take (``needed``: per number of test volumes, the seeds of
    :func:`gtg_core.study.power.paired_seeds_needed` and the worker hours of those runs at the same cost;
    volumes where no number of seeds reaches it are left out; ``target`` None: none computed). A dict:
    ``choice``, ``planned_at``, ``components``, ``train_s``, ``episode_s``, ``budget``, ``designs``,
    ``design``, ``target``, ``needed`` (a DataFrame)."""
    import pandas as pd

    from .cost import budget_designs, chosen_design, measured_run_seconds
    from .power import paired_components, paired_seeds_needed

    choice = chosen_length(histories, results, window=window)
    planned_at = nearest_tested(choice["length"], set(snapshot_traces["snapshot_epoch"]))
    components = paired_components(snapshot_settings(snapshot_traces, results, planned_at))
    train_s = epoch_seconds(histories) * choice["length"]
    rate = {"train_s": train_s, "episode_s": split["episode_s"]}  # this length's training, that study's episodes
    designs = budget_designs(components, budget_worker_hours=budget_worker_hours, train_s=train_s,
                             episode_s=split["episode_s"], settings=settings, users=users, volumes=volumes,
                             comparisons=comparisons)
    needed = []
    for n in volumes if target is not None else ():
        seeds = paired_seeds_needed(components, target, n, comparisons=comparisons)
        if seeds is not None:
            hours = settings * seeds * measured_run_seconds(rate, n, users) / 3600
            needed.append({"test volumes": n, "seeds": seeds, "worker hours": hours})
    return {"choice": choice, "planned_at": planned_at, "components": components, "train_s": train_s,
            "episode_s": split["episode_s"], "budget": budget_worker_hours, "designs": designs,
            "design": chosen_design(designs), "target": target,
            "needed": pd.DataFrame(needed, columns=["test volumes", "seeds", "worker hours"])}


def rise_after(curves, length: int):
    """What a pilot's validation curves (:func:`validation_curves`) did after ``length``: per setting, the
    standard error of its mean at ``length`` (``se``, the rule's threshold) and how much the mean rose from
    ``length`` to the longest length trained (``rise``: the last mean minus the one at ``length``). A
    DataFrame indexed by setting; ValueError naming ``length`` when a setting was not validated there."""
    import pandas as pd

    rows = {}
    for setting, curve in curves.groupby("setting", sort=False):
        curve = curve.set_index("length").sort_index()
        if length not in curve.index:
            raise ValueError(f"length {length}: {setting} was not validated after {length} epochs")
        rows[setting] = {"se": float(curve.at[length, "se"]),
                         "rise": float(curve["mean"].iloc[-1] - curve.at[length, "mean"])}
    return pd.DataFrame(rows).T


def design_facts(design: dict, *, scale: float = 100.0) -> dict:
    """:func:`next_design`'s answer as the numbers a page glues: ``budget`` (worker hours), ``train_s``,
    ``episode_s``, ``planned_at``, the chosen design's ``design_seeds``, ``design_volumes``,
    ``design_detectable`` and ``design_upper`` (times ``scale``: Dice points), and the cheapest design that
    resolves the ``target`` (times ``scale``; ``needed_seeds``, ``needed_volumes``, ``needed_hours``; NaN when
    none does)."""
    chosen, needed = design["design"], design["needed"]
    cheapest = needed.sort_values("worker hours").iloc[0] if len(needed) else None
    nan = float("nan")
    target = design["target"]
    return {"budget": design["budget"], "train_s": design["train_s"], "episode_s": design["episode_s"],
            "planned_at": design["planned_at"], "design_seeds": int(chosen["seeds"]),
            "design_volumes": int(chosen["test volumes"]), "design_detectable": scale * chosen["detectable"],
            "design_upper": scale * chosen["detectable (upper end)"],
            "target": scale * target if target is not None else nan,
            "needed_seeds": int(cheapest["seeds"]) if cheapest is not None else nan,
            "needed_volumes": int(cheapest["test volumes"]) if cheapest is not None else nan,
            "needed_hours": float(cheapest["worker hours"]) if cheapest is not None else nan}
