"""The chapters as a Colab user runs them (review 3, defect 24; issue 27): a Python environment with torch,
papermill, matplotlib and the rest of the scientific stack but neither gtg_core nor myst-nb, a checkout of
the book named by GTG_SOURCE, every chapter executed from a folder outside the checkout. The setup cell
must install what the chapters import, and the study chapters must find the committed results."""

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from gtg_core import book

ROOT = Path(__file__).resolve().parent.parent
#: What a Colab runtime does not have: gtg_core (and its editable-install hooks) and myst-nb.
ABSENT = ("gtg_core", "__editable__", "myst_nb")


def _colab_like(tmp_path) -> Path:
    """A fresh venv that sees this environment's packages (torch, FastGeodis, papermill, ...) except
    :data:`ABSENT`; returns its python."""
    site = Path(sysconfig.get_paths()["purelib"])
    lib = tmp_path / "colab-lib"
    lib.mkdir()
    for entry in site.iterdir():
        if entry.suffix == ".pth" or entry.name.lower().startswith(ABSENT):
            continue
        (lib / entry.name).symlink_to(entry)
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    env_site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                            text=True).strip())
    (env_site / "colab-runtime.pth").write_text(str(lib) + "\n")
    subprocess.run([python, "-m", "ipykernel", "install", "--prefix", str(env), "--name", "colab"], check=True,
                   capture_output=True)
    return python


def _checkout(tmp_path) -> Path:
    """The book's tracked files as they are in this working tree: what `git clone` would give a user."""
    files = subprocess.check_output(["git", "ls-files"], cwd=ROOT, text=True).split("\n")
    target = tmp_path / "gtg"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


@pytest.mark.slow
def test_every_chapter_executes_in_a_colab_like_runtime_outside_the_checkout(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to copy its tracked files")
    python = _colab_like(tmp_path)
    probe = subprocess.run([python, "-c", "import torch, papermill, matplotlib, FastGeodis; import gtg_core"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert "No module named 'gtg_core'" in probe.stderr  # the runtime is as Colab's: no gtg_core yet
    checkout = _checkout(tmp_path)
    work = tmp_path / "work"  # a notebook opened on Colab has no checkout around it
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(GTG_SOURCE=str(checkout), OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    failed = {}
    for notebook in book.notebooks(ROOT):
        out = work / notebook.name
        run = subprocess.run([python, "-m", "papermill", str(checkout / "book" / notebook.name), str(out),
                              "-k", "colab", "--cwd", str(work), "-p", "profile", "quick", "-p", "device", "cpu",
                              "--no-progress-bar"], env=env, capture_output=True, text=True, timeout=1200)
        if run.returncode != 0:
            failed[notebook.stem] = (run.stderr.strip().splitlines() or ["?"])[-1]
    assert failed == {}
    installed = subprocess.run([python, "-c", "import gtg_core, myst_nb; print(gtg_core.__file__)"],
                               capture_output=True, text=True, env=env, cwd=work)
    assert installed.returncode == 0 and str(tmp_path / "env") in installed.stdout  # the setup cell installed it
