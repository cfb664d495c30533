"""The study file and its plan: stages of grids over TrainConfig fields, ``best_of`` as data, run names,
and which runs repeat an earlier one (``same_as``). See :mod:`gtg_core.study` for the format."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

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


@dataclass
class Run:
    """One planned training run: its name (``stage/slug``), its full configuration, and the earlier run it
    duplicates (``same_as``), if any."""

    name: str
    stage: str
    config: dict
    same_as: str | None = None

    def folder(self, root) -> Path:
        return Path(root) / (self.same_as or self.name)


def _value_text(value) -> str:
    """A value as a file-name-safe word: 5.0 -> 5, [64, 64, 24] -> 64x64x24, a path -> its last part."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "x".join(_value_text(v) for v in value)
    text = Path(str(value)).name if "/" in str(value) else str(value)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def run_slug(config: dict, extra_fields=()) -> str:
    """``<signal>-s<sigma>-t<theta>-<adaptor>-p<percent>`` and ``-<field><value>`` per extra field."""
    parts = [str(config["signal"]), f"s{_value_text(config['sigma'])}", f"t{_value_text(config['theta'])}",
             str(config["adaptor"]), f"p{round(float(config['p_volume']) * 100)}"]
    parts += [f"{key}{_value_text(config[key])}" for key in sorted(set(extra_fields) - set(NAME_FIELDS))]
    return "-".join(parts)


#: TrainConfig fields added after studies were run, with the default that reproduces the earlier behaviour:
#: a run's identity and a collected row leave them out at that default, so a study run before they existed
#: resumes (its runs stay done) and re-collects to the same table.
LATER_FIELDS = {"test_cases": 0, "cpu_conv": "pytorch", "learn_radius": False, "radius_lr": 0.05,
                "test_data_seed": None, "test_users": []}


def _at_later_default(key, value) -> bool:
    return key in LATER_FIELDS and value == LATER_FIELDS[key]


def _identity(config: dict) -> str:
    """A key equal for two configurations that train the same model (the name and the folder aside)."""
    return json.dumps({k: v for k, v in config.items()
                       if k not in ("name", "output", "device") and not _at_later_default(k, v)},
                      sort_keys=True, default=str)


def _ranked_settings(stage: Stage, source_runs: list, results):
    """The candidate settings of ``stage.best_of``, per ``per`` group, best first: a list of (group key,
    DataFrame of ``per`` + ``take`` fields, the metric's mean over seeds and ``seeds``), or None while any
    source run is not done."""
    best = stage.best_of
    if not source_runs or results is None or not len(results):
        return None
    by_name = results.set_index("run")
    picked = []
    for r in source_runs:
        name = r.same_as or r.name
        if name not in by_name.index or by_name.loc[name, "status"] != "done":
            return None
        picked.append(by_name.loc[name])
    import pandas as pd

    rows = pd.DataFrame(picked).reset_index(drop=True)
    for key, allowed in best["where"].items():
        rows = rows[rows[key].isin(allowed)]
    if rows.empty:
        raise StudyError(f"stage {stage.name!r}: no run of {best['stage']} matches where {best['where']}")
    if best["metric"] not in rows:
        raise StudyError(f"stage {stage.name!r}: results have no metric {best['metric']!r}")
    keys = list(best["per"]) + list(best["take"])
    grouped = rows.groupby(keys, dropna=False, sort=False)[best["metric"]]
    means = grouped.mean().to_frame(best["metric"]).assign(seeds=grouped.count()).reset_index()
    groups = means.groupby(list(best["per"]), dropna=False, sort=False) if best["per"] else [((), means)]
    # the highest mean over seeds wins; equal means keep the file's order (a stable sort)
    return [(key, group.sort_values(best["metric"], ascending=False, kind="stable")) for key, group in groups]


