"""The gtg command line."""

import subprocess
import sys

import pandas as pd
import pytest

from gtg_core import __version__
from gtg_core.cli import main


def test_version():
    out = subprocess.run([sys.executable, "-m", "gtg_core.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


def test_data_synth_then_check(tmp_path, capsys):
    assert main(["data", "synth", "--kind", "lesion_pet", "--n", "2", "--shape", "24", "24", "32",
                 "--out", str(tmp_path)]) == 0
    assert main(["data", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "layout decathlon, 2 readable case(s)" in out and "lesion_pet_001" in out and "no problems" in out
    (tmp_path / "labelsTr" / "lesion_pet_001.nii.gz").unlink()
    assert main(["data", "check", str(tmp_path)]) == 1
    assert "lesion_pet_001.nii.gz: label listed in dataset.json is missing" in capsys.readouterr().out


def test_data_check_missing_folder(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().out


def test_bench_guidance_small_writes_a_table(tmp_path, capsys):
    assert main(["bench", "guidance", "--device", "cpu", "--size", "24", "24", "16", "--repeats", "1",
                 "--out", str(tmp_path)]) == 0
    tables = list(tmp_path.glob("guidance-*.md"))
    assert tables and "speedup" in tables[0].read_text()
    assert "heatmap" in capsys.readouterr().out
    import pandas as pd

    rows = pd.read_csv(next(tmp_path.glob("guidance-*.csv")))
    single = rows[~rows["signal"].isin(["heatmap", "disk", "nninteractive"])]  # their baselines: 2 channels
    assert len(single) and (single["ours_one_channel_ms"] == single["ours_ms"]).all()  # one call = one channel
    nni = rows[rows["signal"] == "nninteractive"]  # against their own code, the registry's baseline for it
    assert list(nni["variant"]) == ["paper"] and nni["baseline"].str.contains("nnInteractive").all()
    assert (rows["ours_ms"] > 0).all() and (rows["ours_one_channel_ms"] > 0).all()


def test_bench_cuda_without_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit, match="CUDA"):
        main(["bench", "guidance", "--device", "cuda"])


def test_bench_data_writes_a_table(tmp_path):
    assert main(["bench", "data", "--size", "16", "16", "8", "--repeats", "1", "--out", str(tmp_path)]) == 0
    assert "spleen_ct" in next(tmp_path.glob("phantoms-*.md")).read_text()
    rows = pd.read_csv(next(tmp_path.glob("phantoms-*.csv")))
    assert list(rows["kind"]) == ["spleen_ct", "lesion_pet"] and set(rows["shape"]) == {"16x16x8"}
    assert rows["ms_one_thread"].between(0, 60_000, inclusive="neither").all()


def test_bench_guidance_profile_prints_op_tables(capsys):
    assert main(["bench", "guidance", "--device", "cpu", "--profile", "heatmap", "--size", "16", "16", "8"]) == 0
    out = capsys.readouterr().out
    assert "# heatmap (paper)" in out and "Self CPU" in out


def test_bench_clicks_and_train_write_tables(tmp_path, capsys):
    assert main(["bench", "clicks", "--device", "cpu", "--size", "32", "32", "16", "--repeats", "1",
                 "--out", str(tmp_path)]) == 0
    assert main(["bench", "train", "--device", "cpu", "--size", "16", "16", "8", "--filters", "4", "8", "16",
                 "--repeats", "1", "--out", str(tmp_path)]) == 0
    clicks = pd.read_csv(next(tmp_path.glob("clicks-*.csv")))
    train = pd.read_csv(next(tmp_path.glob("train-*.csv")))
    assert set(clicks["size"]) == {"32x32x16"} and len(clicks) >= 3
    assert clicks["step"].str.startswith("deepedit click + ").all()
    monai = clicks[clicks["monai_chain_ms"].notna()]
    assert len(monai) == 3 and (monai["monai_chain_ms"] > 0).all()
    # nnInteractive's encoding against their own session's step (the registry's baseline for it), with the ratio
    nni = clicks[clicks["step"].str.contains("nninteractive")]
    assert len(nni) == 1 and (nni["baseline_ms"] > 0).all()
    assert nni["baseline_over_ours"].iloc[0] == pytest.approx(nni["baseline_ms"].iloc[0] / nni["ours_ms"].iloc[0])
    assert list(train["driver"]) == ["gtg_core", "MONAI transforms"]
    # one iteration is the network and the clicks: the parts are measured apart, and the share is the clicks'
    assert ((train["network_ms"] > 0) & (train["clicks_guidance_ms"] > 0)).all()
    assert train["click_share"].between(0, 1, inclusive="neither").all()
    assert "faster than the MONAI-driven one" in capsys.readouterr().out


def test_bench_ops_writes_the_counts(tmp_path, capsys):
    assert main(["bench", "ops", "--size", "32", "32", "16", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "ops-cuda-code-path.md").read_text()
    assert "click round: deepedit user + heatmap (reference_code)" in table and "host_reads" in table
    assert "kernels" in capsys.readouterr().out


def test_bench_local_writes_local_whole_and_click_step_rows(tmp_path, capsys):
    pytest.importorskip("FastGeodis")
    assert main(["bench", "local", "--device", "cpu", "--size", "40", "36", "20", "--repeats", "1",
                 "--out", str(tmp_path)]) == 0
    table = pd.read_csv(next(tmp_path.glob("local-*.csv")))
    geodesic = table[table["what"].str.contains("10 clicks")]
    assert len(geodesic) == 5 and (geodesic["whole_volume_ms"] > 0).all() and (geodesic["local_ms"] > 0).all()
    ratio = geodesic["whole_volume_ms"] / geodesic["local_ms"]
    assert ((geodesic["local_speedup"] - ratio).abs() < 0.02 * ratio).all()
    steps = table[table["what"].str.startswith("click step")]
    assert len(steps) == 2 and (steps["adaptive_over_heatmap"] > 0).all()
    assert "goal <= 2" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_study_times_one_and_two_workers(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    assert main(["bench", "study", "--study", "studies/quick.yml", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(next(tmp_path.glob("study-*.csv")))
    assert list(table["runs"]) == [3, 3, 3, 3]  # every executor trained the whole study
    assert (table["wall_s"] > 0).all()


def test_study_plan_estimates_the_paper_grid_on_named_devices(capsys):
    """Review 3: the plan's hours once applied a small CPU net's rate to the paper's runs. With no finished
    epochs to measure, it scales the benchmark table of each device named (--on), and says which."""
    from pathlib import Path

    from gtg_core.cli import main

    study_file = str(Path(__file__).resolve().parent.parent / "studies" / "paper-msd.yml")
    assert main(["study", "plan", study_file, "--on", "NVIDIA H200", "--on", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "at the rate of this study's finished epochs" not in out  # nothing finished: no measured rate
    assert "on NVIDIA H200: about" in out and "train-NVIDIA_H200.csv" in out
    assert "on cpu: about" in out and "train-cpu-" in out
    assert main(["study", "plan", study_file, "--on", "Tesla T4"]) == 2
    assert "no benchmark table for 'Tesla T4'" in capsys.readouterr().err


def test_book_glued_prints_each_pages_glued_values_as_json(tmp_path, capsys):
    """gtg book glued: what a build's pages glued (myst-nb keeps them in <page>.glue.json), to diff two builds."""
    import json

    import nbformat

    page = nbformat.v4.new_notebook()
    page.cells = [nbformat.v4.new_markdown_cell("Best: {glue:text}`best_dice:.1f` %.")]
    nbformat.write(page, tmp_path / "signals.ipynb")
    output = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "best_dice"}},
              "data": {"text/plain": "85.9"}}
    (tmp_path / "signals.glue.json").write_text(json.dumps({"best_dice": output}))
    assert main(["book", "glued", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"signals": {"best_dice": "85.9"}}
    assert main(["book", "glued", str(tmp_path / "none")]) == 2
    assert "no folder" in capsys.readouterr().err
