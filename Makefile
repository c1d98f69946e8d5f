# Development tasks. `make test` on a fresh Debian/Ubuntu machine (as root)
# creates .venv, installs the system libraries Qt needs and runs the tests.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Libraries Qt's xcb platform plugin links against, and Xvfb for a
# virtual display; most are present on a desktop, few on a server or image.
SYSDEPS := xvfb xauth libgl1 libegl1 libglib2.0-0 libdbus-1-3 libfontconfig1 \
	libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 \
	libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 \
	libxcb-cursor0

# Prints the path of the Qt binding's X11 platform plugin (PyQt6, else PyQt5),
# whose libraries sysdeps checks.
define QXCB
import importlib.util, pathlib
name = next(n for n in ("PyQt6", "PyQt5") if importlib.util.find_spec(n))
root = pathlib.Path(importlib.util.find_spec(name).origin).parent
print(next(root.glob("Qt*/plugins/platforms/libqxcb.so")))
endef
export QXCB

# Without a display the demo and the benchmarks run in a virtual X server
# (tests get theirs from pytest-xvfb).
HEADLESS := $(if $(DISPLAY),,xvfb-run -a)

# Extra arguments, e.g. make test PYTEST_ARGS="-m 'not slow'",
# make demo DEMO_ARGS="--time-budget 30", make bench BENCH_ARGS=--quick
PYTEST_ARGS ?=
# Test processes (pytest-xdist): many tests wait on subprocesses, dask workers or
# Qt, so two share two cores well; TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= 2
DEMO_ARGS ?=
BENCH_ARGS ?=

.PHONY: prior superres-priors venv sysdeps test test-bench demo napari bench clean

venv: $(STAMP)

# torch goes in first, pinned, so pip takes the CPU wheel; every later install
# is held to the same pin by constraints.txt (an unpinned torch pulls CUDA).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -c constraints.txt -e ".[testing,bench,bioimageio,zarr]"
	touch $@

sysdeps: venv
	@qxcb=$$($(PY) -c "$$QXCB"); \
	if { [ -n "$$DISPLAY" ] || command -v xvfb-run >/dev/null; } && ! ldd "$$qxcb" | grep -q "not found"; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(SYSDEPS); \
	else \
		echo "Qt or Xvfb libraries are missing; install them (as root): apt-get install $(SYSDEPS)" >&2; \
		exit 1; \
	fi

test: sysdeps
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The benchmark harness's smoke tests: each benchmark module run end to end at tiny
# sizes (about six minutes on two cores; make test leaves them out).
test-bench: sysdeps
	$(PY) -m pytest -n $(TEST_WORKERS) -m bench $(PYTEST_ARGS)

demo: sysdeps
	$(HEADLESS) $(PY) -m napari_autoencoders.demo $(DEMO_ARGS)

napari: sysdeps
	$(VENV)/bin/napari -w napari-autoencoders __all__

# the responsiveness benchmark opens a napari window: a virtual display where there is none
bench: sysdeps
	$(HEADLESS) $(PY) bench/run.py $(BENCH_ARGS)

# Retrains the shipped denoising prior in its four stages (photographs for 75 minutes on one
# core, then with dead-leaves images for 40 on two, then with Poisson-Gaussian noise on half
# the batches for 35 on two, then with fluorescence-like images and more photographs for 60 on
# two); PRIOR_ARGS e.g. --seconds 600 for all four.
PRIOR_WEIGHTS = src/napari_autoencoders/core/weights/gaussian-prior.safetensors
prior: venv
	$(PY) tools/pretrain_prior.py --output $(PRIOR_WEIGHTS) $(PRIOR_ARGS)
	$(PY) tools/pretrain_prior.py --init $(PRIOR_WEIGHTS) --lr 3e-4 --shapes 0.3 --threads 2 \
		--seconds 2400 --output $(PRIOR_WEIGHTS) $(PRIOR_ARGS)
	$(PY) tools/pretrain_prior.py --init $(PRIOR_WEIGHTS) --lr 2e-4 --shapes 0.3 --poisson 0.5 \
		--threads 2 --seconds 2100 --output $(PRIOR_WEIGHTS) $(PRIOR_ARGS)
	$(PY) tools/pretrain_prior.py --init $(PRIOR_WEIGHTS) --lr 2e-4 --shapes 0.4 --fluorescence \
		--poisson 0.5 --threads 2 --seconds 3600 --output $(PRIOR_WEIGHTS) $(PRIOR_ARGS)

# Retrains the shipped super-resolution priors, x2, x3 and x4 side by side (45 minutes on 2
# cores); SUPERRES_ARGS e.g. --seconds 600.
superres-priors: venv
	for factor in 2 3 4; do \
		$(PY) tools/pretrain_superres.py --factor $$factor $(SUPERRES_ARGS) \
			--output src/napari_autoencoders/core/weights/superres-x$$factor.safetensors & \
	done; wait

# Keeps .venv, which takes minutes to rebuild; `rm -rf .venv` for a fresh one.
clean:
	rm -rf build dist demo_output bench/output .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
