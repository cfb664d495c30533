# make test  : set up .venv (torch, FastGeodis, the package with its extras) and run every test
# make book  : set up, execute the notebooks on the embedded synthetic phantoms, build the HTML book
# make bench : the speed comparisons against MONAI / scipy / FastGeodis (writes benchmarks/results/)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.gtg-installed

.PHONY: test-other-python setup test book bench browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch only when none is importable: an unpinned torch would pull a multi-GB CUDA build
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install torch==2.13.0
	# FastGeodis is source-only and imports pkg_resources: build it against the installed torch
	$(PIP) install "setuptools<81" ninja wheel
	$(PY) -c "import FastGeodis" 2>/dev/null || $(PIP) install --no-build-isolation FastGeodis==1.0.5
	$(PIP) install --no-build-isolation -e ".[book,test,cluster]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# Debian's chromium + chromedriver for the browser tests: skipped when they cannot be installed, unless
# GTG_REQUIRE_BROWSER=1 (CI: .ci/run), where that fails the target and the tests
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "chromium could not be installed: the browser tests will be skipped"; \
	  else echo "no chromium: the browser tests will be skipped"; fi; fi
	@if [ "$${GTG_REQUIRE_BROWSER:-0}" = 1 ] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then \
	  echo "GTG_REQUIRE_BROWSER=1 and no chromium/chromedriver: failing" >&2; exit 1; fi

test: setup browser
	$(PY) -m pytest -q -ra tests

# The fast tests under another patch release of the venv's Python (Debian 12's /usr/bin/python3.11 is 3.11.2,
# whose standard library lacks 3.11.4's additions), reusing the venv's packages (the same ABI). Skipped,
# saying so, where no such interpreter is here. OTHER_PYTHON names another one. The book tests read the book
# `make book` built (GTG_BOOK_BUILD, default _build), as .ci/run runs them. What pyproject.toml pins only for
# that interpreter (soupsieve<3 before 3.11.7) is installed beside the venv's packages for the run.
OTHER_PYTHON ?= /usr/bin/python3
test-other-python: setup
	@site=$$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"); \
	mine=$$($(PY) -c "import sys; print('%d.%d.%d' % sys.version_info[:3])"); \
	if ! command -v $(OTHER_PYTHON) >/dev/null; then echo "no $(OTHER_PYTHON): skipped"; exit 0; fi; \
	other=$$($(OTHER_PYTHON) -c "import sys; print('%d.%d.%d' % sys.version_info[:3])"); \
	if [ "$$other" = "$$mine" ] || [ "$${other%.*}" != "$${mine%.*}" ]; then \
	  echo "$(OTHER_PYTHON) is $$other, the venv $$mine: no other patch release of $${mine%.*} here: skipped"; exit 0; fi; \
	echo "the fast tests under $(OTHER_PYTHON) $$other (the venv: $$mine)"; \
	extra=$(VENV)/other-python-site; rm -rf $$extra; \
	if $(OTHER_PYTHON) -c "import sys; sys.exit(not (3, 11) <= sys.version_info[:3] < (3, 11, 7))"; then \
	  $(PIP) install --no-deps --target $$extra "soupsieve<3"; fi; \
	GTG_BOOK_BUILD="$${GTG_BOOK_BUILD:-$$PWD/_build}" PYTHONPATH="$$extra:$$site:$$PWD" $(OTHER_PYTHON) -m pytest -q -ra -m "not slow" -p no:cacheprovider tests

book: setup
	$(VENV)/bin/gtg book build

bench: setup
	$(VENV)/bin/gtg bench guidance
	$(VENV)/bin/gtg bench clicks
	$(VENV)/bin/gtg bench train
	$(VENV)/bin/gtg bench data
	$(VENV)/bin/gtg bench ops
	$(VENV)/bin/gtg bench local
	$(VENV)/bin/gtg bench study
	$(VENV)/bin/gtg bench run

clean:
	rm -rf _build book/_executed
