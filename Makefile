# The two commands: `make reproduce` and `make test`. Both create .venv and install first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: install reproduce test test-fast bench lab clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[lab,test,cluster,ui]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (activeloc)" >/dev/null
	touch $(STAMP)

reproduce: $(STAMP)
	$(BIN)/activeloc reproduce --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The fast lane: no notebooks, no browser, nothing slow (about a minute on 2 cores).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow and not notebook and not browser"

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# JupyterLab at the project root (README, reports/ and data/ in its file browser), opened on notebooks/;
# root accounts (containers, CI machines) need Jupyter's explicit consent.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks \
		$(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True)

clean:
	rm -rf reports/notebooks/* reports/figures/* reports/tables/* data/processed/*
