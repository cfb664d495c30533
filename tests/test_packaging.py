"""The set-up promises: environment.yml mirrors pyproject.toml, the Makefile installs what the project needs."""

from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as the tomli package
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = set(project["dependencies"]) | set(extras["book"]) | set(extras["test"]) | set(extras["cluster"])
    for own in [w for w in wanted if w.startswith("gtg_core[")]:  # an extra that names another one
        wanted = (wanted - {own}) | set(extras[own[len("gtg_core["):-1]])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(p for p in pip if not p.startswith("-e")) == wanted


def test_makefile_installs_torch_pinned_fastgeodis_and_the_extras():
    make = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in make and "--no-build-isolation FastGeodis==1.0.5" in make
    assert '"setuptools<81"' in make and ".[book,test,cluster]" in make
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make book" in ci
    # the book first, and the HTML / browser tests read it (tests/test_book.py: BOOK_BUILD)
    assert ci.index("make book") < ci.index("make test") and 'GTG_BOOK_BUILD="$PWD/_build" make test' in ci
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme


def test_jupyter_book_pinned_below_2():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "jupyter-book>=1.0.4.post1,<2" in project["optional-dependencies"]["book"]


def _imports_between_modules() -> dict:
    """gtg_core's modules -> the gtg_core modules they import (at module level or inside a function), a
    submodule's import of its own package aside (the package's face re-exports its rooms)."""
    import ast

    root = Path(__file__).resolve().parent.parent / "gtg_core"
    files = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def targets(module, node):
        if isinstance(node, ast.Import):
            return [a.name for a in node.names if a.name in files]
        package = module.split(".") if files[module].name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
            if node.level else (node.module or "")
        subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in files]
        return subs + ([base] if base in files and len(subs) < len(node.names) else [])

    graph = {}
    for module, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(targets(module, node))
        graph[module] = {t for t in found if t != module and not module.startswith(t + ".")}
    return graph


def _cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_module_of_gtg_core_imports_one_that_imports_it_back():
    """Issue 26: spec planned a study by collecting its folder, and collect imports spec (the package's only
    import circle). Planning is its own room now (study.planning); the check also finds a circle through
    imports inside functions, which Python tolerates but a reader cannot follow."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the check can fail
    graph = _imports_between_modules()
    assert {"gtg_core.study.spec", "gtg_core.study.planning", "gtg_core.study.collect"} <= set(graph)
    assert "gtg_core.study.collect" in graph["gtg_core.study.planning"]
    assert _cycles(graph) == []


#: gtg_core's rooms from the bottom up (gtg_core/__init__.py's "where things live"): a room may import the rooms
#: of its own layer and below, never above.
LAYERS = (("gtg_core", "gtg_core.io", "gtg_core._checks", "gtg_core.formatting"), ("gtg_core.data",), ("gtg_core.distance",),
          ("gtg_core.guidance",), ("gtg_core.clicks", "gtg_core.metrics"), ("gtg_core.model", "gtg_core.augment"),
          ("gtg_core.interaction",), ("gtg_core.config",), ("gtg_core.run_data", "gtg_core.provenance"),
          ("gtg_core.train",), ("gtg_core.study",), ("gtg_core.paper",), ("gtg_core.beyond",),
          ("gtg_core.heldout", "gtg_core.findings"), ("gtg_core.viz",), ("gtg_core.words",),
          ("gtg_core.examples",), ("gtg_core.book",),
          ("gtg_core.bench",), ("gtg_core.cli",))


def _layer(module: str):
    found = None
    for i, rooms in enumerate(LAYERS):
        if any(module == room or (room != "gtg_core" and module.startswith(room + ".")) for room in rooms):
            found = i
    return found


def test_lower_rooms_never_import_higher_ones():
    """DESIGN.md's rule, checked: every module has a room, and imports (also inside functions) only go down."""
    graph = _imports_between_modules()
    unplaced = sorted(m for m in graph if _layer(m) is None)
    assert unplaced == []
    upward = sorted(f"{m} -> {d}" for m, deps in graph.items() for d in deps if _layer(d) > _layer(m))
    assert upward == []
    assert _layer("gtg_core.study.planning") > _layer("gtg_core.train") > _layer("gtg_core.config")


def test_the_words_live_in_one_room():
    """#36: the analysis rooms return tables and dicts; every sentence a page glues is written in
    gtg_core.words. No module outside it defines a public prose generator (a function named *_text, *_texts,
    *_words or *_markdown; atomic_write_text writes a file, to_text is a layout's own listing)."""
    import ast
    import re

    package = Path(__file__).resolve().parent.parent / "gtg_core"
    prose = re.compile(r"^[a-z]\w*_(text|texts|words|markdown)$")
    allowed = {"atomic_write_text", "study_stages_text"}  # a file write; the study file's own stages, verbatim
    found = []
    for path in package.rglob("*.py"):
        if "words" in path.relative_to(package).parts or path.name == "formatting.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and prose.match(node.name) and node.name not in allowed:
                found.append(f"{path.relative_to(package)}: {node.name}")
    assert found == []
    assert prose.match("ranking_text") and not prose.match("_order_text")  # the check can fail


def test_every_test_marked_slow_by_name_exists():
    """conftest.SLOW_TESTS names tests; a renamed test would silently fall out of the slow set."""
    import re

    from conftest import SLOW_TESTS

    tests = Path(__file__).resolve().parent
    defined = {m for path in tests.glob("test_*.py") for m in re.findall(r"^def (test_\w+)", path.read_text(), re.M)}
    assert SLOW_TESTS <= defined, sorted(SLOW_TESTS - defined)
