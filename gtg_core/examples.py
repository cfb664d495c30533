"""Small helpers the book's chapters call, so that their cells stay a few lines long.

- :func:`pick_device`: ``"auto"`` -> CUDA when there is one.
- :func:`load_example`: one case from a phantom kind or a dataset folder, in native units and normalised.
- :func:`toy_prediction`: a deliberately wrong segmentation (shifted and eroded label) to click on.
- :func:`example_clicks`: initial seeds plus a few corrective clicks on the toy prediction.
- :class:`GuidanceThresholdModel`: a non-learned "network" that segments the guidance itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import clicks as user_clicks
from . import data
from ._checks import check_choice, check_device
from .data.phantoms import FIELD_OF_VIEW_MM

#: Intensity windows used to normalise (and display) each phantom: the MSD Spleen profile's HU window for
#: CT; for PET 0..10 SUV, narrower than the AutoPET profile's 0..43 so that faint lesions stay visible.
WINDOWS = {"spleen_ct": data.PROFILES["msd_spleen"]["window"], "lesion_pet": (0.0, 10.0)}


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA when torch sees a GPU, else the CPU; otherwise ``torch.device(name)`` (checked)."""
    return check_device(name)


@dataclass
class Example:
    name: str
    image: torch.Tensor  # native units (HU, SUV) for phantoms; the profile's [0, 1] for folders
    label: torch.Tensor  # bool
    spacing: tuple
    window: tuple  # display / normalisation window of ``image``
    profile: str = "generic"  # the preprocessing profile whose voxel size / intensities the case has

    @property
    def normalised(self) -> torch.Tensor:
        lo, hi = self.window
        return ((self.image - lo) / (hi - lo)).clamp(0, 1)

    def to(self, device) -> "Example":
        return Example(self.name, self.image.to(device), self.label.to(device), self.spacing, self.window,
                       self.profile)


#: The preprocessing profile whose voxel size each phantom kind gets with ``voxel_size="paper"``.
PHANTOM_PROFILES = {"spleen_ct": "msd_spleen", "lesion_pet": "autopet"}
VOXEL_SIZES = ("paper", "field_of_view")
#: Datasets a chapter names rather than points at: :func:`resolve_dataset` finds (or downloads) them.
NAMED_DATASETS = ("msd_spleen",)


def _phantom_example(kind: str, shape, seed: int, voxel_size: str):
    if voxel_size == "field_of_view":
        image, label, spacing = data.phantom(kind, shape=shape, seed=seed)
        return image, label.bool(), spacing, "the field of view spread over the shape"
    spacing = data.PROFILES[PHANTOM_PROFILES[kind]]["spacing"]
    whole = [max(8, round(f / s)) for f, s in zip(FIELD_OF_VIEW_MM[kind], spacing)]
    image, label, spacing = data.phantom(kind, shape=whole, spacing=spacing, seed=seed)
    image, label = data.crop_around_label(image, label.bool(), shape)
    return image, label, spacing, "cropped around the label"


def resolve_dataset(dataset: str, msd_root: str = "data", *, download=None) -> str:
    """What a chapter's ``dataset`` parameter names: a phantom kind or a folder as given, or for
    ``"msd_spleen"`` the folder ``msd_root/Task09_Spleen``, downloaded with MONAI when it is not there yet
    (1.5 GB; on Colab put ``msd_root`` on a mounted Drive so that every chapter finds the one download).
    ``download``: the function that fetches it (default :func:`gtg_core.data.download_msd_spleen`)."""
    if dataset not in NAMED_DATASETS:
        return dataset
    folder = Path(msd_root) / "Task09_Spleen"
    if (folder / "dataset.json").is_file():
        return str(folder)
    return (download or data.download_msd_spleen)(msd_root)


