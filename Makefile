# stockpredictor: `make demo` runs the product offline, `make test` runs the test suite.
# Both create .venv and install the project on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export STOCKPREDICTOR_DATA_DIR ?= $(CURDIR)/data

.DEFAULT_GOAL := help

LOCK := requirements.lock

# Exactly the lock, nothing resolved here: hashed pins first, then the project itself with no
# dependencies and the locked build backend; `lock.py --sync` drops whatever an older install left.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(VENV_BIN)/python || $(PYTHON) -m venv $(VENV)
	$(VENV_BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(VENV_BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(VENV_BIN)/python scripts/lock.py --sync
	$(VENV_BIN)/python scripts/lock.py --check
	touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install exactly requirements.lock, then the project

.PHONY: lock
lock: ## Resolve pyproject.toml afresh into requirements.lock and images/requirements-runtime.lock (commit both)
	$(PYTHON) scripts/lock.py

.PHONY: demo
demo: $(STAMP) ## A month of the product's daily operations, offline, on the bundled sample data
	bash scripts/demo.sh

MLFLOW_UI_PORT ?= 5000
.PHONY: mlflow-ui
mlflow-ui: $(STAMP) ## MLflow's UI on the embedded store (data/mlflow.db) at http://127.0.0.1:5000 (MLFLOW_UI_PORT)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(VENV_BIN)/mlflow ui --workers 1 --host 127.0.0.1 \
	  --port $(MLFLOW_UI_PORT) --backend-store-uri sqlite:///$(STOCKPREDICTOR_DATA_DIR)/mlflow.db

.PHONY: test
test: $(STAMP) ## Run the test suite (needs PostgreSQL at 127.0.0.1:5432 for the postgres tests)
	$(VENV_BIN)/python -m pytest

.PHONY: test-fast
test-fast: $(STAMP) ## Run the tests that neither train models nor run pipelines (pytest -m "not slow")
	$(VENV_BIN)/python -m pytest -m "not slow"

.PHONY: lint
lint: $(STAMP) ## ruff + mypy
	$(VENV_BIN)/ruff check src tests components pipelines bench
	$(VENV_BIN)/ruff format --check src tests components pipelines bench
	$(VENV_BIN)/mypy

.PHONY: format
format: $(STAMP) ## Format the code with ruff
	$(VENV_BIN)/ruff check --fix src tests components pipelines bench
	$(VENV_BIN)/ruff format src tests components pipelines bench

.PHONY: compile
compile: $(STAMP) ## Compile the KFP pipelines to pipelines/training.yaml and pipelines/daily.yaml
	$(VENV_BIN)/python -m pipelines.compile

.PHONY: bench
bench: $(STAMP) ## Run the benchmarks and print their figures
	$(VENV_BIN)/python -m bench

.PHONY: clean-data
clean-data: ## Delete the embedded store (data/)
	rm -rf data

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

-include mk/cluster.mk
