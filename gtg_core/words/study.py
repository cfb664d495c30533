"""The words of the study pages and commands: a comparison in one line, a study's cost in one sentence, and the
precision check's Markdown that a study folder commits."""

from __future__ import annotations


def comparison_text(result: dict, *, scale: float = 100.0, unit: str = "points") -> str:
    """:func:`gtg_core.study.stats.compare`'s result as one line: "a against b: +4.3 points [+0.7, +8.6],
    P(improvement) 0.68 [0.42, 0.92]" (differences times ``scale``, in ``unit``)."""
    r = result
    return (f"{r['a']} against {r['b']}: {scale * r['difference']:+.1f} {unit} [{scale * r['low']:+.1f}, "
            f"{scale * r['high']:+.1f}], P(improvement) {r['p_improvement']:.2f} [{r['p_low']:.2f}, {r['p_high']:.2f}]")


def duration_text(hours: float) -> str:
    """A duration in the unit that reads: hours from one hour up, else minutes, else seconds."""
    if hours >= 1:
        return f"{hours:.3g} h"
    return f"{60 * hours:.2g} min" if hours >= 1 / 60 else f"{3600 * hours:.2g} s"


def cost_text(cost: dict) -> str:
    """:func:`gtg_core.study.cost.study_cost` in one sentence."""
    low, high = (duration_text(h) for h in cost["per_run_hours"])
    each = f"{low} a run" if low == high else f"{low} to {high} a run"
    text = (f"about {duration_text(cost['hours'])} of training for {cost['runs']} runs on {cost['device']} "
            f"({each}), from {cost['table']} scaled to the runs' volumes ({cost['sizes']}) and networks")
    if cost["lower_bound"]:
        text += "; a lower bound: runs far below the benchmark's scale are dominated by fixed costs"
    return text


def precision_markdown(results, check: dict) -> str:
    """:func:`gtg_core.study.precision_check`'s answer as the Markdown a study's folder commits: the decision, the
    paired difference with its interval, and the times of each arithmetic, with the runs' devices and commits."""
    done = results.done
    devices = ", ".join(sorted({str(d) for d in done.get("device", [])})) or "unknown"
    commits = ", ".join(sorted({str(c)[:7] for c in done.get("git_commit", [])})) or "unknown"
    verdict = ("passes: bf16 autocast may be used" if check["passes"] else
               "does not pass: the study runs in fp32")
    table = check["table"].round(3).to_markdown()
    return (f"# Precision check of {results.study.name if results.study else results.source}\n\n"
            f"bf16 autocast against fp32, the same seeds and data ({check['seeds']} seeds), on the held-out test "
            f"split ({check['volumes']} volumes), test M1 paired by seed and volume "
            f"(gtg_core.study.precision_check, 95 % t interval with the seed as the unit, "
            f"gtg_core.study.seedtest):\n\n"
            f"- bf16 - fp32: {100 * check['difference']:+.2f} Dice points [{100 * check['low']:+.2f}, "
            f"{100 * check['high']:+.2f}], P(bf16 beats fp32) {check['p_improvement']:.2f}\n"
            f"- rule: the whole interval within +-{100 * check['margin']:g} point(s): **{verdict}**\n"
            f"- a whole run (train, validate, test with both users) took {check['speedup']:.2f}x as long in fp32\n\n"
            f"{table}\n\ndevices: {devices}; commits: {commits}\n")


def _setting_name(setting: str) -> str:
    """``"disk|5"`` -> ``"disk (sigma 5)"``: a setting of :func:`gtg_core.study.length.validation_curves`."""
    signal, _, sigma = setting.partition("|")
    return f"{signal} (sigma {sigma})" if sigma else signal


def length_choice_text(choice: dict) -> str:
    """:func:`gtg_core.study.length.chosen_length`'s answer in one sentence: the length, which setting
    decided it, or that a setting never levelled off."""
    per = choice["per_setting"]
    if not choice["levelled"]:
        rising = ", ".join(_setting_name(s) for s, v in per.items() if v is None)
        return (f"The rule found no length at which {rising} levelled off within the {choice['longest']} epochs "
                f"trained, so it takes the longest, {choice['longest']} epochs, said as not levelled off.")
    each = " and ".join(f"{_setting_name(s)} after {v} epoch{'s' if v != 1 else ''}" for s, v in per.items())
    return (f"The rule stops at {choice['length']} epochs: by its criterion, {each} had levelled off; the "
            "latest of them decides.")


def design_display(designs, *, scale: float = 100.0):
    """:func:`gtg_core.study.cost.budget_designs`' table as a page shows it: worker hours rounded, the
    resolvable differences times ``scale`` (Dice points) to one decimal, "not testable" below two seeds."""
    def points(value):
        return f"{scale * value:.1f}" if value != float("inf") else "not testable"

    return designs.assign(**{"worker hours": designs["worker hours"].round().astype(int),
                             "resolves (points)": designs["detectable"].map(points),
                             "at the upper end": designs["detectable (upper end)"].map(points)}
                          ).drop(columns=["detectable", "detectable (upper end)"])
