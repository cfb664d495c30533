"""Speed comparisons against the tools a user would otherwise run, in one process, on the same input.

One room per thing measured, all writing their tables through one helper (:mod:`._timing`) as Markdown and
CSV under ``benchmarks/results/`` named by the device; timing lives here, never in pass/fail tests:

- :mod:`.guidance`: each signal vs MONAI / scipy / cupyx / bare FastGeodis (``gtg bench guidance``), and
  the local geodesic paths vs the whole volume (``gtg bench local``);
- :mod:`.clicks`: one click step vs MONAI's DeepEdit transforms (``gtg bench clicks``);
- :mod:`.step`: the click step M3 times, per Table 3 setting at a study's crop size, on one idle device
  (``gtg bench step``): what decides the speed claim; one episode's steps with torch's threads and with
  one (:func:`thread_step_times`, the M1-M5 chapter);
- :mod:`.train`: one training iteration vs the MONAI-driven one (``gtg bench train``);
- :mod:`.data`: the phantoms (``gtg bench data``);
- :mod:`.ops`: kernels and host reads on the CUDA code path, counted on any machine (``gtg bench ops``);
- :mod:`.study`: the quick study with 1 and 2 local workers and a Dask LocalCluster (``gtg bench study``);
- :mod:`.run`: where a phantom-mini run's time goes on the CPU, today's path against the CPU levers
  (``gtg bench run``).
"""

from ._inputs import ellipsoid_volume, synthetic_prediction
from ._timing import device_name, time_call, time_pair, write_table
from .clicks import bench_clicks, gtg_click_step, monai_click_step
from .data import bench_phantoms
from .guidance import (DEFAULT_SIZES, TIMED_VARIANTS, bench_guidance, bench_local, fastgeodis_soft_mask,
                       profile_signal, time_signals)
from .ops import bench_ops, count_ops, cuda_code_paths
from .evaluation import evaluation_levers
from .run import bench_run, forward_levers, profile_run
from .step import bench_step, step_samples, thread_step_summary, thread_step_times
from .study import bench_study
from .train import bench_train

__all__ = ["DEFAULT_SIZES", "TIMED_VARIANTS", "bench_clicks", "bench_guidance", "bench_local", "bench_ops",
           "bench_phantoms", "bench_run", "evaluation_levers", "bench_step", "bench_study", "bench_train", "count_ops", "cuda_code_paths", "device_name",
           "ellipsoid_volume", "fastgeodis_soft_mask", "forward_levers", "gtg_click_step", "monai_click_step",
           "profile_run", "profile_signal", "step_samples",
           "synthetic_prediction", "thread_step_summary", "thread_step_times", "time_call", "time_pair", "time_signals", "write_table"]
