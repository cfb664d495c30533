"""``gtg bench step``: the click step that M3 times (the user's click and both guidance channels, as
:func:`gtg_core.interaction.click_round` measures it in an evaluation), for each of a study's Table 3
settings, at the study's crop size, in one process on one device with nothing else running. It is what
decides the paper's speed claim: a study's runs time their steps under the study's load (several workers
sharing the device), which moves a step's time more than the signal does (:func:`gtg_core.paper.speed_claim`).

The input is the study's own data (PET lesion phantoms cropped to 64 x 64 x 32 at AutoPET's voxel size) and
a fixed imperfect prediction (the label shifted by a few voxels: false negatives on one side, false
positives on the other), so every step finds an error to click into; each volume gets the seed clicks and
``n_clicks`` corrective rounds, every setting on the same volumes, the settings taken in turn within each
round so that drift of the machine touches all alike.
"""

from __future__ import annotations

import tempfile
import time

import torch

from ._timing import device_name, write_table

#: phantom-mini's Table 3 settings: (signal, sigma, theta).
TABLE3_SETTINGS = (("disk", 5.0, 0.0), ("heatmap", 13.0, 0.0), ("edt", 1.0, 50.0), ("gdt", 1.0, 0.0),
                   ("exp_gdt", 0.0, 0.0), ("adaptive_heatmap", 0.0, 0.0))
#: The study's data, as studies/phantom-mini.yml and studies/table3-test.yml set it.
STUDY_DATA = {"dataset": "lesion_pet", "phantom_shape": (192, 192, 256), "target_shape": None,
              "crop_shape": (64, 64, 32), "filters": (16, 32, 64, 128)}


def _shifted(label: torch.Tensor, voxels: int = 3) -> torch.Tensor:
    """The label moved by ``voxels`` along X: a prediction with errors of both kinds."""
    out = torch.zeros_like(label, dtype=torch.bool)
    out[voxels:] = label[:-voxels].bool()
    return out


def step_samples(device="cpu", *, settings=TABLE3_SETTINGS, n_volumes: int = 4, n_clicks: int = 10,
                 rounds: int = 3, data_seed: int = 4000, output=None, warmup: int = 2):
    """Per-step times: a DataFrame with ``signal``, ``sigma``, ``theta``, ``round``, ``volume``, ``click``
    (1 .. n_clicks) and ``step_time_s`` (the user's click and the guidance of both channels, seconds, as M3
    reads it), on ``n_volumes`` of the study's phantoms (``data_seed``), written under ``output`` (a
    temporary folder by default). Before timing, every setting runs ``warmup`` untimed click steps on the
    first volume (the first step pays for allocations and kernel selection: 484 ms against a median of
    3.5 ms in the committed CPU samples, taken without one)."""
    import pandas as pd

    from .. import clicks, interaction, train

    device = torch.device(device)
    output = output or tempfile.mkdtemp(prefix="gtg-bench-step-")
    base = dict(STUDY_DATA, n_cases=max(n_volumes, 2), data_seed=data_seed, output=str(output), device=str(device),
                n_clicks=n_clicks)
    volumes = train.load_volumes(train.TrainConfig(**base), device)[:n_volumes]
    loops = {s: train.TrainConfig(**base, signal=s[0], sigma=s[1], theta=s[2]) for s in settings}
    clock = interaction._stopwatch(device)
    for setting, cfg in loops.items():  # untimed: the first steps of a process are not the step M3 means
        vol, loop = volumes[0], cfg.loop_config(volumes[0].spacing)
        gen = torch.Generator(device=device).manual_seed(rounds)
        fg, bg = clicks.initial_clicks(vol.label, generator=gen)
        g = interaction.compute_guidance(vol.image, fg, bg, loop)
        for _ in range(warmup):
            fg, bg, *g, _, _, _ = interaction.click_round(vol.image, vol.label, _shifted(vol.label), fg, bg, loop,
                                                          gen, clock=clock, previous=tuple(g))
    rows = []
    for r in range(rounds):
        for vol in volumes:
            pred = _shifted(vol.label)
            for setting, cfg in loops.items():
                loop = cfg.loop_config(vol.spacing)
                gen = torch.Generator(device=device).manual_seed(r)
                fg, bg = clicks.initial_clicks(vol.label, generator=gen)
                g = interaction.compute_guidance(vol.image, fg, bg, loop)
                for j in range(1, n_clicks + 1):
                    fg, bg, *g, _, _, times = interaction.click_round(vol.image, vol.label, pred, fg, bg, loop, gen,
                                                                       clock=clock, previous=tuple(g))
                    rows.append({"signal": setting[0], "sigma": setting[1], "theta": setting[2], "round": r,
                                 "volume": vol.id, "click": j, "step_time_s": times[0]})
    return pd.DataFrame(rows)


