# synthgap: `make demo` and `make test` set everything up (idempotent), then run.
PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
PIP         := $(PY) -m pip
STAMP       := $(VENV)/.synthgap-installed
TORCH_VER   := 2.13.0
# The CPU build of torch: a local wheel/mirror first, else PyTorch's CPU index.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
# Headless OpenGL through EGL (Mesa llvmpipe on a CPU machine).
SYSTEM_PKGS := libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libglib2.0-0
export PYOPENGL_PLATFORM ?= egl
export PYGLET_HEADLESS := 1
# albumentations asks PyPI for updates on import unless this is set: tests stay offline.
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: all setup system-deps demo test lint bench clean

all: test

system-deps:
	@if ! command -v dpkg >/dev/null 2>&1; then \
	  echo "make: not a Debian/Ubuntu system; make sure EGL + Mesa (libEGL, libGL) are installed" >&2; \
	else \
	  missing=$$(for p in $(SYSTEM_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      echo "make: installing system packages: $$missing" >&2; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	    else \
	      echo "make: missing system packages; run: sudo apt-get install -y $$missing" >&2; exit 1; \
	    fi; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "make: synthgap needs Python >= 3.11 (set PYTHON=python3.11)" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PY) -c 'import torch' 2>/dev/null || \
	  $(PIP) install -q "torch==$(TORCH_VER)+cpu" 2>/dev/null || \
	  $(PIP) install -q "torch==$(TORCH_VER)" --index-url $(TORCH_CPU_INDEX)
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

setup: system-deps $(STAMP)

demo: setup
	$(VENV)/bin/synthgap demo -o demo_out

# lint, then types (strict over the whole package: [tool.mypy] in pyproject.toml), then the
# tests in two processes (pytest-xdist; a test module stays on one)
test: setup
	$(PY) -m ruff check synthgap tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: setup
	$(PY) benchmarks/real_lmo.py --json --figure docs/real_lmo.png
	$(PY) benchmarks/render_throughput.py
	$(PY) benchmarks/face_sketch.py
	$(PY) benchmarks/digits.py
	$(PY) benchmarks/adapt_gap.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache .mypy_cache
