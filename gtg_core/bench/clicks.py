"""``gtg bench clicks``: one whole corrective click step, gtg_core vs MONAI's DeepEdit click transforms.

The step: error regions from the prediction and label, one deepedit fg and bg click, and the guidance of
both channels recomputed for all clicks (Gaussian heatmap, sigma 3). MONAI's chain on the same prediction
and label: ``FindDiscrepancyRegionsDeepEditd`` + ``AddRandomGuidanceDeepEditd`` + ``AddGuidanceSignalDeepEditd``
(numpy on the CPU; on a GPU machine it includes the host copies a GPU pipeline has to make).

nnInteractive's point encoding has its own baseline: the same user's clicks stamped into stored channels as
their inference session does it (:class:`.nninteractive_code.PointSession`, incremental), against our step,
which recomputes both channels from all clicks (:func:`gtg_core.interaction.click_round`).
"""

from __future__ import annotations

import torch

from ._inputs import synthetic_prediction
from ._timing import device_name, time_call, write_table

DEFAULT_SIZES = ((512, 512, 89), (128, 128, 128))


def gtg_click_step(pred, label, fg, bg, generator, *, signal="heatmap", sigma=3.0, variant="reference_code",
                   order=None):
    """One corrective step with gtg_core (:func:`gtg_core.interaction.click_round`); returns the new click
    sets and the two guidance channels. Only the geodesic signals read intensities, so the label stands in
    for the image."""
    from ..interaction import LoopConfig, click_round

    cfg = LoopConfig(signal=signal, sigma=sigma, variant=variant)
    return click_round(label, label, pred, fg, bg, cfg, generator, order=order)[:4]


def nninteractive_click_step(pred, label, session, generator):
    """The same user's clicks added to an nnInteractive session (their code), and the channels as the network
    would see them."""
    from ..clicks import corrective_clicks

    session.add_clicks(*corrective_clicks(pred, label, user="deepedit", generator=generator))
    return session.network_view()


def monai_click_step(pred, label, fg, bg, *, sigma=3):
    """The same step with MONAI's DeepEdit transforms (numpy, CPU)."""
    import numpy as np
    from monai.apps.deepedit.transforms import (AddGuidanceSignalDeepEditd, AddRandomGuidanceDeepEditd,
                                                FindDiscrepancyRegionsDeepEditd)

    lab = label.detach().cpu().numpy()[None].astype(np.float32)
    prd = pred.detach().cpu().numpy()[None].astype(np.float32)
    d = {"label": lab, "pred": prd, "image": lab.copy(), "label_names": {"spleen": 1, "background": 0},
         "guidance": {"spleen": fg.cpu().tolist(), "background": bg.cpu().tolist()}, "probability": 1.0}
    d = FindDiscrepancyRegionsDeepEditd(keys="label", pred="pred", discrepancy="discrepancy")(d)
    d = AddRandomGuidanceDeepEditd(keys="NA", guidance="guidance", discrepancy="discrepancy",
                                   probability="probability")(d)
    d = AddGuidanceSignalDeepEditd(keys="image", guidance="guidance", sigma=sigma, number_intensity_ch=1)(d)
    return d


def bench_clicks(device="cpu", sizes=DEFAULT_SIZES, *, repeats: int = 5, out_dir="benchmarks/results",
                 print_fn=print) -> list[dict]:
    device = torch.device(device)
    rows = []
    for shape in sizes:
        pred, label, fg, bg = synthetic_prediction(shape, device)
        gen = torch.Generator(device=device).manual_seed(0)
        for signal, variant in (("heatmap", "reference_code"), ("heatmap", "paper"), ("disk", "paper")):
            ours = time_call(lambda: gtg_click_step(pred, label, fg, bg, gen, signal=signal, variant=variant),
                             device, repeats=repeats)
            if signal == "heatmap" and variant == "reference_code":
                monai = time_call(lambda: monai_click_step(pred, label, fg, bg), torch.device("cpu"),
                                  repeats=max(1, min(repeats, 3)))
            row = {"size": "x".join(map(str, shape)), "step": f"deepedit click + {signal} ({variant}), 2 channels",
                   "ours_ms": ours, "monai_chain_ms": monai, "speedup": monai / ours}
            rows.append(row)
            print_fn(f"{row['size']:>12} {row['step']:<52} ours {ours:9.3f} ms   MONAI chain {monai:9.1f} ms"
                     f"   x{row['speedup']:.1f}")
        from .nninteractive_code import PointSession

        session = PointSession(shape, device=device)  # the clicks so far, as their session holds them
        session.add_clicks(fg, bg)
        order = ["fg"] * len(fg) + ["bg"] * len(bg)
        ours = time_call(lambda: gtg_click_step(pred, label, fg, bg, gen, signal="nninteractive", sigma=4,
                                                variant="paper", order=list(order)), device, repeats=repeats)
        theirs = time_call(lambda: nninteractive_click_step(pred, label, session, gen), device, repeats=repeats)
        row = {"size": "x".join(map(str, shape)), "step": "deepedit click + nninteractive (all clicks), 2 channels",
               "ours_ms": ours, "monai_chain_ms": float("nan"), "speedup": float("nan"),
               "baseline": "nnInteractive session (their code, incremental)", "baseline_ms": theirs,
               "baseline_over_ours": theirs / ours}
        rows.append(row)
        print_fn(f"{row['size']:>12} {row['step']:<52} ours {ours:9.3f} ms   their session {theirs:9.3f} ms"
                 f"   x{theirs / ours:.2f}")
    md = write_table(rows, "clicks", device, "One corrective click step: gtg_core vs MONAI DeepEdit transforms", out_dir)
    print_fn(f"written {md} ({device_name(device)})")
    return rows