def bench_step(device="cpu", *, rounds: int = 3, n_volumes: int = 4, out_dir="benchmarks/results",
               print_fn=print):
    """:func:`step_samples` on ``device``, summarised per setting (median and mean step time in ms) and
    written as ``step-<device>.md`` (the summary) and ``step-samples-<device>.csv`` (every step, what
    :func:`gtg_core.paper.speed_claim` reads). Run it with nothing else on the machine."""
    from pathlib import Path

    from ..io import atomic_write_text

    device = torch.device(device)
    started = time.perf_counter()
    samples = step_samples(device, rounds=rounds, n_volumes=n_volumes)
    summary = samples.groupby(["signal", "sigma", "theta"], sort=False)["step_time_s"].agg(["median", "mean", "count"])
    rows = [{"signal": s, "sigma": sg, "theta": th, "median_ms": 1e3 * r["median"], "mean_ms": 1e3 * r["mean"],
             "steps": int(r["count"])} for (s, sg, th), r in summary.iterrows()]
    for row in rows:
        print_fn(f"{row['signal']:>17} sigma {row['sigma']:g} theta {row['theta']:g}: median {row['median_ms']:.2f} ms, "
                 f"mean {row['mean_ms']:.2f} ms over {row['steps']} steps")
    md = write_table(rows, "step", device, "The click step M3 times, per Table 3 setting (64 x 64 x 32 PET "
                     "phantom crops, one process, nothing else running)", out_dir)
    tag = device_name(device).replace(" ", "_").replace("/", "_")
    atomic_write_text(Path(out_dir) / f"step-samples-{tag}.csv", samples.to_csv(index=False))
    print_fn(f"written {md} and step-samples-{tag}.csv ({device_name(device)}, {time.perf_counter() - started:.0f} s)")
    return samples


def thread_step_summary(steps) -> dict:
    """The medians of :func:`thread_step_times`' columns and whether one is faster at this measurement's
    resolution: ``{"faster", "faster_ms", "slower_ms", "tie"}``, ``tie`` True when the medians differ by less
    than either column's interquartile range (steps that vary by more than the gap cannot rank the
    settings); ``faster`` is then None. Describes one run on one machine; nothing is decided from it."""
    medians = steps.median()
    spread = (steps.quantile(0.75) - steps.quantile(0.25)).max()
    gap = float(medians.max() - medians.min())
    tie = not gap > float(spread)
    return {"faster": None if tie else str(medians.idxmin()), "faster_ms": float(medians.min()),
            "slower_ms": float(medians.max()), "tie": bool(tie)}


def thread_step_times(model, image, label, loop, *, seed: int = 0, trace=None):
    """One evaluation episode's click-step times (ms, click 1 on) with torch's threads as they are and with
    one thread: how much the machine's load moves M3 (the M1-M5 chapter). ``model``, ``image``,
    ``label``, ``loop``: as :func:`gtg_core.interaction.run_episode` takes them; ``trace``: the episode
    already run with the current threads (:func:`gtg_core.metrics.trace_frame`), else it is run here with
    ``seed``. The thread count is restored afterwards. Returns a DataFrame, one column per setting
    ("<n> threads", "1 thread"), indexed by click."""
    import pandas as pd

    from .. import interaction, metrics

    def episode():
        gen = torch.Generator(device=label.device).manual_seed(seed)
        return metrics.trace_frame(interaction.run_episode(model, image, label, loop, gen, evaluate=True).rows)

    threads = torch.get_num_threads()
    if trace is None:
        trace = episode()
    torch.set_num_threads(1)
    try:
        single = episode()
    finally:
        torch.set_num_threads(threads)
    both = {f"{threads} threads": trace.set_index("click")["step_time_s"],
            "1 thread": single.set_index("click")["step_time_s"]}
    return pd.DataFrame(both).loc[1:].mul(1000)
