"""The fused Triton kernels of the CUDA EDT path, checked without a GPU through Triton's interpreter.

Runs where Triton is installed (any GPU machine; ``pip install triton`` on a CPU one); skipped elsewhere. The
interpreter must be switched on before Triton compiles anything, so the check runs in a fresh process.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed")

CHECK = textwrap.dedent("""
    import numpy as np, torch
    from scipy.ndimage import distance_transform_edt
    from gtg_core import distance, guidance
    shape, spacing = (23, 17, 11), (0.8, 1.1, 2.5)
    seeds = guidance._common._seed_voxels([[3, 3, 2], [12, 9, 5], [22, 16, 10]], 1, shape)
    not_seed = np.ones(shape, bool)
    not_seed[tuple(seeds.T)] = False
    ref = distance_transform_edt(not_seed, sampling=spacing)
    d = distance._launch_seed_min(shape, torch.as_tensor(seeds), spacing)
    assert np.abs(d.numpy() - ref).max() < 1e-4, "seed_min"
    g2 = torch.rand(4, 6, 5, generator=torch.Generator().manual_seed(0)) * 10
    planes = torch.tensor([0.0, 3.0, 4.0, 7.0])
    a = distance._launch_plane_min(g2, planes, 9, 1.7)
    b = distance._min_over_planes_torch(g2, planes, 9, 1.7)
    assert (a - b).abs().max() < 1e-5, "plane_min"
    print("ok")
""")


def test_triton_kernels_match_the_reference_in_the_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
