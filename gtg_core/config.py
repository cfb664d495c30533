"""A training run's configuration: :class:`TrainConfig`, its checks, and what its "auto" fields resolve to.

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
  voxels)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import clicks, data, guidance, interaction, metrics
from ._checks import check_choice, check_device
from .model import ADAPTOR_STYLES, ADAPTORS, DEEPEDIT_FILTERS, size_multiple

#: How the CPU runs the network's 3-D convolutions (``TrainConfig.cpu_conv``): PyTorch's own, or oneDNN's.
CPU_CONVOLUTIONS = ("pytorch", "onednn")
QUICK_PHANTOM_SHAPE = (64, 64, 32)
ADAPTIVE_UNITS = ("native", "normalised")

#: The click loop's fields that a run sets (:class:`gtg_core.interaction.LoopConfig` less the volume's
#: ``spacing`` and the resolved ``options``). :class:`TrainConfig` declares them again, with the same
#: defaults, because it is the flat schema of config.yaml and the study files; :meth:`TrainConfig.loop_config`
#: copies them by name, and a test keeps the two declarations equal.
LOOP_FIELDS = tuple(f.name for f in dataclasses.fields(interaction.LoopConfig) if f.name not in ("spacing", "options"))


def _field(default, **marks):
    """A field of :class:`TrainConfig` with what the study machinery must know of it, declared once here:
    ``later=True`` (added after studies had run: a run's identity and a collected row leave it out at this
    default, :func:`later_fields`), ``data=True`` (it decides the volumes a run reads, :func:`fields_marked`),
    ``test_data=True`` (it decides the held-out volumes)."""
    return field(default=default, metadata=marks)


def fields_marked(mark: str) -> tuple:
    """The names of :class:`TrainConfig`'s fields declared with ``mark`` (e.g. ``"data"``), in field order."""
    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get(mark))


def later_fields() -> dict:
    """The fields added after studies were run, each with the default that reproduces the earlier
    behaviour, as a configuration saved as JSON holds it (tuples as lists)."""
    return {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
            for f in dataclasses.fields(TrainConfig) if f.metadata.get("later")}


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
    data_seed: int = _field(36, data=True)  # phantoms, 80/20 split (the authors' 36)
    device: str = "auto"
    amp: bool = False  # bf16 autocast on any device (the CPU too); see resolved_precision
    cpu_conv: str = _field("pytorch", later=True)  # "onednn": oneDNN convolutions on the CPU
    learn_radius: bool = _field(False, later=True)  # Eq. 6's a and b trained (module docstring)
    radius_lr: float = _field(0.05, later=True)  # Adam's lr for a and b
    previous_mask: bool = _field(False, later=True)  # the last prediction as a 4th input channel
    dataset: str = _field("spleen_ct", data=True)  # a phantom kind, or a dataset folder
    n_cases: int = _field(16, data=True)  # phantoms only
    test_cases: int = _field(0, later=True, test_data=True)  # held-out test volumes (0: none)
    test_data_seed: int | None = _field(None, later=True, test_data=True)  # None: data_seed
    test_users: tuple = _field((), later=True)  # more users on the test split
    test_epochs: tuple = _field((), later=True)  # tested as if stopped there
    phantom_shape: tuple = _field((64, 64, 32), data=True)  # phantoms only
    profile: str = _field("auto", data=True)  # auto: data.dataset_profile
    target_shape: object = _field("auto", data=True)  # "auto", None or (X, Y, Z): see the module docstring
    crop_shape: tuple | None = _field(None, data=True)
    filters: tuple = _field(DEEPEDIT_FILTERS, data=True)
    val_every: int = 1
    output: str = _field("runs", data=True)
    options: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ validation and YAML

    @property
    def trains_radius(self) -> bool:
        """Whether Eq. 6's a and b are trained (``learn_radius`` with ``radius_lr`` > 0; at 0 they are frozen)."""
        return self.learn_radius and self.radius_lr > 0

    def validate(self, *, here: bool = True) -> "TrainConfig":
        """Check every field and the rules between fields; ValueError names the field. ``here=False``: not
        what only the machine that trains can know (the dataset folder's existence, the device), so that a
        study is checked when it is planned, also for another machine (:func:`gtg_core.study.plan`)."""
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
        canonical = [clicks.check_user(user, "test_users") for user in users]
        if users and not self.test_cases:
            raise ValueError(f"test_users {list(users)} click the test split: set test_cases too")
        if clicks.check_user(self.user) in canonical or len(set(canonical)) != len(canonical):
            raise ValueError(f"test_users {list(users)} must not repeat a user or name the run's own user "
                             f"({self.user!r}), who clicks the test split anyway")
        epochs = self.test_epochs
        if isinstance(epochs, (str, int)) or not isinstance(epochs, (tuple, list)):
            raise ValueError(f"test_epochs must be a list of epochs (counted from 1), got {epochs!r}")
        for e in epochs:
            if not isinstance(e, int) or isinstance(e, bool) or not 1 <= e <= self.epochs:
                raise ValueError(f"test_epochs: {e!r} is not an epoch of the run (an integer from 1 to epochs "
                                 f"{self.epochs})")
        if epochs and not self.test_cases:
            raise ValueError(f"test_epochs {list(epochs)} test the held-out split: set test_cases too")
        if list(epochs) != sorted(set(epochs)):
            raise ValueError(f"test_epochs must be increasing without repeats, got {list(epochs)}")
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
        self.resolved_options()  # the options the profile decides (Eq. 6's intensity scale needs a fixed window)
        if not here:
            return self
        if self.dataset not in data.KINDS and not Path(self.dataset).exists():
            raise ValueError(f"dataset must be a phantom kind ({', '.join(data.KINDS)}) or an existing folder, "
                             f"got {self.dataset!r}")
        resolve_device(self.device)
        return self

    def resolved_profile(self) -> str:
        """The preprocessing profile: ``profile``, or for "auto" the dataset's own
        (:func:`gtg_core.data.dataset_profile`: a phantom kind's, a Decathlon CT folder's ``msd_spleen``, a
        PET or AutoPET folder's ``autopet``, else ``generic``)."""
        if self.profile != "auto":
            return self.profile
        return data.dataset_profile(self.dataset)

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
        return interaction.LoopConfig(**{name: getattr(self, name) for name in LOOP_FIELDS},
                                      spacing=tuple(spacing), options=options)

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
        for key in ("phantom_shape", "target_shape", "crop_shape", "filters", "test_users", "test_epochs"):
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
