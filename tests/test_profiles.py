"""One resolver for ``profile: auto`` (issue #34): a dataset folder gets under "auto" exactly the
preprocessing of its explicit profile, in training, planning and cost alike, on the real layouts (Decathlon
CT and PET, AutoPET, images + labels) written here as NIfTI files; the paper's study files resolve to the
paper's profiles."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gtg_core import data
from gtg_core.config import TrainConfig
from gtg_core.run_data import load_volumes
from gtg_core.study import load_study, plan
from gtg_core.study.cost import run_size

ROOT = Path(__file__).resolve().parents[1]


def _decathlon_ct(folder, spacing=(0.79, 0.79, 5.0)):
    """An MSD Spleen-like folder: CT in dataset.json, 0.79 x 0.79 x 5 mm voxels, HU values."""
    data.write_dataset(folder, "spleen_ct", n_cases=3, shape=(48, 48, 12), seed=1)
    for path in sorted((folder / "imagesTr").glob("*.nii.gz")) + sorted((folder / "labelsTr").glob("*.nii.gz")):
        import nibabel as nib

        img = nib.load(path)
        data.save_nifti(path, np.asarray(img.dataobj), spacing, dtype=img.get_data_dtype())
    return folder


def _autopet(folder):
    for i in range(2):
        image, label, spacing = data.phantom("lesion_pet", shape=(24, 24, 20), seed=i)
        study = folder / f"PETCT_{i:03d}" / "2001-01-01"
        data.save_nifti(study / "SUV.nii.gz", image.numpy(), spacing)
        data.save_nifti(study / "SEG.nii.gz", label.numpy(), spacing)
    return folder


def _images_labels(folder):
    for i in range(2):
        image, label, spacing = data.phantom("spleen_ct", shape=(24, 24, 12), seed=i)
        data.save_nifti(folder / "images" / f"case{i}.nii.gz", image.numpy(), spacing)
        data.save_nifti(folder / "labels" / f"case{i}.nii.gz", label.numpy(), spacing)
    return folder


@pytest.mark.parametrize("layout, expected", [("decathlon_ct", "msd_spleen"), ("decathlon_pet", "autopet"),
                                              ("autopet", "autopet"), ("images_labels", "generic")])
def test_auto_resolves_a_folder_to_its_own_profile_everywhere(tmp_path, layout, expected):
    folder = tmp_path / layout
    if layout == "decathlon_ct":
        _decathlon_ct(folder)
    elif layout == "decathlon_pet":
        data.write_dataset(folder, "lesion_pet", n_cases=2, shape=(24, 24, 20), seed=1)
    elif layout == "autopet":
        _autopet(folder)
    else:
        _images_labels(folder)
    auto = TrainConfig(dataset=str(folder), output=str(tmp_path / "out"))
    assert auto.profile == "auto" and auto.resolved_profile() == expected == data.dataset_profile(folder)
    assert data.folder_profile(folder) == expected  # what the data chapter and examples show
    assert run_size({"dataset": str(folder), "crop_shape": [16, 16, 8]})[3].endswith(f"({expected} profile)")


def test_a_decathlon_ct_folder_trains_on_the_papers_voxels_and_window_under_auto(tmp_path):
    folder = _decathlon_ct(tmp_path / "Task09_Spleen")
    auto = load_volumes(TrainConfig(dataset=str(folder), output=str(tmp_path / "o")), "cpu")
    explicit = load_volumes(TrainConfig(dataset=str(folder), profile="msd_spleen", output=str(tmp_path / "o")), "cpu")
    generic = load_volumes(TrainConfig(dataset=str(folder), profile="generic", output=str(tmp_path / "o")), "cpu")
    for a, e in zip(auto, explicit):
        assert a.spacing == e.spacing and torch.equal(a.image, e.image) and torch.equal(a.label, e.label)
    assert auto[0].spacing == pytest.approx((1.586, 1.586, 5.0), rel=1e-3)
    assert generic[0].spacing != auto[0].spacing  # what "auto" used to give: the 0.79 mm voxels kept


@pytest.mark.parametrize("study_file, folder_name, expected", [("paper-msd.yml", "Task09_Spleen", "msd_spleen"),
                                                              ("paper-autopet.yml", "autopet", "autopet")])
def test_the_papers_study_files_resolve_to_the_papers_profiles(tmp_path, study_file, folder_name, expected):
    """Pointed at a folder of the paper's layout (and, on a machine without the data, by the folder's name),
    every planned run of the paper's grid preprocesses as the paper did; the adaptive heatmap's Eq. 6 gets
    the profile's fixed window (it stopped with "needs a profile with a fixed intensity window")."""
    folder = tmp_path / folder_name
    if expected == "msd_spleen":
        _decathlon_ct(folder)
    else:
        _autopet(folder)
    raw = yaml.safe_load((ROOT / "studies" / study_file).read_text())
    for dataset in (str(folder), f"elsewhere/{folder_name}"):  # here, and named only
        raw["base"]["dataset"] = dataset
        path = tmp_path / f"{dataset.replace('/', '_')}.yml"
        path.write_text(yaml.safe_dump(raw))
        runs, _ = plan(load_study(path), tmp_path / "root")
        assert runs
        for run in runs:
            cfg = TrainConfig(**{k: v for k, v in run.config.items() if k in TrainConfig.__dataclass_fields__})
            assert cfg.resolved_profile() == expected, run.name
            if cfg.signal == "adaptive_heatmap":
                window = data.PROFILES[expected]["window"]
                assert cfg.resolved_options().get("intensity_scale", float(window[1] - window[0])) > 0


