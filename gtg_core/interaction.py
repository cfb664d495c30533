"""The click loop of DeepEdit training and evaluation, on the device of the data.

For one volume: initial seed clicks; with probability ``p_volume`` (H4) run ``n_clicks`` rounds of
predict (no grad) -> corrective clicks -> guidance recomputed for all clicks; otherwise the guidance is zero.
Training then takes one optimisation step with the final guidance (:mod:`gtg_core.train`); evaluation makes
one more prediction after the last click and records a per-click trace (:mod:`gtg_core.metrics`).

``p_click``, the chance that a round adds clicks, is separate from ``p_volume``:

- a number (default 1.0: a click every round, as the paper describes);
- ``"p_volume"``: the same p again each round, as the authors' code did;
- ``"monai"``: 1 - j / N in round j, as MONAI's DeepEdit ``Interaction`` does in training.

Evaluation clicks in every round whatever ``p_volume`` and ``p_click`` are: the paper evaluates every model
with N = 10 clicks, and the authors' evaluator sets the per-click probability to 1.

Two behaviours of the authors' code, both on by default where they matter:

- ``skip_duplicate_clicks`` (default True): a click already in the channel's list is not appended again
  (their ``update_guidance``). With summed Gaussians (reference_code) a repeated click would change the map;
  for the paper's max-based signals it changes nothing. For nnInteractive's decaying encoding it does: a
  skipped repeat keeps its old age (it is not the newest click), where nnInteractive would stamp it again.
- ``geodesic_image`` (``"auto"``: ``"image+guidance"`` for the reference-code variants, ``"image"`` for the
  paper): what FastGeodis reads in the reference-code geodesic signals. Their loop passes the network input
  that MONAI's in-place ``set_array`` has grown: [image, previous fg guidance, previous bg guidance] for the
  foreground channel, then [image, new fg guidance] for the background channel (the initial seeds see the
  image alone, then [image, fg]).

The volumes never leave the device. Per round, what crosses to the host is small: the bounding-box
projections of the two error masks (X + Y + Z booleans each, for the users' crop), the click coordinates
(N x 3 integers, read once per guidance call), and in evaluation the recorded scalars (Dice, M5, times),
which are gathered once at the end of the episode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from . import clicks as user_clicks
from . import guidance as guidance_signals
from . import metrics
from ._checks import check_choice, check_probability, check_sigma, check_theta

P_CLICK_MODES = ("p_volume", "monai")
GEODESIC_IMAGES = ("auto", "image", "image+guidance")


@dataclass
class LoopConfig:
    """How clicks become network input. sigma in voxels, theta in percent, spacing in mm."""

    signal: str = "heatmap"
    sigma: float = 1.0
    theta: float = 0.0
    variant: str = "paper"
    spacing: tuple = (1.0, 1.0, 1.0)
    n_clicks: int = 10
    p_volume: float = 1.0
    p_click: object = 1.0
    user: str = "deepedit"
    skip_duplicate_clicks: bool = True
    geodesic_image: str = "auto"
    previous_mask: bool = False
    options: dict = field(default_factory=dict)

    def validate(self) -> "LoopConfig":
        guidance_signals.check_signal_variant(self.signal, self.variant)
        user_clicks.check_user(self.user, "user")
        check_sigma(self.sigma)
        check_theta(self.theta)
        guidance_signals.check_setting(self.signal, self.variant, self.sigma, self.theta, self.options)
        check_probability(self.p_volume, "p_volume")
        if isinstance(self.p_click, str):
            check_choice(self.p_click, P_CLICK_MODES, "p_click")
        else:
            check_probability(self.p_click, "p_click")
        if int(self.n_clicks) != self.n_clicks or self.n_clicks < 0:
            raise ValueError(f"n_clicks must be an integer >= 0, got {self.n_clicks!r}")
        if not isinstance(self.skip_duplicate_clicks, bool):
            raise ValueError(f"skip_duplicate_clicks must be true or false, got {self.skip_duplicate_clicks!r}")
        check_choice(self.geodesic_image, GEODESIC_IMAGES, "geodesic_image")
        if not isinstance(self.previous_mask, bool):
            raise ValueError(f"previous_mask must be true or false, got {self.previous_mask!r}")
        if self.geodesic_image == "image+guidance" and self.variant == "paper":
            raise ValueError("geodesic_image 'image+guidance' is the authors' code's behaviour: it needs a "
                             "reference_code variant")
        return self

    def multichannel_geodesic(self) -> bool:
        """True when FastGeodis reads [image, guidance...] in this loop (see the module docstring)."""
        mode = self.geodesic_image
        if mode == "auto":
            mode = "image" if self.variant == "paper" else "image+guidance"
        uses_geodesic = guidance_signals.needs_fastgeodis(self.signal, self.variant)
        return mode == "image+guidance" and self.variant != "paper" and uses_geodesic

    def click_probability(self, round_index: int) -> float:
        if self.p_click == "p_volume":
            return float(self.p_volume)
        if self.p_click == "monai":
            return 1.0 - round_index / max(int(self.n_clicks), 1)
        return float(self.p_click)


def _bernoulli(p: float, generator: torch.Generator) -> bool:
    if p >= 1.0:
        return True
    if p <= 0.0:
        return False
    return bool(torch.rand((), generator=generator, device=generator.device) < p)


def click_ages(order) -> tuple[list[int], list[int]]:
    """Each click's number of later clicks, both channels counted: ``order`` lists the episode's clicks as
    ``"fg"`` / ``"bg"`` in the order they were given (the initial foreground seeds, then the background seeds,
    then each round's fg click before its bg click). Returns (fg ages, bg ages), each in its channel's order:
    what nnInteractive's decay reads (:mod:`gtg_core.guidance.nninteractive`)."""
    ages = {"fg": [], "bg": []}
    for k, kind in enumerate(order):
        ages[kind].append(len(order) - 1 - k)
    return ages["fg"], ages["bg"]


def compute_guidance(image, fg, bg, cfg: LoopConfig, previous=None, order=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground and background guidance maps for all clicks so far.

    ``previous``: the (fg, bg) guidance of the round before, or None at the initial seeds; read only when
    the loop reproduces the authors' multi-channel geodesic image (:meth:`LoopConfig.multichannel_geodesic`).
    ``order``: the clicks' order across both channels (:func:`click_ages`), read by a signal whose map
    depends on it (nnInteractive's decay); None: each channel's own order.
    """
    kw = dict(sigma=cfg.sigma, theta=cfg.theta, spacing=cfg.spacing, variant=cfg.variant, **cfg.options)
    ages = click_ages(order) if order is not None and guidance_signals.reads_click_order(cfg.signal) else None
    if ages is not None and (len(ages[0]), len(ages[1])) != (len(fg), len(bg)):
        raise ValueError(f"order lists {len(ages[0])} fg and {len(ages[1])} bg clicks, the channels have "
                         f"{len(fg)} and {len(bg)}")
    multichannel = cfg.multichannel_geodesic()
    if multichannel and previous is not None:
        kw["geodesic_image"] = torch.stack([image, *previous])
    g_fg = guidance_signals.compute(cfg.signal, image, fg, **kw, **({"ages": ages[0]} if ages else {}))
    if cfg.variant != "paper" and cfg.signal == "adaptive_heatmap":
        kw["channel"] = "background"
        kw.pop("geodesic_image", None)  # background clicks get sigma 1: no GDT
    elif multichannel:
        kw["geodesic_image"] = torch.stack([image, g_fg])
    g_bg = guidance_signals.compute(cfg.signal, image, bg, **kw, **({"ages": ages[1]} if ages else {}))
    return g_fg, g_bg


def network_input(image, g_fg, g_bg, previous_mask=None) -> torch.Tensor:
    """(3, X, Y, Z) = image, foreground guidance, background guidance: DeepEditNet's channel order; with
    ``previous_mask`` (the prediction the user just corrected, (X, Y, Z), empty before the first click) a
    fourth channel, as nnInteractive's ``prev_seg`` and RITM feed it back."""
    channels = [image, g_fg, g_bg]
    if previous_mask is not None:
        channels.append(previous_mask.to(image.dtype))
    return torch.stack(channels)


def autocast_dtype(device) -> torch.dtype:
    """The half precision that ``amp`` computes in on ``device``: bf16 on the CPU and on GPUs with bf16
    (Ampere and later), fp16 on GPUs without it (Colab's free T4, V100), where training then needs a gradient
    scaler (:func:`gtg_core.train.train_step`)."""
    device = torch.device(device)
    if device.type != "cuda":
        return torch.bfloat16
    try:
        native = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # a torch without the argument
        native = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if native else torch.float16


def predict(model, image, g_fg, g_bg, *, amp: bool = False, previous_mask=None) -> torch.Tensor:
    """argmax foreground mask (bool (X, Y, Z)) of the model on [image, fg, bg] (and ``previous_mask``, for a
    model with that input, :func:`network_input`), without gradients; with ``amp``, in :func:`autocast_dtype`."""
    x = network_input(image, g_fg, g_bg, previous_mask)[None]
    dtype = autocast_dtype(image.device) if amp else torch.bfloat16
    with torch.no_grad(), torch.autocast(image.device.type, dtype=dtype, enabled=amp):
        logits = model(x)
    return logits[0].argmax(0).bool()


def _stopwatch(device: torch.device):
    """A clock that first waits for the device, so that the time it reads covers the queued work."""
    if device.type == "cuda":
        def read():
            torch.cuda.synchronize(device)
            return time.perf_counter()
        return read
    return time.perf_counter


def click_round(image, label, pred, fg, bg, cfg: LoopConfig, generator: torch.Generator, *, clock=None,
                previous=None, order=None, step: int = 0):
    """One corrective round: the user's clicks into ``pred``'s errors, appended to ``fg``/``bg`` (a click
    already in its list is skipped with ``cfg.skip_duplicate_clicks``), and both guidance maps recomputed
    for all clicks. ``previous``: the guidance before this round (see :func:`compute_guidance`); ``order``:
    the clicks' order so far (:func:`click_ages`), extended in place by this round's clicks; ``step``: the
    round's index (0 = the first corrective round), which a user that reveals precomputed clicks reads.

    Returns ``(fg, bg, g_fg, g_bg, add_fg, add_bg, times)``; ``times`` is ``(step_s, signal_s)`` measured with
    ``clock`` (a function returning seconds, see :func:`_stopwatch`), or None without one.
    """
    t0 = clock() if clock else None
    add_fg, add_bg = user_clicks.corrective_clicks(pred, label, user=cfg.user, generator=generator,
                                                   spacing=cfg.spacing, image=image, step=step)
    duplicate = (False, False)
    if cfg.skip_duplicate_clicks and (len(add_fg) or len(add_bg)):
        # one read for both channels: is the new click already in the list (the authors' update_guidance)
        pairs = ((fg, add_fg), (bg, add_bg))
        duplicate = tuple(torch.stack([(old[:, None] == new[None]).all(-1).any() for old, new in pairs]).tolist())
    if order is not None:
        order.extend(["fg"] * (0 if duplicate[0] else len(add_fg)) + ["bg"] * (0 if duplicate[1] else len(add_bg)))
    fg = fg if duplicate[0] else torch.cat([fg, add_fg])
    bg = bg if duplicate[1] else torch.cat([bg, add_bg])
    t1 = clock() if clock else None
    g_fg, g_bg = compute_guidance(image, fg, bg, cfg, previous, order)
    times = None
    if clock:
        t2 = clock()
        times = (t2 - t0, t2 - t1)
    return fg, bg, g_fg, g_bg, add_fg, add_bg, times


@dataclass
class Episode:
    """What one volume's click loop leaves: final clicks and guidance, its trace rows, the clicks' order
    (:func:`click_ages`) and, with ``previous_mask``, the prediction before the last guidance (float (X, Y, Z);
    empty when no round clicked), else None."""

    fg: torch.Tensor
    bg: torch.Tensor
    g_fg: torch.Tensor
    g_bg: torch.Tensor
    interactive: bool
    rows: list = field(default_factory=list)
    order: list = field(default_factory=list)
    previous_mask: torch.Tensor | None = None


@torch.no_grad()  # the loop's guidance is data; a learned radius gets its gradient in the training step
def run_episode(model, image, label, cfg: LoopConfig, generator: torch.Generator, *, evaluate: bool = False,
                volume_id="0", amp: bool = False, no_guidance_row: bool = True) -> Episode:
    """The click loop for one volume.

    Parameters
    ----------
    model : callable (B, 3, X, Y, Z) -> (B, 2, X, Y, Z) logits; (B, 4, X, Y, Z) with ``cfg.previous_mask``,
        whose fourth channel is the prediction before (empty before the first click and without guidance)
    image : (X, Y, Z) float tensor; label : (X, Y, Z) bool tensor, on the same device
    cfg : LoopConfig
    generator : torch.Generator for every random choice (seeds, p_volume, p_click, the user)
    evaluate : bool
        Training (False): ``p_volume`` decides whether to interact; ``n_clicks`` rounds, each with a
        no-grad prediction; no trace. Evaluation (True): always interactive and a click in every
        round whatever ``p_volume`` and ``p_click`` say (the paper evaluates every model with N clicks,
        the authors' evaluator with p = 1), ``n_clicks + 1`` predictions (click 0 = seeds only ... click
        N), a trace row for each, plus one prediction without any guidance (``click = -1``, the paper's
        M2) when ``no_guidance_row``.
    """
    label = label.bool()
    fg, bg = user_clicks.initial_clicks(label, generator=generator)
    interactive = True if evaluate else _bernoulli(cfg.p_volume, generator)
    empty = torch.zeros_like(image) if cfg.previous_mask else None  # the previous mask before any prediction
    if not interactive:
        zeros = torch.zeros_like(image)
        return Episode(fg[:0], bg[:0], zeros, zeros.clone(), False, previous_mask=empty)
    order = ["fg"] * len(fg) + ["bg"] * len(bg)
    g_fg, g_bg = compute_guidance(image, fg, bg, cfg, order=order)
    rows = []
    clock = _stopwatch(image.device) if evaluate else None
    if evaluate and no_guidance_row:
        zeros = torch.zeros_like(image)
        pred = predict(model, image, zeros, zeros, amp=amp, previous_mask=empty)
        rows.append({"volume": volume_id, "click": -1, "dice": metrics.dice(pred, label), "n_fg": 0, "n_bg": 0})
    n_predictions = int(cfg.n_clicks) + (1 if evaluate else 0)
    signal_time = step_time = float("nan")
    new_fg = new_bg = None
    previous_mask = empty
    for j in range(n_predictions):
        pred = predict(model, image, g_fg, g_bg, amp=amp, previous_mask=previous_mask)
        if cfg.previous_mask:
            previous_mask = pred.to(image.dtype)
        if evaluate:
            rows.append({"volume": volume_id, "click": j, "dice": metrics.dice(pred, label), "n_fg": len(fg),
                         "n_bg": len(bg), "new_fg": new_fg, "new_bg": new_bg, "signal_time_s": signal_time,
                         "step_time_s": step_time, "overlap": metrics.guidance_overlap(g_fg, label),
                         "nsd": metrics.surface_dice(pred, label, spacing=cfg.spacing)})
        if j == int(cfg.n_clicks):
            break
        if not evaluate and not _bernoulli(cfg.click_probability(j), generator):
            continue
        fg, bg, g_fg, g_bg, add_fg, add_bg, times = click_round(image, label, pred, fg, bg, cfg, generator,
                                                                clock=clock, previous=(g_fg, g_bg), order=order,
                                                                step=j)
        if evaluate:
            step_time, signal_time = times
            new_fg = add_fg[0].tolist() if len(add_fg) else None
            new_bg = add_bg[0].tolist() if len(add_bg) else None
    for row in rows:  # the scalars come to the host once, at the end
        for key in ("dice", "overlap", "nsd"):
            if isinstance(row.get(key), torch.Tensor):
                row[key] = float(row[key])
        row["kind"] = "+".join(k for k, v in (("fg", row.get("new_fg")), ("bg", row.get("new_bg"))) if v) or None
    return Episode(fg, bg, g_fg, g_bg, True, rows, order, previous_mask)
