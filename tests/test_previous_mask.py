"""The previous prediction as a fourth input channel (issue #35; nnInteractive's prev_seg, RITM): empty before
the first click and without guidance, then the prediction the user just corrected, in evaluation and in the
training step alike; off, the network sees the three channels it always did."""

import pytest
import torch

from gtg_core import interaction
from gtg_core.model import DeepEditNet


def _label():
    label = torch.zeros(32, 32, 16, dtype=torch.bool)
    label[8:20, 8:22, 4:12] = True
    return label


class Spy:
    """Predicts a box that grows by one voxel a call; records every input it was given."""

    def __init__(self, label):
        self.label, self.inputs = label, []

    def __call__(self, x):
        self.inputs.append(x.clone())
        grown = torch.zeros_like(self.label)
        k = len(self.inputs)
        grown[8:8 + k, 8:8 + k, 4:4 + k] = True
        return torch.stack([(~grown).float(), grown.float()])[None]


def test_each_prediction_sees_the_one_before_it():
    label = _label()
    spy = Spy(label)
    cfg = interaction.LoopConfig(signal="disk", sigma=1, n_clicks=3, previous_mask=True).validate()
    ep = interaction.run_episode(spy, torch.rand(32, 32, 16), label, cfg, torch.Generator().manual_seed(0),
                                 evaluate=True)
    assert len(spy.inputs) == 1 + 4 and all(x.shape == (1, 4, 32, 32, 16) for x in spy.inputs)
    # the prediction without guidance (M2) and click 0 see an empty mask; M2's prediction is not fed back
    assert float(spy.inputs[0][0, 3].sum()) == 0 and float(spy.inputs[1][0, 3].sum()) == 0
    for j in range(2, 5):  # click j - 1 sees the prediction of click j - 2 (the spy's call j, a box of j)
        expected = torch.zeros_like(label)
        expected[8:8 + j, 8:8 + j, 4:4 + j] = True
        assert torch.equal(spy.inputs[j][0, 3].bool(), expected), j
    assert len(ep.rows) == 5


def test_training_episode_hands_the_last_prediction_to_the_step_and_off_means_three_channels():
    label = _label()
    spy = Spy(label)
    cfg = interaction.LoopConfig(signal="disk", sigma=1, n_clicks=2, previous_mask=True).validate()
    ep = interaction.run_episode(spy, torch.rand(32, 32, 16), label, cfg, torch.Generator().manual_seed(0))
    assert len(spy.inputs) == 2  # two rounds, a prediction each
    expected = torch.zeros_like(label)
    expected[8:10, 8:10, 4:6] = True  # the spy's second (last) prediction
    assert torch.equal(ep.previous_mask.bool(), expected)
    x = interaction.network_input(torch.rand(32, 32, 16), ep.g_fg, ep.g_bg, ep.previous_mask)
    assert x.shape == (4, 32, 32, 16)
    off = interaction.LoopConfig(signal="disk", sigma=1, n_clicks=2).validate()
    plain = Spy(label)
    ep_off = interaction.run_episode(plain, torch.rand(32, 32, 16), label, off, torch.Generator().manual_seed(0))
    assert ep_off.previous_mask is None and all(x.shape[1] == 3 for x in plain.inputs)
    quiet = interaction.LoopConfig(signal="disk", sigma=1, n_clicks=2, p_volume=0.0, previous_mask=True).validate()
    none = interaction.run_episode(plain, torch.rand(32, 32, 16), label, quiet, torch.Generator().manual_seed(0))
    assert not none.interactive and float(none.previous_mask.sum()) == 0  # no interaction: an empty mask


@pytest.mark.parametrize("adaptor", ["concat", "dmf", "conv1s"])
@pytest.mark.parametrize("style", ["paper", "reference_code"])
def test_every_adaptor_takes_the_fourth_channel_and_names_a_wrong_input(adaptor, style):
    net = DeepEditNet(adaptor, filters=(4, 8, 16), adaptor_style=style, previous_mask=True)
    assert net(torch.rand(1, 4, 16, 16, 8)).shape == (1, 2, 16, 16, 8)
    with pytest.raises(ValueError, match="previous mask"):
        net(torch.rand(1, 3, 16, 16, 8))
    with pytest.raises(ValueError, match=r"\(B, 3"):
        DeepEditNet(adaptor, filters=(4, 8, 16), adaptor_style=style)(torch.rand(1, 4, 16, 16, 8))


def test_the_setting_label_and_a_bad_value():
    from gtg_core.study.settings import setting_label

    row = {"signal": "disk", "sigma": 1.0, "theta": 0.0, "variant": "paper", "adaptor": "concat", "p_volume": 1.0,
           "amp": False, "previous_mask": True}
    assert setting_label(row) == "disk|1|0|paper|concat|1|prev"
    assert setting_label({**row, "previous_mask": False}) == "disk|1|0|paper|concat|1"
    with pytest.raises(ValueError, match="previous_mask"):
        interaction.LoopConfig(previous_mask="yes").validate()
