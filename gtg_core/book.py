"""Build the book (``make book``) and rerun it with papermill on other parameters (``gtg book run``).

A parameter file (YAML) holds values for the notebooks' ``parameters`` cells: top-level keys go to every
notebook that declares them, and a ``notebooks:`` mapping holds per-notebook values::

    dataset: /data/Task09_Spleen
    shape: [128, 128, 64]
    notebooks:
      guidance: {sigma: 5, theta: 10}

Only the parameters a notebook declares are injected into it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT_FILES = ("_config.yml", "_toc.yml")


def project_root() -> Path:
    """The folder holding _config.yml: the current directory or the package's checkout."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (candidate / "_config.yml").is_file() and (candidate / "_toc.yml").is_file():
            return candidate
    raise FileNotFoundError("no _config.yml/_toc.yml here or beside gtg_core: run from the book's checkout")


def notebooks(root: Path | None = None) -> list[Path]:
    """The notebooks of the table of contents, in order."""
    root = root or project_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def locate(path) -> Path:
    """A file or folder a chapter names (committed study results, a study file): as given when it exists
    (absolute, or relative to the working directory), else relative to the book's checkout
    (:func:`project_root`), where papermill's working directory ``OUT/book`` would not find it, else
    relative to the checkout that ``GTG_SOURCE`` names (a notebook opened on Colab has no checkout around it:
    its setup cell installed gtg_core from there). Returns the path as given when none exists, so that the
    reader's error names it."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    roots = []
    try:
        roots.append(project_root())
    except FileNotFoundError:
        pass
    source = os.environ.get("GTG_SOURCE", "")
    if source and Path(source).is_dir():
        roots.append(Path(source))
    return next((root / path for root in roots if (root / path).exists()), path)


def load_params(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {path} does not exist")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping of parameter names to values")
    return params


def params_for(notebook: Path, params: dict) -> dict:
    """The values of ``params`` that ``notebook`` declares in its parameters cell."""
    import papermill as pm

    declared = set(pm.inspect_notebook(str(notebook)))
    specific = (params.get("notebooks") or {}).get(notebook.stem, {})
    merged = {k: v for k, v in params.items() if k != "notebooks"}
    merged.update(specific)
    return {k: v for k, v in merged.items() if k in declared}


def _jupyter_book(args) -> int:
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "jupyter_book"]
    return subprocess.run(cmd + list(args)).returncode


def execute(params: dict, out: Path, *, root: Path | None = None, kernel: str = "python3",
            timeout: int | None = 900, only=None) -> list[Path]:
    """Execute every notebook (or those named in ``only``) with ``params`` into ``out/book/`` (papermill;
    ``timeout``: seconds a cell may run, None for no limit); returns the executed copies."""
    import papermill as pm

    root = root or project_root()
    target = Path(out) / "book"
    target.mkdir(parents=True, exist_ok=True)
    done = []
    for nb in notebooks(root):
        if only is not None and nb.stem not in only:
            continue
        dest = target / nb.name
        pm.execute_notebook(str(nb), str(dest), parameters=params_for(nb, params), kernel_name=kernel, cwd=str(target),
                            progress_bar=False, execution_timeout=timeout)
        done.append(dest)
    return done


def check_chapters(names, *, device: str, out, profile: str = "quick", timeout: int = 900):
    """Execute the chapters ``names`` with papermill on ``device`` (``profile`` "quick": the test suite's
    sizes) into ``out/book/``, each on its own, and report every one: a pandas DataFrame with ``chapter``,
    ``status`` ("ok" or "failed"), ``seconds`` and ``error`` (the exception's last line). The first run on a
    GPU machine (``benchmarks/device_check.sh``) checks so the notebooks a Colab researcher runs; a chapter
    that fails does not stop the others."""
    import time

    import pandas as pd

    root = project_root()
    known = {nb.stem for nb in notebooks(root)}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"names: no chapter {', '.join(unknown)} (chapters: {', '.join(sorted(known))})")
    rows = []
    for name in names:
        start = time.perf_counter()
        try:
            execute({"device": device, "profile": profile}, Path(out), root=root, timeout=timeout, only=[name])
            status, error = "ok", ""
        except Exception as exc:  # a failed chapter is reported, the next one still runs
            status, error = "failed", (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
        rows.append({"chapter": name, "device": device, "status": status,
                     "seconds": round(time.perf_counter() - start, 1), "error": error})
    return pd.DataFrame(rows)


def glue_all(values: dict, *, prefix: str = "", skip=()) -> None:
    """Glue every value of ``values`` for the page's text (myst-nb's ``glue``, not displayed) under
    ``prefix`` + its key, leaving out the keys in ``skip``. The one loop every study chapter needs; returns
    nothing, so that a cell ending with it shows nothing."""
    from myst_nb import glue

    for key, value in values.items():
        if key not in skip:
            glue(f"{prefix}{key}", value, display=False)


#: Parameters that name files or folders: relative ones are read from the caller's directory.
PATH_PARAMS = ("dataset", "msd_root", "study_results", "live_study_file")


def resolve_paths(params: dict, base) -> dict:
    """``params`` with relative paths in :data:`PATH_PARAMS` (also inside ``notebooks:``) made absolute
    against ``base``; phantom kinds (``spleen_ct``, ``lesion_pet``) are names, not paths, and stay. The
    notebooks run with papermill in ``OUT/book``, so a relative path must not be read from there."""
    from .data import KINDS
    from .examples import NAMED_DATASETS  # names a chapter resolves itself, not paths

    def fix(values: dict) -> dict:
        out = dict(values)
        for key in PATH_PARAMS:
            value = out.get(key)
            if (isinstance(value, str) and value and value not in KINDS + NAMED_DATASETS
                    and not Path(value).is_absolute()):
                out[key] = str((Path(base) / value).resolve())
        return out

    resolved = fix(params)
    if isinstance(params.get("notebooks"), dict):
        resolved["notebooks"] = {name: fix(v) if isinstance(v, dict) else v for name, v in params["notebooks"].items()}
    return resolved


#: Seconds a cell may run under ``gtg book run`` unless the parameter file or ``--timeout`` says otherwise
#: (the chapters on phantoms run in minutes; a real-data parameter file says ``timeout: none``).
DEFAULT_CELL_TIMEOUT = 900


def cell_timeout(value) -> int | None:
    """A cell time limit as papermill takes it: seconds (a positive integer), or None for no limit
    (``none``, ``null``, 0 or a negative number). Raises ValueError naming the value otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"timeout must be seconds or 'none', got {value!r}") from None
    return seconds if seconds > 0 else None


