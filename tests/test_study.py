"""Studies: planning the paper's grids, running and resuming from the filesystem, failures, Dask, collect."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from gtg_core import study, train
from gtg_core.cli import main

STUDIES = Path(__file__).resolve().parent.parent / "studies"


def quick():
    return study.load_study(STUDIES / "quick.yml")


@pytest.fixture(scope="module")
def quick_trained(tmp_path_factory):
    """studies/quick.yml trained once for the module; a test that only reads or adds to it takes a copy."""
    root = tmp_path_factory.mktemp("quick") / "q"
    out = study.run(quick(), root, progress=False)
    assert not out["failed"] and len(out["done"]) == 3
    return root


# ---------------------------------------------------------------------------------------------- planning


@pytest.mark.parametrize("name", ["paper-msd", "paper-autopet"])
def test_paper_files_expand_to_the_papers_grid(name):
    spec = study.load_study(STUDIES / f"{name}.yml")
    runs, pending = study.plan(spec)
    stage1 = [r for r in runs if r.stage == "stage1"]
    assert len(stage1) == 55 and pending == ["stage2"]  # 15 disk/heatmap/exp-GDT + 40 EDT/GDT (sigma, theta)
    assert len({r.name for r in runs}) == len(runs)
    assert "stage1/gdt-s5-t10-concat-p100" in {r.name for r in runs}
    assert {r.config["epochs"] for r in runs} == {100 if name == "paper-msd" else 20}
    # stage 2 from a crafted results table: GDT best at (5, 10), the others at sigma 1
    rows = []
    for r in stage1:
        c = r.config
        best = (c["sigma"], c["theta"]) == ((5.0, 10.0) if c["signal"] == "gdt" else (1.0, 10.0 if c["signal"] == "edt"
                                                                                       else 0.0))
        rows.append({"run": r.name, "stage": "stage1", "status": "done", "signal": c["signal"], "sigma": c["sigma"],
                     "theta": c["theta"], "M1_final_dice": 0.9 if best else 0.5})
    runs2, pending2 = study.plan(spec, results=pd.DataFrame(rows))
    stage2 = [r for r in runs2 if r.stage == "stage2"]
    assert pending2 == [] and len(stage2) == 45 and sum(r.same_as is None for r in stage2) == 40
    assert {(r.config["signal"], r.config["sigma"], r.config["theta"]) for r in stage2} == {
        ("disk", 1.0, 0.0), ("heatmap", 1.0, 0.0), ("exp_gdt", 1.0, 0.0), ("edt", 1.0, 10.0), ("gdt", 5.0, 10.0)}
    same = next(r for r in stage2 if r.name == "stage2/gdt-s5-t10-concat-p100")
    assert same.same_as == "stage1/gdt-s5-t10-concat-p100"
    assert len(runs2) == 55 + 45 + 2  # about 97 trainings: 55 + 40 new + the baseline and the adaptive heatmap
    assert [r.name for r in runs2[:55]] == [r.name for r in stage1]  # names are stable


def test_authors_file_pins_the_codes_values():
    runs, pending = study.plan(study.load_study(STUDIES / "authors-msd.yml"))
    assert len(runs) == 45 and not pending
    gdt = {r.config["theta"] for r in runs if r.config["signal"] == "gdt"}
    assert gdt == {30.0} and {r.config["lr"] for r in runs} == {1e-4}
    assert {r.config["variant"] for r in runs} == {"reference_code"}


@pytest.mark.parametrize("text, match", [
    ("name: x\nstages: []\n", "no stages"),
    ("name: x\nbase: {sigmaa: 1}\nstages: [{name: a, grid: {sigma: [1]}}]\n", "sigmaa"),
    ("name: x\nstages: [{name: a, grid: {sigma: 1}}]\n", "non-empty list"),
    ("name: x\nstages: [{name: a, best_of: {stage: b, metric: M1_final_dice}, grid: {}}]\n", "earlier stage"),
    ("name: x\nstages: [{name: a, grid: {}}, {name: a, grid: {}}]\n", "unique"),
    ("stages: [{name: a, grid: {}}]\n", "name"),
])
def test_bad_study_files_name_the_file_and_the_problem(tmp_path, text, match):
    path = tmp_path / "s.yml"
    path.write_text(text)
    with pytest.raises(study.StudyError, match=match) as info:
        study.load_study(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------------------- running


def _epochs(folder: Path) -> list:
    return list(pd.read_csv(folder / "history.csv")["epoch"])


def test_run_resume_after_interruptions_trains_every_run_once(tmp_path, monkeypatch):
    spec, root = quick(), tmp_path / "q"
    finished, real_fit = [], train.fit
    calls = {"n": 0}

    def fit(cfg, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the second run: killed inside its first epoch's end
            def die(epoch, row):
                raise KeyboardInterrupt("killed inside the second run")
            kw["on_epoch_end"] = die
        out = real_fit(cfg, **kw)
        finished.append(cfg.name)
        if calls["n"] == 1:
            raise KeyboardInterrupt("killed after the first run finished")
        return out

    monkeypatch.setattr(train, "fit", fit)
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            study.run(spec, root, progress=False)
    assert len(finished) == 1
    partial = [r for r in study.plan(spec, root)[0] if study.run_state(r, root)[0] == "partial"]
    assert len(partial) == 1 and study.run_state(partial[0], root)[1] == "1 of 2 epochs"
    states, real_state = [], study.runner.run_state
    monkeypatch.setattr(study.runner, "run_state", lambda r, rt: states.append(r.name) or real_state(r, rt))
    out = study.run(spec, root, progress=False)
    # two passes (the signals stage, then p once its source is done): the run done before this call is read once
    assert sorted(states) == sorted(set(states)) and len(states) == 3
    assert not out["failed"] and out["pending"] == []
    names = [r.name for r in study.plan(spec, root)[0]]
    assert len(names) == 3 and sorted(finished) == sorted(names)  # every run ended exactly once
    for name in names:
        assert _epochs(root / name) == [0, 1]
        assert not list((root / name).glob("*.part*")) and not (root / name / ".lock").exists()
    table = pd.read_csv(root / "results.csv")
    assert set(table["status"]) == {"done"} and len(table) == 3
    assert {"M1_final_dice", "M4_consistent_improvement", "NoC@90", "best_epoch", "git_commit", "device"} <= set(table)
    assert (root / "histories.csv").is_file() and (root / "traces.csv").is_file()
    finished.clear()
    assert study.run(spec, root, progress=False)["done"] == [] and finished == []  # done runs never train again


def test_a_failing_run_is_recorded_and_retried(tmp_path):
    base = study.study_from_dict({"name": "fail", "base": {**quick().base, "epochs": 1, "n_clicks": 1},
                                  "stages": [{"name": "a", "grid": {"signal": ["heatmap", "disk"]}}]})
    missing = tmp_path / "gone"
    missing.mkdir()
    # a dataset folder that disappears: the disk run points at a folder that is deleted before it runs
    base.stages[0].grids = [{"signal": ["heatmap"]}, {"signal": ["disk"], "dataset": [str(missing)]}]
    missing.rmdir()
    root = tmp_path / "root"
    out = study.run(base, root, progress=False)
    assert list(out["done"]) == ["a/heatmap-s1-t0-concat-p100"]
    assert list(out["failed"]) == ["a/disk-s1-t0-concat-p100-datasetgone"]  # a path field: its last part
    name = next(iter(out["failed"]))
    assert "gone" in out["failed"][name]
    assert json.loads((root / name / "failed.json").read_text())["error"]
    assert main(["study", "collect", str(root)]) == 0
    assert "failed" in set(pd.read_csv(root / "results.csv")["status"])
    # the next run retries it (and records the failure again, as the folder is still missing)
    retried = study.run(base, root, progress=False)
    assert list(retried["failed"]) == [name] and retried["done"] == []


def test_collect_reports_a_truncated_metrics_json(tmp_path):
    spec, root = quick(), tmp_path / "q"
    spec.stages = spec.stages[:1]
    spec.base = {**spec.base, "epochs": 1, "n_clicks": 1}
    study.run(spec, root, progress=False)
    path = root / "signals" / "disk-s1-t0-concat-p100" / "metrics.json"
    path.write_text(path.read_text()[:40])
    with pytest.warns(UserWarning, match="truncated"):
        table = study.collect(root)
    row = table.set_index("run").loc["signals/disk-s1-t0-concat-p100"]
    assert row["status"] == "unreadable" and "truncated" in row["error"]
    with pytest.warns(UserWarning):
        assert main(["study", "collect", str(root)]) == 1
    with pytest.raises(study.StudyError, match="unreadable"), pytest.warns(UserWarning):
        study.export(root, tmp_path / "out", spec)


def test_a_lock_held_by_a_live_process_keeps_the_run_from_training_twice(tmp_path):
    spec, root = quick(), tmp_path / "q"
    spec.stages = spec.stages[:1]
    spec.base = {**spec.base, "epochs": 1, "n_clicks": 1}
    runs, _ = study.plan(spec, root)
    folder = root / runs[0].name
    folder.mkdir(parents=True)
    (folder / ".lock").write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    out = study.run(spec, root, progress=False)
    assert out["skipped"] == [runs[0].name] and out["done"] == [runs[1].name]
    assert study.run_state(runs[0], root)[0] == "running"
    (folder / ".lock").write_text(json.dumps({"host": __import__("socket").gethostname(), "pid": 2 ** 22 + 1}))
    assert study.run_state(runs[0], root)[0] != "running"  # a dead process's lock is stale
    assert study.run(spec, root, progress=False)["done"] == [runs[0].name]


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_executors_rows(tmp_path, quick_trained):
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    spec = quick()
    shutil.copytree(quick_trained, tmp_path / "local")  # trained by the local executor
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        out = study.run(spec, tmp_path / "dask", client.get_executor(), threads=1, progress=False)
    assert not out["failed"] and len(out["done"]) == 3
    local = pd.read_csv(tmp_path / "local" / "results.csv").set_index("run").sort_index()
    dask = pd.read_csv(tmp_path / "dask" / "results.csv").set_index("run").sort_index()
    assert list(local.index) == list(dask.index)
    for col in ("M1_final_dice", "M2_initial_dice_with_seeds", "M4_consistent_improvement", "best_epoch"):
        pd.testing.assert_series_equal(local[col], dask[col], atol=1e-4, check_exact=False)


def test_cli_plan_run_collect(tmp_path, capsys):
    root = tmp_path / "q"
    assert main(["study", "plan", str(STUDIES / "quick.yml"), "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "signals/heatmap-s1-t0-concat-p100" in out and "to do" in out and "pending" in out
    assert main(["study", "run", str(STUDIES / "quick.yml"), "--root", str(root), "--quiet"]) == 0
    assert main(["study", "plan", str(STUDIES / "quick.yml"), "--root", str(root)]) == 0
    assert "3 done" in capsys.readouterr().out
    export = tmp_path / "export"
    assert main(["study", "collect", str(root), "--out", str(export), "--study", str(STUDIES / "quick.yml")]) == 0
    prov = json.loads((export / "provenance.json").read_text())
    assert prov["runs_done"] == 3 and prov["devices"] and prov["git_commits"] is not None
    assert prov["deviations_from_the_paper"] and (export / "study.yml").is_file()
    assert not list(export.glob("**/*.pt"))  # never models
    assert main(["study", "plan", str(tmp_path / "missing.yml")]) == 2
    other = tmp_path / "prepared"
    assert main(["study", "prepare", str(STUDIES / "quick.yml"), "--root", str(other)]) == 0
    assert list(other.glob("_data/*/dataset.json")) and list(other.glob("_data/*/_preprocessed/*.pt"))


def test_every_torch_load_refuses_pickled_code(tmp_path):
    """Issue 11: a model.pt from someone else must not run code when loaded."""
    spec, root = quick(), tmp_path / "q"
    spec.stages = spec.stages[:1]
    spec.base = {**spec.base, "epochs": 1, "n_clicks": 1}
    study.run(spec, root, progress=False)
    run = root / "signals" / "heatmap-s1-t0-concat-p100"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"model": Evil()}, run / "model.pt")
    with pytest.raises(Exception, match="(?i)weights_only|unpickl|global"):
        train.evaluate(run)
    assert not marker.exists()
    shutil.rmtree(run / "checkpoint.pt", ignore_errors=True)


def test_executor_specs_are_checked():
    with pytest.raises(ValueError, match="unknown executor 'gpu'"):
        study.make_executor("gpu")
    with pytest.raises(ValueError, match="local:N"):
        study.make_executor("local:0")
    executor, threads, close = study.make_executor("local:1")
    assert executor is None and threads >= 1  # one worker runs in this process
    close()


def test_crop_shape_is_validated(tmp_path):
    with pytest.raises(ValueError, match="crop_shape"):
        train.TrainConfig(crop_shape=(30, 32, 16), filters=(8, 16, 32), output=str(tmp_path)).validate()
    with pytest.raises(ValueError, match="target_shape"):
        train.TrainConfig(target_shape="big", output=str(tmp_path)).validate()


def test_load_results_reads_a_folder_or_its_csv_and_names_what_is_missing(tmp_path):
    import pandas as pd

    results = pd.DataFrame({"run": ["a/x", "a/y", "a/z"], "status": ["done", "done", "failed"],
                            "signal": ["disk", "disk", "gdt"], "git_commit": ["abcdef123", "abcdef123", None],
                            "device": ["cpu", "cpu", None]})
    # run a/x: two volumes; run a/y: one volume; click -1 (no guidance) must be ignored
    traces = pd.DataFrame({"run": ["a/x"] * 6 + ["a/y"] * 3,
                           "volume": ["v1", "v1", "v1", "v2", "v2", "v2", "v1", "v1", "v1"],
                           "click": [-1, 0, 1, -1, 0, 1, -1, 0, 1],
                           "dice": [0.0, 0.2, 0.6, 0.0, 0.4, 0.8, 0.0, 0.5, 0.9]})
    results.to_csv(tmp_path / "results.csv", index=False)
    traces.to_csv(tmp_path / "traces.csv", index=False)
    (tmp_path / "provenance.json").write_text(json.dumps({"study": "mini", "devices": ["cpu (x86_64)"]}))
    loaded = study.load_results(tmp_path)
    assert len(loaded.done) == 2 and loaded.histories is None
    line = loaded.provenance_line()
    assert "study mini" in line and "2 of 3 runs done" in line and "abcdef1" in line and "cpu (x86_64)" in line
    assert len(study.load_results(tmp_path / "results.csv").results) == 3
    results.assign(p_volume=[1.0, 0.0, 1.0]).to_csv(tmp_path / "results.csv", index=False)
    assert study.load_results(tmp_path).done_by_signal["signal"].tolist() == ["disk", "non_interactive"]
    results.to_csv(tmp_path / "results.csv", index=False)
    curves = study.dice_curves(loaded.traces, loaded.results)
    # per run first (x: 0.3, 0.7; y: 0.5, 0.9), then over runs
    assert list(curves.index) == [0, 1] and list(curves.columns) == ["disk"]
    assert curves["disk"].tolist() == pytest.approx([0.4, 0.8])
    with pytest.raises(FileNotFoundError, match="study_results .*nowhere"):
        study.load_results(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(study.StudyError, match="no results.csv"):
        study.load_results(tmp_path / "empty")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(study.StudyError, match="not a study's results table"):
        study.load_results(tmp_path / "other.csv")
    with pytest.raises(study.StudyError, match="traces"):
        study.dice_curves(None, loaded.results)


def test_metrics_by_convention_reads_each_trace_at_click_10_and_at_click_9():
    """The paper's M1 is the Dice after N = 10 clicks, the authors' code's after j = 9: on a trace whose
    last click drops the Dice the two differ by exactly that drop."""
    rows = []
    for run, last in (("r/a", 0.70), ("r/b", 0.90)):
        dice = [0.0, 0.5, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.80, last]  # clicks -1 .. 10
        for click, d in zip(range(-1, 11), dice):
            rows.append({"run": run, "volume": "v", "click": click, "dice": d, "overlap": 1.0,
                         "step_time_s": 0.01, "signal_time_s": 0.001})
    traces = pd.DataFrame(rows)
    results = pd.DataFrame({"run": ["r/a", "r/b"], "status": ["done", "done"], "signal": ["gdt", "gdt"],
                            "p_volume": [1.0, 1.0], "n_clicks": [10, 10]})
    table = study.metrics_by_convention(traces, results)
    assert table.loc["gdt", ("M1_final_dice", "paper")] == pytest.approx((0.70 + 0.90) / 2)
    assert table.loc["gdt", ("M1_final_dice", "reference_code")] == pytest.approx(0.80)
    # M4: paper 10 transitions (9 rises; run a's last one falls), code 9 transitions (all rise)
    assert table.loc["gdt", ("M4_consistent_improvement", "paper")] == pytest.approx((9 / 10 + 10 / 10) / 2)
    assert table.loc["gdt", ("M4_consistent_improvement", "reference_code")] == pytest.approx(1.0)
    assert table.loc["gdt", "runs"].item() == 2
    with pytest.raises(study.StudyError, match="traces"):
        study.metrics_by_convention(None, results)


def test_a_deviation_that_yaml_reads_as_a_mapping_is_an_error_naming_the_file(tmp_path):
    """An unquoted "- 2 epochs (the paper: 100)" is a mapping in YAML: the book printed it as one."""
    path = tmp_path / "s.yml"
    path.write_text("name: s\ndeviations:\n  - 2 epochs (the paper: 100 epochs)\nbase: {}\n"
                    "stages:\n  - name: a\n    grid: {sigma: [1]}\n")
    with pytest.raises(study.StudyError, match=r"s\.yml: each deviation must be a sentence"):
        study.load_study(path)
    path.write_text(path.read_text().replace("- 2 epochs (the paper: 100 epochs)", '- "2 epochs (the paper: 100)"'))
    assert study.load_study(path).deviations == ["2 epochs (the paper: 100)"]


def test_finished_keeps_the_done_rows_and_passes_other_tables_through():
    table = pd.DataFrame({"run": ["a", "b", "c"], "status": ["done", "failed", "done"]})
    assert study.finished(table)["run"].tolist() == ["a", "c"]
    assert study.finished(None) is None
    plain = pd.DataFrame({"run": ["a"]})
    assert study.finished(plain) is plain


def test_the_quick_study_reports_on_a_held_out_test_split(tmp_path, capsys, quick_trained):
    """Selection on validation, the report on test: both in metrics.json and results.csv, the volumes of
    each split named; `gtg evaluate RUN --split test` reproduces the test metrics from the saved model."""
    quick = study.load_study(STUDIES / "quick.yml")
    assert quick.base["test_cases"] == 2
    shutil.copytree(quick_trained, tmp_path, dirs_exist_ok=True)
    assert study.run(quick, tmp_path, progress=False)["done"] == []  # the copy is the trained study
    table = study.collect(tmp_path)
    done = table[table["status"] == "done"]
    assert len(done) == 3 and done["test_M1_final_dice"].notna().all() and (done["test_volumes"] == 2).all()
    assert (tmp_path / "test_traces.csv").is_file()
    run = tmp_path / done["run"].iloc[0]
    saved = json.loads((run / "metrics.json").read_text())
    train_ids, val_ids, test_ids = set(saved["train_cases"]), set(saved["val_cases"]), set(saved["test_cases"])
    assert len(test_ids) == 2 and not test_ids & (train_ids | val_ids) and len(val_ids) == 1
    assert saved["test_metrics"]["M1_final_dice"] == pytest.approx(
        done.set_index("run").loc[done["run"].iloc[0], "test_M1_final_dice"])
    assert main(["evaluate", str(run), "--split", "test"]) == 0
    again = json.loads((run / "test" / "metrics.json").read_text())
    assert again["metrics"]["M1_final_dice"] == pytest.approx(saved["test_metrics"]["M1_final_dice"])
    assert sorted(again["test_cases"]) == sorted(test_ids)
    res = study.load_results(tmp_path)
    assert res.test_traces is not None and set(res.test_traces["volume"]) == test_ids


def test_a_folder_dataset_holds_its_test_cases_out_of_the_80_20_split():
    cfg = train.TrainConfig(test_cases=3, data_seed=36)
    volumes = [train.Volume(f"case_{i}", None, None, (1, 1, 1)) for i in range(12)]
    rest, test = train.hold_out_test(volumes, cfg)
    assert len(test) == 3 and len(rest) == 9 and not {v.id for v in test} & {v.id for v in rest}
    assert [v.id for v in train.hold_out_test(volumes, cfg)[1]] == [v.id for v in test]  # seeded
    with pytest.raises(ValueError, match="test_cases 11"):
        train.hold_out_test(volumes, train.TrainConfig(test_cases=11))
    with pytest.raises(ValueError, match="split"):
        train.evaluate(STUDIES, split="holdout")


def test_runs_of_a_study_made_before_test_cases_existed_stay_done(tmp_path):
    from gtg_core.study import spec

    cfg = train.TrainConfig(name="s/a", output=str(tmp_path)).to_dict()
    older = {k: v for k, v in cfg.items() if k != "test_cases"}  # a metrics.json written before the field
    assert spec._identity(older) == spec._identity(cfg)
    assert spec._identity({**cfg, "test_cases": 2}) != spec._identity(cfg)


def test_another_user_evaluates_the_saved_models(tmp_path, capsys, quick_trained):
    """`gtg study evaluate --user center`: every done run's saved model, its validation volumes, nothing
    trained; resumable; collected into user_traces.csv and read per user by StudyResults.clicked_by."""
    file = str(STUDIES / "quick.yml")
    q = quick()
    shutil.copytree(quick_trained, tmp_path, dirs_exist_ok=True)
    runs = [r for r in study.plan(q, tmp_path)[0] if r.same_as is None]
    folders = [r.folder(tmp_path) for r in runs]
    models = [(f / "model.pt").read_bytes() for f in folders]
    assert main(["study", "evaluate", file, "--root", str(tmp_path), "--user", "center", "--quiet"]) == 0
    assert "3 now" in capsys.readouterr().out
    assert [(f / "model.pt").read_bytes() for f in folders] == models  # nothing trained
    assert not list(tmp_path.glob("*/_data"))  # the study's own phantoms were read, not written again
    moved = False
    for folder in folders:
        own, other = pd.read_csv(folder / "trace.csv"), pd.read_csv(folder / "user-center" / "trace.csv")
        pair = own.merge(other, on=["volume", "click"], suffixes=("_own", "_center"))
        assert len(pair) == len(own) == len(other)  # the same volumes and clicks counted
        no_guidance = pair[pair["click"] == -1]
        assert (no_guidance["dice_own"] == no_guidance["dice_center"]).all()  # the same model on the same volume
        moved |= bool((pair["new_fg_own"].astype(str) != pair["new_fg_center"].astype(str)).any())
        saved = json.loads((folder / "user-center" / "metrics.json").read_text())
        assert saved["evaluated_with_user"] == "center" and saved["trained_with_user"] == "deepedit"
    assert moved  # the center user clicked elsewhere than the DeepEdit user somewhere
    user_traces = pd.read_csv(tmp_path / "user_traces.csv")
    assert set(user_traces["eval_user"]) == {"center"} and user_traces["run"].nunique() == 3
    assert main(["study", "evaluate", file, "--root", str(tmp_path), "--user", "center", "--quiet"]) == 0
    assert "0 now" in capsys.readouterr().out  # resumes: every run was evaluated already
    res = study.load_results(tmp_path)
    assert res.clicked_by("deepedit")["run"].nunique() == 3
    by_center = res.clicked_by("center")
    assert sorted(by_center["run"].unique()) == sorted(res.done["run"])
    assert by_center["dice"].tolist() == user_traces["dice"].tolist()
    center = res.settings(user="center")
    own = res.settings()
    assert set(center) == set(own)
    # a run whose model is missing (a study that came back without models) is reported, not skipped
    shutil.rmtree(folders[0] / "user-center")
    (folders[0] / "model.pt").unlink()
    assert main(["study", "evaluate", file, "--root", str(tmp_path), "--user", "center", "--quiet"]) == 1
    assert "model.pt is missing" in capsys.readouterr().err
    with pytest.raises(ValueError, match="user"):
        train.evaluate(folders[1], user="oracle")
    with pytest.raises(ValueError, match="user"):  # another user clicks the run's own cases, not a dataset's
        train.evaluate(folders[1], user="center", dataset=str(tmp_path))


def test_a_study_resumes_on_a_fresh_machine_from_its_committed_runs(tmp_path, capsys, monkeypatch, quick_trained):
    """What a study longer than a session commits (collect --out --runs) brings it back on a machine that has
    only the commit: restore, then run trains what is missing and nothing else."""
    file, root, out = str(STUDIES / "quick.yml"), tmp_path / "machine-1", tmp_path / "committed"
    shutil.copytree(quick_trained, root)  # the study as machine 1 trained it
    assert main(["study", "collect", str(root), "--out", str(out), "--study", file, "--runs"]) == 0
    archives = sorted(p.relative_to(out / "runs").as_posix() for p in (out / "runs").glob("*/*.tar.gz"))
    assert len(archives) == 3 and not list(out.glob("**/*.pt"))
    again = {p: p.read_bytes() for p in (out / "runs").glob("*/*.tar.gz")}
    assert study.archive_runs(root, out) == []  # the same files give the same bytes: nothing rewritten
    assert all(p.read_bytes() == b for p, b in again.items())
    # the session ended before stage p finished: its archive never landed
    (out / "runs" / "p").joinpath(Path(archives[0]).name).unlink()
    fresh = tmp_path / "machine-2"
    capsys.readouterr()
    assert main(["study", "restore", str(out), "--root", str(fresh)]) == 0
    assert "restored 2 finished run(s)" in capsys.readouterr().out
    restored = {r.name: study.run_state(r, fresh)[0] for r in study.plan(study.load_study(file), fresh)[0]}
    assert sorted(restored.values()) == ["done", "done", "to do"]  # best_of plans stage p from the restored runs
    for name, state in restored.items():
        if state == "done":
            for part in ("metrics.json", "trace.csv", "history.csv", "test/trace.csv"):
                assert (fresh / name / part).read_bytes() == (root / name / part).read_bytes()
            assert not (fresh / name / "model.pt").exists()
    trained, real_fit = [], train.fit
    monkeypatch.setattr(train, "fit", lambda cfg, **kw: trained.append(cfg.name) or real_fit(cfg, **kw))
    out_run = study.run(study.load_study(file), fresh, progress=False)
    assert trained == out_run["done"] == [n for n, s in restored.items() if s == "to do"]
    # a run folder the study folder holds already is left alone; a foreign archive is refused
    assert study.restore_runs(out, fresh) == []
    bad = tmp_path / "bad"
    (bad / "runs" / "s").mkdir(parents=True)
    import io
    import tarfile

    with tarfile.open(bad / "runs" / "s" / "x.tar.gz", "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("../evil.py"), io.BytesIO(b""))
    with pytest.raises(study.StudyError, match="not a run archive"):
        study.restore_runs(bad, tmp_path / "machine-3")
    with pytest.raises(study.StudyError, match="no run archives"):
        study.restore_runs(tmp_path / "machine-3", tmp_path / "machine-4")


def test_a_study_edited_after_its_runs_finished_says_so(tmp_path, quick_trained):
    file, root = tmp_path / "q.yml", tmp_path / "q"
    text = (STUDIES / "quick.yml").read_text()
    file.write_text(text)
    shutil.copytree(quick_trained, root)  # its runs finished
    assert {study.run_state(r, root)[0] for r in study.plan(study.load_study(file), root)[0]} == {"done"}
    file.write_text(text.replace("lr: 0.003", "lr: 0.002"))
    edited = study.load_study(file)
    states = [study.run_state(r, root) for r in study.plan(edited, root)[0]]
    assert {s for s, _ in states} == {"failed"}  # not "partial, 2 of 2 epochs"
    assert all("lr differ" in detail and "study file changed" in detail for _, detail in states)


def test_best_of_errors_name_the_stage_and_the_problem():
    first = {"name": "signals", "grid": {"signal": ["disk", "heatmap"], "sigma": [1]}}
    runs, _ = study.plan(study.study_from_dict({"name": "x", "base": {}, "stages": [first]}))
    results = pd.DataFrame({"run": [r.name for r in runs], "status": "done", "signal": ["disk", "heatmap"],
                            "sigma": 1.0, "theta": 0.0, "M1_final_dice": [0.5, 0.6]})
    spec = study.study_from_dict({"name": "x", "base": {}, "stages": [
        first, {"name": "next", "best_of": {"stage": "signals", "metric": "M1_final_dice", "take": ["signal"],
                                            "where": {"signal": ["gdt"]}}, "grid": {"seed": [1]}}]})
    with pytest.raises(study.StudyError, match="stage 'next': no run of .* matches where"):
        study.plan(spec, results=results)
    spec.stages[1].best_of.update(where={}, metric="M9")
    with pytest.raises(study.StudyError, match="stage 'next': results have no metric 'M9'"):
        study.plan(spec, results=results)
    with pytest.raises(study.StudyError, match="two runs would be named s/disk"):
        study.plan(study.study_from_dict({"name": "x", "base": {}, "stages": [
            {"name": "s", "grids": [{"signal": ["disk"]}, {"signal": ["disk"], "theta": [0]}]}]}))
