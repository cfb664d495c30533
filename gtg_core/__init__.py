"""gtg_core: click guidance signals, simulated users, DeepEdit training and the M1-M5 metrics of
"Guiding the Guidance" (Marinov et al., MICCAI 2023), on CPU and GPU.

Where things live (one room per idea; a room imports only rooms listed above it, never one below):

- ``io``, ``_checks``, ``formatting``: atomic writes, argument checks and how a verdict's numbers print, shared
  by every room.
- ``data``: the datasets' layouts, preprocessing profiles and the synthetic phantoms.
- ``distance``, ``guidance``: distance transforms and the signals (the paper's six in the paper's and the code's
  readings, nnInteractive's point encoding), one registry record each.
- ``clicks``: the simulated users (a registry); ``metrics``: M1-M5, NoC, AUC, NSD on a per-click trace.
- ``model``: DeepEdit's network and the input adaptors; ``augment``: the training augmentation.
- ``interaction``: the click loop of one volume (predict, click, recompute the guidance).
- ``config``: a run's configuration (:class:`TrainConfig`); ``run_data``: its volumes, splits and test cases;
  ``provenance``: where a run's numbers came from.
- ``train``: fitting and evaluating one run (:func:`train.fit`), writing its run folder.
- ``study``: study files (``spec``), their plan (``planning``), running (``runner``), collecting
  (``collect``), reading (``results``), what a results table means (``settings``: a setting, its means, each
  signal's best), statistics (``stats``, the face of ``bootstrap``, ``seedtest``, ``families`` and ``power``),
  cost (``cost``), the precision check (``precision``) and the training length (``length``).
- ``paper``: the paper's numbers (``numbers``), a claim's verdict and Holm (``verdicts``), the claims
  (``claims``, ``speed``), Table 3 and Fig. 2 on our runs (``table3``), Fig. 1's panels (``fig1``);
  ``heldout``: Table 3 on the held-out test split; ``findings``: every claim of the paper with the evidence that
  decides it; ``beyond``: the questions past the paper (a learned Eq. 6, another simulated user). These rooms
  return tables and dicts.
- ``viz``: the kernel-free slice viewer (``viewer``, ``live``) and the figures (``figures``, ``study_figures``,
  ``evidence``), which draw what the rooms above computed; ``words``: every sentence and text table a page
  shows, written from those tables (one room owns the words); ``bench``: the speed comparisons; ``examples``: the
  chapters' small helpers; ``book``: building and rerunning the book; ``cli``: the ``gtg`` command.
"""

__version__ = "0.1.0"
