"""``gtg bench run``'s evaluation levers (issue #33): a run's evaluation is most of its time (the 10-click test
episodes), so each lever that could make it cheaper is timed against today's evaluation of the *same weights
on the same volumes with the same evaluation seed*, and its answer compared volume by volume. That is an exact
check, unlike a precision check between two trainings (which diverge at the first changed click): here any
difference is the lever's.

Levers: bf16 autocast for the evaluation only (the model trained in fp32), every convolution on oneDNN
(:func:`gtg_core.model.fast_cpu_convolutions`). Each row gives the seconds of both, the ratio, the per-volume
paired difference of the final Dice (mean, smallest, largest) and in how many volumes every click was the same.
"""

from __future__ import annotations

import copy
import time


def _final_dice(trace):
    last = trace[trace["click"] == trace["click"].max()]
    return last.set_index("volume")["dice"]


def _clicks(trace):
    return trace.sort_values(["volume", "click"]).groupby("volume")[["new_fg", "new_bg"]].apply(
        lambda t: tuple(map(str, t.to_numpy().ravel())))


def evaluation_levers(run_dir, *, split: str = "validation", threads: int = 1, levers=None) -> list[dict]:
    """Today's evaluation of the run in ``run_dir`` (its best model, ``model.pt``) against each lever, on the
    run's ``split`` ("validation" or "test"), in one process on the CPU, one after the other. Returns one row
    per lever: ``lever``, ``volumes``, ``today (s)``, ``lever (s)``, ``speed-up``, ``dM1 mean`` / ``dM1 min``
    / ``dM1 max`` (lever - today, Dice points, per volume), ``same clicks`` (volumes whose every click
    matched). ``levers``: name -> function(model) -> (model to evaluate, amp), instead of the two above."""
    import torch

    from .. import train
    from ..model import fast_cpu_convolutions

    torch.set_num_threads(threads)
    cfg = train.saved_config(run_dir, device="cpu")
    model = train.saved_model(run_dir, cfg, "cpu").eval()
    volumes = train.case_volumes(cfg, "cpu", split)
    if not volumes:
        raise ValueError(f"{run_dir}: no {split} volumes to evaluate")

    def timed(net, amp):
        t0 = time.perf_counter()
        trace = train.evaluate_volumes(net, volumes, cfg, amp=amp)
        return trace, time.perf_counter() - t0

    today, today_s = timed(model, False)
    levers = levers or {"bf16 autocast, evaluation only": lambda m: (m, True),
                        "every convolution on oneDNN": lambda m: (fast_cpu_convolutions(copy.deepcopy(m)).eval(), False)}
    rows = []
    for name, make in levers.items():
        trace, seconds = timed(*make(model))
        diff = (_final_dice(trace) - _final_dice(today)) * 100
        same = int((_clicks(trace) == _clicks(today)).sum())
        rows.append({"lever": name, "volumes": len(volumes), "today (s)": round(today_s, 2),
                     "lever (s)": round(seconds, 2), "speed-up": round(today_s / seconds, 2),
                     "dM1 mean": round(float(diff.mean()), 3), "dM1 min": round(float(diff.min()), 3),
                     "dM1 max": round(float(diff.max()), 3), "same clicks": f"{same} of {len(volumes)}"})
    return rows
