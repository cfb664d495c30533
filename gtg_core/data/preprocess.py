"""Preprocessing profiles (MONAI transforms) and the deterministic train/validation split.

Profiles, as the authors' pipelines (see ``shared/notes/reference-code.md``):

- ``msd_spleen``: RAS orientation, spacing 1.586 x 1.586 x 5.0 mm, HU window -224..212 to [0, 1] (clipped).
- ``autopet``: RAS, spacing 2.036 x 2.036 x 3.0 mm, SUV 0..43 to [0, 1] (clipped), center crop (padded
  where smaller) to 192 x 192 x 256.
- ``generic``: RAS, keep the spacing, 0.5-99.5 percentile window to [0, 1] (clipped).

``target_shape`` (for small CPU runs) resizes straight to that shape instead of resampling to the
profile's spacing (and instead of the crop); the returned spacing is then the field of view over the shape.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .layouts import Case

PROFILES = {
    "msd_spleen": {"spacing": (1.586, 1.586, 5.0), "window": (-224.0, 212.0), "crop": None},
    "autopet": {"spacing": (2.036, 2.036, 3.0), "window": (0.0, 43.0), "crop": (192, 192, 256)},
    "generic": {"spacing": None, "window": "percentile", "crop": None},
}
SPLIT_SEED = 36


def _transforms(profile: str, target_shape):
    from monai import transforms as T

    cfg = PROFILES[profile]
    keys = ["image", "label"]
    steps = [T.LoadImaged(keys, image_only=True), T.EnsureChannelFirstd(keys), T.Orientationd(keys, axcodes="RAS")]
    if target_shape is not None:
        steps.append(T.Resized(keys, spatial_size=tuple(int(s) for s in target_shape), mode=("trilinear", "nearest")))
    elif cfg["spacing"] is not None:
        steps.append(T.Spacingd(keys, pixdim=cfg["spacing"], mode=("bilinear", "nearest")))
    if cfg["window"] == "percentile":
        steps.append(T.ScaleIntensityRangePercentilesd("image", lower=0.5, upper=99.5, b_min=0.0, b_max=1.0, clip=True))
    else:
        lo, hi = cfg["window"]
        steps.append(T.ScaleIntensityRanged("image", a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True))
    if cfg["crop"] is not None and target_shape is None:
        steps += [T.SpatialPadd(keys, spatial_size=cfg["crop"]), T.CenterSpatialCropd(keys, roi_size=cfg["crop"])]
    return T.Compose(steps)


def preprocess(case: Case, profile: str = "generic", *, target_shape=None):
    """Load and preprocess one case.

    Returns ``(image, label, spacing)``: image an (X, Y, Z) float32 tensor in [0, 1], label an (X, Y, Z) bool
    tensor, spacing the voxel size in mm after preprocessing. Raises ValueError naming the file when it
    cannot be read.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if target_shape is not None and (len(tuple(target_shape)) != 3 or min(int(s) for s in target_shape) < 1):
        raise ValueError(f"target_shape must be three positive ints, got {target_shape!r}")
    try:
        with warnings.catch_warnings():  # MONAI's notice about Orientationd's future default labels
            warnings.simplefilter("ignore", FutureWarning)
            out = _transforms(profile, target_shape)({"image": str(case.image), "label": str(case.label)})
    except Exception as exc:
        raise ValueError(f"{case.image} / {case.label}: preprocessing failed ({type(exc).__name__}: {exc})") from exc
    image, label = out["image"], out["label"]
    spacing = tuple(float(s) for s in image.pixdim[:3]) if hasattr(image, "pixdim") else (1.0, 1.0, 1.0)
    image = torch.as_tensor(np.asarray(image[0]), dtype=torch.float32)
    label = torch.as_tensor(np.asarray(label[0]) > 0.5)
    return image, label, spacing


