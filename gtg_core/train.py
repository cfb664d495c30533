"""Train and evaluate DeepEdit models with the paper's click loop: one configuration, one run folder.

``runs/<name>/`` holds ``config.yaml``, ``history.csv`` (one row per epoch), ``checkpoint.pt`` (the last
epoch: model, optimiser, generator state; what a resumed run continues from), ``model.pt`` (the best
validation M1), ``trace.csv`` (per-click trace of the best model on the validation cases) and
``metrics.json`` (M1-M5, NoC, AUC and provenance). Every file is written atomically.

The non-interactive baseline is the same code path with ``p_volume = 0`` (its evaluation still clicks:
the paper evaluates every model with 10 clicks).

Defaults follow the paper's text; where the authors' code differs, the field says so:

- ``lr`` 1e-5 as the paper says; the authors' runs used their default 1e-4 (no script set it).
- ``theta`` 0; the authors' ``--gdt_th`` defaulted to 10 (%).
- ``augment`` True: the authors' flips, quarter turns and intensity shift (:mod:`gtg_core.augment`).
- ``adaptor_style`` ``"paper"`` (1x1 adaptors); ``"reference_code"`` builds the authors' 3x3x3 ADN blocks.
- ``metric_convention`` ``"paper"``; ``"reference_code"`` reads M1/M3/M4/M5 as the authors' spider-plot
  script did (:mod:`gtg_core.metrics`), with M4 pooled over every validation epoch.
- ``adaptive_table`` ``"auto"``: the reference adaptive heatmap's lookup table from the profile
  (:func:`gtg_core.guidance.adaptive_table_for_profile`); the run's metrics.json records the choice.
- ``adaptive_units`` ``"native"``: the paper's Eq. 6 radii computed on the image in the profile's
  native units (HU, SUV) rather than on the normalised [0, 1] image, where every click gets sigma 12-13.
- ``learn_radius`` False: with True (the paper's adaptive heatmap only), Eq. 6's a and b are trained with
  the network (:mod:`gtg_core.guidance.learned`, the paper's footnote 1) by Adam at ``radius_lr`` (0.05:
  Adam moves a parameter by about its lr per step, so at the network's 1e-3 the 144 steps of a phantom study
  could move a and b's sigmoid arguments by 0.14 at most; at 0.05, across their whole range); they live
  in the model (``model.radius``, so model.pt, the checkpoint and a resumed run carry them), history.csv
  records them after every epoch (``radius_a``, ``radius_b``) and metrics.json the final ones. ``radius_lr``
  0 freezes a and b at the paper's (13, 0.15): Eq. 6 without its floor and nothing learned, the control that
  separates "learning a and b" from "dropping the floor".
- ``target_shape`` ``"auto"``: a plain resize to 64 x 64 x 32 for phantoms without ``crop_shape`` (quick
  runs), none for dataset folders, which the profile resamples to its spacing. ``crop_shape`` crops
  around the label's largest component after preprocessing, keeping the profile's voxel size (sigma is in
  voxels).
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from . import __version__, augment as augmentation, clicks, data, guidance, interaction, metrics
from ._checks import check_choice, check_device
from .io import atomic_write, atomic_write_text
from .model import ADAPTOR_STYLES, ADAPTORS, DEEPEDIT_FILTERS, DeepEditNet, fast_cpu_convolutions, size_multiple

QUICK_PHANTOM_SHAPE = (64, 64, 32)
ADAPTIVE_UNITS = ("native", "normalised")


@dataclass
class TrainConfig:
    """Everything a run depends on. Defaults follow the paper (lr 1e-5, 10 clicks, p = 1, Concat); the
    module docstring lists where the authors' code differs and which field reproduces it."""

    name: str = "run"
    signal: str = "heatmap"
    sigma: float = 1.0
    theta: float = 0.0
    variant: str = "paper"
    adaptor: str = "concat"
    adaptor_style: str = "paper"
    p_volume: float = 1.0
    p_click: object = 1.0
    n_clicks: int = 10
    user: str = "deepedit"
    skip_duplicate_clicks: bool = True
    geodesic_image: str = "auto"
    augment: bool = True
    metric_convention: str = "paper"
    adaptive_table: str = "auto"
    adaptive_units: str = "native"
    epochs: int = 100
    lr: float = 1e-5
    batch_size: int = 1
    seed: int = 36  # model initialisation, clicks, augmentation
    data_seed: int = 36  # the phantoms and the 80/20 split (the authors' 36): fixed while seed varies
    device: str = "auto"
    amp: bool = False  # bf16 autocast on any device (the CPU too); see resolved_precision
    cpu_conv: str = "pytorch"  # "onednn": every convolution on oneDNN on the CPU (faster; see build_model)
    learn_radius: bool = False  # Eq. 6's a and b trained with the network (adaptive_heatmap, paper variant)
    radius_lr: float = 0.05  # Adam's lr for a and b (see learn_radius in the module docstring)
    dataset: str = "spleen_ct"  # a phantom kind, or a folder (Decathlon / AutoPET / generic layout)
    n_cases: int = 16  # phantoms only
    test_cases: int = 0  # held-out test volumes (0: the paper's 80/20 split only); see split_volumes
    test_data_seed: int | None = None  # the held-out phantoms' seed (None: data_seed); see held_out_folder
    test_users: tuple = ()  # further simulated users who click the test split (test/user-<user>/)
    phantom_shape: tuple = (64, 64, 32)  # phantoms only
    profile: str = "auto"  # auto: msd_spleen for spleen_ct, autopet for lesion_pet, generic otherwise
    target_shape: object = "auto"  # "auto", None or (X, Y, Z): see the module docstring
    crop_shape: tuple | None = None
    filters: tuple = DEEPEDIT_FILTERS
    val_every: int = 1
    output: str = "runs"
    options: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ validation and YAML

    @property
    def trains_radius(self) -> bool:
        """Whether Eq. 6's a and b are trained (``learn_radius`` with ``radius_lr`` > 0; at 0 they are frozen)."""
        return self.learn_radius and self.radius_lr > 0

    def validate(self) -> "TrainConfig":
        self.loop_config((1.0, 1.0, 1.0)).validate()  # signal, variant, user, sigma, theta, p_volume, p_click, n_clicks
        check_choice(self.adaptor, ADAPTORS, "adaptor")
        for name in ("n_clicks", "epochs", "batch_size", "val_every", "n_cases", "seed", "data_seed", "test_cases",
                     "test_data_seed"):
            value = getattr(self, name)
            if name == "test_data_seed" and value is None:
                continue
            low = 0 if name in ("n_clicks", "seed", "data_seed", "test_cases", "test_data_seed") else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        check_choice(self.adaptor_style, ADAPTOR_STYLES, "adaptor_style")
        check_choice(self.cpu_conv, CPU_CONVOLUTIONS, "cpu_conv")
        check_choice(self.metric_convention, metrics.CONVENTIONS, "metric_convention")
        check_choice(self.adaptive_table, ("auto",) + tuple(guidance.REFERENCE_ADAPTIVE_TABLES), "adaptive_table")
        check_choice(self.adaptive_units, ADAPTIVE_UNITS, "adaptive_units")
        if not isinstance(self.amp, bool):
            raise ValueError(f"amp must be true or false, got {self.amp!r}")
        users = self.test_users
        if isinstance(users, str) or not isinstance(users, (tuple, list)):
            raise ValueError(f"test_users must be a list of simulated users, got {users!r}")
        for user in users:
            check_choice(user, clicks.USERS, "test_users")
        if users and not self.test_cases:
            raise ValueError(f"test_users {list(users)} click the test split: set test_cases too")
        if self.user in users or len(set(users)) != len(users):
            raise ValueError(f"test_users {list(users)} must not repeat a user or name the run's own user "
                             f"({self.user!r}), who clicks the test split anyway")
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be true or false, got {self.augment!r}")
        if not isinstance(self.learn_radius, bool):
            raise ValueError(f"learn_radius must be true or false, got {self.learn_radius!r}")
        if self.learn_radius and (self.signal != "adaptive_heatmap" or self.variant != "paper"):
            raise ValueError(f"learn_radius needs Eq. 6 to learn: signal 'adaptive_heatmap' with variant 'paper' "
                             f"(got signal {self.signal!r}, variant {self.variant!r}; the authors' code looks the "
                             "radius up in a table, which has no a or b)")
        if self.learn_radius and {"a", "b"} & set(self.options):
            raise ValueError("learn_radius: options a and b would be ignored (a and b start at the paper's "
                             "13 and 0.15 and are learned); remove them")
        if not (isinstance(self.radius_lr, (int, float)) and math.isfinite(self.radius_lr) and self.radius_lr >= 0):
            raise ValueError(f"radius_lr must be a number >= 0 (0: a and b frozen), got {self.radius_lr!r}")
        if len(tuple(self.filters)) < 3:
            raise ValueError(f"filters must list at least three U-Net levels, got {self.filters!r}")
        mult = size_multiple(len(tuple(self.filters)))
        if isinstance(self.target_shape, str) and self.target_shape != "auto":
            raise ValueError(f"target_shape must be 'auto', null or three ints, got {self.target_shape!r}")
        for name in ("target_shape", "crop_shape"):
            value = getattr(self, name)
            if value is None or isinstance(value, str):
                continue
            shape = tuple(int(s) for s in value)
            if len(shape) != 3 or any(s % m for s, m in zip(shape, mult)) or min(shape) < 1:
                raise ValueError(f"{name} must be three positive ints divisible by {mult} for {len(self.filters)} "
                                 f"U-Net levels, got {value!r}")
        check_choice(self.profile, ("auto",) + tuple(data.PROFILES), "profile")
        if self.dataset not in data.KINDS and not Path(self.dataset).exists():
            raise ValueError(f"dataset must be a phantom kind ({', '.join(data.KINDS)}) or an existing folder, "
                             f"got {self.dataset!r}")
        resolve_device(self.device)
        return self

    def resolved_profile(self) -> str:
        """The preprocessing profile: ``profile``, or for "auto" the phantom's dataset (generic for folders)."""
        if self.profile != "auto":
            return self.profile
        return {"spleen_ct": "msd_spleen", "lesion_pet": "autopet"}.get(self.dataset, "generic")

    def resolved_target_shape(self):
        """The resize shape, or None: "auto" resizes phantoms without a crop to 64 x 64 x 32 (quick runs)."""
        if self.target_shape != "auto":
            return None if self.target_shape is None else tuple(int(s) for s in self.target_shape)
        return QUICK_PHANTOM_SHAPE if self.dataset in data.KINDS and self.crop_shape is None else None

    def resolved_options(self) -> dict:
        """The guidance options of the loop, with what the profile decides filled in: the authors' lookup
        table (reference adaptive heatmap) and the intensity scale of the paper's Eq. 6 radii."""
        options = dict(self.options)
        if self.signal != "adaptive_heatmap":
            return options
        profile = self.resolved_profile()
        if self.variant == "paper" and self.adaptive_units == "native" and "intensity_scale" not in options:
            window = data.PROFILES[profile]["window"]
            if isinstance(window, str):
                raise ValueError(f"adaptive_units 'native' needs a profile with a fixed intensity window; "
                                 f"{profile!r} scales each image by its percentiles: use adaptive_units "
                                 "'normalised' or set options.intensity_scale")
            options["intensity_scale"] = float(window[1] - window[0])
        if self.variant == "reference_code" and "dataset" not in options:
            options["dataset"] = (guidance.adaptive_table_for_profile(profile) if self.adaptive_table == "auto"
                                  else self.adaptive_table)
        return options

    def loop_config(self, spacing, model=None) -> interaction.LoopConfig:
        """The click loop's settings at a volume's ``spacing``; with ``model``, its learned radius (if any)
        computes the adaptive heatmap."""
        options = self.resolved_options()
        if getattr(model, "radius", None) is not None:
            options["radius"] = model.radius
        return interaction.LoopConfig(signal=self.signal, sigma=self.sigma, theta=self.theta, variant=self.variant,
                                      spacing=tuple(spacing), n_clicks=self.n_clicks, p_volume=self.p_volume,
                                      p_click=self.p_click, user=self.user,
                                      skip_duplicate_clicks=self.skip_duplicate_clicks,
                                      geodesic_image=self.geodesic_image, options=options)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        for key in ("phantom_shape", "target_shape", "crop_shape", "filters", "test_users"):
            if isinstance(d.get(key), list):
                d[key] = tuple(d[key])
        # one spelling per value (sigma 5 and 5.0, a seed read back as 36.0), so equal configs compare equal
        for key in ("sigma", "theta", "p_volume", "lr", "p_click", "radius_lr"):
            if isinstance(d.get(key), (int, float)) and not isinstance(d.get(key), bool):
                d[key] = float(d[key])
        for key in ("n_clicks", "epochs", "batch_size", "seed", "data_seed", "n_cases", "val_every", "test_data_seed"):
            if isinstance(d.get(key), float) and d[key].is_integer():
                d[key] = int(d[key])
        return cls(**d)

    @classmethod
    def from_yaml(cls, path) -> "TrainConfig":
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise FileNotFoundError(f"config file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping of config fields")
        return cls.from_dict(raw)


