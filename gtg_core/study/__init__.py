"""Studies: many training runs described as data, run and resumed from the filesystem, collected in one table.

A study is a YAML file::

    name: phantom-mini
    description: what it is for
    deviations: [what differs from the paper, as sentences]
    base: {TrainConfig fields shared by every run}
    stages:
      - name: h1h2
        grids:                       # a union of cartesian grids over TrainConfig fields
          - {signal: [disk, heatmap, exp_gdt], sigma: [0, 1, 5, 9, 13]}
          - {signal: [edt, gdt], sigma: [0, 1, 5, 9, 13], theta: [0, 10, 30, 50]}
      - name: h3h4
        best_of: {stage: h1h2, metric: M1_final_dice, per: [signal], take: [sigma, theta]}
        grid: {adaptor: [concat, dmf, conv1s], p_volume: [0.5, 0.75, 1.0]}

``grid`` is one mapping, ``grids`` a list of them. ``best_of`` makes the paper's staged search data: for
each value of the ``per`` fields, the earlier stage's (or stages', a list) setting with the highest mean
``metric`` (over seeds) supplies the ``take`` fields, and this stage's grid is crossed with it; ``where``
(field -> allowed values) limits the source rows, e.g. to the signals a theta sweep concerns. A stage with
``best_of`` can be planned once its source stages are done; until then it is *pending*.

Runs have stable, readable names: ``<stage>/<signal>-s<sigma>-t<theta>-<adaptor>-p<percent>`` followed by
``-<field><value>`` for every other field the stage varies (``h1h2/gdt-s5-t10-concat-p100-seed37``). A run
whose configuration equals an earlier run's is not trained again (``same_as``).

The filesystem is the truth (as nnU-Net's and Auto3DSeg's run folders): ``root/<stage>/<slug>/`` is a
:func:`gtg_core.train.fit` run folder. A run whose metrics.json holds its configuration is done and never
trained again; one with a checkpoint continues from it (so killing a study loses at most the epoch in
progress); one that raised leaves ``failed.json`` and is retried by the next :func:`run`; a ``.lock`` file
keeps two executors that share a folder from training the same run. Phantom data is written once, by
:func:`run`, before any worker starts.

A study longer than one machine's time: ``gtg study collect ROOT --out studies/results/<study> --runs``
archives every finished run folder (:func:`archive_runs`, no models) beside the collected tables; committed,
they come back on a fresh machine with ``gtg study restore studies/results/<study> --root ROOT``
(:func:`restore_runs`), and ``gtg study run`` trains only the rest.

Another user: :func:`evaluate_users` evaluates every done run's saved model with another simulated user
(``<run>/user-<user>/``, nothing trained; collected into ``user_traces.csv``), for questions such as whether
a ranking survives the center-of-error user of today's benchmarks (:mod:`gtg_core.beyond`).

Executors: any :class:`concurrent.futures.Executor` (a process pool, Dask's ``client.get_executor()``,
submitit's or dask-jobqueue's); None runs in this process. :func:`make_executor` builds the command line's
``local[:N]`` and ``dask[:ADDRESS]``. Nothing here schedules, queues or opens sockets itself.

Rooms, one idea each: :mod:`~gtg_core.study.spec` (the file), :mod:`~gtg_core.study.planning` (its runs),
:mod:`~gtg_core.study.runner` (state, locks, running, executors), :mod:`~gtg_core.study.cost` (what a study
costs, before it runs and from its measured rate, and the designs a budget buys),
:mod:`~gtg_core.study.collect` (tables, provenance, the archive of run folders),
:mod:`~gtg_core.study.results` (reading results for the book), :mod:`~gtg_core.study.precision` (the paired
bf16 check), :mod:`~gtg_core.study.settings` (what a results table means: settings, their means, each
signal's best setting), :mod:`~gtg_core.study.length` (how long to train, the test split at each length and
the next study's design, from a pilot) and :mod:`~gtg_core.study.stats` (intervals, seed-honest tests, Holm,
power). Their words
are :mod:`gtg_core.words`'. The names below are the package's public ones.
"""

from __future__ import annotations

from . import stats
from .collect import archive_runs, collect, export, provenance, restore_runs
from .precision import PRECISION_MARGIN, precision_check
from .results import StudyResults, dice_curves, finished, load_results, metrics_by_convention, with_baseline_label
from .cost import estimate_seconds, measured_rate
from .runner import (DATA_FIELDS, evaluate_run, evaluate_users, make_executor, prepare_data, run,
                     run_state, train_run)
from .planning import TIE_TOLERANCE, Run, best_of_choices, plan, run_slug
from .spec import (BEST_OF_KEYS, LOCK_NAME, NAME_FIELDS, STAGE_KEYS, STATES, STUDY_KEYS, Stage, Study, StudyError,
                   load_study, study_from_dict)

__all__ = ["BEST_OF_KEYS", "DATA_FIELDS", "LOCK_NAME", "NAME_FIELDS", "STAGE_KEYS", "STATES", "STUDY_KEYS",
           "TIE_TOLERANCE", "Run", "Stage", "Study", "StudyError", "StudyResults", "archive_runs", "best_of_choices",
           "collect", "restore_runs",
           "dice_curves", "estimate_seconds", "evaluate_run", "evaluate_users", "export", "finished", "load_results", "load_study", "make_executor",
           "measured_rate", "metrics_by_convention", "plan", "PRECISION_MARGIN", "precision_check", "prepare_data", "provenance", "run", "run_slug", "run_state", "stats",
           "study_from_dict", "train_run", "with_baseline_label"]
