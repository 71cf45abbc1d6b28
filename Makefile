# Set-up and everyday commands. The environment lives in .venv/ and is installed from
# requirements.lock (exact versions tested) plus this package in editable mode.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-slow lint bench bench-scale data env clean

run: $(STAMP)  ## default fit on the shipped data
	$(PY) -m bayes_gravity fit

test: $(STAMP)  ## default (fast) test suite
	$(PY) -m pytest -q

test-slow: $(STAMP)  ## slow statistical recovery / calibration tests
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(VENV)/bin/mypy

bench: $(STAMP)  ## benchmarks: start-up, default fit cold/warm and make run, bambi ratio, real panels
	$(PY) bench/run_all.py

bench-scale: $(STAMP)  ## scale benchmark: SYNTHETIC 25 / 100 / 200 / 1000 partners (long)
	$(PY) bench/run_all.py --case scale

data: $(STAMP)  ## rebuild data/china_central_asia from ../shared/data/raw
	$(PY) scripts/build_dataset.py

env: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || "$$(scripts/find_python.sh)" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on our machines) every command
	# would otherwise recompile pandas/PyMC/PyTensor from source, seconds per process.
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	@touch $(STAMP)

clean:
	rm -rf $(VENV)
