"""The held-out test split of a study whose seeds draw their own data (issue #25): the same test volumes for
every run, apart from every training set; another user clicking them; bf16 autocast on the CPU recorded."""

import json

import pandas as pd
import pytest
import torch

from gtg_core import train, words
from gtg_core.study import spec
from gtg_core.study.collect import collect
from gtg_core.train import TrainConfig


def tiny(tmp_path, **kw):
    base = dict(name="tiny", signal="disk", sigma=2, epochs=1, lr=3e-3, n_cases=4, phantom_shape=(32, 32, 16),
                target_shape=(32, 32, 16), filters=(4, 8, 16), n_clicks=2, output=str(tmp_path), device="cpu",
                seed=0, data_seed=0, test_cases=2, test_data_seed=500, test_users=("center",))
    base.update(kw)
    return TrainConfig(**base)


def test_the_test_phantoms_follow_test_data_seed_not_data_seed(tmp_path):
    one, other = tiny(tmp_path, data_seed=100), tiny(tmp_path, data_seed=200)
    assert train.held_out_folder(one) == train.held_out_folder(other)
    a = train.held_out_volumes(one, "cpu")
    b = train.held_out_volumes(other, "cpu")
    assert [v.id for v in a] == [v.id for v in b] == ["spleen_ct_004", "spleen_ct_005"]
    assert all(torch.equal(x.image, y.image) for x, y in zip(a, b))
    # training data differ between the two data seeds, and no test volume is a training volume
    train_a, train_b = train.load_volumes(one, "cpu"), train.load_volumes(other, "cpu")
    assert not torch.equal(train_a[0].image, train_b[0].image)
    assert not any(torch.equal(t.image, x.image) for t in train_a + train_b for x in a)
    # without test_data_seed the test phantoms continue the training set's seeds, as before
    legacy = tiny(tmp_path, data_seed=100, test_data_seed=None)
    assert train.test_seed(legacy) == 100 and "seed100-from4" in train.held_out_folder(legacy).name


def test_a_folder_datasets_test_cases_follow_test_data_seed():
    volumes = list(range(20))
    _, test_a = train.hold_out_test(volumes, TrainConfig(test_cases=4, data_seed=1, test_data_seed=7))
    _, test_b = train.hold_out_test(volumes, TrainConfig(test_cases=4, data_seed=2, test_data_seed=7))
    _, test_c = train.hold_out_test(volumes, TrainConfig(test_cases=4, data_seed=1))
    assert test_a == test_b and test_a != test_c


@pytest.mark.parametrize("fields, match", [
    ({"test_users": ("nobody",)}, "test_users"),
    ({"test_users": ("deepedit",)}, "run's own user"),
    ({"test_users": ("center", "center")}, "repeat"),
    ({"test_users": "center"}, "list"),
    ({"test_cases": 0}, "set test_cases"),
    ({"test_data_seed": -1}, "test_data_seed"),
    ({"amp": "yes"}, "amp"),
])
def test_bad_test_split_fields_are_errors_naming_them(tmp_path, fields, match):
    with pytest.raises(ValueError, match=match):
        tiny(tmp_path, **fields).validate()


def test_a_run_with_test_users_and_bf16_writes_both_users_test_results(tmp_path):
    cfg = tiny(tmp_path, amp=True, name="stage/tiny")  # a study's run name: collect finds stage/run folders
    run = train.fit(cfg, progress=False)
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["resolved"]["precision"] == "bf16 autocast"
    own = pd.read_csv(run / "test" / "trace.csv")
    center = pd.read_csv(run / "test" / "user-center" / "trace.csv")
    assert set(own["volume"]) == set(center["volume"]) == set(saved["test_cases"])
    center_json = json.loads((run / "test" / "user-center" / "metrics.json").read_text())
    assert center_json["evaluated_with_user"] == "center" and center_json["trained_with_user"] == "deepedit"
    assert center_json["config"]["user"] == "center"
    assert saved["test_user_metrics"]["center"]["M1_final_dice"] == center_json["metrics"]["M1_final_dice"]
    # the seed clicks are the user's own (deepedit and center place the first click alike); later clicks differ
    assert not own[["new_fg", "new_bg"]].astype(str).equals(center[["new_fg", "new_bg"]].astype(str))
    # gtg evaluate --split test --user center recomputes the same trace from the saved model
    again = train.evaluate(run, split="test", user="center")
    assert again["metrics"]["M1_final_dice"] == pytest.approx(center_json["metrics"]["M1_final_dice"])
    # collected: the other user's test metrics in results.csv, its clicks in test_user_traces.csv
    row = collect(tmp_path).set_index("run").loc["stage/tiny"]
    table = pd.read_csv(tmp_path / "test_user_traces.csv")
    assert set(table["eval_user"]) == {"center"} and len(table) == len(center)
    assert row["test_center_M1_final_dice"] == center_json["metrics"]["M1_final_dice"]
    assert row["test_M1_final_dice"] == saved["test_metrics"]["M1_final_dice"]