# ------------------------------------------------------------------------ a study's mistakes at plan time


@pytest.mark.parametrize("grid, match", [
    ({"signal": ["disk", "heatmapp"]}, r"stage 's', run signal=heatmapp: unknown signal 'heatmapp'"),
    ({"signal": ["adaptive_heatmap"], "variant": ["reference_code_head"]},
     r"run signal=adaptive_heatmap, variant=reference_code_head: variant: the authors' HEAD .* no adaptive"),
    ({"signal": ["disk"], "test_epochs": [[2]]}, r"test_epochs: 2 is not an epoch of the run"),
])
def test_a_misconfigured_study_fails_when_it_is_planned_naming_the_run_and_the_field(tmp_path, grid, match):
    """Issue #34: a misspelt signal planned as "to do" and failed when its turn came; the adaptive heatmap
    under the authors' HEAD passed every check and failed in fit. Both now stop `gtg study plan` (and
    `run`, which plans first) before anything trains."""
    from gtg_core.study import StudyError

    path = tmp_path / "s.yml"
    path.write_text(yaml.safe_dump({"name": "bad", "base": {"dataset": "lesion_pet", "epochs": 1},
                                    "stages": [{"name": "s", "grids": [grid]}]}))
    with pytest.raises(StudyError, match=match):
        plan(load_study(path))


def test_the_fields_a_run_may_gain_are_declared_with_the_field_and_a_changed_run_names_only_what_differs():
    """LATER_FIELDS and DATA_FIELDS are derived from TrainConfig's field metadata (one declaration, not three
    hand lists); a finished run saved before the later fields existed, planned again with one field
    changed, is "another configuration" naming that field alone (it listed five that did not differ)."""
    import dataclasses

    from gtg_core.study.runner import DATA_FIELDS, TEST_FIELDS
    from gtg_core.study.spec import LATER_FIELDS, differing_fields

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(LATER_FIELDS) == {n for n, f in fields.items() if f.metadata.get("later")}
    assert {"test_users", "test_epochs", "cpu_conv", "test_cases"} <= set(LATER_FIELDS)
    assert LATER_FIELDS["test_users"] == [] and LATER_FIELDS["radius_lr"] == fields["radius_lr"].default
    assert {"dataset", "data_seed", "crop_shape", "filters"} <= set(DATA_FIELDS)
    assert TEST_FIELDS == ("test_cases", "test_data_seed")
    planned = TrainConfig(name="s/run", sigma=5.0).to_dict()
    saved = {k: v for k, v in planned.items() if k not in LATER_FIELDS} | {"sigma": 3.0}  # an older run
    saved = {k: list(v) if isinstance(v, tuple) else v for k, v in saved.items()}  # as JSON holds it
    assert differing_fields(saved, planned) == ["sigma"]
    assert differing_fields({**saved, "sigma": 5.0}, planned) == []
