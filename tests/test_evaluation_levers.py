"""gtg bench run's evaluation levers (issue #33): the same weights and volumes evaluated today and with a lever,
compared volume by volume; a lever that changes nothing must read as exactly nothing."""

import pytest

from gtg_core import train
from gtg_core.bench import evaluation_levers


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("levers")
    cfg = train.TrainConfig(name="tiny", signal="disk", sigma=2, epochs=1, lr=3e-3, n_cases=5,
                            phantom_shape=(32, 32, 16), target_shape=(32, 32, 16), filters=(4, 8, 16), n_clicks=3,
                            output=str(out), device="cpu", seed=0, data_seed=0)
    return train.fit(cfg, progress=False)


def test_the_levers_are_compared_on_the_same_weights_and_volumes(tiny_run):
    rows = evaluation_levers(tiny_run)
    assert [r["lever"] for r in rows] == ["bf16 autocast, evaluation only", "every convolution on oneDNN"]
    for r in rows:
        assert r["volumes"] == 1 and r["today (s)"] > 0 and r["lever (s)"] > 0
        assert r["dM1 min"] <= r["dM1 mean"] <= r["dM1 max"] and r["same clicks"].endswith("of 1")


def test_a_lever_that_changes_nothing_reads_as_nothing_and_one_that_does_is_seen(tiny_run):
    import torch

    def broken(model):  # a lever that is not exact: the weights of the last layer flipped
        import copy

        net = copy.deepcopy(model)
        with torch.no_grad():
            for p in list(net.parameters())[-2:]:
                p.neg_()
        return net, False

    same, changed = evaluation_levers(tiny_run, levers={"today again": lambda m: (m, False), "broken": broken})
    assert same["dM1 mean"] == same["dM1 min"] == same["dM1 max"] == 0 and same["same clicks"] == "1 of 1"
    assert changed["dM1 min"] != 0 or changed["dM1 max"] != 0 or changed["same clicks"] == "0 of 1"


def test_a_saved_run_is_read_back_and_bad_folders_are_named(tiny_run, tmp_path):
    cfg = train.saved_config(tiny_run, device="cpu")
    assert cfg.device == "cpu" and cfg.signal == "disk"
    model = train.saved_model(tiny_run, cfg, "cpu")
    assert sum(p.numel() for p in model.parameters()) > 0
    assert len(train.case_volumes(cfg, "cpu", "validation")) == 1
    with pytest.raises(ValueError, match="split"):
        train.case_volumes(cfg, "cpu", "training")
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        train.saved_config(tmp_path)
    (tmp_path / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    with pytest.raises(FileNotFoundError, match="model.pt"):
        train.saved_config(tmp_path)