def test_fp32_runs_record_their_precision_and_new_fields_leave_old_identities_alone(tmp_path):
    assert train.resolved(tiny(tmp_path))["precision"] == "fp32"
    cfg = TrainConfig().to_dict()
    older = {k: v for k, v in cfg.items() if k not in ("test_data_seed", "test_users")}
    assert spec._identity(cfg) == spec._identity(older)
    assert spec._identity({**cfg, "test_users": ["center"]}) != spec._identity(cfg)


def test_a_study_read_on_its_test_split_by_either_user(tmp_path):
    """StudyResults.on_test_split: every reader works on the test volumes, also as another user clicked them."""
    from gtg_core.study import export, load_results

    for seed in (0, 1):
        train.fit(tiny(tmp_path / "root", name=f"s/run{seed}", seed=seed), progress=False)
    export(tmp_path / "root", tmp_path / "out")
    res = load_results(tmp_path / "out")
    test = res.on_test_split()
    assert set(test.done["run"]) == {"s/run0", "s/run1"}
    assert (test.done["M1_final_dice"].to_numpy() == res.done["test_M1_final_dice"].to_numpy()).all()
    assert set(test.traces["volume"]) == set(res.test_traces["volume"]) != set(res.traces["volume"])
    center = res.on_test_split("center")
    assert (center.done["M1_final_dice"].to_numpy() == res.done["test_center_M1_final_dice"].to_numpy()).all()
    assert len(center.traces) == len(res.test_user_traces) and "eval_user" not in center.traces
    # the per-volume values average to the run's test metrics (the readers' path)
    from gtg_core.study import stats
    volumes = stats.per_volume(center.traces, center.done)
    assert volumes.groupby("run")["M1_final_dice"].mean().to_numpy() == pytest.approx(
        center.done.set_index("run").loc[sorted(volumes["run"].unique()), "M1_final_dice"].to_numpy())
    assert "test split, clicked by center" in str(center.source)


def _precision_study(shift, noise, tmp_path):
    """A fabricated study of the precision stage: fp32 and bf16 runs of three seeds, their test traces with
    a known per-volume shift of bf16 against fp32 (Dice)."""
    import numpy as np

    from gtg_core.study import StudyResults, plan, study_from_dict

    spec = study_from_dict({"name": "p", "base": {"signal": "disk", "sigma": 5, "test_cases": 20},
                            "stages": [{"name": "precision", "grid": {"seed": [1, 2, 3], "amp": [False, True]}}]})
    runs, _ = plan(spec)
    rng = np.random.default_rng(0)
    difficulty = rng.normal(0, 0.1, 20)
    rows, traces, histories = [], [], []
    for r in runs:
        amp, seed = r.config["amp"], r.config["seed"]
        finals = 0.8 + difficulty + 0.01 * seed + (shift if amp else 0.0) + rng.normal(0, noise, 20)
        for v, final in enumerate(finals):
            traces += [{"run": r.name, "volume": f"t{v}", "click": c, "dice": d}
                       for c, d in enumerate(np.linspace(0.4, final, 11))]
        rows.append({"run": r.name, "stage": "precision", "status": "done", "signal": "disk", "sigma": 5.0,
                     "theta": 0.0, "variant": "paper", "adaptor": "concat", "p_volume": 1.0, "seed": seed,
                     "amp": amp, "M1_final_dice": 0.5, "test_M1_final_dice": float(finals.mean()),
                     "wall_time_s": 500.0 if amp else 1000.0})
        histories += [{"run": r.name, "epoch": e, "time_s": 50.0 if amp else 100.0} for e in range(3)]
    return StudyResults(tmp_path, pd.DataFrame(rows), pd.DataFrame(histories), pd.DataFrame(traces[:0]), {},
                        spec, pd.DataFrame(traces))


