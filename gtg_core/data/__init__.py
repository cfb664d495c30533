"""Data: synthetic phantoms, dataset layouts (Decathlon, AutoPET, generic NIfTI), preprocessing profiles."""

from .layouts import (Case, DatasetError, DatasetReport, LAYOUTS, check_dataset, detect_layout, inspect_case,
                      load_cases, save_nifti, write_dataset)
from .phantoms import DATASETS, KINDS, default_spacing, phantom
from .preprocess import (FOLDER_NAMES, KIND_PROFILES, PROFILES, crop_around_label, dataset_profile,
                         download_msd_spleen, folder_profile, preprocess, split_cases)

__all__ = ["DATASETS", "Case", "DatasetError", "DatasetReport", "FOLDER_NAMES", "KINDS", "KIND_PROFILES", "LAYOUTS",
           "PROFILES", "check_dataset", "crop_around_label", "dataset_profile", "default_spacing", "detect_layout", "download_msd_spleen", "folder_profile",
           "inspect_case", "load_cases", "phantom", "preprocess", "save_nifti", "split_cases", "write_dataset"]
