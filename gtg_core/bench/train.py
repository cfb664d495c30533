"""``gtg bench train``: one DeepEdit training iteration (10 click rounds + 1 step), gtg_core's loop vs the
same iteration driven by MONAI's DeepEdit click transforms, split into network and click/guidance time.

MONAI's ``Interaction`` (monai.apps.deepedit.interaction) runs, per round, a no-grad forward pass, then
``FindDiscrepancyRegionsDeepEditd`` + ``AddRandomGuidanceDeepEditd`` + ``AddGuidanceSignalDeepEditd`` on the
CPU over numpy copies of the prediction, label and image, and copies the new input back. Here that chain is
driven in the same way without its ignite engine, on the same network, volume and device.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..interaction import network_input, predict
from ..train import train_step
from ._inputs import ellipsoid_volume
from ._timing import device_name, write_table
from .clicks import monai_click_step


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _iteration(model, optimiser, loss_fn, image, label, rounds, make_guidance, amp, device):
    """One iteration: ``rounds`` no-grad predictions, each followed by ``make_guidance(pred)``, then a step.
    Returns (network seconds, click seconds)."""
    net_s = click_s = 0.0
    g = make_guidance(None)
    for _ in range(rounds):
        _sync(device)
        t0 = time.perf_counter()
        model.eval()
        pred = predict(model, image, g[0], g[1], amp=amp)
        _sync(device)
        t1 = time.perf_counter()
        g = make_guidance(pred)
        _sync(device)
        t2 = time.perf_counter()
        net_s += t1 - t0
        click_s += t2 - t1
    t0 = time.perf_counter()
    train_step(model, optimiser, loss_fn, network_input(image, g[0], g[1])[None], label[None, None].float(), amp=amp)
    _sync(device)
    net_s += time.perf_counter() - t0
    return net_s, click_s


def bench_train(device="cpu", sizes=((128, 128, 128),), *, repeats: int = 3, filters=None, out_dir="benchmarks/results",
                print_fn=print) -> list[dict]:
    from monai.losses import DiceCELoss

    from .. import clicks, interaction
    from ..model import DEEPEDIT_FILTERS, DeepEditNet

    device = torch.device(device)
    amp = device.type == "cuda"
    rows = []
    for shape in sizes:
        image, label, _ = ellipsoid_volume(shape, device=device)
        model = DeepEditNet("concat", filters=filters or DEEPEDIT_FILTERS).to(device)
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-5)
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        cfg = interaction.LoopConfig(signal="heatmap", sigma=3.0, variant="reference_code")

        def ours_factory():
            gen = torch.Generator(device=device).manual_seed(0)
            state = {}

            def make(pred):
                if pred is None:
                    state["fg"], state["bg"] = clicks.initial_clicks(label, generator=gen)
                    return torch.stack(interaction.compute_guidance(image, state["fg"], state["bg"], cfg))
                state["fg"], state["bg"], g_fg, g_bg = interaction.click_round(image, label, pred, state["fg"],
                                                                               state["bg"], cfg, gen)[:4]
                return torch.stack([g_fg, g_bg])
            return make

        def monai_factory():
            fg0, bg0 = clicks.initial_clicks(label, generator=torch.Generator(device=device).manual_seed(0))
            state = {"fg": fg0.cpu(), "bg": bg0.cpu()}

            def make(pred):
                if pred is None:
                    return torch.stack(interaction.compute_guidance(image, fg0, bg0, cfg))
                d = monai_click_step(pred, label, state["fg"], state["bg"])
                state["fg"] = torch.as_tensor([list(p)[-3:] for p in d["guidance"]["spleen"]]).reshape(-1, 3)
                state["bg"] = torch.as_tensor([list(p)[-3:] for p in d["guidance"]["background"]]).reshape(-1, 3)
                return torch.as_tensor(np.asarray(d["image"][1:3]), device=device)
            return make

        results = {}
        for name, factory in (("gtg_core", ours_factory), ("MONAI transforms", monai_factory)):
            _iteration(model, optimiser, loss_fn, image, label, 2, factory(), amp, device)  # warm-up
            runs = [_iteration(model, optimiser, loss_fn, image, label, 10, factory(), amp, device)
                    for _ in range(repeats)]
            net = float(np.median([r[0] for r in runs])) * 1e3
            click = float(np.median([r[1] for r in runs])) * 1e3
            results[name] = (net, click)
            rows.append({"size": "x".join(map(str, shape)), "driver": name, "network_ms": net, "clicks_guidance_ms": click,
                         "total_ms": net + click, "click_share": click / (net + click)})
            print_fn(f"{rows[-1]['size']:>12} {name:<18} network {net:9.1f} ms  clicks+guidance {click:9.1f} ms  "
                     f"total {net + click:9.1f} ms  click share {100 * click / (net + click):5.1f}%")
        ours, theirs = results["gtg_core"], results["MONAI transforms"]
        rows[-1]["speedup_vs_monai"] = rows[-2]["speedup_vs_monai"] = sum(theirs) / sum(ours)
        print_fn(f"{'':>12} whole iteration: gtg_core x{sum(theirs) / sum(ours):.2f} faster than the MONAI-driven one")
    md = write_table(rows, "train", device, "One DeepEdit training iteration (10 click rounds + 1 step)", out_dir)
    print_fn(f"written {md} ({device_name(device)}, amp={amp})")
    return rows