@pytest.mark.parametrize("shift, noise, passes", [(0.001, 0.002, True), (0.03, 0.002, False), (0.0, 0.05, False)])
def test_the_precision_check_passes_only_inside_one_dice_point(tmp_path, shift, noise, passes):
    from gtg_core.study import precision_check

    out = precision_check(_precision_study(shift, noise, tmp_path))
    assert out["passes"] is passes and out["seeds"] == 3 and out["volumes"] == 20
    assert out["difference"] == pytest.approx(shift, abs=0.01) and out["low"] <= out["difference"] <= out["high"]
    assert out["speedup"] == 2.0 and out["epoch_s"] == {"bf16": 50.0, "fp32": 100.0}
    assert list(out["table"].index) == ["bf16", "fp32"]
    text = words.precision_markdown(_precision_study(shift, noise, tmp_path), out)
    assert ("**passes" in text) is passes and f"{100 * out['difference']:+.2f} Dice points" in text


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled, but CUDA is not available")
def test_amp_picks_fp16_with_a_gradient_scaler_where_the_gpu_has_no_bf16(monkeypatch, tmp_path):
    """Colab's free T4 has no bf16: ``amp`` then computes in fp16 and trains with a gradient scaler, and the
    run's provenance says so. The selection is checked on the CPU with the CUDA query faked; the scaler path
    of a training step runs on the CPU (a scaler's factor cancels where nothing overflows)."""
    from monai.losses import DiceCELoss

    from gtg_core import interaction, model as models

    assert interaction.autocast_dtype("cpu") == torch.bfloat16
    cfg = tiny(tmp_path, amp=True)
    for supported, dtype in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, s=supported: s)
        assert interaction.autocast_dtype("cuda") == dtype
        assert (train.grad_scaler(True, "cuda") is not None) == (dtype == torch.float16)
        assert train.grad_scaler(False, "cuda") is None
        assert train.resolved(cfg, "cuda")["precision"] == ("bf16 autocast" if supported else
                                                           "fp16 autocast with a gradient scaler (the device has no bf16)")
    assert train.resolved(cfg, "cpu")["precision"] == "bf16 autocast" and train.grad_scaler(True, "cpu") is None
    assert train.resolved(tiny(tmp_path), "cuda")["precision"] == "fp32"

    def step(scaler):
        torch.manual_seed(0)
        net = models.DeepEditNet("concat", filters=(4, 8, 16))
        optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
        x = torch.rand(1, 3, 16, 16, 8)
        y = (torch.rand(1, 1, 16, 16, 8) > 0.5).float()
        train.train_step(net, optimiser, DiceCELoss(to_onehot_y=True, softmax=True), x, y, scaler=scaler)
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    assert torch.allclose(step(None), step(scaler), atol=1e-5)
    assert scaler.get_scale() == 1024.0  # no overflow: the scale kept


@pytest.mark.parametrize("fields, match", [
    ({"test_epochs": (0,)}, "not an epoch"),
    ({"test_epochs": (3,)}, "not an epoch"),
    ({"test_epochs": (2, 1)}, "increasing"),
    ({"test_epochs": 1}, "list"),
    ({"test_epochs": (1,), "test_cases": 0, "test_users": ()}, "set test_cases"),
])
def test_bad_test_epochs_are_errors_naming_the_field(tmp_path, fields, match):
    with pytest.raises(ValueError, match=match):
        tiny(tmp_path, epochs=2, **fields).validate()


def test_a_snapshot_is_the_run_that_stops_at_that_epoch(tmp_path):
    """test-at/epoch-1 of a 2-epoch run equals the test split of a 1-epoch run of the same seed and data
    (the same best model: both validated after epoch 1), and the snapshot leaves the training untouched
    (epoch 2 trains as in a run without snapshots). The collected table has each training length."""
    common = dict(test_users=(), val_every=2)
    long = tiny(tmp_path / "long", name="s/long", epochs=2, test_epochs=(1, 2), **common)
    short = tiny(tmp_path / "short", name="s/long", epochs=1, **common)
    plain = tiny(tmp_path / "plain", name="s/long", epochs=2, **common)
    for cfg in (long, short, plain):
        train.fit(cfg, progress=False)
    long_dir, short_dir, plain_dir = (tmp_path / d / "s" / "long" for d in ("long", "short", "plain"))
    cols = ["volume", "click", "dice"]
    snap = pd.read_csv(train.snapshot_folder(long_dir, 1) / "trace.csv")
    pd.testing.assert_frame_equal(snap[cols], pd.read_csv(short_dir / "test" / "trace.csv")[cols])
    saved = json.loads((train.snapshot_folder(long_dir, 1) / "metrics.json").read_text())
    assert saved["snapshot_epoch"] == 1 and saved["best_epoch"] == 0
    assert not train.snapshot_folder(long_dir, 2).exists()  # the last epoch is the run's own test/
    long_hist, plain_hist = pd.read_csv(long_dir / "history.csv"), pd.read_csv(plain_dir / "history.csv")
    assert long_hist["train_loss"].tolist() == plain_hist["train_loss"].tolist()
    assert long_hist["val_final_dice"].notna().tolist() == [True, True]  # epoch 1 validated for its snapshot
    assert plain_hist["val_final_dice"].notna().tolist() == [False, True]
    collect(tmp_path / "long")
    table = pd.read_csv(tmp_path / "long" / "snapshot_traces.csv")
    assert sorted(table["snapshot_epoch"].unique()) == [1, 2]
    final = table[table["snapshot_epoch"] == 2]
    pd.testing.assert_frame_equal(final[cols].reset_index(drop=True),
                                  pd.read_csv(long_dir / "test" / "trace.csv")[cols])
