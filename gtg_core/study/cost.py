"""What a study costs before it runs: hours of training per run on a named device, from the committed
benchmark tables (``gtg bench train``: one DeepEdit training iteration, 10 click rounds + 1 step).

A run's time is its epochs x (training volumes + validation volumes x validations per epoch) x the seconds
of one iteration. The iteration's seconds come from the benchmark table of the device
(``benchmarks/results/train-<device>.csv``: an H100 or H200 card, or the CPU), measured at one volume size
with DeepEdit's network, and are scaled to the run's volume (its voxels) and network (the convolutions' cost
per voxel, :func:`network_cost`); the clicks' and guidance's share scales with the voxels alone. A validation
volume costs about one iteration (11 forward passes against 10 and one step). An estimate, and it says which
table it used. It holds near the tables' scale (DeepEdit's network at 128^3 on a GPU): the paper's runs. Far
below it, fixed costs (kernel launches, the click loop, Python) dominate and the scaled time is a lower bound
(:data:`LOWER_BOUND_BELOW`): phantom-mini's CPU runs (filters 16..128 at 64 x 64 x 32, two workers on two
cores) took 729 s on average, against about 194 s scaled from the CPU table. A study's own finished epochs
are the better rate once there are any (:func:`estimate_seconds`, the same count of iterations at the
study's measured rate: :func:`measured_rate`). The one estimator of a run's time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

#: The paper's datasets when their folder is not here to read: cases, and the voxels of a volume after the
#: profile's preprocessing (MSD Spleen: 512 x 512 x 89 on average at 0.79 mm in-plane, resampled to
#: 1.586 mm; AutoPET: the authors' 192 x 192 x 256 crop). Section 2.2 of the paper.
DATASETS = {"msd_spleen": (41, (255, 255, 89)), "autopet": (501, (192, 192, 256))}

#: The training benchmark tables shipped inside the package (copies of ``benchmarks/results/train-*.csv``,
#: kept equal by a test), so that an installed gtg_core (Colab, ``pip install``) estimates costs too.
SHIPPED_TABLES = Path(__file__).resolve().parents[1] / "_benchmarks"
_CHECKOUT_TABLES = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
#: Where the estimates read their tables: a checkout's ``benchmarks/results``, else the shipped copies.
BENCH_DIR = _CHECKOUT_TABLES if any(_CHECKOUT_TABLES.glob("train-*.csv")) else SHIPPED_TABLES


def network_cost(filters) -> float:
    """The per-voxel convolution cost of a U-Net with ``filters`` per level, up to a constant: each level's
    convolutions cost about filters^2 per voxel, on 8 times fewer voxels than the level above."""
    return sum(f * f / 8 ** level for level, f in enumerate(filters))


@dataclass(frozen=True)
class Rate:
    """One training iteration on ``device`` at ``shape`` with ``filters``, from ``table``: the network's
    seconds (``network_s``) and the clicks' and guidance's (``clicks_s``)."""

    network_s: float
    clicks_s: float
    shape: tuple
    filters: tuple
    device: str
    table: Path


def _slug(device: str) -> str:
    return device.replace(" ", "_")


def benchmark_rate(device: str, tables=BENCH_DIR) -> Rate:
    """The iteration time of gtg_core's loop on ``device`` ("cpu", or a card's name as torch gives it, e.g.
    "NVIDIA H200") from ``tables/train-<device>.csv`` (for the CPU, the table of the most threads).
    Raises ValueError naming the device and the tables there are when none matches."""
    import pandas as pd

    from ..model import DEEPEDIT_FILTERS

    tables = Path(tables)
    if device == "cpu":
        found = sorted(tables.glob("train-cpu-*threads-*.csv"), key=lambda p: int(p.stem.split("-")[2][:-7]))
    else:
        found = [p for p in (tables / f"train-{_slug(device)}.csv",) if p.is_file()]
    if not found:
        have = ", ".join(sorted(p.stem.removeprefix("train-") for p in tables.glob("train-*.csv"))) or "none"
        raise ValueError(f"device: no benchmark table for {device!r} in {tables} (tables for: {have}); "
                         f"run `gtg bench train --device cuda` on that card")
    table = found[-1]
    row = pd.read_csv(table).query("driver == 'gtg_core'").iloc[0]
    shape = tuple(int(s) for s in str(row["size"]).split("x"))
    return Rate(float(row["network_ms"]) / 1e3, float(row["clicks_guidance_ms"]) / 1e3, shape,
                tuple(DEEPEDIT_FILTERS), device, table)


def run_size(config: dict) -> tuple[tuple, int, int, str]:
    """(voxels per volume as a shape, training volumes, validation volumes, where the size came from) of a
    run's configuration (:class:`gtg_core.train.TrainConfig` fields): phantoms at their resized / cropped /
    drawn shape and the 80/20 split of ``n_cases``; a dataset folder at ``crop_shape`` or the paper's sizes
    of its profile (:data:`DATASETS`), with the cases counted in the folder when it is here."""
    from ..data import KINDS, split_cases
    from ..train import TrainConfig

    cfg = TrainConfig(**{k: v for k, v in config.items() if k in TrainConfig.__dataclass_fields__})
    if cfg.dataset in KINDS:
        shape = cfg.resolved_target_shape() or cfg.crop_shape or tuple(cfg.phantom_shape)
        train, val = split_cases(range(cfg.n_cases))
        return tuple(shape), len(train), len(val), f"{cfg.dataset} phantoms"
    profile = cfg.resolved_profile()
    n_cases, shape = DATASETS.get(profile, (None, None))
    source = f"the paper's {profile} sizes"
    if Path(cfg.dataset).is_dir():
        from ..data.layouts import load_cases

        n_cases, source = len(load_cases(cfg.dataset, check_labels=False)), f"{cfg.dataset} ({profile} profile)"
    if cfg.crop_shape:
        shape = tuple(cfg.crop_shape)
    if n_cases is None or shape is None:
        raise ValueError(f"dataset {cfg.dataset!r}: not here, and no known size for profile {profile!r}: "
                         "set crop_shape, or estimate where the data are")
    train, val = split_cases(range(n_cases))
    return tuple(shape), len(train), len(val), source


#: A run whose iteration scales to less than this share of the table's is far below the benchmark's scale:
#: its estimate is a lower bound (module docstring).
LOWER_BOUND_BELOW = 0.5


def iteration_scale(config: dict, rate: Rate, shape=None) -> float:
    """The run's iteration time as a share of the table's iteration (voxels and network); ``shape``: the
    run's volume when already known (:func:`run_size`)."""
    from ..model import DEEPEDIT_FILTERS

    shape = shape or run_size(config)[0]
    voxels = math.prod(shape) / math.prod(rate.shape)
    network = network_cost(config.get("filters") or DEEPEDIT_FILTERS) / network_cost(rate.filters)
    return voxels * (rate.network_s * network + rate.clicks_s) / (rate.network_s + rate.clicks_s)


