"""Atomic file writes: a temporary file in the target folder, then a rename, so that an interrupted run
never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file onto ``path`` once it succeeded.

    The temporary file sits in the target's folder (same file system, so the rename is atomic) and keeps
    the target's suffixes (writers such as nibabel choose the format by the name). On any error it is
    removed and the target is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name.split('.')[0]}.", suffix=".part" + suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def read_json(path):
    """The JSON in ``path``, or None when it is missing, unreadable or not JSON (a half-written file)."""
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_torch(path, obj) -> None:
    """``torch.save(obj)`` to ``path`` atomically (:func:`atomic_write`): a run killed mid-write leaves the
    previous file, never half of one."""
    import torch

    atomic_write(Path(path), lambda tmp: torch.save(obj, tmp))
