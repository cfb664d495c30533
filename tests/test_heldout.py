"""Table 3 on held-out volumes (#25 part 3): the test-split study read with known answers, and a page that
builds at every stage of the study (no test traces yet, in progress, complete)."""

import numpy as np
import pandas as pd

from gtg_core import heldout, words
from gtg_core.study import StudyResults

SIGNALS = {"disk": 0.80, "heatmap": 0.70, "edt": 0.75, "gdt": 0.74, "exp_gdt": 0.76, "adaptive_heatmap": 0.75}
#: The center user moves the heatmap above the disk on the same models and volumes.
CENTER = dict(SIGNALS, heatmap=0.86)


def _tables(means, *, seeds=(1, 2, 3), volumes=40, seed=0):
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 0.05, volumes)
    traces = []
    for signal, m1 in means.items():
        for s in seeds:
            run = f"table3/{signal}-seed{s}"
            finals = m1 + difficulty + rng.normal(0, 0.01, volumes) + 0.005 * s
            for v in range(volumes):
                for click, dice in ((-1, 0.3), (0, 0.5), (1, (0.5 + finals[v]) / 2), (2, finals[v])):
                    traces.append({"run": run, "volume": f"t{v}", "click": click, "dice": dice,
                                   "step_time_s": 0.01, "overlap": 0.5})
    return pd.DataFrame(traces)


def _study(with_traces=True):
    rows = []
    for signal in SIGNALS:
        for s in (1, 2, 3):
            rows.append({"run": f"table3/{signal}-seed{s}", "status": "done", "signal": signal,
                         "sigma": 0.0 if signal != "disk" else 5.0, "theta": 0.0, "variant": "paper",
                         "adaptor": "concat", "p_volume": 1.0, "seed": s, "user": "deepedit",
                         "M1_final_dice": 0.5, "test_M1_final_dice": SIGNALS[signal],
                         "test_center_M1_final_dice": CENTER[signal]})
    results = pd.DataFrame(rows)
    if not with_traces:
        return StudyResults("t", results)
    user = _tables(CENTER, seed=1).assign(eval_user="center")
    return StudyResults("t", results, test_traces=_tables(SIGNALS), test_user_traces=user)


def test_the_held_out_table3_ranks_decides_and_reads_the_other_user_on_the_same_volumes():
    report = words.heldout_report(_study(), n_draws=2000)  # Holm over 15 needs p < 0.05 / 15
    texts = report["texts"]
    assert texts["heldout_state"] == "18 of 18 runs finished, 3 seeds, 40 test volumes"
    assert "disk > heatmap (+10." in texts["heldout_ranking"]  # resolved: 10 points over 40 volumes
    assert report["pairs"].loc["disk - heatmap", "verdict"] == "disk better"
    assert "disk / heatmap" in texts["heldout_user_changes"] and "(order flips)" in texts["heldout_user_changes"]
    assert texts["heldout_user"].startswith("Kendall's tau-b") and "over 6 signals" in texts["heldout_user"]
    assert texts["heldout_smallest"].endswith("against the 2 points the study was sized for")
    assert float(report["table"].loc["disk", "our Dice %"]) == 80.0  # the runs' test M1, not their validation M1


def test_a_study_without_test_traces_yet_gives_every_text_the_page_glues():
    waiting = words.heldout_report(_study(with_traces=False))
    complete = words.heldout_report(_study(), n_draws=200)
    assert waiting["texts"].keys() == complete["texts"].keys()  # a book builds at every stage
    assert waiting["table"] is None and waiting["pairs"] is None
    assert waiting["texts"]["heldout_state"].endswith("its test traces are not collected yet")
    assert all(v.startswith("not measured yet") for k, v in waiting["texts"].items()
               if k not in ("heldout_state", "heldout_paragraph"))
    assert "nothing here is measured yet" in waiting["texts"]["heldout_paragraph"]
    assert complete["texts"]["heldout_ranking"] in complete["texts"]["heldout_paragraph"]


def test_the_reading_returns_numbers_and_tables_and_no_words():
    """heldout_reading is the analysis (its words are gtg_core.words.heldout_report): what the page says is
    computed there, and without test traces it says only how far the study is."""
    reading = heldout.heldout_reading(_study(), n_draws=200)
    assert (reading["done"], reading["planned"], reading["seeds"], reading["volumes"]) == (18, 18, 3, 40)
    assert reading["ranking"]["ours"][0] == "disk" and reading["ranking"]["compared"]
    assert reading["common"] == 6 and reading["shift"]["tau"] < 1  # the center user reorders the heatmap
    assert 0 < reading["smallest"]["estimate"] < 1
    assert not any(isinstance(v, str) for k, v in reading.items() if k != "user")
    waiting = heldout.heldout_reading(_study(with_traces=False))
    assert waiting == {"done": 18, "planned": 18, "collected": False, "user": "center"}