def run_iterations(config: dict, n_train: int, n_val: int, *, from_epoch: int = 0) -> int:
    """Iterations a run of ``config`` still has from ``from_epoch`` (0: all of it): each epoch's ``n_train``
    training volumes, and ``n_val`` validation volumes at each validated epoch (every ``val_every``-th and the
    last), a validation volume costing about one iteration (module docstring). The one count behind every
    estimate here, from the benchmark tables or from a study's own measured rate."""
    epochs = int(config.get("epochs", 1))
    every = max(1, int(config.get("val_every", 1)))
    validations = len({e for e in range(from_epoch, epochs) if (e + 1) % every == 0 or e == epochs - 1})
    return (epochs - from_epoch) * n_train + validations * n_val


def _run_estimate(config: dict, rate: Rate) -> tuple[float, str, float]:
    """(seconds, where the size came from, iteration scale) of one run: its size read once (a folder's
    cases are listed once)."""
    shape, n_train, n_val, source = run_size(config)
    scale = iteration_scale(config, rate, shape)
    return run_iterations(config, n_train, n_val) * (rate.network_s + rate.clicks_s) * scale, source, scale


def run_seconds(config: dict, rate: Rate) -> float:
    """Seconds to train one run of ``config`` from scratch at ``rate`` (module docstring)."""
    return _run_estimate(config, rate)[0]


