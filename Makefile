# Face from Photo — one entry point for set-up, tests, build and the demo.
PY := .venv/bin/python
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
.PHONY: setup test test-fast lint build demo bench clean

setup:
	@bash tools/setup_venv.sh 2>&1 | sed "/^WARNING: Location/d"
	@test -x $(PY)

## The README's test command: set-up, then every test layer (core, Blender, lint, types, artist path).
test: setup
	$(PY) -m pytest

## Everything except the slow tests (zip build, artist path).
test-fast: setup
	$(PY) -m pytest -m "not slow"

lint: setup
	$(PY) -m ruff check .
	$(PY) tools/run_mypy.py

## Installable linux-x64 zip with bundled wheels, written to dist/.
build: setup
	$(PY) tools/build_extension.py

## The main job: reconstruct the bundled sample photo headless into out/.
demo: setup
	$(PY) tools/face_from_photo_cli.py reconstruct examples/astronaut.png -o out/ --format glb --format blend --preview --overwrite

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf dist build .pytest_cache .ruff_cache .mypy_cache