def load_example(dataset: str = "spleen_ct", *, shape=(96, 96, 48), seed: int = 0, case: int = 0,
                 profile: str = "auto", voxel_size: str = "paper", msd_root: str = "data",
                 device=None) -> Example:
    """A phantom (``"spleen_ct"``, ``"lesion_pet"``) or case number ``case`` of a dataset folder.

    ``voxel_size="paper"`` (default) keeps the voxel size the paper's preprocessing gives (MSD Spleen
    1.586 x 1.586 x 5 mm, AutoPET 2.036 x 2.036 x 3 mm; a folder's own under the generic profile) and crops
    ``shape`` voxels around the label's largest component, so that sigma in voxels means what it means in the
    paper. ``"field_of_view"`` spreads the whole field of view over ``shape`` instead (large voxels: sigma 5
    is then about 21 mm on the default spleen phantom).

    Folders go through :func:`gtg_core.data.load_cases` and :func:`gtg_core.data.preprocess` with ``profile``
    (``"auto"``: :func:`gtg_core.data.folder_profile`, the dataset's own). Raises ValueError naming the case
    when ``case`` is out of range or when the label has no foreground voxel left after preprocessing (a small
    lesion can vanish in a resize). ``"msd_spleen"`` names MSD Spleen under ``msd_root``
    (:func:`resolve_dataset`). ``device``: where the tensors go (``"auto"``: :func:`pick_device`); None keeps
    the CPU.
    """
    if device is not None:
        return load_example(dataset, shape=shape, seed=seed, case=case, profile=profile, voxel_size=voxel_size,
                            msd_root=msd_root).to(pick_device(device))
    check_choice(voxel_size, VOXEL_SIZES, "voxel_size")
    dataset = resolve_dataset(dataset, msd_root)
    shape = tuple(int(s) for s in shape)
    if dataset in data.KINDS:
        image, label, spacing, how = _phantom_example(dataset, shape, seed, voxel_size)
        mm = " x ".join(f"{s:.2f}" for s in spacing)
        return Example(f"{dataset} phantom (seed {seed}, {mm} mm, {how})", image, label, spacing,
                       WINDOWS[dataset], PHANTOM_PROFILES[dataset])
    folder = Path(dataset)
    cases = data.load_cases(folder)
    if not 0 <= case < len(cases):
        raise ValueError(f"case must be in 0..{len(cases) - 1} for {folder}, got {case}")
    if profile == "auto":
        profile = data.folder_profile(folder)
    resize = shape if voxel_size == "field_of_view" else None
    image, label, spacing = data.preprocess(cases[case], profile, target_shape=resize)
    if not label.any():
        raise ValueError(f"case {case} ({cases[case].label}): no foreground voxel is left after preprocessing "
                         f"with the {profile!r} profile" + (f" and the resize to {shape}" if resize else "")
                         + ": the structure is too small for this shape; use voxel_size='paper' or a larger shape")
    if resize is None:
        image, label = data.crop_around_label(image, label, shape)
    return Example(f"{cases[case].id} ({folder.name}, {profile} profile)", image, label, spacing, (0.0, 1.0),
                   profile)