def study_cost(runs, device: str, *, tables=BENCH_DIR) -> dict:
    """The training time of ``runs`` (planned runs; those sharing an earlier run are not counted) on
    ``device``: ``hours`` in all, ``runs`` counted, ``per_run_hours`` (min, max), ``table`` (the benchmark
    table used, with its size), ``sizes`` (where the runs' sizes came from) and ``lower_bound`` (some run is
    far below the table's scale: :data:`LOWER_BOUND_BELOW`)."""
    rate = benchmark_rate(device, tables)
    estimates = [_run_estimate(r.config, rate) for r in runs if getattr(r, "same_as", None) is None]
    hours = [seconds / 3600 for seconds, _, _ in estimates]
    return {"hours": sum(hours), "runs": len(hours), "per_run_hours": (min(hours), max(hours)) if hours else (0, 0),
            "device": device, "table": f"{rate.table.name} ({'x'.join(map(str, rate.shape))}, DeepEdit filters)",
            "sizes": ", ".join(sorted({source for _, source, _ in estimates})),
            "lower_bound": bool(estimates) and min(scale for _, _, scale in estimates) < LOWER_BOUND_BELOW}


def cost_table(plans: dict, devices, *, tables=BENCH_DIR):
    """The training time of whole studies on several devices: ``plans`` maps a study's name to its planned
    runs (:func:`gtg_core.study.plan`); one row per (study, device) with the runs counted, the hours in all
    and per run, the benchmark table used (from ``tables``: a notebook outside the checkout passes
    ``book.locate("benchmarks/results")``) and whether it is a lower bound. A pandas DataFrame."""
    import pandas as pd

    rows = []
    for name, runs in plans.items():
        for device in devices:
            c = study_cost(runs, device, tables=tables)
            low, high = c["per_run_hours"]
            rows.append({"study": name, "device": device, "runs": c["runs"], "hours": round(c["hours"], 1),
                         "hours a run": f"{low:.2g}" if f"{low:.2g}" == f"{high:.2g}" else f"{low:.2g}-{high:.2g}",
                         "from": c["table"], "lower bound": c["lower_bound"]})
    return pd.DataFrame(rows)


def run_hours(config: dict, device: str, *, tables=BENCH_DIR) -> float:
    """Hours to train one run of ``config`` on ``device`` (:func:`run_seconds`)."""
    return run_seconds(config, benchmark_rate(device, tables)) / 3600


def measured_rate(root) -> float | None:
    """Seconds per training iteration measured on the finished epochs under ``root`` (history.csv time_s per
    training volume, averaged over the runs), or None when there are none."""
    import pandas as pd

    from ..io import read_json
    from .collect import _run_folders

    rates = []
    for folder in _run_folders(Path(root)) if root is not None and Path(root).is_dir() else []:
        metrics_json = read_json(folder / "metrics.json") or {}
        n_train = len(metrics_json.get("train_cases") or [])
        if n_train and (folder / "history.csv").is_file():
            history = pd.read_csv(folder / "history.csv")
            rates.append(float(history["time_s"].mean()) / n_train)
    return sum(rates) / len(rates) if rates else None


def estimate_seconds(runs, root, *, seconds_per_iteration: float | None = None) -> float:
    """Seconds to finish ``runs`` (those not done, each from its last finished epoch): the iterations left
    (:func:`run_iterations`, the same count as :func:`study_cost`'s) x seconds per training iteration. The
    rate comes from the finished epochs under ``root`` (:func:`measured_rate`) when there are any, else
    ``seconds_per_iteration`` (default 2.3 s: one iteration at 64 x 64 x 24 with filters 16..128 on one CPU
    thread, measured here). For runs of another size, network or device, before any epoch has finished,
    :func:`study_cost` scales the committed benchmark tables instead."""
    from .runner import run_state

    rate = measured_rate(root) or seconds_per_iteration or 2.3
    total = 0.0
    for r in runs:
        if r.same_as is not None:
            continue
        state, detail = run_state(r, root) if root is not None else ("to do", "")
        if state == "done":
            continue
        done_epochs = int(detail.split()[0]) if state == "partial" else 0
        _, n_train, n_val, _ = run_size(r.config)
        total += run_iterations(r.config, n_train, n_val, from_epoch=done_epochs) * rate
    return total


