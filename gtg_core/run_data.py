"""A run's volumes: the dataset (a phantom set written once under the run's output, or a folder) loaded and
preprocessed as the configuration asks, the 80/20 training / validation split, the held-out test cases, and
the warning for labels too small to click.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import data
from .config import TrainConfig
from .io import save_torch
from .model import size_multiple

@dataclass
class Volume:
    id: str
    image: torch.Tensor
    label: torch.Tensor
    spacing: tuple


def _pad_to_multiple(t: torch.Tensor, mult) -> torch.Tensor:
    pads = []
    for size, m in reversed(list(zip(t.shape, mult))):
        pads += [0, (-size) % m]
    return torch.nn.functional.pad(t, pads) if any(pads) else t


crop_around_label = data.crop_around_label  # kept here for callers of train.crop_around_label


def dataset_folder(cfg: TrainConfig) -> Path:
    """The folder the run reads: ``cfg.dataset`` itself, or the phantom set written (once) under the output."""
    if cfg.dataset not in data.KINDS:
        return Path(cfg.dataset)
    shape = "x".join(str(int(s)) for s in cfg.phantom_shape)
    folder = Path(cfg.output) / "_data" / f"{cfg.dataset}-{shape}-n{cfg.n_cases}-seed{cfg.data_seed}"
    if not (folder / "dataset.json").is_file():
        data.write_dataset(folder, cfg.dataset, n_cases=cfg.n_cases, shape=tuple(cfg.phantom_shape),
                           seed=cfg.data_seed)
    return folder


def load_volumes(cfg: TrainConfig, device, folder=None) -> list[Volume]:
    """The dataset's cases preprocessed as ``cfg`` asks (profile, resize or crop, padding), on ``device``.

    Phantom sets (folders under the run output's ``_data``) keep the preprocessed tensors in
    ``_preprocessed/<key>.pt`` beside their ``dataset.json``, so the many runs of a study preprocess them
    once; the key covers the dataset.json and every setting that changes the result. Dataset folders of
    the user's own are read afresh each time.
    """
    folder = Path(folder) if folder is not None else dataset_folder(cfg)
    profile = cfg.resolved_profile()
    mult = size_multiple(len(tuple(cfg.filters)))
    cache = None
    if folder.parent.name == "_data" and (folder / "dataset.json").is_file():
        import hashlib

        key = json.dumps([(folder / "dataset.json").read_text(encoding="utf-8"), profile,
                          cfg.resolved_target_shape(), cfg.crop_shape and list(cfg.crop_shape), list(mult)])
        cache = folder / "_preprocessed" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
        if cache.is_file():
            saved = torch.load(cache, map_location="cpu", weights_only=True)
            return [Volume(v["id"], v["image"].to(device), v["label"].to(device), tuple(v["spacing"]))
                    for v in saved["volumes"]]
    out = []
    for case in data.load_cases(folder):
        image, label, spacing = data.preprocess(case, profile, target_shape=cfg.resolved_target_shape())
        if cfg.crop_shape is not None:
            image, label = crop_around_label(image, label, cfg.crop_shape)
        image, label = _pad_to_multiple(image, mult), _pad_to_multiple(label, mult)
        out.append(Volume(case.id, image, label, spacing))
    if not out:
        raise ValueError(f"dataset {folder} has no usable case")
    if cache is not None:
        save_torch(cache, {"volumes": [{"id": v.id, "image": v.image, "label": v.label, "spacing": list(v.spacing)}
                                        for v in out]})
    return [Volume(v.id, v.image.to(device), v.label.to(device), v.spacing) for v in out]


class SmallLabelWarning(UserWarning):
    """The training labels are so small a share of small volumes that a short training learns nothing."""


#: :func:`warn_small_labels` fires when the median training label has fewer than
#: :data:`SMALL_LABEL_VOXELS` voxels and covers less than :data:`SMALL_LABEL_SHARE` of its volume. Measured:
#: spleen phantoms at 32 x 32 x 16 without ``crop_shape`` (about 50 label voxels, 0.3 %) reach M1 0.002-0.06
#: after ten epochs; at 48 x 48 x 24 resized to 64 x 64 x 32 (about 460 voxels, 0.35 %) five epochs reach
#: M1 0.68 with the clicks (the training chapter's run).
SMALL_LABEL_SHARE = 0.01
SMALL_LABEL_VOXELS = 200


def warn_small_labels(volumes, cfg: TrainConfig) -> float:
    """Warn (:class:`SmallLabelWarning`) when the median label of ``volumes`` (the training set) has fewer
    than :data:`SMALL_LABEL_VOXELS` voxels and covers less than :data:`SMALL_LABEL_SHARE` of its volume,
    pointing at ``crop_shape``. Returns the median share (foreground voxels / voxels)."""
    if not volumes:
        return 1.0
    counts = [int((v.label > 0).sum()) for v in volumes]  # one pass over the labels
    median_count = sorted(counts)[len(counts) // 2]
    median = sorted(c / v.label.numel() for c, v in zip(counts, volumes))[len(counts) // 2]
    if median_count < SMALL_LABEL_VOXELS and median < SMALL_LABEL_SHARE:
        shape = " x ".join(map(str, volumes[0].label.shape))
        hint = ("crop around the label with crop_shape (e.g. crop_shape: [64, 64, 32] with a larger "
                "phantom_shape)" if cfg.crop_shape is None else "choose a crop_shape closer to the label's size")
        warnings.warn(f"run {cfg.name}: the training labels have {median_count} voxels, {100 * median:.2f} % of "
                      f"each {shape} volume (median of {len(counts)}): too few for a short training to learn "
                      f"anything; {hint}", SmallLabelWarning, stacklevel=2)
    return median


def split_volumes(volumes, cfg: TrainConfig):
    """(train, validation): the authors' seeded 80/20 split; a single volume serves as both. A dataset
    folder's test cases (``cfg.test_cases``) are held out first (:func:`hold_out_test`); phantom sets draw
    theirs fresh (:func:`held_out_volumes`), so their train and validation volumes stay the paper's split."""
    if cfg.test_cases and cfg.dataset not in data.KINDS:
        volumes, _ = hold_out_test(volumes, cfg)
    return data.split_cases(volumes, seed=cfg.data_seed) if len(volumes) > 1 else (volumes, volumes)


#: The test cases of a dataset folder come from a shuffle with this offset to ``data_seed``, independent of
#: the 80/20 split's.
TEST_SEED_OFFSET = 1


def hold_out_test(volumes, cfg: TrainConfig):
    """(rest, test): the last ``cfg.test_cases`` of a seeded shuffle (:func:`test_seed` + 1) of a dataset
    folder's volumes. At least two volumes must remain for the 80/20 split; the error names the field."""
    volumes = list(volumes)
    if len(volumes) - cfg.test_cases < 2:
        raise ValueError(f"test_cases {cfg.test_cases} leaves {len(volumes) - cfg.test_cases} of the dataset's "
                         f"{len(volumes)} cases for training and validation (at least 2 needed)")
    order = np.random.RandomState(test_seed(cfg) + TEST_SEED_OFFSET).permutation(len(volumes))
    keep = sorted(order[: len(volumes) - cfg.test_cases])
    test = sorted(order[len(volumes) - cfg.test_cases:])
    return [volumes[i] for i in keep], [volumes[i] for i in test]


def test_seed(cfg: TrainConfig) -> int:
    """The seed of a run's held-out test cases: ``test_data_seed``, or ``data_seed`` when it is None. A study
    whose runs draw their own training data (``data_seed`` per seed) fixes ``test_data_seed``, so that every
    run is tested on the same volumes (the comparison stays paired by test volume)."""
    return cfg.data_seed if cfg.test_data_seed is None else cfg.test_data_seed


def held_out_folder(cfg: TrainConfig) -> Path:
    """A phantom run's test set: ``cfg.test_cases`` fresh phantoms numbered after the training set (cases
    n_cases, n_cases + 1, ...), case i drawn with seed :func:`test_seed` + i, written once under the output's
    ``_data``. With ``test_data_seed`` None they continue the training set's seeds; a ``test_data_seed`` at
    least ``n_cases`` away from every run's ``data_seed`` keeps them apart from every training set."""
    shape = "x".join(str(int(s)) for s in cfg.phantom_shape)
    folder = Path(cfg.output) / "_data" / (f"{cfg.dataset}-{shape}-n{cfg.test_cases}-seed{test_seed(cfg)}"
                                           f"-from{cfg.n_cases}")
    if not (folder / "dataset.json").is_file():
        data.write_dataset(folder, cfg.dataset, n_cases=cfg.test_cases, shape=tuple(cfg.phantom_shape),
                           seed=test_seed(cfg), start=cfg.n_cases)
    return folder


def held_out_volumes(cfg: TrainConfig, device) -> list:
    """The held-out test volumes of a run (empty when ``cfg.test_cases`` is 0): fresh phantoms for a phantom
    kind, the held-out cases of a dataset folder (:func:`hold_out_test`)."""
    if not cfg.test_cases:
        return []
    if cfg.dataset in data.KINDS:
        return load_volumes(cfg, device, folder=held_out_folder(cfg))
    return hold_out_test(load_volumes(cfg, device), cfg)[1]
