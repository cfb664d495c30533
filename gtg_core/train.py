"""Train and evaluate DeepEdit models with the paper's click loop: one configuration, one run folder.

``runs/<name>/`` holds ``config.yaml``, ``history.csv`` (one row per epoch), ``checkpoint.pt`` (the last
epoch: model, optimiser, generator state; what a resumed run continues from), ``model.pt`` (the best
validation M1), ``trace.csv`` (per-click trace of the best model on the validation cases) and
``metrics.json`` (M1-M5, NoC, AUC and provenance); with ``test_cases``, ``test/`` (the best model on the
held-out test split) and, with ``test_epochs``, ``test-at/epoch-<E>/`` (the held-out test of the run as it
would have stopped after epoch E: :func:`evaluate_snapshot`). Every file is written atomically.

The non-interactive baseline is the same code path with ``p_volume = 0`` (its evaluation still clicks:
the paper evaluates every model with 10 clicks).

The run's configuration is :mod:`gtg_core.config` (:class:`TrainConfig`, its defaults and what they follow),
its volumes :mod:`gtg_core.run_data` (loading, the splits, the held-out test cases) and its provenance
:mod:`gtg_core.provenance`; their names stay importable from here.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import augment as augmentation, clicks, guidance, interaction, metrics
from ._checks import check_choice
# the run's configuration, volumes and provenance live in their own rooms; their names stay importable here
from .config import ADAPTIVE_UNITS, CPU_CONVOLUTIONS, QUICK_PHANTOM_SHAPE, TrainConfig, resolve_device  # noqa: F401
from .io import atomic_write_text, save_torch
from .model import DeepEditNet, fast_cpu_convolutions
from .provenance import _git_commit, _git_dirty, loaded_code, source_digest  # noqa: F401
from .provenance import record as _record
from .run_data import (SMALL_LABEL_SHARE, SMALL_LABEL_VOXELS, TEST_SEED_OFFSET, SmallLabelWarning,  # noqa: F401
                       Volume, crop_around_label, dataset_folder, held_out_folder, held_out_volumes, hold_out_test,
                       load_volumes, split_volumes, test_seed, warn_small_labels)

# ---------------------------------------------------------------------------------------------- helpers


def provenance(device, cfg: TrainConfig, wall_time_s: float) -> dict:
    """:func:`gtg_core.provenance.record` for a run of ``cfg`` (its seed)."""
    return _record(device, cfg.seed, wall_time_s)


_save_torch = save_torch  # the name fit used before io.save_torch


def _oom_message(exc, cfg: TrainConfig, volumes) -> str:
    shapes = sorted({tuple(v.image.shape) for v in volumes})
    return (f"CUDA ran out of memory ({exc}). Tried volumes of shape {shapes}, batch size {cfg.batch_size}, "
            f"filters {tuple(cfg.filters)}, amp={cfg.amp}. Reduce target_shape, batch_size or filters, or set amp=True.")


#: The final evaluation of a run reuses its last validation's trace when that validation's model is the
#: best one (the same model and the same clicks: the same trace). ``gtg bench run`` switches it off to time
#: today's path against it.
REUSE_LAST_VALIDATION = True


def build_model(cfg: TrainConfig, device) -> DeepEditNet:
    """The run's network on ``device``. ``cfg.cpu_conv == "onednn"`` runs every convolution on oneDNN on the
    CPU (:func:`gtg_core.model.fast_cpu_convolutions`: 1.2-1.3x a forward pass at 64 x 64 x 32, measured by
    ``gtg bench run``). A given model predicts the same with either (logits within 1e-5), but a training run
    is chaotic: the rounding differences change a click now and then, and the run goes another way, as
    with another seed. So it is an option, recorded in the run's configuration, not the default."""
    model = DeepEditNet(cfg.adaptor, filters=cfg.filters, adaptor_style=cfg.adaptor_style,
                        previous_mask=cfg.previous_mask)
    if cfg.cpu_conv == "onednn":
        fast_cpu_convolutions(model)
    if cfg.learn_radius:
        model.radius = guidance.LearnedRadius()  # a submodule: in the state dict, the checkpoint, model.pt
        model.radius.requires_grad_(cfg.trains_radius)  # radius_lr 0: the floor-less Eq. 6, frozen
    return model.to(device)