def folder_profile(root) -> str:
    """The preprocessing profile a dataset folder calls for: ``"autopet"`` for AutoPET study folders and for a
    Decathlon folder whose dataset.json names PET, ``"msd_spleen"`` (the HU window) for a Decathlon folder
    whose dataset.json names CT, else ``"generic"`` (a percentile window, the voxel size kept)."""
    import json

    from .layouts import detect_layout

    layout = detect_layout(root)
    if layout == "autopet":
        return "autopet"
    if layout == "decathlon":
        try:
            meta = json.loads((Path(root) / "dataset.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "generic"
        modality = " ".join(str(v) for v in (meta.get("modality") or {}).values()).upper()
        if "PET" in modality:
            return "autopet"
        if "CT" in modality.split():
            return "msd_spleen"
    return "generic"


#: The profile of each phantom kind: the paper's dataset it imitates.
KIND_PROFILES = {"spleen_ct": "msd_spleen", "lesion_pet": "autopet"}

#: A dataset folder's name -> the profile of the paper's dataset it holds, for a folder that is not here
#: (a study planned on one machine for another).
FOLDER_NAMES = {"task09_spleen": "msd_spleen", "msd_spleen": "msd_spleen", "fdg-pet-ct-lesions": "autopet",
                "autopet": "autopet"}


def dataset_profile(dataset) -> str:
    """The one resolver of ``profile: auto`` (training, planning, cost, evaluation and the book read it):
    a phantom kind's (:data:`KIND_PROFILES`), a dataset folder's own (:func:`folder_profile`: a Decathlon CT
    folder gets the paper's MSD Spleen profile, a PET or AutoPET one AutoPET's), for a folder that is not
    here the paper's dataset its name says (:data:`FOLDER_NAMES`), else ``"generic"``."""
    if str(dataset) in KIND_PROFILES:
        return KIND_PROFILES[str(dataset)]
    path = Path(dataset)
    if path.is_dir():
        return folder_profile(path)
    return FOLDER_NAMES.get(path.name.lower(), "generic")


def crop_around_label(image: torch.Tensor, label: torch.Tensor, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """The (X, Y, Z) box of ``shape`` centered on the bounding-box center of the label's largest connected
    component (several lesions may lie far apart), shifted to stay inside the volume; axes shorter than
    ``shape`` are kept whole (and padded later). The voxel size is unchanged."""
    from scipy import ndimage

    mask = label.detach().cpu().numpy().astype(bool)
    if not mask.any():
        raise ValueError("crop_shape needs a label with foreground voxels to center on")
    components, n = ndimage.label(mask)
    largest = 1 + int(np.argmax(np.bincount(components.reshape(-1))[1:])) if n > 1 else 1
    box = ndimage.find_objects((components == largest).astype(np.int32))[0]
    slices = []
    for (lo_hi, size, n_axis) in zip(box, shape, label.shape):
        center = (lo_hi.start + lo_hi.stop - 1) // 2
        start = min(max(center - int(size) // 2, 0), max(n_axis - int(size), 0))
        slices.append(slice(start, start + int(size)))
    return image[tuple(slices)].contiguous(), label[tuple(slices)].contiguous()


def split_cases(cases, *, val_fraction: float = 0.2, seed: int = SPLIT_SEED):
    """Deterministic (train, validation) split: a seeded shuffle, the last ``val_fraction`` for validation.

    With seed 36 and 0.2, as the authors (41 MSD Spleen cases give 33 / 8). At least one case goes to each
    side when there are two or more.
    """
    cases = list(cases)
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if len(cases) < 2:
        raise ValueError(f"need at least two cases to split, got {len(cases)}")
    order = np.random.RandomState(int(seed)).permutation(len(cases))
    n_val = min(max(1, int(len(cases) * float(val_fraction))), len(cases) - 1)
    train = [cases[i] for i in order[: len(cases) - n_val]]
    val = [cases[i] for i in order[len(cases) - n_val:]]
    return train, val


def download_msd_spleen(root) -> str:  # pragma: no cover - needs the internet (Colab), not testable here
    """Fetch MSD Spleen (Task09_Spleen) with MONAI into ``root``; returns the dataset folder for load_cases."""
    from monai.apps import DecathlonDataset

    DecathlonDataset(root_dir=str(root), task="Task09_Spleen", section="training", download=True, cache_num=0)
    return str(Path(root) / "Task09_Spleen")
