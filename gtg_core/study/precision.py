"""The paired precision check of a study's arithmetic (issue #25): the same setting, seeds and data trained in
fp32 and with bf16 autocast, compared on the held-out test split with the seed as the unit. Its Markdown for the
study folder: :func:`gtg_core.words.precision_markdown`."""

from __future__ import annotations

from . import stats
from .results import StudyResults
from .spec import StudyError


#: The paired precision check passes when the whole 95 % interval of bf16 - fp32 (test M1) lies within this
#: many Dice points of zero (issue #25: +-1 point).
PRECISION_MARGIN = 0.01


def precision_check(results: StudyResults, stage: str = "precision", *, margin: float = PRECISION_MARGIN,
                    n_draws: int = 2000, seed: int = 0) -> dict:
    """The paired check of a study's arithmetic: the runs of ``stage`` (one setting, the same seeds and data
    in fp32 and with bf16 autocast, ``amp`` false / true) compared on their held-out test split (M1, paired
    by seed and test volume: :func:`gtg_core.study.stats.compare`). Returns ``difference`` (bf16 - fp32,
    Dice), ``low`` / ``high`` (95 %), ``p_improvement``, ``seeds``, ``volumes``, ``passes`` (the interval
    inside +-``margin``), the mean training epoch and test-evaluation times of each arithmetic
    (``epoch_s``, ``wall_s``: s, from the runs' histories and metrics) and ``speedup`` (fp32 / bf16 wall time
    of a whole run), and ``table``: one row per arithmetic for the page."""
    import pandas as pd

    rows = results.stage_rows(stage)
    if rows is None or not len(rows):
        raise StudyError(f"{results.source}: no finished runs in stage {stage!r}")
    test = results.on_test_split()
    names = set(rows["run"])
    done = test.done[test.done["run"].isin(names)].assign(arithmetic=lambda d: d["amp"].map(
        {True: "bf16", False: "fp32", "True": "bf16", "False": "fp32"}))
    volumes = stats.per_volume(test.traces, done)
    volumes = volumes.merge(done[["run", "arithmetic"]], on="run")
    settings = stats.settings_from(volumes, "arithmetic", metrics=["M1_final_dice"])
    if set(settings) != {"bf16", "fp32"} or settings["bf16"].seeds != settings["fp32"].seeds:
        raise StudyError(f"{results.source}: stage {stage!r} needs both arithmetics on the same seeds "
                         f"(has {sorted(settings)})")
    r = stats.compare(settings, "bf16", "fp32", "M1_final_dice", n_draws=n_draws, seed=seed)  # P(improvement)
    test = stats.pair_test(settings["bf16"], settings["fp32"], "M1_final_dice")  # what decides
    r["low"], r["high"] = test.interval(0.95)
    histories = results.histories[results.histories["run"].isin(names)] if results.histories is not None else None
    table = []
    for arithmetic, group in done.groupby("arithmetic"):
        epoch = (histories[histories["run"].isin(group["run"])]["time_s"].mean() if histories is not None
                 else float("nan"))
        table.append({"arithmetic": arithmetic, "runs": len(group), "seeds": group["seed"].nunique(),
                      "test M1 (%)": 100 * group["M1_final_dice"].mean(), "epoch (s)": epoch,
                      "run wall time (s)": group["wall_time_s"].mean()})
    table = pd.DataFrame(table).set_index("arithmetic")
    return {"difference": r["difference"], "low": r["low"], "high": r["high"],
            "p_improvement": r["p_improvement"], "seeds": len(settings["fp32"].seeds),
            "volumes": len(settings["fp32"].volumes), "margin": margin,
            "passes": bool(-margin < r["low"] and r["high"] < margin),
            "epoch_s": table["epoch (s)"].to_dict(), "wall_s": table["run wall time (s)"].to_dict(),
            "speedup": float(table.loc["fp32", "run wall time (s)"] / table.loc["bf16", "run wall time (s)"]),
            "table": table}
