"""The click-step benchmark that decides the speed claim (#25): what it times, and the verdict read from it.
Timing itself stays out of pass/fail: the tests check the samples' structure and the decision on known
samples."""

import numpy as np
import pandas as pd
import pytest

from gtg_core import bench, paper


def test_step_samples_time_every_click_of_every_setting_on_the_same_volumes(tmp_path):
    settings = (("disk", 5.0, 0.0), ("gdt", 1.0, 0.0))
    samples = bench.step_samples("cpu", settings=settings, n_volumes=2, n_clicks=3, rounds=2, output=tmp_path)
    assert len(samples) == 2 * 2 * 2 * 3  # settings x rounds x volumes x clicks
    assert set(samples["click"]) == {1, 2, 3} and (samples["step_time_s"] > 0).all()
    by = samples.groupby("signal")["volume"].apply(lambda v: tuple(sorted(set(v))))
    assert by["disk"] == by["gdt"]  # paired by volume
    # the benchmark's data are the study's: 64 x 64 x 32 crops of the PET phantoms
    from gtg_core import train
    cfg = train.TrainConfig(**bench.step.STUDY_DATA, n_cases=2, data_seed=4000, output=str(tmp_path))
    assert tuple(train.load_volumes(cfg, "cpu")[0].image.shape) == (64, 64, 32)


def _known(disk_s, other_s, noise, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for signal, t in (("disk", disk_s), ("gdt", other_s), ("edt", other_s + 0.01)):
        for r in range(3):
            for v in range(6):
                for click in range(1, 11):
                    rows.append({"signal": signal, "round": r, "volume": f"v{v}", "click": click,
                                 "step_time_s": t + rng.normal(0, noise)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("disk_s, verdict", [(0.01, paper.HOLDS), (0.08, paper.FAILS), (0.0501, paper.INCONCLUSIVE)])
def test_the_speed_claim_is_decided_from_the_benchmark(disk_s, verdict):
    noise = 0.02 if verdict == paper.INCONCLUSIVE else 0.001
    v = paper.speed_claim(_known(disk_s, 0.05, noise), device="cpu")
    assert v.verdict == verdict and v.unit == "s" and "cpu" in v.note
    assert v.interval[0] <= v.margin <= v.interval[1]
    assert v.margin == pytest.approx(0.05 - disk_s, abs=0.01)
    assert paper.speed_claim(_known(0.01, 0.05, 0.001).query("signal == 'disk'")).verdict == paper.NOT_MEASURED
