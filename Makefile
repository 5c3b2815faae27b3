# Every target that runs code installs the project first when .venv is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= full
PAPERS := $(notdir $(patsubst %/,%,$(dir $(wildcard papers/*/claims.yaml))))

REPRODUCE_TARGETS := $(addprefix reproduce-,$(PAPERS))

# Each word of ARGS reaches the script as one argument with its quotes intact, so that
# ARGS='overrides=["trainer=gpu"]' works as written (a word may not hold spaces or single quotes).
QUOTED_ARGS := $(foreach word,$(ARGS),'$(word)')

.PHONY: install test test-all lint smoke bench report reproduce-all $(REPRODUCE_TARGETS)

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev,baselines]'
	touch $(STAMP)

# The fast suite (under 10 min on 2 cores); test-all adds the end-to-end runs marked slow (CI runs it).
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" --durations=15

test-all: $(STAMP)
	$(PY) -m pytest -q --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check common papers scripts tests

smoke: $(STAMP)
	$(PY) -m pytest -q -m slow tests/test_smoke.py

bench: $(STAMP)
	$(PY) scripts/bench.py

report: $(STAMP)
	$(PY) scripts/report.py

# A static pattern rule: make skips plain pattern rules for .PHONY targets.
$(REPRODUCE_TARGETS): reproduce-%: $(STAMP)
	$(PY) scripts/reproduce.py paper=$* scale=$(SCALE) $(QUOTED_ARGS)

reproduce-all: $(STAMP)
	@set -e; for p in $(PAPERS); do $(PY) scripts/reproduce.py paper=$$p scale=$(SCALE) $(QUOTED_ARGS); done