def _best_settings(stage: Stage, source_runs: list, results) -> list[dict] | None:
    """The ``per`` and ``take`` values chosen by ``stage.best_of`` from the results of ``source_runs`` (the
    planned runs of its source stages): per group, the setting with the highest mean metric over its seeds;
    None while any of them is not done."""
    ranked = _ranked_settings(stage, source_runs, results)
    if ranked is None:
        return None
    keys = list(stage.best_of["per"]) + list(stage.best_of["take"])
    return [{k: _plain(group.iloc[0][k]) for k in keys} for _, group in ranked]


#: A best-of choice whose runner-up is within this much of the winner (in the metric's units: Dice) is
#: reported as a near-tie by :func:`best_of_choices`.
TIE_TOLERANCE = 0.01


def best_of_choices(study: Study, results, *, tolerance: float = TIE_TOLERANCE):
    """What every ``best_of`` stage chose and by how much: one row per stage and ``per`` group with the
    winner's ``take`` values, its mean metric and number of seeds, the runner-up's, the gap, and ``tie``
    when the gap is below ``tolerance`` (the choice then rests on the rule, not on evidence). The rule is
    the same as the plan's: the highest mean over seeds wins, equal means keep the study file's order. A
    pandas DataFrame (empty while no best-of stage can be planned)."""
    import pandas as pd

    runs, _ = plan(study, results=results)
    out = []
    for stage in study.stages:
        if stage.best_of is None:
            continue
        ranked = _ranked_settings(stage, [r for r in runs if r.stage in stage.best_of["stage"]], results)
        for key, group in ranked or []:
            metric = stage.best_of["metric"]
            take = list(stage.best_of["take"])
            win = group.iloc[0]
            row = {"stage": stage.name, "group": ", ".join(map(str, key if isinstance(key, tuple) else (key,))),
                   "chosen": ", ".join(f"{k} {_plain(win[k])}" for k in take), metric: float(win[metric]),
                   "seeds": int(win["seeds"])}
            if len(group) > 1:
                second = group.iloc[1]
                gap = float(win[metric] - second[metric])
                row.update({"runner_up": ", ".join(f"{k} {_plain(second[k])}" for k in take),
                            f"runner_up_{metric}": float(second[metric]), "runner_up_seeds": int(second["seeds"]),
                            "gap": gap, "tie": gap < tolerance,
                            "rule": (f"near-tie (gap < {tolerance:g}): decided by the higher mean over seeds"
                                     if gap < tolerance else "the highest mean over seeds")})
            out.append(row)
    return pd.DataFrame(out)


def _plain(value):
    """numpy / pandas scalars to Python ones (TrainConfig.from_dict gives each field one spelling)."""
    return value.item() if hasattr(value, "item") else value


def plan(study: Study, root=None, results=None) -> tuple[list[Run], list[str]]:
    """The runs of ``study`` that can be planned now, and the names of the pending stages.

    ``results``: a table as :func:`collect` returns it (the earlier stages' metrics for ``best_of``); by
    default collected from ``root`` when it exists.
    """
    from ..train import TrainConfig
    from .collect import collect

    if results is None and root is not None and Path(root).is_dir():
        results = collect(root, write=False)
    runs, pending, by_identity = [], [], {}
    for stage in study.stages:
        if stage.best_of is not None:
            chosen = _best_settings(stage, [r for r in runs if r.stage in stage.best_of["stage"]], results)
            if chosen is None:
                pending.append(stage.name)
                continue
        else:
            chosen = [{}]
        for setting in chosen:
            for grid in stage.grids:
                keys = list(grid)
                for values in itertools.product(*(grid[k] for k in keys)):
                    cfg = {**study.base, **setting, **dict(zip(keys, values))}
                    cfg = TrainConfig.from_dict(cfg).to_dict()
                    name = f"{stage.name}/{run_slug(cfg, list(keys) + list(setting))}"
                    cfg["name"] = name
                    if root is not None:
                        cfg["output"] = str(root)
                    key = _identity(cfg)
                    if any(r.name == name for r in runs):
                        raise StudyError(f"stage {stage.name!r}: two runs would be named {name}")
                    runs.append(Run(name, stage.name, cfg, same_as=by_identity.get(key)))
                    by_identity.setdefault(key, name)
    return runs, pending
