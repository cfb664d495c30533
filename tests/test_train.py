"""DeepEdit training end to end on the CPU, resume after an interruption, config validation, evaluate."""

import json

import pandas as pd
import pytest
import torch

from gtg_core import train
from gtg_core.cli import main
from gtg_core.train import TrainConfig


def small_config(tmp_path, **kw):
    base = dict(name="small", signal="heatmap", sigma=2, epochs=10, lr=3e-3, n_cases=8, phantom_shape=(32, 32, 16),
                target_shape=(32, 32, 16), filters=(8, 16, 32), output=str(tmp_path), device="cpu", seed=0, data_seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_end_to_end_training_clicks_help(tmp_path):
    run = train.fit(small_config(tmp_path), progress=False)
    for name in ("config.yaml", "history.csv", "trace.csv", "metrics.json", "model.pt", "checkpoint.pt"):
        assert (run / name).is_file(), name
    out = json.loads((run / "metrics.json").read_text())
    m = out["metrics"]
    assert m["M1_final_dice"] > m["M2_initial_dice_with_seeds"] + 0.1  # the trained model uses the clicks
    assert m["M1_final_dice"] > 0.6
    prov = out["provenance"]
    assert prov["gtg_core"] and prov["seed"] == 0 and prov["wall_time_s"] > 0 and "cpu" in prov["device"]
    assert "git_commit" in prov
    trace = pd.read_csv(run / "trace.csv")
    assert set(trace["click"]) == set(range(-1, 11))
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == list(range(10)) and history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert TrainConfig.from_yaml(run / "config.yaml") == small_config(tmp_path)
    # evaluate on another dataset folder
    from gtg_core import data

    other = tmp_path / "other"
    data.write_dataset(other, "spleen_ct", n_cases=2, shape=(32, 32, 16), seed=100)
    res = train.evaluate(run, dataset=other)
    assert res["metrics"]["volumes"] == 2 and (run / "eval-other" / "trace.csv").is_file()


def test_resume_after_an_interruption(tmp_path):
    cfg = small_config(tmp_path, name="resume", epochs=3, n_clicks=2, n_cases=4, filters=(4, 8, 16))

    def die_after_first(epoch, row):
        if epoch == 0:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        train.fit(cfg, progress=False, on_epoch_end=die_after_first)
    history = pd.read_csv(tmp_path / "resume" / "history.csv")
    assert list(history["epoch"]) == [0]
    assert not list((tmp_path / "resume").glob("*.part*"))  # nothing half-written
    first_part = torch.load(tmp_path / "resume" / "checkpoint.pt", weights_only=True)["elapsed_s"]
    seen = []
    train.fit(cfg, progress=False, on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [1, 2]  # continued, not restarted
    history = pd.read_csv(tmp_path / "resume" / "history.csv")
    assert list(history["epoch"]) == [0, 1, 2]
    prov = json.loads((tmp_path / "resume" / "metrics.json").read_text())["provenance"]
    assert first_part > 0 and prov["wall_time_s"] >= first_part  # the interrupted session's time counts
    assert len(prov["source_digest"]) == 16 and prov["source_digest"] == train.source_digest()
    with pytest.raises(ValueError, match="another configuration"):
        train.fit(small_config(tmp_path, name="resume", epochs=3, n_clicks=2, n_cases=4, filters=(4, 8, 16), sigma=5),
                  progress=False)
    # a resumed run is the uninterrupted run: the same history (times aside), weights and validation trace
    whole = train.fit(small_config(tmp_path, name="whole", epochs=3, n_clicks=2, n_cases=4, filters=(4, 8, 16)),
                      progress=False)
    resumed = tmp_path / "resume"
    columns = [c for c in pd.read_csv(whole / "history.csv") if c != "time_s"]
    pd.testing.assert_frame_equal(pd.read_csv(resumed / "history.csv")[columns], pd.read_csv(whole / "history.csv")[columns])
    for name in ("model.pt", "checkpoint.pt"):
        a = torch.load(resumed / name, weights_only=True)["model"]
        b = torch.load(whole / name, weights_only=True)["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (resumed / "trace.csv").read_text().splitlines()[1:] and \
        pd.read_csv(resumed / "trace.csv").drop(columns=["signal_time_s", "step_time_s"]).equals(
            pd.read_csv(whole / "trace.csv").drop(columns=["signal_time_s", "step_time_s"]))


@pytest.mark.parametrize("field, value", [
    ("signal", "blob"), ("adaptor", "film"), ("variant", "mine"), ("user", "oracle"), ("sigma", -1), ("theta", 100),
    ("p_volume", 1.2), ("p_click", -0.1), ("n_clicks", -1), ("epochs", 0), ("lr", 0), ("target_shape", (30, 32, 16)),
    ("dataset", "/no/such/folder"), ("profile", "ct"), ("batch_size", 0), ("filters", (8, 16)),
])
def test_config_validation_names_the_field(tmp_path, field, value):
    cfg = small_config(tmp_path, **{field: value})
    with pytest.raises(ValueError, match=field):
        cfg.validate()


def test_cuda_asked_for_but_absent(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="CUDA"):
        small_config(tmp_path, device="cuda").validate()


def test_yaml_round_trip_and_unknown_field(tmp_path):
    cfg = small_config(tmp_path, p_click="monai", options={"lamb": 0.5})
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert TrainConfig.from_yaml(path) == cfg
    path.write_text("sigmaa: 3\n")
    with pytest.raises(ValueError, match="sigmaa"):
        TrainConfig.from_yaml(path)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        TrainConfig.from_yaml(tmp_path / "nope.yaml")


def test_empty_dataset_folder_is_an_error(tmp_path):
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "labels").mkdir()
    cfg = small_config(tmp_path, dataset=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="no image/label pairs"):
        train.fit(cfg, progress=False)


def test_oom_message_names_sizes_and_remedies(tmp_path):
    cfg = small_config(tmp_path)
    vols = [train.Volume("a", torch.zeros(32, 32, 16), torch.zeros(32, 32, 16, dtype=torch.bool), (1, 1, 1))]
    msg = train._oom_message(RuntimeError("CUDA out of memory"), cfg, vols)
    assert "(32, 32, 16)" in msg and "batch size 1" in msg and "Reduce target_shape" in msg


def test_cli_train_and_evaluate(tmp_path, capsys):
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(small_config(tmp_path, name="cli", epochs=1, n_clicks=1, n_cases=3, filters=(4, 8, 16)).to_yaml())
    assert main(["train", "--config", str(cfg_path), "--quiet", "--set", "sigma", "1"]) == 0
    assert (tmp_path / "cli" / "metrics.json").is_file()
    assert TrainConfig.from_yaml(tmp_path / "cli" / "config.yaml").sigma == 1
    assert main(["evaluate", str(tmp_path / "cli")]) == 0
    assert "M1_final_dice" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fit_on_cuda_with_amp(tmp_path):
    run = train.fit(small_config(tmp_path, name="gpu", device="cuda", amp=True, epochs=3, n_clicks=3), progress=False)
    out = json.loads((run / "metrics.json").read_text())
    assert "cpu" not in out["provenance"]["device"]
    assert 0 <= out["metrics"]["M1_final_dice"] <= 1


def test_evaluate_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = small_config(tmp_path, name="rel", output="runs", epochs=1, n_clicks=1, n_cases=3, filters=(4, 8, 16))
    train.fit(cfg, progress=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = train.evaluate(tmp_path / "runs" / "rel")
    assert res["metrics"]["volumes"] == 1 and not (elsewhere / "runs").exists()


def test_train_step_updates_the_model_and_returns_a_detached_loss():
    from monai.losses import DiceCELoss

    from gtg_core import interaction
    from gtg_core.model import DeepEditNet

    torch.manual_seed(0)
    model = DeepEditNet("concat", filters=(4, 8, 16))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    image = torch.rand(16, 16, 8)
    label = torch.zeros(16, 16, 8, dtype=torch.bool)
    label[4:12, 4:12, 2:6] = True
    x = interaction.network_input(image, label.float(), torch.zeros_like(image))[None]
    assert x.shape == (1, 3, 16, 16, 8) and torch.equal(x[0, 1], label.float())  # image, fg, bg
    before = [p.detach().clone() for p in model.parameters()]
    losses = [train.train_step(model, optimiser, DiceCELoss(to_onehot_y=True, softmax=True), x,
                               label[None, None].float()) for _ in range(5)]
    assert not losses[0].requires_grad and losses[0].ndim == 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert float(losses[-1]) < float(losses[0])


def test_profile_decisions_are_resolved_and_recorded(tmp_path):
    """Issue 10: the reference adaptive table follows the data profile (a spleen run used AutoPET's before);
    Eq. 6 radii in the profile's native units; target_shape resizes only quick phantom runs."""
    spleen = small_config(tmp_path, signal="adaptive_heatmap", variant="reference_code", target_shape="auto")
    assert spleen.resolved_options()["dataset"] == "msd_spleen"
    assert small_config(tmp_path, signal="adaptive_heatmap", variant="reference_code",
                        dataset="lesion_pet").resolved_options()["dataset"] == "autopet"
    assert small_config(tmp_path, signal="adaptive_heatmap", variant="reference_code", profile="generic",
                        adaptive_table="autopet").resolved_options()["dataset"] == "autopet"
    paper = small_config(tmp_path, signal="adaptive_heatmap")
    assert paper.resolved_options()["intensity_scale"] == pytest.approx(436.0)  # -224..212 HU
    assert "intensity_scale" not in small_config(tmp_path, signal="adaptive_heatmap",
                                                 adaptive_units="normalised").resolved_options()
    with pytest.raises(ValueError, match="adaptive_units"):
        small_config(tmp_path, signal="adaptive_heatmap", profile="generic").resolved_options()
    assert spleen.resolved_target_shape() == (64, 64, 32)
    assert small_config(tmp_path, target_shape="auto", crop_shape=(32, 32, 16)).resolved_target_shape() is None
    folder = tmp_path / "folder"
    folder.mkdir()
    assert small_config(tmp_path, target_shape="auto", dataset=str(folder)).resolved_target_shape() is None
    record = train.resolved(paper)
    assert record["profile"] == "msd_spleen" and record["intensity_scale"] == pytest.approx(436.0)


def test_crop_around_the_largest_label_component_keeps_the_voxel_grid():
    image = torch.arange(40 * 30 * 20, dtype=torch.float32).reshape(40, 30, 20)
    label = torch.zeros(40, 30, 20, dtype=torch.bool)
    label[30:36, 20:26, 14:18] = True  # the largest component, near a corner
    label[2:4, 2:4, 2:4] = True  # a small one far away
    img, lab = train.crop_around_label(image, label, (16, 16, 8))
    assert img.shape == lab.shape == (16, 16, 8)
    assert int(lab.sum()) == 6 * 6 * 4  # the whole large component, not the small one
    assert torch.equal(img, image[24:40, 14:30, 11:19])  # centered where possible, shifted inside the volume
    with pytest.raises(ValueError, match="crop_shape"):
        train.crop_around_label(image, torch.zeros_like(label), (16, 16, 8))


def test_reference_convention_pools_m4_over_validation_epochs(tmp_path):
    cfg = small_config(tmp_path, name="ref", epochs=2, n_clicks=3, n_cases=4, filters=(4, 8, 16),
                       metric_convention="reference_code", adaptor="dmf", adaptor_style="reference_code")
    run = train.fit(cfg, progress=False)
    out = json.loads((run / "metrics.json").read_text())
    history = pd.read_csv(run / "history.csv")
    pooled = history["val_m4_improved"].sum() / history["val_m4_transitions"].sum()
    assert out["metrics"]["convention"] == "reference_code"
    assert out["metrics"]["M4_consistent_improvement"] == pytest.approx(pooled)
    assert set(history["val_m4_transitions"]) == {2 * 1}  # N - 1 = 2 transitions x 1 validation volume
    assert out["resolved"]["metric_convention"] == "reference_code"


def test_augmentation_changes_training_and_never_touches_validation(tmp_path, monkeypatch):
    from gtg_core import augment

    seen = []
    real = augment.augment
    monkeypatch.setattr(augment, "augment",
                        lambda image, label, gen: seen.append(image.shape) or real(image, label, gen))
    cfg = small_config(tmp_path, name="aug", epochs=2, n_clicks=1, n_cases=4, filters=(4, 8, 16))
    train.fit(cfg, progress=False)
    assert len(seen) == 2 * 3  # 3 training volumes per epoch; the validation volume is never augmented
    seen.clear()
    train.fit(small_config(tmp_path, name="noaug", epochs=1, n_clicks=1, n_cases=4, filters=(4, 8, 16),
                           augment=False), progress=False)
    assert seen == []


def test_m3_steps_are_timed_after_a_warm_up(monkeypatch):
    """Issue 10: a slow first call (lazy initialisation) must not be timed as the first click step."""
    import time as _time

    from gtg_core import interaction

    real, calls = interaction.user_clicks.corrective_clicks, []

    def first_call_slow(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            _time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(interaction.user_clicks, "corrective_clicks", first_call_slow)
    label = torch.zeros(24, 24, 12, dtype=torch.bool)
    label[6:16, 6:16, 3:9] = True
    vol = train.Volume("a", torch.rand(label.shape), label, (1.0, 1.0, 1.0))

    class Empty(torch.nn.Module):
        def forward(self, x):
            return torch.cat([torch.ones_like(x[:, :1]), torch.zeros_like(x[:, :1])], 1)

    cfg = TrainConfig(signal="disk", sigma=1, n_clicks=3, device="cpu")
    trace = train.evaluate_volumes(Empty(), [vol], cfg)
    steps = trace.loc[trace["click"] >= 1, "step_time_s"]
    assert len(calls) == 4 and steps.max() < 0.25  # the warm-up took the slow call


def test_provenance_names_the_code_the_process_loaded_not_a_later_commit(monkeypatch):
    """A study's workers live for hours; a commit made meanwhile is not the code they run (the table3-pet-cpu
    runs recorded the HEAD at each run's end)."""
    from gtg_core import provenance

    loaded = train.loaded_code()
    assert len(loaded["source_digest"]) == 16
    monkeypatch.setattr(provenance, "source_digest", lambda: "edited-later")
    monkeypatch.setattr(provenance, "_git_commit", lambda: "a-later-commit")
    prov = train.provenance(torch.device("cpu"), train.TrainConfig(), 1.0)
    assert prov["source_digest"] == loaded["source_digest"] != "edited-later"
    assert prov["git_commit"] == loaded["git_commit"] != "a-later-commit"


def test_a_history_without_a_checkpoint_restarts_cleanly(tmp_path):
    # a run folder as a device export leaves it: config and history of two epochs, no checkpoint
    cfg = small_config(tmp_path, name="exported", epochs=1, n_clicks=1, n_cases=4, filters=(4, 8, 16))
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "config.yaml").write_text(cfg.to_yaml())
    stale = pd.DataFrame({"epoch": [0, 1], "train_loss": [9.0, 8.0], "time_s": [1.0, 1.0]})
    (folder / "history.csv").write_text(stale.to_csv(index=False))
    from gtg_core import study

    stage_run = study.Run("exported", "s", cfg.to_dict())
    assert study.run_state(stage_run, tmp_path)[0] == "to do"  # not partial: nothing to resume from
    seen = []
    with pytest.warns(train.SmallLabelWarning, match="crop_shape"):  # 32 x 32 x 16 without a crop: ~50 voxels
        train.fit(cfg, progress=False, on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [0]  # trained from epoch 0, not from the stale history's end
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [0] and history["train_loss"].iloc[0] != 9.0  # replaced, not appended


def test_a_label_that_is_a_tiny_share_of_a_small_volume_warns_and_names_crop_shape():
    def volume(fg_voxels, shape=(32, 32, 16)):
        label = torch.zeros(shape)
        label.view(-1)[:fg_voxels] = 1
        return train.Volume("case", torch.zeros(shape), label, (1.0, 1.0, 1.0))

    cfg = TrainConfig(name="tiny", phantom_shape=(32, 32, 16))
    with pytest.warns(train.SmallLabelWarning, match=r"50 voxels, 0\.31 %.*crop_shape"):
        assert train.warn_small_labels([volume(50), volume(51), volume(49)], cfg) == pytest.approx(50 / 16384)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train.warn_small_labels([volume(400)], cfg)  # 2.4 %: learnable
        train.warn_small_labels([volume(460, (64, 64, 32))], cfg)  # 0.35 % but 460 voxels: learnt (measured)


@pytest.mark.parametrize("adaptor, style", [("concat", "paper"), ("dmf", "paper"), ("conv1s", "reference_code")])
def test_convolutions_on_onednn_give_todays_outputs_and_gradients(adaptor, style):
    import copy

    from gtg_core.model import CpuConv3d, DeepEditNet, fast_cpu_convolutions

    torch.manual_seed(0)
    today = DeepEditNet(adaptor, filters=(8, 16, 32), adaptor_style=style)
    fast = fast_cpu_convolutions(copy.deepcopy(today))
    assert any(isinstance(m, CpuConv3d) for m in fast.modules())
    assert list(fast.state_dict()) == list(today.state_dict())  # checkpoints load either way
    x = torch.rand(1, 3, 32, 32, 16)
    today.eval(), fast.eval()  # the adaptors' dropout off: the same function on both sides
    a, b = today(x), fast(x)
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    a.square().mean().backward()
    b.square().mean().backward()
    for (name, p), q in zip(today.named_parameters(), fast.parameters()):
        if p.grad is not None:
            assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-3), name
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # bf16: the plain Conv3d path
        assert fast(x).dtype == torch.bfloat16


def test_the_last_validation_is_reused_and_onednn_evaluates_a_model_to_the_same_trace(tmp_path, monkeypatch):
    """The final evaluation is the last validation's trace when that model is the best (one evaluation
    fewer, the same trace as a fresh one); and a saved model evaluated with cpu_conv onednn gives the trace
    it gives with PyTorch's own convolutions."""
    calls = []
    original = train.evaluate_volumes
    monkeypatch.setattr(train, "evaluate_volumes", lambda *a, **k: calls.append(1) or original(*a, **k))
    for reuse in (False, True):
        monkeypatch.setattr(train, "REUSE_LAST_VALIDATION", reuse)
        calls.clear()
        cfg = small_config(tmp_path, name=f"reuse-{reuse}", epochs=1, n_clicks=3, n_cases=5, filters=(4, 8, 16),
                           phantom_shape=(48, 48, 24), target_shape=(32, 32, 16))
        train.fit(cfg, progress=False)
        assert len(calls) == (1 if reuse else 2)  # one validation (epoch 1 is the best), then none again
    a, b = (pd.read_csv(tmp_path / f"reuse-{r}" / "trace.csv") for r in (False, True))
    assert a["dice"].tolist() == b["dice"].tolist()  # the reused trace is the fresh evaluation's
    cfg = train.TrainConfig.from_yaml(tmp_path / "reuse-True" / "config.yaml")
    cfg.output = str(tmp_path)
    volumes = train.split_volumes(train.load_volumes(cfg, "cpu"), cfg)[1]
    state = torch.load(tmp_path / "reuse-True" / "model.pt", weights_only=True)["model"]
    traces = []
    for conv in train.CPU_CONVOLUTIONS:
        model = train.build_model(train.TrainConfig(**{**cfg.to_dict(), "cpu_conv": conv}), "cpu")
        model.load_state_dict(state)
        traces.append(train.evaluate_volumes(model, volumes, cfg)["dice"].tolist())
    assert traces[0] == traces[1]
    with pytest.raises(ValueError, match="cpu_conv"):
        train.TrainConfig(cpu_conv="mkl").validate()


def test_parameter_counts_of_the_adaptors_match_the_exercise():
    """The training chapter's table (issue 26: the counting loop moved out of the notebook): the paper-style
    DMF adaptor is two 1x1x1 convolutions, 3 -> 5 and 5 -> 1, with biases: 26 parameters; Concat has none."""
    from gtg_core import model

    rows = {(r["adaptor"], r["style"]): r for r in model.parameter_counts((4, 8, 16))}
    assert set(rows) == {(a, s) for a in model.ADAPTORS for s in model.ADAPTOR_STYLES}
    assert rows[("dmf", "paper")]["adaptor parameters"] == 26 and rows[("concat", "paper")]["adaptor parameters"] == 0
    assert len({r["U-Net parameters"] for r in rows.values()}) > 1  # the adaptors change the U-Net's input


def test_a_run_declares_the_click_loops_fields_with_the_loops_defaults_and_passes_every_one():
    """TrainConfig is the flat schema of config.yaml and declares LoopConfig's fields again (issue #26): the
    two declarations must agree (name, default, annotation), and loop_config passes every field by name, so
    that a field added to the loop without the run (or with another default) fails here."""
    import dataclasses

    from gtg_core import config, interaction

    loop_fields = {f.name: f for f in dataclasses.fields(interaction.LoopConfig)}
    run_fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(config.LOOP_FIELDS) == set(loop_fields) - {"spacing", "options"}
    assert len(config.LOOP_FIELDS) == 11  # previous_mask (issue #35) the eleventh
    for name in config.LOOP_FIELDS:
        assert name in run_fields, name
        assert run_fields[name].default == loop_fields[name].default, name
        assert str(run_fields[name].type) == str(loop_fields[name].type), name
    changed = {"signal": "gdt", "sigma": 5.0, "theta": 10.0, "variant": "reference_code", "n_clicks": 4,
               "p_volume": 0.75, "p_click": "p_volume", "user": "center", "skip_duplicate_clicks": False,
               "geodesic_image": "image", "previous_mask": True}
    assert set(changed) == set(config.LOOP_FIELDS)
    loop = TrainConfig(**changed).loop_config((2.0, 2.0, 3.0))
    assert {name: getattr(loop, name) for name in changed} == changed
    assert loop.spacing == (2.0, 2.0, 3.0)
