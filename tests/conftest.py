"""Marks the slow tests, so that `pytest -m "not slow"` is a loop of a couple of minutes (issue 26); `make test`
and CI run everything."""

import pytest

#: Fixtures that train or build something large once per module: every test using them is slow.
SLOW_FIXTURES = {"built_book", "quick_results"}

#: Tests that train, build or run a study themselves (several seconds to minutes each, measured with
#: --durations on this project's 2-core CPU).
SLOW_TESTS = {
    "test_a_and_b_learn_are_recorded_and_restored_on_resume",
    "test_a_history_without_a_checkpoint_restarts_cleanly",
    "test_a_run_with_test_users_and_bf16_writes_both_users_test_results",
    "test_a_study_edited_after_its_runs_finished_says_so",
    "test_a_study_read_on_its_test_split_by_either_user",
    "test_a_study_resumes_on_a_fresh_machine_from_its_committed_runs",
    "test_another_user_evaluates_the_saved_models",
    "test_bench_study_times_one_and_two_workers",
    "test_chapters_run_on_a_dataset_folder",
    "test_check_chapters_reports_each_chapter_and_goes_on_after_a_failure",
    "test_cli_plan_run_collect",
    "test_dask_local_cluster_gives_the_local_executors_rows",
    "test_end_to_end_training_clicks_help",
    "test_evaluate_from_another_folder",
    "test_every_chapter_executes_in_a_colab_like_runtime_outside_the_checkout",
    "test_every_torch_load_refuses_pickled_code",
    "test_load_example_from_a_phantom_and_a_folder",
    "test_local_reference_geodesics_equal_the_whole_volume_bit_for_bit",
    "test_reference_convention_pools_m4_over_validation_epochs",
    "test_resume_after_an_interruption",
    "test_run_resume_after_interruptions_trains_every_run_once",
    "test_step_samples_time_every_click_of_every_setting_on_the_same_volumes",
    "test_study_chapter_runs_the_quick_study_live",
    "test_the_last_validation_is_reused_and_onednn_evaluates_a_model_to_the_same_trace",
    "test_the_quick_study_reports_on_a_held_out_test_split",
    "test_the_run_profile_splits_a_runs_time_and_compares_the_paths",
    "test_viewer_of_msd_spleen_size_stays_in_budget",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.originalname if hasattr(item, "originalname") else item.name
        if name in SLOW_TESTS or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
