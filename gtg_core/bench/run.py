"""``gtg bench run``: where the time of one training run goes, and the CPU levers measured against today's
path in the same process.

:func:`profile_run` trains a run (by default one epoch of the phantom-mini design on one thread) with the
loop's functions wrapped in timers, and splits its wall time into: the click rounds' no-gradient forward
passes, the simulated user, the guidance, the augmentation, the training step, the validation (its own
forward passes counted apart) and the data. :func:`forward_levers` times the network's forward pass at the
run's size as today's code runs it against the exact alternatives (every convolution on oneDNN, inference
mode) and bf16 (faster, not exact), and says how far each departs from
today's output. :func:`gtg_core.bench.evaluation.evaluation_levers` times a trained run's evaluation against
bf16 and oneDNN on the same weights and volumes, with the per-volume paired differences (an exact check).
:func:`bench_run` writes the three tables to ``benchmarks/results/``.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import torch

from ._timing import write_table
from .evaluation import evaluation_levers

#: The study whose design :func:`profile_run` trains (its ``base``), from the book's checkout.
PROFILED_STUDY = "studies/phantom-mini.yml"
PARTS = ("click forward (no grad)", "simulated user", "guidance", "augmentation", "training step",
         "validation forward", "validation user + guidance", "data", "other")


@contextlib.contextmanager
def _timers(totals: dict):
    """Wrap the loop's functions so that each call adds its seconds to ``totals[part]``; the validation's
    calls are counted as validation."""
    from .. import augment as augmentation
    from .. import clicks, interaction, train

    phase = {"validation": False}

    def wrap(module, name, part):
        original = getattr(module, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                key = part(phase) if callable(part) else part
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - t0
        setattr(module, name, timed)
        return module, name, original

    original_evaluate = train.evaluate_volumes

    def evaluate(*args, **kwargs):
        totals["validations"] = totals.get("validations", 0) + 1
        phase["validation"] = True
        t0 = time.perf_counter()
        try:
            return original_evaluate(*args, **kwargs)
        finally:
            phase["validation"] = False
            totals["validation total"] = totals.get("validation total", 0.0) + time.perf_counter() - t0

    patched = [
        wrap(interaction, "predict", lambda p: "validation forward" if p["validation"] else "click forward (no grad)"),
        wrap(clicks, "corrective_clicks",
             lambda p: "validation user + guidance" if p["validation"] else "simulated user"),
        wrap(interaction, "compute_guidance",
             lambda p: "validation user + guidance" if p["validation"] else "guidance"),
        wrap(augmentation, "augment", "augmentation"),
        wrap(train, "train_step", "training step"),
        wrap(train, "load_volumes", "data"),
    ]
    train.evaluate_volumes = evaluate
    try:
        yield totals
    finally:
        train.evaluate_volumes = original_evaluate
        for module, name, original in patched:
            setattr(module, name, original)


@contextlib.contextmanager
def _levers(on: bool):
    """Today's path (``on=False``) or the reuse of the last validation (:data:`gtg_core.train.
    REUSE_LAST_VALIDATION`), for the duration; oneDNN convolutions are the run's ``cpu_conv``."""
    from .. import train

    before = train.REUSE_LAST_VALIDATION
    train.REUSE_LAST_VALIDATION = on
    try:
        yield
    finally:
        train.REUSE_LAST_VALIDATION = before


def profile_run(config: dict | None = None, *, threads: int = 1, out=None, levers: bool = True) -> dict:
    """Train one run with timers (:data:`PARTS`) and return ``{"parts": {part: seconds}, "wall_s",
    "iterations", "validations", "run_dir", "config"}``. ``config``: TrainConfig fields over the phantom-mini
    design's base (read from studies/phantom-mini.yml), here the heatmap at sigma 13 on the CPU for one epoch
    (its validation and the final evaluation of the best model included). ``levers=False``: today's path;
    ``True``: ``cpu_conv="onednn"`` and the last validation reused (:data:`gtg_core.train.
    REUSE_LAST_VALIDATION`). The run folder is temporary unless ``out`` is given."""
    from .. import book, study, train

    torch.set_num_threads(threads)
    fields = {**study.load_study(book.locate(PROFILED_STUDY)).base, "name": "profile", "epochs": 1,
              "val_every": 1, "device": "cpu", "signal": "heatmap", "sigma": 13.0, **(config or {})}
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="gtg-profile-"))
    cfg = train.TrainConfig.from_dict({**fields, "output": str(folder), "cpu_conv": "onednn" if levers else "pytorch"})
    train.load_volumes(cfg, "cpu")  # the phantoms once, outside the timed run (a study prepares them)
    totals: dict = {}
    with _levers(levers), _timers(totals):
        t0 = time.perf_counter()
        run_dir = train.fit(cfg, progress=False)
        wall = time.perf_counter() - t0
    validation = totals.pop("validation total", 0.0)
    performed = totals.pop("validations", 0)
    parts = {p: totals.get(p, 0.0) for p in PARTS if p != "other"}
    inside = validation - parts["validation forward"] - parts["validation user + guidance"]
    parts["other"] = wall - sum(parts.values())
    n_train = len(train.split_volumes(list(range(cfg.n_cases)), cfg)[0])
    return {"parts": parts, "wall_s": wall, "iterations": cfg.epochs * n_train, "validations": performed,
            "validation_other_s": inside, "run_dir": str(run_dir), "config": cfg.to_dict()}


def _fast(model):
    """A copy of ``model`` whose convolutions always take oneDNN on the CPU
    (:func:`gtg_core.model.fast_cpu_convolutions`)."""
    import copy

    from ..model import fast_cpu_convolutions

    return fast_cpu_convolutions(copy.deepcopy(model))


def forward_levers(shape=(64, 64, 32), filters=(16, 32, 64, 128), *, threads: int = 1, repeats: int = 5) -> list[dict]:
    """The forward pass of DeepEditNet at ``shape`` on the CPU: today's path against each lever, timed in
    turn (:func:`gtg_core.bench._timing.time_pair`), with the largest difference of the logits and the share
    of voxels whose argmax (the prediction) changes."""
    from ..model import DeepEditNet
    from ._timing import time_pair

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = DeepEditNet("concat", filters=filters).eval()
    x = torch.rand(1, 3, *shape)
    with torch.no_grad():
        reference = model(x)
    fast = _fast(model).eval()
    levers = {
        "every convolution on oneDNN (exact up to rounding)": (fast, x, contextlib.nullcontext),
        "inference_mode (exact)": (model, x, torch.inference_mode),
        "bf16 autocast (not exact)": (model, x, lambda: torch.autocast("cpu", dtype=torch.bfloat16)),
    }
    rows = []
    for name, (net, inp, context) in levers.items():
        def today():
            with torch.no_grad():
                return model(x)

        def lever(net=net, inp=inp, context=context):
            with torch.no_grad(), context():
                return net(inp)
        base_ms, lever_ms = time_pair(today, lever, device, repeats=repeats)
        out = lever().float()
        rows.append({"lever": name, "today (ms)": round(base_ms, 1), "lever (ms)": round(lever_ms, 1),
                     "speed-up": round(base_ms / lever_ms, 2),
                     "max |logit diff|": float((out - reference).abs().max()),
                     "argmax changed (share of voxels)": float((out.argmax(1) != reference.argmax(1)).float().mean())})
    return rows


def compare_traces(run_a, run_b) -> dict:
    """How far two runs' validation traces differ: the largest |Dice| difference of any click of any volume,
    and the M1 of each."""
    import pandas as pd

    from .. import metrics

    a, b = pd.read_csv(Path(run_a) / "trace.csv"), pd.read_csv(Path(run_b) / "trace.csv")
    merged = a.merge(b, on=["volume", "click"], suffixes=("_a", "_b"))
    return {"rows": len(merged), "max_dice_diff": float((merged["dice_a"] - merged["dice_b"]).abs().max()),
            "M1_a": metrics.final_dice(a), "M1_b": metrics.final_dice(b)}


def bench_run(*, out_dir="benchmarks/results", threads: int = 1, print_fn=print, config=None) -> dict:
    """``gtg bench run``: the forward-pass levers, then one run profiled on today's path and on the levers'
    (the same configuration, one process, in turn), with the difference of their traces; Markdown and CSV."""
    import pandas as pd

    torch.set_num_threads(threads)
    cpu = torch.device("cpu")
    levers = forward_levers(threads=threads)
    md = write_table(levers, "forward-levers", cpu, "DeepEditNet forward pass at 64 x 64 x 32: today's path "
                     "against each lever, timed in turn", out_dir)
    print_fn(pd.DataFrame(levers).to_string(index=False))
    shared = Path(tempfile.mkdtemp(prefix="gtg-bench-run-"))  # one phantom set for both runs
    today = profile_run({**(config or {}), "name": "today"}, threads=threads, out=shared, levers=False)
    fast = profile_run({**(config or {}), "name": "levers"}, threads=threads, out=shared, levers=True)
    same = compare_traces(today["run_dir"], fast["run_dir"])
    # a phantom-mini run: 3 epochs, validations after epochs 2 and 3, and the final evaluation (reused by
    # the levers when the best epoch is the last, as in most of the committed study's runs)
    run_validations = {"today": 3, "levers": 2}
    rows, totals = [], {"today": 0.0, "levers": 0.0}
    for part in today["parts"]:
        row = {"part": part}
        for key, profile in (("today", today), ("levers", fast)):
            seconds = profile["parts"][part]
            row[f"{key} (s)"] = round(seconds, 1)
            if part.startswith("validation"):
                per_run = seconds / max(profile["validations"], 1) * run_validations[key]
            else:
                per_run = 0.0 if part == "data" else seconds * 3
            row[f"{key} per phantom-mini run (s)"] = round(per_run, 1)
            totals[key] += per_run
        rows.append(row)
    rows.append({"part": "whole (measured; estimated per run)", "today (s)": round(today["wall_s"], 1),
                 "levers (s)": round(fast["wall_s"], 1), "today per phantom-mini run (s)": round(totals["today"], 1),
                 "levers per phantom-mini run (s)": round(totals["levers"], 1)})
    title = (f"One phantom-mini epoch profiled on one CPU thread, today's path and the CPU levers (cpu_conv "
             f"onednn, the last validation reused): {today['iterations']} training iterations, "
             f"{today['validations']} / {fast['validations']} validations; measured speed-up "
             f"{today['wall_s'] / fast['wall_s']:.2f}x, estimated per 3-epoch run "
             f"{totals['today'] / totals['levers']:.2f}x. "
             f"The two trainings diverge (rounding changes a click, then the run): max |Dice diff| "
             f"{same['max_dice_diff']:.2g} over {same['rows']} trace rows, M1 {same['M1_a']:.4f} vs {same['M1_b']:.4f}")
    write_table(rows, "run-profile", cpu, title, out_dir)
    print_fn(title)
    print_fn(pd.DataFrame(rows).to_string(index=False))
    evaluation = evaluation_levers(today["run_dir"], threads=threads)  # the same weights, the same volumes
    write_table(evaluation, "evaluation-levers", cpu, "A trained run's evaluation (its best model, its validation "
                "volumes, its evaluation seed): today's against each lever, with the per-volume paired difference "
                "of the final Dice (lever - today, points) and the volumes whose every click matched", out_dir)
    print_fn(pd.DataFrame(evaluation).to_string(index=False))
    print_fn(f"tables: {md.parent}")
    return {"levers": levers, "today": today, "fast": fast, "traces": same, "per_run": totals,
            "evaluation": evaluation}