resolve_device = check_device


# ---------------------------------------------------------------------------------------------- data


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
        _save_torch(cache, {"volumes": [{"id": v.id, "image": v.image, "label": v.label, "spacing": list(v.spacing)}
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


# ---------------------------------------------------------------------------------------------- helpers


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def source_digest() -> str:
    """sha256 (first 16 hex digits) of gtg_core's own source files: names the code exactly, also where the
    git commit cannot (a copied working tree on another machine reads its own, older, HEAD)."""
    import hashlib

    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _git_dirty() -> bool | None:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return bool(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


_LOADED_CODE: dict = {}


def loaded_code() -> dict:
    """``git_commit``, ``git_dirty`` and ``source_digest`` of the code this process runs: read once, the first
    time it is asked (at the import of this module), and kept. A study's workers live for the whole study, so
    a commit made while they train must not be recorded as theirs (the table3-pet-cpu runs recorded the HEAD
    at each run's end before this)."""
    if not _LOADED_CODE:
        _LOADED_CODE.update(git_commit=_git_commit(), git_dirty=_git_dirty(), source_digest=source_digest())
    return dict(_LOADED_CODE)


loaded_code()  # at import: what this process will run


def provenance(device, cfg: TrainConfig, wall_time_s: float) -> dict:
    """Where a run's numbers came from. ``git_commit`` is the HEAD of the checkout the package was imported
    from and ``git_dirty`` says whether gtg_core differed from it there; ``source_digest`` names the code
    itself (:func:`source_digest`); all three as this process loaded it (:func:`loaded_code`)."""
    return {"gtg_core": __version__, **loaded_code(), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
            "seed": cfg.seed, "wall_time_s": round(wall_time_s, 3), "host": platform.node(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def _save_torch(path: Path, obj) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def _oom_message(exc, cfg: TrainConfig, volumes) -> str:
    shapes = sorted({tuple(v.image.shape) for v in volumes})
    return (f"CUDA ran out of memory ({exc}). Tried volumes of shape {shapes}, batch size {cfg.batch_size}, "
            f"filters {tuple(cfg.filters)}, amp={cfg.amp}. Reduce target_shape, batch_size or filters, or set amp=True.")


#: The final evaluation of a run reuses its last validation's trace when that validation's model is the
#: best one (the same model and the same clicks: the same trace). ``gtg bench run`` switches it off to time
#: today's path against it.
REUSE_LAST_VALIDATION = True
CPU_CONVOLUTIONS = ("pytorch", "onednn")


def build_model(cfg: TrainConfig, device) -> DeepEditNet:
    """The run's network on ``device``. ``cfg.cpu_conv == "onednn"`` runs every convolution on oneDNN on the
    CPU (:func:`gtg_core.model.fast_cpu_convolutions`: 1.2-1.3x a forward pass at 64 x 64 x 32, measured by
    ``gtg bench run``). A given model predicts the same with either (logits within 1e-5), but a training run
    is chaotic: the rounding differences change a click now and then, and the run goes another way, as
    with another seed. So it is an option, recorded in the run's configuration, not the default."""
    model = DeepEditNet(cfg.adaptor, filters=cfg.filters, adaptor_style=cfg.adaptor_style)
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
    """One optimisation step on a batch: ``inputs`` (B, 3, X, Y, Z) (:func:`interaction.network_input`),
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
    pred = interaction.predict(model, volume.image, g_fg, g_bg, amp=amp)
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
                        g_fg, g_bg = interaction.compute_guidance(image, ep.fg, ep.bg, loop)
                    inputs.append(interaction.network_input(image, g_fg, g_bg))
                    labels.append(label[None].float())
                losses.append(train_step(model, optimiser, loss_fn, torch.stack(inputs), torch.stack(labels), amp=amp,
                                         scaler=scaler))
                bar.update(len(batch))
            row = {"epoch": epoch, "train_loss": float(torch.stack(losses).mean()), "time_s": time.perf_counter() - t0,
                   **learned_radius_record(model)}
            if (epoch + 1) % cfg.val_every == 0 or epoch == cfg.epochs - 1:
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
    test_set = held_out_volumes(cfg, device)
    if test_set:
        test_ids = [v.id for v in test_set]
        test = _write_results(run_dir / "test", evaluate_volumes(model, test_set, cfg, amp=amp), cfg, device,
                              time.perf_counter() - started, extra={"evaluated_on": "test split",
                                                                     "test_cases": test_ids, **extra})
        extra.update({"test_metrics": test["metrics"], "test_cases": test_ids})
        for user in cfg.test_users:  # the same model and volumes, clicked by another user
            other = _evaluate_with_user(model, test_set, cfg, user, run_dir / "test" / f"user-{user}", device,
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


def evaluate(run_dir, *, dataset=None, device: str | None = None, split: str = "validation",
             user: str | None = None) -> dict:
    """Evaluate a run's best model: on its validation cases, its held-out test cases (``split="test"``, a
    run trained with ``test_cases``), or every case of another ``dataset`` folder; with ``user``, clicked by
    that simulated user (:data:`gtg_core.clicks.USERS`) instead of the one it was trained with.

    Writes ``trace.csv`` and ``metrics.json`` into the run folder (validation), ``run_dir/test/`` (test), or
    ``run_dir/eval-<folder name>/`` for another dataset; another user's evaluation of the validation cases
    goes to ``run_dir/user-<user>/``, of the test cases to ``run_dir/test/user-<user>/`` (the same volumes and
    the same evaluation seed; the model is the saved one, nothing is trained). Returns the metrics.json
    content.
    """
    check_choice(split, SPLITS, "split")
    if user is not None:
        check_choice(user, clicks.USERS, "user")
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no config.yaml)")
    if not (run_dir / "model.pt").is_file():
        raise FileNotFoundError(f"{run_dir / 'model.pt'} is missing: the run has not finished a validation yet")
    cfg = TrainConfig.from_yaml(run_dir / "config.yaml")
    cfg.output = str(run_output(run_dir, cfg.name))  # where the run's phantom cache is, wherever we are called from
    if device is not None:
        cfg.device = device
    other_user = user is not None and user != cfg.user
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
    model = build_model(cfg, dev)
    model.load_state_dict(torch.load(run_dir / "model.pt", map_location=dev, weights_only=True)["model"])
    extra = {"evaluated_on": str(dataset or f"{split} split"), **learned_radius_extra(model)}
    if dataset is not None:
        volumes = load_volumes(cfg, dev, folder=dataset)
        folder = run_dir / f"eval-{Path(dataset).name}"
    elif split == "test":
        volumes = held_out_volumes(cfg, dev)
        folder = run_dir / "test"
        extra["test_cases"] = [v.id for v in volumes]
    else:
        volumes = load_volumes(cfg, dev)
        _, volumes = split_volumes(volumes, cfg)
        folder = run_dir
    if other_user:
        folder = folder / f"user-{user}"
        extra.update(evaluated_with_user=user, trained_with_user=trained_with)
        cfg.test_users = ()
    trace = evaluate_volumes(model, volumes, cfg, amp=cfg.amp)
    return _write_results(folder, trace, cfg, dev, time.perf_counter() - started, extra=extra)