def _training_seconds(res):
    """run -> seconds of training and validation (the histories' epochs summed)."""
    return res.histories.groupby("run")["time_s"].sum()


def _test_episodes(res):
    """run -> test episodes it evaluated (its own user and every further one, one per test volume), counted
    in the test traces. Raises ValueError naming ``res`` when it has none (a study read on its test split
    holds them as its traces: pass the whole study)."""
    if res.test_traces is None:
        raise ValueError(f"res: {res.source} has no test traces to count its test episodes in; pass the whole "
                         "study, not its test split")
    episodes = res.test_traces.groupby("run")["volume"].nunique()
    if res.test_user_traces is not None:
        others = res.test_user_traces[["run", "eval_user", "volume"]].drop_duplicates().groupby("run").size()
        episodes = episodes.add(others, fill_value=0)
    return episodes


def measured_split(res) -> dict:
    """Where a finished study's runs spent their time, measured (the better estimate for a study of the same
    design, where fixed costs dominate and the benchmark scaling is only a lower bound): ``train_s`` (the mean
    seconds of training and validation a run, from its histories) and ``episode_s`` (the mean seconds of one
    test episode, a model clicked ``n_clicks`` times on one test volume by one user: the rest of a run's wall
    time over the episodes its test traces hold), ``runs``, ``device``. ``res``: a
    :class:`gtg_core.study.StudyResults` with a test split."""
    done = res.done
    train = _training_seconds(res).reindex(done["run"]).to_numpy()
    episodes = _test_episodes(res).reindex(done["run"]).to_numpy(dtype=float)
    episode = (done["wall_time_s"].to_numpy() - train) / episodes
    return {"train_s": float(train.mean()), "episode_s": float(episode.mean()), "runs": int(len(done)),
            "device": ", ".join(sorted(set(map(str, done["device"]))))}


def measured_run_seconds(split: dict, volumes: int, users: int = 1) -> float:
    """One run of a design at a measured rate (:func:`measured_split`): ``train_s`` of training and validation,
    then ``episode_s`` x ``volumes`` test volumes x ``users`` users. The cost :func:`design_table`,
    :func:`budget_designs` and :func:`gtg_core.study.length.next_design` count."""
    return split["train_s"] + split["episode_s"] * volumes * users


def design_table(designs: dict, split: dict, *, settings: int, users: int = 1, other: tuple | None = None):
    """What each design of a Table 3 study costs at a measured rate (:func:`measured_split`): ``designs``
    maps test volumes to seeds per setting, or lists (volumes, seeds) pairs in the rows' order (e.g. from
    :func:`gtg_core.study.stats.paired_seeds_needed`); a
    run is ``train_s`` plus ``episode_s`` x volumes x ``users``; ``settings`` runs a seed. One row per design:
    seeds, test volumes, runs, hours of one worker, days of this machine's two workers; ``other``:
    ``(device, speedup)``, a column of that device's hours estimated as the worker hours / speedup (a
    training speedup measured on runs of the design, :func:`training_seconds_by_device`, assumed for the
    evaluation too: an estimate, and the column says so). A pandas DataFrame."""
    import pandas as pd

    rows = []
    for volumes, seeds in (designs.items() if isinstance(designs, dict) else designs):
        runs = settings * seeds
        hours = runs * measured_run_seconds(split, volumes, users) / 3600
        row = {"seeds": seeds, "test volumes": volumes, "runs": runs, "worker hours": round(hours),
               "days on 2 workers": round(hours / 48, 1)}
        if other is not None:
            row[f"{other[0]} hours (estimate)"] = round(hours / other[1])
        rows.append(row)
    return pd.DataFrame(rows)