def run(params, out, *, root: Path | None = None, timeout="default") -> int:
    """``gtg book run``: execute the notebooks with a parameter file and build a book of the executed copies
    in ``out/_build/html`` (the copies are not executed again). Relative paths among the parameters are
    read from the current directory (:func:`resolve_paths`).

    ``timeout``: seconds a cell may run (:func:`cell_timeout`; None: no limit); by default the parameter
    file's ``timeout`` key, else :data:`DEFAULT_CELL_TIMEOUT`. The real-data files train for hours in one
    cell and say ``timeout: none``."""
    root = root or project_root()
    out = Path(out)
    values = dict(load_params(params) if not isinstance(params, dict) else params)
    from_file = values.pop("timeout", DEFAULT_CELL_TIMEOUT)
    limit = cell_timeout(from_file if timeout == "default" else timeout)
    values = resolve_paths(values, Path.cwd())
    execute(values, out, root=root, timeout=limit)
    for name in ROOT_FILES:
        shutil.copy(root / name, out / name)
    for extra in (root / "book").glob("*"):
        if extra.suffix in (".bib", ".md") and not (out / "book" / extra.name).exists():
            shutil.copy(extra, out / "book" / extra.name)
    config = yaml.safe_load((out / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return _jupyter_book(["build", str(out)]) or _check_glue(out / "book")


def build(params=None, out=None) -> int:
    """``make book``: build ``_build/html`` from the checkout, executing every notebook (``_config.yml``). With
    ``params``, the same as :func:`run` into ``out`` (default ``_build/papermill``)."""
    root = project_root()
    if params is not None:
        return run(params, out or root / "_build" / "papermill", root=root)
    return _jupyter_book(["build", str(root)]) or _check_glue(root / "_build" / "jupyter_execute" / "book")


#: A glued value referenced in a page's text: {glue}`name`, {glue:text}`name:.1f`, {glue:md}`name` ...
GLUE_REFERENCE = re.compile(r"\{glue(?::[a-z]+)?\}`([^`:]+)(?::[^`]*)?`")


def glued_values(folder) -> dict:
    """What the executed notebooks in ``folder`` glued (myst-nb's ``glue``, as the book shows it): page (the
    notebook's stem) -> name -> the value's text (its ``text/plain``). ``folder``: a build's
    ``_build/jupyter_execute/book`` or the ``book`` folder of :func:`run`'s output. Glued figures are left
    out. A before / after comparison of two builds is a comparison of two such mappings."""
    import json

    out = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        store = path.with_suffix(".glue.json")  # a jupyter-book build keeps them beside the page
        if store.is_file():
            outputs = list(json.loads(store.read_text(encoding="utf-8")).values())
        else:  # papermill's executed copy holds them as outputs
            outputs = [o for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"
                       for o in c.get("outputs", [])]
        values = {}
        for output in outputs:
            scrapbook = output.get("metadata", {}).get("scrapbook", {})
            data = output.get("data", {})
            if any("image/" in mime for mime in data):  # a glued figure is no value
                continue
            if "name" in scrapbook:  # a value glued without display is kept under papermill's mime prefix
                text = data.get("text/plain", data.get(scrapbook.get("mime_prefix", "") + "text/plain", ""))
                values[scrapbook["name"]] = "".join(text)
        out[path.stem] = values
    return out


def glue_references(notebook) -> set:
    """The glued names a notebook's markdown cells show (:data:`GLUE_REFERENCE`)."""
    import json

    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    return {m.group(1) for c in cells if c["cell_type"] == "markdown" for m in GLUE_REFERENCE.finditer("".join(c["source"]))}


def missing_glue(folder) -> list[str]:
    """Every glued name a page of ``folder`` (executed notebooks) shows but did not glue, as "page: name".
    myst-nb only warns about those and prints nothing in their place."""
    glued = glued_values(folder)
    return [f"{page}: {name}" for page in glued
            for name in sorted(glue_references(Path(folder) / f"{page}.ipynb") - set(glued[page]))]


def _check_glue(folder) -> int:
    """1 (a failed build) with the missing names on stderr when a page shows a value it did not glue."""
    missing = missing_glue(folder)
    if missing:
        print("the book shows glued values that no cell glued: " + "; ".join(missing), file=sys.stderr)
    return int(bool(missing))


#: The line of every notebook's setup cell that names the book's repository, as it reads inside the notebook's
#: JSON (its quotes escaped); kept in step with _config.yml.
REPOSITORY_LINE = re.compile(r'GTG_REPOSITORY = \\"[^"\\]*\\"')

#: The repository the book names until it is published (anyone could register it): no button leads there.
PLACEHOLDER_REPOSITORY = "https://github.com/gtg-book/gtg"
COLAB_URL = "https://colab.research.google.com"


def buttons_on(root: Path | None = None) -> bool:
    """Whether the built book renders the Colab (launch) and repository buttons: ``_config.yml``'s
    ``launch_buttons.colab_url`` and ``html.use_repository_button``, both on only for a real repository."""
    config = yaml.safe_load(((root or project_root()) / "_config.yml").read_text(encoding="utf-8"))
    return bool(config["launch_buttons"].get("colab_url")) and bool(config["html"].get("use_repository_button"))


def repository(root: Path | None = None) -> str:
    """The book's repository URL, as ``_config.yml`` names it (the launch buttons and the setup cells)."""
    root = root or project_root()
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]


def set_repository(url: str, root: Path | None = None) -> list[Path]:
    """``gtg book set-repository URL``: name the published repository in the one place that names it,
    ``_config.yml`` (launch and repository buttons, turned on for a real repository and off for
    :data:`PLACEHOLDER_REPOSITORY`), and in the setup cell of every notebook (what Colab installs from), so
    that a publisher changes them together. ``url``: https://github.com/OWNER/NAME.
    Returns the files changed; raises ValueError naming ``url`` when it is not a GitHub repository URL."""
    if not re.fullmatch(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", url or ""):
        raise ValueError(f"url must be https://github.com/OWNER/NAME, got {url!r}")
    root = root or project_root()
    config_path = root / "_config.yml"
    old = repository(root)
    text = config_path.read_text(encoding="utf-8")
    changed = []
    real = url != PLACEHOLDER_REPOSITORY  # the buttons lead somewhere only then
    updated = text.replace(f"url: {old}", f"url: {url}", 1)
    updated = re.sub(r'(?m)^(  colab_url: )"[^"]*"', lambda m: f'{m.group(1)}"{COLAB_URL if real else ""}"',
                     updated, count=1)
    updated = re.sub(r"(?m)^(  use_repository_button: )(true|false)", lambda m: m.group(1) + str(real).lower(),
                     updated, count=1)
    if updated != text:
        config_path.write_text(updated, encoding="utf-8")
        changed.append(config_path)
    for nb in notebooks(root):
        source = nb.read_text(encoding="utf-8")
        updated = REPOSITORY_LINE.sub(lambda _: f'GTG_REPOSITORY = \\"{url}\\"', source, count=1)
        if updated != source:
            nb.write_text(updated, encoding="utf-8")
            changed.append(nb)
    if repository(root) != url:
        raise RuntimeError(f"{config_path}: could not set repository.url to {url}")
    return changed


def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated <script> entries from a page. sphinx-thebe adds its inline ``const THEBE_JS_URL = ...``
    each time Sphinx reads the sources (twice in a Jupyter Book 1 build), and a second ``const`` declaration
    is a SyntaxError in every browser console."""
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for script in scripts:
            # the same inline script arrives with filename None and with '': compare what the page gets
            key = (str(getattr(script, "filename", script) or ""),
                   tuple(sorted(getattr(script, "attributes", {}).items())))
            if key not in seen:
                seen.add(key)
                unique.append(script)
        context["script_files"] = unique


STATIC = Path(__file__).resolve().parent / "_static"


def _add_static(app) -> None:
    """gtg_core's static files (gtg.css, gtg.js) and its favicon (no 404 on every page served over http), for
    a build of the checkout and for ``gtg book run``'s copy alike."""
    app.config.html_static_path.append(str(STATIC))
    if not app.config.html_favicon:
        app.config.html_favicon = str(STATIC / "favicon.svg")


#: The element ids sphinx-exercise gives every exercise's and solution's body: the same id on each of them.
REPEATED_IDS = ("exercise-content", "solution-content")


def _unique_ids(app, doctree, docname) -> None:
    """sphinx-exercise names every exercise's body ``exercise-content`` and every solution's
    ``solution-content``: a page with several repeats an id (invalid HTML; a link or a script finds the first
    only). Numbered per page instead (``solution-content-2``); nothing refers to them."""
    from docutils import nodes

    counts = dict.fromkeys(REPEATED_IDS, 0)
    for node in doctree.findall(nodes.Element):
        ids = node.get("ids", [])
        for i, name in enumerate(ids):
            if name in counts:
                counts[name] += 1
                ids[i] = f"{name}-{counts[name]}"


def author_year_label(entry) -> str:
    """The bibliography label of a pybtex entry in the pages' author-year form: "Holm 1979", "Asad and Dorent
    2022" (two authors), "Marinov et al. 2023" (three or more, or a list that ends in "others"); an entry
    without authors: its title up to a colon, with the year unless the title has it."""
    persons = list(entry.persons.get("author") or entry.persons.get("editor") or [])
    year = entry.fields.get("year", "")
    names = [" ".join(p.last_names) for p in persons if str(p) != "others"]
    more = len(names) > 2 or len(names) < len(persons)
    if not names:  # e.g. a challenge: its title up to the colon ("CVPR 2025")
        who = str(entry.fields.get("title", entry.key)).replace("{", "").replace("}", "").split(":")[0]
        return who if year in who else f"{who} {year}".strip()
    if more:
        who = f"{names[0]} et al."
    else:
        who = " and ".join(names)
    return f"{who} {year}".strip()


def _register_author_year_style() -> None:
    """The pybtex style ``gtg_author_year`` (``_config.yml``: ``bibtex_default_style``): unsrt's entries with
    :func:`author_year_label` labels, so the bibliography reads like the pages' author-year citations instead
    of alpha labels ("DP+22")."""
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                yield author_year_label(entry)

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.formatting", "gtg_author_year", AuthorYearStyle, force=True)


def setup(app):
    """The book's Sphinx extension (``_config.yml``: ``sphinx.extra_extensions: [gtg_core.book]``): one
    THEBE_JS_URL script per page, ``gtg.css`` (tables and output lines that wrap at the page's width, decision
    tables as cards on a phone), and element ids that sphinx-exercise repeats numbered per page."""
    app.connect("html-page-context", _unique_scripts, priority=900)
    app.connect("doctree-resolved", _unique_ids)
    _register_author_year_style()
    app.connect("builder-inited", _add_static)
    app.add_css_file("gtg.css")
    app.add_js_file("gtg.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
