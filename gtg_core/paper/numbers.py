"""The paper's own numbers as data: Table 1's grid, Table 3's settings and Dice, the signals' order and
groups, the metrics' units, and where the paper's text, the authors' code and gtg_core differ."""

from __future__ import annotations

from ..guidance import SIGNALS

#: Table 1: the values each hyperparameter takes (sigma in voxels, theta and p in percent).
TABLE1 = {"sigma": (0, 1, 5, 9, 13), "theta": (0, 10, 30, 50), "adaptor": ("concat", "dmf", "conv1s"),
          "p": (50, 75, 100)}


#: Optimal settings per dataset and signal: the paper's Table 3, and the authors' run scripts where they
#: differ. sigma in voxels, theta in percent, p the probability of interaction (H4).
PAPER_SETTINGS = {
    "msd_spleen": {
        "table3": {
            "disk": {"sigma": 1, "theta": None, "adaptor": "concat", "p": 0.75},
            "heatmap": {"sigma": 1, "theta": None, "adaptor": "concat", "p": 0.75},
            "edt": {"sigma": 1, "theta": 10, "adaptor": "concat", "p": 0.75},
            "gdt": {"sigma": 5, "theta": 10, "adaptor": "concat", "p": 0.75},
            "exp_gdt": {"sigma": 5, "theta": None, "adaptor": "concat", "p": 0.75},
            "adaptive_heatmap": {"sigma": "adaptive", "theta": None, "adaptor": "concat", "p": 0.75},
            "non_interactive": {"sigma": None, "theta": None, "adaptor": "concat", "p": 0.0},
        },
        "scripts": {
            "disk": {"sigma": 1}, "heatmap": {"sigma": 1}, "exp_gdt": {"sigma": 5},
            "edt": {"sigma": 1, "theta": 10}, "gdt": {"sigma": 5, "theta": 30},
        },
        "dice_table3": {"non_interactive": 94.9, "disk": 95.9, "heatmap": 95.8, "edt": 95.8, "gdt": 95.2,
                        "exp_gdt": 95.2, "adaptive_heatmap": 96.9},
        "spacing": (1.586, 1.586, 5.0),
    },
    "autopet": {
        "table3": {
            "disk": {"sigma": 0, "theta": None, "adaptor": "concat", "p": 1.0},
            "heatmap": {"sigma": 0, "theta": None, "adaptor": "concat", "p": 1.0},
            "edt": {"sigma": 1, "theta": 10, "adaptor": "concat", "p": 1.0},
            "gdt": {"sigma": 5, "theta": 10, "adaptor": "concat", "p": 1.0},
            "exp_gdt": {"sigma": 5, "theta": None, "adaptor": "concat", "p": 1.0},
            "adaptive_heatmap": {"sigma": "adaptive", "theta": None, "adaptor": "concat", "p": 1.0},
            "non_interactive": {"sigma": None, "theta": None, "adaptor": "concat", "p": 0.0},
        },
        "scripts": {
            "disk": {"sigma": 0}, "heatmap": {"sigma": 0}, "exp_gdt": {"sigma": 5},
            "edt": {"sigma": 1, "theta": 50}, "gdt": {"sigma": 5, "theta": 10},
        },
        "dice_table3": {"non_interactive": 64.9, "disk": 78.2, "heatmap": 78.2, "edt": 75.2, "gdt": 74.5,
                        "exp_gdt": 73.2, "adaptive_heatmap": 79.9},
        "spacing": (2.036, 2.036, 3.0),
    },
}


#: Table 3 per dataset: the optimal setting of each signal and its Dice (%).
TABLE3 = {dataset: {signal: {**setting, "dice": PAPER_SETTINGS[dataset]["dice_table3"][signal]}
                    for signal, setting in PAPER_SETTINGS[dataset]["table3"].items()}
          for dataset in PAPER_SETTINGS}


#: The paper's six signals in its order: the sets its claims compare within. A signal added to the registry
#: (:data:`gtg_core.guidance.SIGNALS`) is not one of them: it neither enters the paper's claims nor grows
#: its Table 3 (issue #35).
PAPER_SIGNALS = ("disk", "heatmap", "edt", "gdt", "exp_gdt", "adaptive_heatmap")
SIGNAL_ORDER = PAPER_SIGNALS
assert set(PAPER_SIGNALS) <= set(SIGNALS), "a paper signal is missing from the registry"


GEODESIC = ("gdt", "exp_gdt")