def toy_prediction(label: torch.Tensor, *, shift: int = 3, erode: int = 1) -> torch.Tensor:
    """The label shifted by ``shift`` voxels along X and eroded ``erode`` times: a prediction with both
    under- and over-segmentation, as a first model output might be."""
    pred = torch.roll(label.bool(), shifts=shift, dims=0)
    for _ in range(erode):
        pred = -torch.nn.functional.max_pool3d(-pred[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
    return pred


def example_clicks(label: torch.Tensor, *, seed: int = 0, n_corrective: int = 2, user: str = "deepedit"):
    """(fg, bg): DeepEdit's initial seeds plus ``n_corrective`` rounds of corrective clicks on
    :func:`toy_prediction` (the prediction does not change between rounds)."""
    if not bool(label.any()):
        raise ValueError("label has no foreground voxel: there is nothing to click on")
    gen = torch.Generator(device=label.device).manual_seed(seed)
    fg, bg = user_clicks.initial_clicks(label, generator=gen)
    pred = toy_prediction(label)
    for _ in range(n_corrective):
        f, b = user_clicks.corrective_clicks(pred, label, user=user, generator=gen)
        fg, bg = torch.cat([fg, f]), torch.cat([bg, b])
    return fg, bg


def center_and_edge_clicks(label: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
    """Two clicks in the same slice: the label's deepest voxel (the ``center`` user's click on an empty
    prediction) and an edge voxel: walking from the center along +X, -X, +Y or -Y to the last label voxel,
    the walk whose step out of the label changes ``image`` most (+X without an image). (2, 3) int64."""
    label = label.bool()
    center, _ = user_clicks.corrective_clicks(torch.zeros_like(label), label, user="center",
                                              generator=torch.Generator())
    x, y, z = center[0].tolist()
    best, best_jump = None, -1.0
    for axis, step in ((0, 1), (0, -1), (1, 1), (1, -1)):
        pos = [x, y, z]
        while 0 <= pos[axis] + step < label.shape[axis] and bool(label[tuple(pos[:axis] + [pos[axis] + step] + pos[axis + 1:])]):
            pos[axis] += step
        outside = pos[:axis] + [pos[axis] + step] + pos[axis + 1:]
        if image is None or not 0 <= outside[axis] < label.shape[axis]:
            jump = 0.0
        else:
            jump = abs(float(image[tuple(outside)]) - float(image[tuple(pos)]))
        if jump > best_jump:
            best, best_jump = pos, jump
        if image is None:
            break
    return torch.tensor([[x, y, z], best], dtype=torch.int64, device=label.device)


def visible_ring_clicks(label, image, normalised, *, spacing, table: str, a: float = 13.0, b: float = 0.15,
                        code_sigma: float = 5.0, min_radius: int = 2, candidates: int = 100, fallback=None) -> dict:
    """Two clicks in one slice where both readings of the adaptive heatmap draw a ring a reader can see: the
    paper's Eq. 6 on ``image`` (native units, ``a``, ``b``) and the authors' lookup table ``table`` on
    ``normalised`` (its GDT map from disks of ``code_sigma``, theta 10) both give each click a radius of at
    least ``min_radius`` voxels, and the two rings (at half maximum, 1.18 sigma) do not touch.

    Candidates: label voxels on a grid of about ``candidates`` points; each scored alone; then, slice by slice
    (the slice with the most candidates that qualify alone first), pairs scored together (the code's radius
    reads the map of all the clicks). Returns ``{"clicks": (2, 3) int64 on the label's device, "paper": the
    Eq. 6 radii, "code": the code's radii, "found": True}``. When no pair qualifies: ``fallback`` (clicks) with
    their radii and ``found`` False, so that a page says so instead of promising rings that are not there;
    without ``fallback``, ValueError."""
    from . import guidance

    label = label.bool()
    inside = label.nonzero()
    points = inside[::max(1, len(inside) // max(int(candidates), 1))].to(torch.int64)

    def radii(clicks):
        paper = guidance.adaptive_sigmas(image, clicks, a=a, b=b, spacing=spacing).tolist()
        code = guidance.reference_adaptive_sigmas(normalised, clicks, sigma=code_sigma, theta=10,
                                                  spacing=spacing, dataset=table)
        return paper, code

    good = {}
    for p in points:
        paper, code = radii(p[None])
        if min(paper[0], code[0]) >= min_radius:
            good.setdefault(int(p[2]), []).append(p)
    for z in sorted(good, key=lambda k: -len(good[k])):
        for i, p in enumerate(good[z]):
            for q in good[z][i + 1:]:
                pair = torch.stack([p, q])
                paper, code = radii(pair)
                reach = 1.18 * (max(paper[0], code[0]) + max(paper[1], code[1])) + 2
                if min(paper + code) >= min_radius and float((p - q).double().norm()) > reach:
                    return {"clicks": pair.to(label.device), "paper": paper, "code": code, "found": True}
    if fallback is not None:
        clicks = torch.as_tensor(fallback, dtype=torch.int64, device=label.device).reshape(-1, 3)
        paper, code = radii(clicks)
        return {"clicks": clicks, "paper": paper, "code": code, "found": False}
    raise ValueError(f"no two clicks in one slice where both readings give radius >= {min_radius} "
                     f"({sum(map(len, good.values()))} of {len(points)} candidates qualified alone)")


class GuidanceThresholdModel(torch.nn.Module):
    """A non-learned stand-in for a network: foreground where the fg guidance beats the bg guidance by
    ``margin`` and the image lies within ``tolerance`` of the intensity at the fg clicks' guidance peak.

    Input (B, 3, X, Y, Z) = [image, fg guidance, bg guidance]; output (B, 2, X, Y, Z) logits. It lets the book
    run a 10-click episode and its metrics without training anything.
    """

    def __init__(self, margin: float = 0.1, tolerance: float = 0.08):
        super().__init__()
        self.margin, self.tolerance = float(margin), float(tolerance)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image, g_fg, g_bg = x[:, 0], x[:, 1], x[:, 2]
        peak = (g_fg >= g_fg.amax(dim=(1, 2, 3), keepdim=True) * 0.999) & (g_fg > 0)
        ref = (image * peak).sum(dim=(1, 2, 3), keepdim=True) / peak.sum(dim=(1, 2, 3), keepdim=True).clamp(min=1)
        similar = (image - ref).abs() <= self.tolerance
        score = (g_fg - g_bg - self.margin) * similar.float() - (~similar).float()
        return torch.stack([-score, score], 1)


def describe(example: Example) -> dict:
    """Shape, spacing, intensity percentiles and label volume (ml) of an example, for the data chapter."""
    img = example.image.float()
    lo, med, hi = np.percentile(img.cpu().numpy(), [1, 50, 99])
    voxel_ml = float(np.prod(example.spacing)) / 1000.0
    return {"case": example.name, "shape": tuple(int(s) for s in img.shape),
            "spacing (mm)": tuple(round(float(s), 3) for s in example.spacing),
            "intensity p1 / p50 / p99": (round(float(lo), 2), round(float(med), 2), round(float(hi), 2)),
            "label volume (ml)": round(float(example.label.sum()) * voxel_ml, 1)}
