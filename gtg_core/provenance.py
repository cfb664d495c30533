"""Where a run's numbers came from: the code this process loaded (git commit, whether it was dirty, a digest of
gtg_core's own files), the device, the seed, the time and the host.
"""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

import torch

from . import __version__

def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def source_digest() -> str:
    """sha256 (first 16 hex digits) of gtg_core's own source files: names the code exactly, also where the
    git commit cannot (a copied working tree on another machine reads its own, older, HEAD)."""
    import hashlib

    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _git_dirty() -> bool | None:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return bool(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


_LOADED_CODE: dict = {}


def loaded_code() -> dict:
    """``git_commit``, ``git_dirty`` and ``source_digest`` of the code this process runs: read once, the first
    time it is asked (at the import of this module), and kept. A study's workers live for the whole study, so
    a commit made while they train must not be recorded as theirs (the table3-pet-cpu runs recorded the HEAD
    at each run's end before this)."""
    if not _LOADED_CODE:
        _LOADED_CODE.update(git_commit=_git_commit(), git_dirty=_git_dirty(), source_digest=source_digest())
    return dict(_LOADED_CODE)


loaded_code()  # at import: what this process will run


def record(device, seed: int, wall_time_s: float) -> dict:
    """Where a run's numbers came from. ``git_commit`` is the HEAD of the checkout the package was imported
    from and ``git_dirty`` says whether gtg_core differed from it there; ``source_digest`` names the code
    itself (:func:`source_digest`); all three as this process loaded it (:func:`loaded_code`). ``device`` a
    torch.device; ``seed`` the run's; ``wall_time_s`` its training time."""
    device = torch.device(device)
    return {"gtg_core": __version__, **loaded_code(), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
            "seed": seed, "wall_time_s": round(wall_time_s, 3), "host": platform.node(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