#: The five signals of the comparative study (the adaptive heatmap came after it).
STUDIED = ("disk", "heatmap", "edt", "gdt", "exp_gdt")


#: The unit of each metric's margin (:func:`claim_adaptive_best`).
METRIC_UNITS = {"M1_final_dice": "Dice", "M2_initial_dice_with_seeds": "Dice", "M2_initial_dice_no_guidance": "Dice",
                "M4_consistent_improvement": "share of clicks", "M5_gt_overlap_last": "share of guidance voxels",
                "M3_step_time_s": "s"}


#: The smallest margin a metric can resolve, in its unit: below it the settings tie and no verdict is drawn
#: ("not assessable"). M5 saturates at the label's share of the crop when a signal's support covers the whole
#: crop (the heatmap at sigma 13, GDT, exp-GDT, the adaptive heatmap on 64 x 64 x 32: 0.01268-0.01271 in
#: table3-test), so margins of millionths between them are ties, not findings: 1e-3 of the guidance voxels.
TIE_MARGINS = {"M5_gt_overlap_last": 1e-3}


SPIDER_METRICS = ("M1_final_dice", "M2_initial_dice_with_seeds", "M3_efficiency_step", "M4_consistent_improvement",
                  "M5_gt_overlap_last")


#: Where the paper's text, the authors' code and gtg_core differ: (topic, paper, 162e680, HEAD, gtg_core).
DIVERGENCES = (
    ("Heatmap (Eq. 2)", "exp(-‖v-c‖ / (2 sigma^2)) (typo: no square)", "MONAI Gaussian, summed, min-max, squared",
     "not squared", "paper: max of exp(-‖v-c‖^2 / (2 sigma^2)); reference_code / reference_code_head"),
    ("Disk radius", "sigma", "heatmap > 0.1: about 1.52 sigma", "about 2.15 sigma",
     "paper: sigma; the code's through the variants"),
    ("EDT / GDT seeds", "the ball of radius sigma (H1), distance to it, 1 - d",
     "FastGeodis from outside the disks inward (0 outside)", "as 162e680", "both variants"),
    ("theta (H2)", "discard the top theta % of distances, per image", "zero values <= percentile(positive, theta)",
     "as 162e680", "both; default theta 0 (the code's --gdt_th 10)"),
    ("exp-GDT and theta", "H2 names Eq. 3-5", "theta forced to 0", "theta forced to 0",
     "paper applies it; reference variants refuse theta != 0"),
    ("Adaptive radius", "floor(13 exp(-0.15 x)), x = mean GDT in 3x3", "5-level lookup, increasing in x",
     "none", "paper (adaptive_units native/normalised) and reference_code (table by profile)"),
    ("Lookup thresholds", "-", "8 decimals, table chosen by spacing", "-", "8 decimals, table chosen by profile"),
    ("Geodesic image", "the image", "[image, fg, bg] guidance channels inside the loop", "as 162e680",
     "LoopConfig.geodesic_image (auto: the code's for reference variants)"),
    ("Duplicate clicks", "-", "not appended twice", "as 162e680", "skip_duplicate_clicks = True"),
    ("p per click", "p decides per volume", "the same p again each round", "as 162e680",
     "p_click 1.0 (paper) / 'p_volume' (code) / 'monai'"),
    ("Evaluation clicks", "N = 10", "per-click probability 1", "-", "every round clicks in evaluation"),
    ("DMF / Conv1S", "1x1 convolutions", "3x3x3 MONAI Convolution, ADN order", "as 162e680",
     "adaptor_style paper / reference_code"),
    ("Learning rate", "1e-5", "1e-4 (default, never set)", "1e-4", "lr 1e-5 default"),
    ("Augmentation", "the same for all models", "flips p 0.1, rot90 p 0.1, shift 0.1 p 0.5", "as 162e680",
     "augment = True (the code's)"),
    ("M1 / M5", "after N = 10 clicks", "at j = 9 (seeds + 9 clicks)", "-", "metric_convention paper / reference_code"),
    ("M2", "N = 0, no guidance", "with the initial seed clicks", "-", "both columns"),
    ("M3", "1 - T", "T of the j = 9 step, 1 - T commented out", "-", "T and 1 - T; all steps or the last"),
    ("M4", "over N x (validation volumes) clicks", "9 transitions, pooled over validation epochs", "-",
     "metric_convention paper / reference_code"),
    ("Table 3 GDT theta", "10 % on both datasets", "scripts: 30 % on MSD Spleen", "-",
     "studies/paper-msd.yml (staged) and studies/authors-msd.yml (pinned)"),
)
