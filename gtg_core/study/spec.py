"""The study file: stages of grids over TrainConfig fields, ``best_of`` as data, read and checked, and what
makes two run configurations the same model (``_identity``, the later-fields convention). Turning it into runs
is :mod:`gtg_core.study.planning`. See :mod:`gtg_core.study` for the format."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config import later_fields

#: The five fields every run name shows, in this order.
NAME_FIELDS = ("signal", "sigma", "theta", "adaptor", "p_volume")
STUDY_KEYS = {"name", "description", "deviations", "base", "stages"}
STAGE_KEYS = {"name", "grid", "grids", "best_of", "note"}
BEST_OF_KEYS = {"stage", "metric", "per", "take", "where"}
STATES = ("done", "partial", "failed", "running", "to do")
LOCK_NAME = ".lock"


class StudyError(ValueError):
    """A study file or folder that cannot be used; the message names the file and the problem."""


@dataclass
class Stage:
    name: str
    grids: list
    best_of: dict | None = None
    note: str = ""


@dataclass
class Study:
    name: str
    base: dict
    stages: list
    description: str = ""
    deviations: list = field(default_factory=list)
    path: Path | None = None


def _config_fields() -> set:
    from ..train import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)}


def load_study(path) -> Study:
    """Read and check a study file; :class:`StudyError` names the file and the problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"study file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise StudyError(f"{path}: not valid YAML ({exc})") from None
    return study_from_dict(raw, path=path)


def study_from_dict(raw, *, path=None) -> Study:
    where = str(path or "study")
    if not isinstance(raw, dict):
        raise StudyError(f"{where}: expected a mapping with name, base and stages")
    unknown = set(raw) - STUDY_KEYS
    if unknown:
        raise StudyError(f"{where}: unknown key(s) {sorted(unknown)}; a study has {sorted(STUDY_KEYS)}")
    fields = _config_fields()
    base = dict(raw.get("base") or {})
    bad = set(base) - fields
    if bad:
        raise StudyError(f"{where}: base has unknown config field(s) {sorted(bad)}")
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise StudyError(f"{where}: the study needs a name")
    for item in raw.get("deviations") or []:
        if not isinstance(item, str):  # YAML reads "- a (the paper: b)" as a mapping: quote such sentences
            raise StudyError(f"{where}: each deviation must be a sentence (a string); quote {item!r} in the file "
                             "(an unquoted ': ' makes YAML read a mapping)")
    stages, seen = [], set()
    for i, s in enumerate(raw.get("stages") or []):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            raise StudyError(f"{where}: stage {i} needs a name")
        label = f"{where}: stage {s['name']!r}"
        unknown = set(s) - STAGE_KEYS
        if unknown:
            raise StudyError(f"{label}: unknown key(s) {sorted(unknown)}")
        if s["name"] in seen or "/" in s["name"]:
            raise StudyError(f"{label}: stage names must be unique and contain no '/'")
        grids = s.get("grids") if "grids" in s else [s.get("grid") or {}]
        if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
            raise StudyError(f"{label}: grid must be a mapping of field -> list of values (grids: a list of them)")
        for g in grids:
            bad = set(g) - fields
            if bad:
                raise StudyError(f"{label}: unknown config field(s) {sorted(bad)} in its grid")
            for key, values in g.items():
                if not isinstance(values, list) or not values:
                    raise StudyError(f"{label}: grid field {key!r} must be a non-empty list")
        best = s.get("best_of")
        if best is not None:
            if not isinstance(best, dict) or set(best) - BEST_OF_KEYS or not {"stage", "metric"} <= set(best):
                raise StudyError(f"{label}: best_of needs stage and metric (and may have per and take)")
            sources = best["stage"] if isinstance(best["stage"], list) else [best["stage"]]
            if not sources or any(src not in seen for src in sources):
                raise StudyError(f"{label}: best_of names {best['stage']!r}; each must be an earlier stage")
            where = best.get("where") or {}
            bad = (set(best.get("per", [])) | set(best.get("take", [])) | set(where)) - fields
            if bad:
                raise StudyError(f"{label}: best_of names unknown config field(s) {sorted(bad)}")
            best = {"per": [], "take": [], **best, "stage": sources, "where": where}
        seen.add(s["name"])
        stages.append(Stage(s["name"], grids, best, s.get("note", "")))
    if not stages:
        raise StudyError(f"{where}: the study has no stages")
    return Study(raw["name"], base, stages, raw.get("description", ""), list(raw.get("deviations") or []),
                 Path(path) if path else None)


#: TrainConfig fields added after studies were run, with the default that reproduces the earlier behaviour:
#: a run's identity and a collected row leave them out at that default, so a study run before they existed
#: resumes (its runs stay done) and re-collects to the same table.
#: Declared with the field (``later=True`` on :class:`gtg_core.config.TrainConfig`), derived here.
LATER_FIELDS = later_fields()


def _at_later_default(key, value) -> bool:
    return key in LATER_FIELDS and value == LATER_FIELDS[key]


#: The fields that name or place a run without changing the model it trains.
NOT_MODEL_FIELDS = ("name", "output", "device")


def differing_fields(saved: dict, planned: dict) -> list:
    """The fields in which two configurations differ as models (name, output and device aside; a field
    missing from one equals its :data:`LATER_FIELDS` default there; tuples and lists alike): what the
    "another configuration" message lists."""
    def value(config, key):
        return json.dumps(config.get(key, LATER_FIELDS.get(key)), sort_keys=True, default=str)
    keys = (set(saved) | set(planned)) - set(NOT_MODEL_FIELDS)
    return sorted(k for k in keys if value(saved, k) != value(planned, k))


def _identity(config: dict) -> str:
    """A key equal for two configurations that train the same model (the name and the folder aside)."""
    return json.dumps({k: v for k, v in config.items()
                       if k not in NOT_MODEL_FIELDS and not _at_later_default(k, v)},
                      sort_keys=True, default=str)