def learned_radius_record(model) -> dict:
    """``{"radius_a": a, "radius_b": b}`` of a model with a learned radius, else {}."""
    radius = getattr(model, "radius", None)
    return {} if radius is None else {f"radius_{k}": v for k, v in radius.values().items()}


def make_optimiser(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam at ``cfg.lr`` for the network, at ``cfg.radius_lr`` for a learned radius's a and b (none for a
    frozen one, ``radius_lr`` 0)."""
    radius = getattr(model, "radius", None)
    own = set() if radius is None else {id(p) for p in radius.parameters()}
    network = [p for p in model.parameters() if id(p) not in own]
    if not cfg.trains_radius:
        return torch.optim.Adam(network, lr=cfg.lr)
    return torch.optim.Adam([{"params": network, "lr": cfg.lr},
                             {"params": list(radius.parameters()), "lr": cfg.radius_lr}])


def train_step(model, optimiser, loss_fn, inputs: torch.Tensor, labels: torch.Tensor, *, amp: bool = False,
               scaler=None):
    """One optimisation step on a batch: ``inputs`` (B, 3 or 4, X, Y, Z) (:func:`interaction.network_input`),
    ``labels`` (B, 1, X, Y, Z) float 0/1; autocast with ``amp`` (bf16, or fp16 where the device has no bf16:
    :func:`interaction.autocast_dtype`). ``scaler``: a ``torch.amp.GradScaler`` (fp16 needs one, so that small
    gradients do not underflow; :func:`grad_scaler`) scales the loss and unscales the step. Returns the loss,
    detached."""
    model.train()
    optimiser.zero_grad(set_to_none=True)
    dtype = interaction.autocast_dtype(inputs.device) if amp else torch.bfloat16
    with torch.autocast(inputs.device.type, dtype=dtype, enabled=amp):
        logits = model(inputs)
    loss = loss_fn(logits.float(), labels)
    if scaler is None:
        loss.backward()
        optimiser.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
    return loss.detach()


def grad_scaler(amp: bool, device):
    """The gradient scaler a run needs: one for fp16 autocast (``amp`` on a GPU without bf16), None
    otherwise (fp32 and bf16 keep fp32's exponent range)."""
    if amp and interaction.autocast_dtype(device) == torch.float16:
        return torch.amp.GradScaler(torch.device(device).type)
    return None


def warm_up(model, volume: Volume, cfg: TrainConfig, *, amp: bool = False) -> None:
    """One untimed prediction and click round on ``volume`` with a throwaway generator, so that lazy
    initialisation (kernels, caches, allocator) is not timed as the first click step of M3."""
    gen = torch.Generator(device=volume.image.device).manual_seed(0)
    loop = cfg.loop_config(volume.spacing, model)
    fg, bg = clicks.initial_clicks(volume.label, generator=gen)
    g_fg, g_bg = interaction.compute_guidance(volume.image, fg, bg, loop)
    empty = torch.zeros_like(volume.image) if loop.previous_mask else None
    pred = interaction.predict(model, volume.image, g_fg, g_bg, amp=amp, previous_mask=empty)
    interaction.click_round(volume.image, volume.label, pred, fg, bg, loop, gen, previous=(g_fg, g_bg))


def evaluate_volumes(model, volumes, cfg: TrainConfig, *, seed: int | None = None, amp: bool = False):
    """Per-click trace (DataFrame) of ``model`` on ``volumes`` with the config's click loop, a click in every
    round. Warms up once first (:func:`warm_up`), so the step times (M3) do not include lazy initialisation
    and do not depend on the evaluation order; the warm-up draws from its own generator."""
    device = volumes[0].image.device
    model.eval()
    warm_up(model, volumes[0], cfg, amp=amp)
    gen = torch.Generator(device=device).manual_seed(cfg.seed if seed is None else seed)
    rows = []
    for vol in volumes:
        ep = interaction.run_episode(model, vol.image, vol.label, cfg.loop_config(vol.spacing, model), gen,
                                     evaluate=True, volume_id=vol.id, amp=amp)
        rows += ep.rows
    return metrics.trace_frame(rows)


# ---------------------------------------------------------------------------------------------- fit


def fit(cfg: TrainConfig, *, progress: bool = True, on_epoch_end=None) -> Path:
    """Train one model; returns its run folder. Resumes from ``checkpoint.pt`` when the folder has one.

    ``on_epoch_end(epoch, history_row)`` is called after each epoch's checkpoint is written (tests use it
    to interrupt a run).
    """
    from monai.losses import DiceCELoss
    from tqdm.auto import tqdm

    cfg.validate()
    device = resolve_device(cfg.device)
    run_dir = Path(cfg.output) / cfg.name
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.yaml"
    if config_path.exists():
        previous = TrainConfig.from_yaml(config_path).to_dict()
        now = cfg.to_dict()
        differs = [k for k in now if k not in ("epochs", "device", "output") and previous.get(k) != now[k]]
        if differs:
            raise ValueError(f"{run_dir} holds a run with another configuration ({', '.join(differs)} differ); "
                             "choose another name or delete the folder")
    atomic_write_text(config_path, cfg.to_yaml())

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    volumes = load_volumes(cfg, device)
    train_set, val_set = split_volumes(volumes, cfg)
    warn_small_labels(train_set, cfg)
    if cfg.batch_size > 1 and len({tuple(v.image.shape) for v in train_set}) > 1:
        raise ValueError("batch_size > 1 needs volumes of one shape: set target_shape")
    model = build_model(cfg, device)
    optimiser = make_optimiser(model, cfg)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    start_epoch, history, best, earlier_s = 0, [], -1.0, 0.0
    scaler = grad_scaler(cfg.amp, device)
    checkpoint = run_dir / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        gen.set_state(state["generator"].cpu())
        start_epoch, history, best = state["epoch"] + 1, state["history"], state["best"]
        earlier_s = float(state.get("elapsed_s", 0.0))  # the wall time of the interrupted sessions
    amp = cfg.amp
    started = time.perf_counter() - earlier_s
    total = max(0, cfg.epochs - start_epoch) * len(train_set)
    bar = tqdm(total=total, disable=not progress, desc=cfg.name, unit="vol")
    last_validation = None  # (epoch, trace) of this session's latest validation
    snapshot_set = None  # the held-out volumes, once a snapshot needs them
    try:
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            order = torch.randperm(len(train_set), generator=gen, device=gen.device).tolist()
            losses = []
            for b in range(0, len(order), cfg.batch_size):
                batch = [train_set[i] for i in order[b:b + cfg.batch_size]]
                model.eval()
                inputs, labels = [], []
                for vol in batch:
                    image, label = vol.image, vol.label
                    if cfg.augment:
                        image, label = augmentation.augment(image, label, gen)
                    loop = cfg.loop_config(vol.spacing, model)
                    ep = interaction.run_episode(model, image, label, loop, gen, amp=amp)
                    g_fg, g_bg = ep.g_fg, ep.g_bg
                    if cfg.trains_radius and ep.interactive:  # again, with the gradient to a and b
                        g_fg, g_bg = interaction.compute_guidance(image, ep.fg, ep.bg, loop, order=ep.order)
                    inputs.append(interaction.network_input(image, g_fg, g_bg, ep.previous_mask))
                    labels.append(label[None].float())
                losses.append(train_step(model, optimiser, loss_fn, torch.stack(inputs), torch.stack(labels), amp=amp,
                                         scaler=scaler))
                bar.update(len(batch))
            row = {"epoch": epoch, "train_loss": float(torch.stack(losses).mean()), "time_s": time.perf_counter() - t0,
                   **learned_radius_record(model)}
            snapshot = epoch + 1 in cfg.test_epochs and epoch < cfg.epochs - 1  # the last epoch: test/ below
            if (epoch + 1) % cfg.val_every == 0 or epoch == cfg.epochs - 1 or snapshot:
                trace = evaluate_volumes(model, val_set, cfg, amp=amp)
                last_validation = (epoch, trace)
                row["val_final_dice"] = metrics.final_dice(trace)
                row["val_initial_dice"] = metrics.initial_dice(trace)
                row["val_m4_improved"], row["val_m4_transitions"] = metrics.improvement_counts(
                    trace, cfg.n_clicks - 1 if cfg.metric_convention == "reference_code" else cfg.n_clicks)
                if row["val_final_dice"] > best:
                    best = row["val_final_dice"]
                    _save_torch(run_dir / "model.pt", {"model": model.state_dict(), "epoch": epoch,
                                                       "val_final_dice": best, "config": cfg.to_dict()})
            history.append(row)
            if snapshot:  # before the checkpoint: a run interrupted here redoes the epoch and its snapshot
                snapshot_set = snapshot_set or held_out_volumes(cfg, device)  # loaded once, at the first
                evaluate_snapshot(model, cfg, run_dir, epoch, device, snapshot_set)
            _save_torch(checkpoint, {"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                                     "generator": gen.get_state(), "epoch": epoch, "history": history, "best": best,
                                     "elapsed_s": time.perf_counter() - started,
                                     **({"scaler": scaler.state_dict()} if scaler is not None else {})})
            atomic_write_text(run_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_m1=f"{row.get('val_final_dice', float('nan')):.3f}")
            if on_epoch_end is not None:
                on_epoch_end(epoch, row)
    except torch.cuda.OutOfMemoryError as exc:
        raise RuntimeError(_oom_message(exc, cfg, volumes)) from exc
    finally:
        bar.close()

    # the best model (chosen on the validation cases): the held-out test cases first, then the validation
    # trace and metrics.json, which marks the run done
    state = torch.load(run_dir / "model.pt", map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    extra = learned_radius_extra(model)
    test_set = snapshot_set or held_out_volumes(cfg, device)
    if test_set:
        test_ids = [v.id for v in test_set]
        test = _write_results(run_dir / "test", evaluate_volumes(model, test_set, cfg, amp=amp), cfg, device,
                              time.perf_counter() - started, extra={"evaluated_on": "test split",
                                                                     "test_cases": test_ids, **extra})
        extra.update({"test_metrics": test["metrics"], "test_cases": test_ids})
        for user in map(clicks.check_user, cfg.test_users):  # the same model and volumes, another user
            other = _evaluate_with_user(model, test_set, cfg, user, run_dir / "test" / clicks.user_folder(user), device,
                                        extra={"evaluated_on": "test split", "test_cases": test_ids})
            extra.setdefault("test_user_metrics", {})[user] = other["metrics"]
    if REUSE_LAST_VALIDATION and last_validation is not None and last_validation[0] == state["epoch"]:
        trace = last_validation[1]  # the best model is the one just validated: the same clicks, the same trace
    else:
        trace = evaluate_volumes(model, val_set, cfg, amp=amp)
    pooled = None
    if cfg.metric_convention == "reference_code":  # the authors pooled M4 over every validation epoch
        improved = sum(r.get("val_m4_improved", 0) for r in history)
        transitions = sum(r.get("val_m4_transitions", 0) for r in history)
        pooled = improved / transitions if transitions else float("nan")
    _write_results(run_dir, trace, cfg, device, time.perf_counter() - started, m4_pooled=pooled,
                   extra={"best_epoch": state["epoch"], "train_cases": [v.id for v in train_set],
                          "val_cases": [v.id for v in val_set], **extra})
    return run_dir


def snapshot_folder(run_dir: Path, epoch_number: int) -> Path:
    """Where the held-out test of a run as it would have stopped after ``epoch_number`` (from 1) is written."""
    return Path(run_dir) / "test-at" / f"epoch-{epoch_number}"


def evaluate_snapshot(model, cfg: TrainConfig, run_dir: Path, epoch: int, device, test_set) -> dict:
    """The held-out test split evaluated with the model a run of ``epoch + 1`` epochs would return: the best
    validated model so far (``model.pt``; this epoch was just validated, as a run's last epoch always is),
    clicked by the run's own user, written to :func:`snapshot_folder` (trace.csv, metrics.json with
    ``snapshot_epoch`` and the ``best_epoch`` it chose). ``model`` (the one training) is not touched: the
    snapshot loads into a copy, and the evaluation draws from its own generators, so the run trains on
    exactly as it would without snapshots. ``test_set``: the held-out volumes (loaded once per run by fit).
    Issue #33: one run gives the test Dice at several training
    lengths."""
    import copy

    started = time.perf_counter()
    state = torch.load(run_dir / "model.pt", map_location=device, weights_only=True)
    best = copy.deepcopy(model)
    best.load_state_dict(state["model"])
    trace = evaluate_volumes(best, test_set, cfg, amp=cfg.amp)
    return _write_results(snapshot_folder(run_dir, epoch + 1), trace, cfg, device, time.perf_counter() - started,
                          extra={"evaluated_on": "test split", "test_cases": [v.id for v in test_set],
                                 "snapshot_epoch": epoch + 1, "best_epoch": state["epoch"],
                                 **learned_radius_extra(best)})


def _evaluate_with_user(model, volumes, cfg: TrainConfig, user: str, folder: Path, device, extra=None) -> dict:
    """``model`` on ``volumes`` clicked by ``user`` instead of ``cfg.user`` (the same evaluation seed), written
    to ``folder`` (trace.csv, metrics.json with both users named). Returns the metrics.json content."""
    started = time.perf_counter()
    clicked = dataclasses.replace(cfg, user=user, test_users=())
    trace = evaluate_volumes(model, volumes, clicked, amp=cfg.amp)
    return _write_results(folder, trace, clicked, device, time.perf_counter() - started,
                          extra={**(extra or {}), **learned_radius_extra(model), "evaluated_with_user": user,
                                 "trained_with_user": cfg.user})


def learned_radius_extra(model) -> dict:
    """metrics.json's ``learned_radius`` entry (a, b, whether they were frozen, their bounds) for a model with
    one, else {}."""
    record = learned_radius_record(model)
    if not record:
        return {}
    frozen = not any(p.requires_grad for p in model.radius.parameters())  # radius_lr 0
    return {"learned_radius": {"a": record["radius_a"], "b": record["radius_b"], "frozen": frozen,
                               "a_bounds": list(guidance.learned.A_BOUNDS),
                               "b_bounds": list(guidance.learned.B_BOUNDS),
                               "sigma_min": guidance.learned.SIGMA_MIN}}


def resolved_precision(cfg: TrainConfig, device=None) -> str:
    """The arithmetic of the run's forward passes on ``device`` (default: the CPU): "fp32", or with ``amp``
    "bf16 autocast" (the CPU: oneDNN's bf16 kernels, 2.44x a forward pass at 64 x 64 x 32 on this project's
    CPU, not exact; whether a study may use it is decided by a paired check against fp32,
    ``studies/results/table3-test``), or "fp16 autocast with a gradient scaler" on a GPU without bf16."""
    if not cfg.amp:
        return "fp32"
    if interaction.autocast_dtype(device or "cpu") == torch.float16:
        return "fp16 autocast with a gradient scaler (the device has no bf16)"
    return "bf16 autocast"


def resolved(cfg: TrainConfig, device=None) -> dict:
    """What "auto" fields became for this run (recorded in metrics.json), and its precision on ``device``."""
    options = cfg.resolved_options()
    return {"precision": resolved_precision(cfg, device), "profile": cfg.resolved_profile(),
            "target_shape": cfg.resolved_target_shape(), "adaptive_table": options.get("dataset"), "intensity_scale": options.get("intensity_scale"),
            "geodesic_image": "image+guidance" if cfg.loop_config((1, 1, 1)).multichannel_geodesic() else "image",
            "metric_convention": cfg.metric_convention}


def _write_results(folder: Path, trace, cfg: TrainConfig, device, wall: float, extra=None, m4_pooled=None) -> dict:
    summary = metrics.summary(trace, max_clicks=cfg.n_clicks, convention=cfg.metric_convention)
    if m4_pooled is not None:
        summary["M4_consistent_improvement_last_model"] = summary["M4_consistent_improvement"]
        summary["M4_consistent_improvement"] = m4_pooled
    out = {"metrics": summary, "config": cfg.to_dict(), "resolved": resolved(cfg, device),
           "provenance": provenance(device, cfg, wall)}
    out.update(extra or {})
    atomic_write_text(folder / "trace.csv", trace.to_csv(index=False))
    atomic_write_text(folder / "metrics.json", json.dumps(out, indent=2, default=str))
    return out


SPLITS = ("validation", "test")


def run_output(run_dir: Path, name: str) -> Path:
    """The ``output`` folder a run folder belongs to: ``run_dir`` is ``output / name``, and a study's run
    names have a stage in front (``h1/gdt-s5-...``), so its phantom data sit two levels up."""
    parts = Path(name).parts
    if len(parts) > 1 and run_dir.resolve().parts[-len(parts):] == parts:
        return run_dir.resolve().parents[len(parts) - 1]
    return run_dir.parent


def saved_config(run_dir, *, device: str | None = None) -> TrainConfig:
    """A run folder's configuration, its ``output`` pointed at where the run's phantom cache is (wherever this is
    called from), its device replaced by ``device`` if given. FileNotFoundError naming the folder when it is no
    run folder or has no saved model (``model.pt``) yet."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no config.yaml)")
    if not (run_dir / "model.pt").is_file():
        raise FileNotFoundError(f"{run_dir / 'model.pt'} is missing: the run has not finished a validation yet")
    cfg = TrainConfig.from_yaml(run_dir / "config.yaml")
    cfg.output = str(run_output(run_dir, cfg.name))
    if device is not None:
        cfg.device = device
    return cfg


def saved_model(run_dir, cfg: TrainConfig, device):
    """The run's best model (``run_dir/model.pt``, :func:`build_model` of ``cfg``) on ``device``."""
    model = build_model(cfg, device)
    model.load_state_dict(torch.load(Path(run_dir) / "model.pt", map_location=device, weights_only=True)["model"])
    return model


def case_volumes(cfg: TrainConfig, device, split: str) -> list:
    """The run's validation cases (``split="validation"``, the 80/20 split) or its held-out test cases."""
    check_choice(split, SPLITS, "split")
    if split == "test":
        return held_out_volumes(cfg, device)
    return split_volumes(load_volumes(cfg, device), cfg)[1]


def evaluate(run_dir, *, dataset=None, device: str | None = None, split: str = "validation",
             user: str | None = None) -> dict:
    """Evaluate a run's best model: on its validation cases, its held-out test cases (``split="test"``, a
    run trained with ``test_cases``), or every case of another ``dataset`` folder; with ``user``, clicked by
    that simulated user (:data:`gtg_core.clicks.USERS`, or a spec with options, :func:`gtg_core.clicks.check_user`)
    instead of the one it was trained with.

    Writes ``trace.csv`` and ``metrics.json`` into the run folder (validation), ``run_dir/test/`` (test), or
    ``run_dir/eval-<folder name>/`` for another dataset; another user's evaluation of the validation cases
    goes to ``run_dir/user-<spec>/``, of the test cases to ``run_dir/test/user-<spec>/`` (the user's canonical
    spec, :func:`gtg_core.clicks.user_folder`; the same volumes and the same evaluation seed; the model is the
    saved one, nothing is trained). Returns the metrics.json content.
    """
    check_choice(split, SPLITS, "split")
    if user is not None:
        user = clicks.check_user(user, "user")
    run_dir = Path(run_dir)
    cfg = saved_config(run_dir, device=device)
    other_user = user is not None and user != clicks.check_user(cfg.user)
    if other_user and dataset is not None:
        raise ValueError("user: another user evaluates the run's validation or test cases; give user or dataset")
    if other_user:
        trained_with, cfg.user = cfg.user, user
    if split == "test" and dataset is not None:
        raise ValueError("split='test' evaluates the run's own held-out cases: give dataset or split, not both")
    if split == "test" and not cfg.test_cases:
        raise ValueError(f"split='test': {run_dir} was trained without a test split (test_cases 0)")
    dev = resolve_device(cfg.device)
    started = time.perf_counter()
    model = saved_model(run_dir, cfg, dev)
    extra = {"evaluated_on": str(dataset or f"{split} split"), **learned_radius_extra(model)}
    if dataset is not None:
        volumes = load_volumes(cfg, dev, folder=dataset)
        folder = run_dir / f"eval-{Path(dataset).name}"
    else:
        volumes = case_volumes(cfg, dev, split)
        folder = run_dir / "test" if split == "test" else run_dir
        if split == "test":
            extra["test_cases"] = [v.id for v in volumes]
    if other_user:
        folder = folder / clicks.user_folder(user)
        extra.update(evaluated_with_user=user, trained_with_user=trained_with)
        cfg.test_users = ()
    trace = evaluate_volumes(model, volumes, cfg, amp=cfg.amp)
    return _write_results(folder, trace, cfg, dev, time.perf_counter() - started, extra=extra)
