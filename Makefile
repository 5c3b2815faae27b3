# Every target that runs code installs the project first when .venv is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= full
PAPERS := $(notdir $(patsubst %/,%,$(dir $(wildcard papers/*/claims.yaml))))

REPRODUCE_TARGETS := $(addprefix reproduce-,$(PAPERS))

.PHONY: install test lint smoke bench report reproduce-all $(REPRODUCE_TARGETS)

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev,baselines]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check common papers scripts tests

smoke: $(STAMP)
	$(PY) -m pytest -q tests/test_smoke.py

bench: $(STAMP)
	$(PY) scripts/bench.py

report: $(STAMP)
	$(PY) scripts/report.py

# A static pattern rule: make skips plain pattern rules for .PHONY targets.
$(REPRODUCE_TARGETS): reproduce-%: $(STAMP)
	$(PY) scripts/reproduce.py paper=$* scale=$(SCALE) $(ARGS)

reproduce-all: $(STAMP)
	@set -e; for p in $(PAPERS); do $(PY) scripts/reproduce.py paper=$$p scale=$(SCALE) $(ARGS); done
