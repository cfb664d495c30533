"""Beyond the paper (gtg_core.beyond) on studies/beyond-quick.yml: the learned Eq. 6 against the fixed one,
and the ranking under another user, each read with intervals."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gtg_core import beyond, paper, study, words
from gtg_core.study import stats
from gtg_core.guidance import ADAPTIVE_A, ADAPTIVE_B

STUDIES = Path(__file__).resolve().parent.parent / "studies"
DRAWS = 300


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("beyond-quick")
    spec = study.load_study(STUDIES / "beyond-quick.yml")
    with pytest.warns(Warning):  # the tiny phantoms' SmallLabelWarning (and uniform Eq. 6 radii)
        out = study.run(spec, root, progress=False)
        assert not out["failed"]
        for user in ("center", "deepedit"):
            assert not study.evaluate_users(spec, root, user, progress=False)["failed"]
    return root, study.load_results(root)


def test_the_eq6_comparisons_are_the_paired_differences_of_the_runs(quick_results):
    root, res = quick_results
    table = beyond.eq6_comparisons(res, n_draws=DRAWS)
    assert [tuple(p) for p in table[["a", "b"]].to_numpy()] == list(beyond.EQ6_PAIRS)
    rows = res.stage_rows("eq6")
    m1 = rows.assign(encoding=beyond.encoding(rows)).groupby("encoding")["M1_final_dice"].mean()
    for _, r in table.iterrows():
        assert r["difference"] == pytest.approx(m1[r["a"]] - m1[r["b"]], abs=1e-9)
        assert r["low"] <= r["difference"] <= r["high"]
        assert r["adj_low"] <= r["low"] and r["high"] <= r["adj_high"]
        # the answer follows Holm's verdict: the interval at Holm's level, not the plain 95 % one
        expected = ("higher" if r["adj_low"] > 0 else "lower" if r["adj_high"] < 0 else None)
        assert r["answer"] == (f"{r['a']} {expected}" if expected else "no difference resolved")
    assert set(beyond.encoding(rows)) == {beyond.HEATMAP, beyond.FIXED, beyond.LEARNED, beyond.NO_FLOOR}
    frozen = rows[beyond.encoding(rows) == beyond.NO_FLOOR]
    assert len(frozen) == 2 and (frozen["radius_lr"] == 0).all()
    assert np.allclose(frozen[["learned_a", "learned_b"]].to_numpy(float), [ADAPTIVE_A, ADAPTIVE_B], atol=1e-5)
    steps = beyond.eq6_comparisons(res, "M3_step_time_s", n_draws=DRAWS)  # lower is better
    for _, r in steps.iterrows():
        if r["adj_low"] > 0:
            assert r["answer"] == f"{r['a']} higher (worse)"
        elif r["adj_high"] < 0:
            assert r["answer"] == f"{r['a']} lower (better)"
        else:
            assert r["answer"] == "no difference resolved"


def test_learned_constants_start_at_the_paper_and_end_at_the_saved_model(quick_results):
    root, res = quick_results
    constants = beyond.learned_constants(res)
    learned_runs = res.done[res.done["learn_radius"].fillna(False).astype(bool)]["run"]
    learned_runs = learned_runs[~learned_runs.str.contains("radius_lr0")]  # not the frozen control
    assert set(constants["run"]) == set(learned_runs) and len(learned_runs) == 2
    start = constants[constants["epoch"] == -1]
    assert (start["radius_a"] == ADAPTIVE_A).all() and (start["radius_b"] == ADAPTIVE_B).all()
    for run in learned_runs:
        saved = json.loads((root / run / "metrics.json").read_text())
        last = constants[(constants["run"] == run) & (constants["epoch"] == saved["best_epoch"])]
        assert last["radius_b"].item() == pytest.approx(saved["learned_radius"]["b"])
        assert res.done.set_index("run").loc[run, "learned_b"] == pytest.approx(saved["learned_radius"]["b"])


def test_the_user_table_reads_each_users_evaluation_of_the_same_models(quick_results):
    root, res = quick_results
    table = beyond.user_table(res, n_draws=DRAWS)
    assert len(table) == 4 * 3 and set(table["trained"]) == set(table["evaluated"]) == {"deepedit", "center"}
    deepedit_rows = res.stage_rows("deepedit")
    own = table[(table["trained"] == "deepedit") & (table["evaluated"] == "deepedit")].set_index("signal")
    m1 = deepedit_rows.groupby("signal")["M1_final_dice"].mean()
    for signal, value in m1.items():
        assert own.loc[signal, "estimate"] == pytest.approx(value, abs=1e-9)
    other = table[(table["trained"] == "deepedit") & (table["evaluated"] == "center")].set_index("signal")
    for signal, group in deepedit_rows.groupby("signal"):
        values = [json.loads((root / (r.same_as if isinstance(r.same_as, str) else r.run) / "user-center" /
                              "metrics.json").read_text())["metrics"]["M1_final_dice"] for r in group.itertuples()]
        assert other.loc[signal, "estimate"] == pytest.approx(np.mean(values), abs=1e-9)
    for _, cell in table.groupby(["trained", "evaluated"]):
        assert sorted(cell["rank"]) == list(range(1, 4)) or cell["estimate"].duplicated().any()


def test_a_user_compared_with_itself_keeps_every_place(quick_results):
    root, res = quick_results
    same = beyond.ranking_shift(res, ("deepedit", "deepedit"), ("deepedit", "deepedit"), n_draws=DRAWS)
    assert same["tau"] == 1.0 and same["tau_low"] == 1.0 and (same["pairs"]["swap"] == "no").all()
    assert np.allclose(same["gain"][["gain", "low", "high"]].to_numpy(), 0.0)
    other = beyond.ranking_shift(res, n_draws=DRAWS)
    assert -1.0 <= other["tau_low"] <= other["tau"] <= other["tau_high"] <= 1.0
    assert len(other["pairs"]) == 3 and set(other["pairs"]["swap"]) <= {"no", "unresolved", "resolved"}
    flips = np.sign(other["pairs"]["first"]) != np.sign(other["pairs"]["second"])
    assert ((other["pairs"]["swap"] != "no") == flips).all()
    pairs = other["pairs"]
    # a swap is resolved when the order flips and the gap's change (the interaction) is resolved after Holm
    assert ((pairs["swap"] == "resolved") == (flips & (pairs["p_holm"] < 0.05))).all()
    assert ((pairs["gap_change"] == "resolved") == (pairs["p_holm"] < 0.05)).all()
    assert np.allclose(pairs["interaction"], pairs["second"] - pairs["first"])
    assert (pairs["interaction_adj_low"] <= pairs["interaction_low"]).all()
    assert same["pairs"]["interaction"].abs().max() == 0.0 and (same["pairs"]["gap_change"] == "no").all()


def test_every_comparison_of_two_cells_is_the_difference_of_the_user_table(quick_results):
    root, res = quick_results
    users = beyond.user_table(res, n_draws=DRAWS).set_index(["trained", "evaluated", "signal"])
    users = users.sort_index()["estimate"]
    comparisons = beyond.user_comparisons(res, n_draws=DRAWS)
    assert list(comparisons) == list(beyond.USER_COMPARISONS)
    for key, shift in comparisons.items():
        assert (shift["first"], shift["second"]) == beyond.USER_COMPARISONS[key][1:]
        first, second = users.loc[shift["first"]], users.loc[shift["second"]]
        gain = shift["gain"].set_index("signal")
        for signal in gain.index:  # the gain is the second cell's mean minus the first's
            assert gain.loc[signal, "gain"] == pytest.approx(second[signal] - first[signal], abs=1e-9)
            assert gain.loc[signal, "low"] <= gain.loc[signal, "gain"] <= gain.loc[signal, "high"]
        for r in shift["pairs"].itertuples():
            assert r.first == pytest.approx(first[r.a] - first[r.b], abs=1e-9)
            assert r.second == pytest.approx(second[r.a] - second[r.b], abs=1e-9)
    table = words.comparison_table(comparisons)
    assert list(table.index) == [beyond.USER_COMPARISONS[key][0] for key in comparisons]
    for key, shift in comparisons.items():
        row, gain = table.loc[beyond.USER_COMPARISONS[key][0]], shift["gain"]
        assert row["from"] == beyond.cell_name(*shift["first"]) and row["to"] == beyond.cell_name(*shift["second"])
        assert row["pairs swapped"] == f"{int((shift['pairs']['swap'] != 'no').sum())} of 3"
        assert row["mean gain"].startswith(f"{100 * gain['gain'].mean():+.1f} [")
        assert shift["mean_gain_low"] <= shift["mean_gain"] <= shift["mean_gain_high"]
        up = list(gain.loc[(gain["verdict"] == "holds") & (gain["adj_low"] > 0), "signal"])
        assert row["resolved up"] == (", ".join(up) or "none")
    texts = words.comparison_texts(res, comparisons)
    facts = ("shift", "gain", "changes", "changes_count", "tau", "mean", "up", "down")
    assert set(texts) == {f"{key}_{fact}" for key in beyond.USER_COMPARISONS for fact in facts} | {"swaps_where"}
    for key, shift in comparisons.items():
        changed = shift["pairs"][shift["pairs"]["gap_change"] == "resolved"]
        assert texts[f"{key}_changes_count"] == str(len(changed))
        assert (texts[f"{key}_changes"] == "none") == changed.empty
    for key in comparisons:
        row = table.loc[beyond.USER_COMPARISONS[key][0]]
        assert (texts[f"{key}_tau"], texts[f"{key}_mean"], texts[f"{key}_down"]) == (
            row["tau_b"], row["mean gain"], row["resolved down"])
    assert texts["trained_for_center_gain"].startswith(
        "The center user clicking models trained with the center user instead of the deepedit user, per signal: ")
    assert texts["same_models_shift"].startswith(
        "Models trained with the deepedit user, clicked by the center user instead of the deepedit user: ")
    gain = comparisons["trained_for_center"]["gain"]
    resolved = int((gain["p_holm"] < 0.05).sum())
    assert texts["trained_for_center_gain"].endswith(f"resolved after Holm over the 3 signals: {resolved}.")


def test_kendall_tau_known_values():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert stats.kendall_tau(x, x) == 1.0
    assert stats.kendall_tau(x, -x) == -1.0
    assert stats.kendall_tau(x, np.array([2.0, 1.0, 3.0, 4.0])) == pytest.approx(4 / 6)
    tied = np.array([1.0, 1.0, 3.0, 4.0])
    assert stats.kendall_tau(tied, tied) == 1.0  # tau-b: ties do not lower a perfect agreement
    assert stats.kendall_tau(x, np.array([1.0, 1.0, 2.0, 3.0])) == pytest.approx(5 / np.sqrt(6 * 5))


def test_claims_per_user_agree_with_check_claims_for_the_runs_own_user(quick_results):
    root, res = quick_results
    mine = {v.claim: v for v in beyond.claims_by_user(res, "deepedit", "deepedit", n_draws=DRAWS)}
    rows = res.stage_rows("deepedit")
    theirs = {v.claim: v for v in paper.check_claims(rows, traces=res.traces, n_draws=DRAWS)}
    for claim in ("disks_fastest", "adaptive_best"):
        assert mine[claim].verdict == theirs[claim].verdict
        assert mine[claim].margin == pytest.approx(theirs[claim].margin)
    center = {v.claim: v for v in beyond.claims_by_user(res, "deepedit", "center", n_draws=DRAWS)}
    assert center["adaptive_best"].margin != pytest.approx(mine["adaptive_best"].margin)


def test_a_stage_is_read_only_when_whole(quick_results):
    import dataclasses

    root, res = quick_results
    assert beyond.trained_users(res) == ["deepedit", "center"]
    assert beyond.stage_progress(res, "center") == (6, 6)
    dropped = res.results["run"] == "center/disk-s1-t0-concat-p100-seed1-usercenter"
    assert dropped.sum() == 1
    partial = dataclasses.replace(res, results=res.results[~dropped], _by_user={})
    assert beyond.stage_progress(partial, "center") == (5, 6)
    assert beyond.trained_users(partial) == ["deepedit"]
    assert set(beyond.user_table(partial, n_draws=50)["trained"]) == {"deepedit"}
    comparisons = beyond.user_comparisons(partial, n_draws=50)
    assert list(comparisons) == ["same_models"]
    texts = words.comparison_texts(partial, comparisons)
    assert texts["own_benchmarks_shift"].startswith("Not measured yet. Finished: ")
    assert texts["own_benchmarks_mean"] == "(not measured yet)"
    assert texts["same_models_shift"].startswith("Models trained with the deepedit user")
    assert "center 5 of 6 runs; not read until whole: center" in words.progress_text(partial)


def test_the_texts_and_tables_of_the_chapter_say_what_the_numbers_say(quick_results):
    root, res = quick_results
    users = beyond.user_table(res, n_draws=DRAWS)
    wide = words.user_table_wide(users)
    assert list(wide.columns) == [beyond.cell_name(t, e) for t in ("deepedit", "center")
                                  for e in ("deepedit", "center")]
    own = users[(users["trained"] == "deepedit") & (users["evaluated"] == "deepedit")].set_index("signal")
    assert wide.loc["disk", "deepedit → deepedit"].startswith(f"{100 * own.loc['disk', 'estimate']:.1f} [")
    shift = beyond.ranking_shift(res, n_draws=DRAWS)
    facts = words.ranking_facts(users, shift)
    assert facts["own_spread"] == f"{100 * (own['estimate'].max() - own['estimate'].min()):.1f}"
    assert facts["swapped"] == f"{int((shift['pairs']['swap'] != 'no').sum())} of 3"
    learned = beyond.learned_mean(res)
    assert learned["runs"] == 2 and learned["b"] == pytest.approx(np.mean(learned["b_values"]))
    same = pd.DataFrame({"x → y": ["holds 0.1 [0.05, 0.2]"], "x → z": ["holds 0.2 [0.1, 0.3]"]}, index=["c"])
    assert words.claims_change_text(same) == "No verdict changes with the user who clicks."
    changed = same.assign(**{"x → z": ["does not hold -0.2 [-0.3, -0.1]"]})
    assert words.claims_change_text(changed) == "Verdicts that change with the user: c."


def test_the_figures_draw_every_cell_and_every_seed(quick_results):
    import matplotlib.pyplot as plt

    from gtg_core import viz

    root, res = quick_results
    fig = viz.user_interval_figure(beyond.user_table(res, n_draws=DRAWS))
    assert len(fig.axes[0].get_legend().get_texts()) == 4  # one entry per (trained, clicked by) cell
    fig2 = viz.learned_constants_figure(beyond.learned_constants(res))
    assert len(fig2.axes) == 2 and len(fig2.axes[0].lines) == 2 + 1  # two seeds and the paper's line
    plt.close("all")