def training_seconds_by_device(res) -> dict:
    """The median seconds of training and validation a finished run of ``res`` took (from its histories),
    per device it ran on: ``{device: (median seconds, runs)}``. How a design's runs compare between a CPU
    and a card, measured, where the benchmark scaling (:func:`run_seconds`) is only a lower bound."""
    seconds = _training_seconds(res)
    device = res.done.set_index("run")["device"].astype(str)
    table = seconds.to_frame("s").join(device, how="inner")
    return {d: (float(g["s"].median()), int(len(g))) for d, g in table.groupby("device")}


def complete_plan(study):
    """Every training of ``study`` as it will run, the stages that wait for an earlier stage's choice
    (``best_of``) included: those are planned on stand-in results (the earlier runs marked done with an
    arbitrary final Dice), so that which setting they take is arbitrary but their number and sizes, what a
    run costs, are the study's. A list of :class:`gtg_core.study.Run`; the runs an earlier stage already
    trains keep ``same_as``."""
    import numpy as np
    import pandas as pd

    from .planning import plan

    runs, pending = plan(study)
    while pending:
        rows = [dict(r.config, run=r.name, stage=r.stage, status="done", M1_final_dice=float(v))
                for r, v in zip(runs, np.linspace(0.5, 0.9, len(runs)))]
        runs, still = plan(study, results=pd.DataFrame(rows))
        if still == pending:
            raise ValueError(f"{study.name}: stage(s) {', '.join(pending)} cannot be planned on stand-in results")
        pending = still
    return runs


def budget_designs(components: dict, *, budget_worker_hours: float, train_s: float, episode_s: float,
                   settings: int, users: int = 1, volumes=(100, 200, 300, 400, 600), comparisons: int = 15,
                   max_seeds: int = 100):
    """The designs a budget buys, and what each resolves: for each number of test volumes ``n``, the most
    seeds ``k`` whose ``settings`` x ``k`` runs fit ``budget_worker_hours`` (a run: ``train_s`` of training
    and validation, then ``episode_s`` x ``n`` x ``users`` test episodes; :func:`measured_split` measures
    both), and the smallest difference that design resolves at 80 % power under Holm over ``comparisons``
    pairs (:func:`gtg_core.study.power.detectable_difference`, t-based on k - 1 df) at the estimated setting
    x seed component of ``components`` (:func:`gtg_core.study.power.paired_components`) and at the upper end
    of its range; at most ``max_seeds`` seeds. One row per ``n``: seeds, test volumes, runs, worker hours,
    ``detectable`` and ``detectable (upper end)`` (the metric's units; infinite below two seeds). A pandas
    DataFrame."""
    import pandas as pd

    from .power import detectable_difference

    if budget_worker_hours <= 0 or train_s < 0 or episode_s <= 0 or settings < 1 or users < 1:
        raise ValueError("budget_designs needs budget_worker_hours > 0, train_s >= 0, episode_s > 0, settings "
                         f"and users >= 1 (got {budget_worker_hours}, {train_s}, {episode_s}, {settings}, {users})")
    rows = []
    for n in volumes:
        run_s = measured_run_seconds({"train_s": train_s, "episode_s": episode_s}, n, users)
        seeds = min(max_seeds, int(budget_worker_hours * 3600 // (settings * run_s)))
        rows.append({"seeds": seeds, "test volumes": n, "runs": settings * seeds,
                     "worker hours": settings * seeds * run_s / 3600,
                     "detectable": detectable_difference(components, seeds, n, comparisons=comparisons),
                     "detectable (upper end)": detectable_difference(
                         components, seeds, n, comparisons=comparisons, seed_x=components["seed_x_range"][1])})
    return pd.DataFrame(rows)


def chosen_design(designs) -> dict:
    """The design of :func:`budget_designs`' table that resolves the smallest difference at the upper end of
    the setting x seed range (a study planned for the seed noise it may meet, not only the estimate), the more
    seeds on a tie: that row as a dict. ValueError when no design has two seeds."""
    able = designs[designs["seeds"] >= 2]
    if not len(able):
        raise ValueError("no design of the budget has two seeds: nothing it runs could be tested")
    best = able.sort_values(["detectable (upper end)", "seeds"], ascending=[True, False]).head(1)
    return best.to_dict("records")[0]
