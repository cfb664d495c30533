"""gtg_core: click guidance signals, simulated users, DeepEdit training and the M1-M5 metrics of
"Guiding the Guidance" (Marinov et al., MICCAI 2023), on CPU and GPU."""

__version__ = "0.1.0"
