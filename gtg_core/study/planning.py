"""Planning a study: which runs its stages make now (``best_of`` stages once their sources are done), their
names and the runs that share a model (``same_as``), and what each ``best_of`` chose by how much.

:mod:`gtg_core.study.spec` reads and checks a study file; this module turns it into runs, reading the study
folder's results (:func:`gtg_core.study.collect`) for the ``best_of`` choices.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from .spec import NAME_FIELDS, Stage, Study, StudyError, _identity


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
    default collected from ``root`` when it exists. Every planned configuration is validated
    (:meth:`gtg_core.train.TrainConfig.validate`, ``here=False``): a misspelt signal or a rule between fields
    broken is a :class:`StudyError` naming the stage, the run's grid values and the field, before anything
    trains.
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
                    try:
                        checked = TrainConfig.from_dict(cfg).validate(here=False)
                    except ValueError as exc:  # named now, not when the run's turn comes hours later
                        where = ", ".join(f"{k}={v}" for k, v in zip(keys, values))
                        raise StudyError(f"stage {stage.name!r}, run {where or 'of the base'}: {exc}") from None
                    cfg = checked.to_dict()
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
