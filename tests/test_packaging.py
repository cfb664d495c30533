"""The set-up promises: environment.yml mirrors pyproject.toml, the Makefile installs what the project needs."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = set(project["dependencies"]) | set(extras["book"]) | set(extras["test"]) | set(extras["cluster"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(p for p in pip if not p.startswith("-e")) == wanted


def test_makefile_installs_torch_pinned_fastgeodis_and_the_extras():
    make = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in make and "--no-build-isolation FastGeodis==1.0.5" in make
    assert '"setuptools<81"' in make and ".[book,test,cluster]" in make
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make book" in ci
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme


def test_jupyter_book_pinned_below_2():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "jupyter-book>=1.0.4.post1,<2" in project["optional-dependencies"]["book"]
