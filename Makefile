# The two set-up commands of the README: `make run` (main job) and `make test` (the test suite).
# Both create .venv, install torch==2.13.0 first (the CPU wheel; an unpinned torch pulls CUDA), then the project.

VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
EXTRAS  ?= cpu,test
STAMP   := $(VENV)/.installed-$(EXTRAS)

# Nothing calls out: telemetry off; no Hub downloads on machines without internet (override HF_HUB_OFFLINE=0).
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= true
export MLFLOW_DISABLE_TELEMETRY ?= true
export DVC_NO_ANALYTICS ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1
export HF_HUB_OFFLINE ?= 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install run test test-slow bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q torch==2.13.0
	$(PYTHON) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

run: install  ## main job: `dvc repro compare`, the comparison chain (prepare -> train@task -> train_joint -> merge -> compare) on MiniLM
	$(VENV)/bin/dvc repro compare
	cat results/compare/report.md

test: install  ## default suite: unit + integration (real Prefect, MLflow, DVC), no slow tests
	$(PYTHON) -m pytest -q

test-slow: install  ## only the slow tests (full SciFact with the real MiniLM, longer training)
	$(PYTHON) -m pytest -q -m slow

bench: install  ## speed ratios measured side by side: embedding cache (warm/cold), training (ours/sentence-transformers)
	$(PYTHON) benchmarks/embedding_cache.py
	$(PYTHON) benchmarks/train_throughput.py

clean:
	rm -rf .cache results data/prepared
