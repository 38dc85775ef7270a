# Two entry points: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
EXTRAS := dev,postgres,server,langchain,llamaindex,lm,gpu,distributed
LOCK   := requirements.lock
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: venv demo test lint typecheck unit bench-locomo bench-latency lock clean

$(VENV)/.installed: pyproject.toml $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/agentmem demo

lint: venv
	$(VENV)/bin/ruff check agentmem adapters kernels tests examples
	$(VENV)/bin/mypy agentmem kernels adapters

test: venv lint
	bash .ci/postgres.sh
	bash .ci/chromium.sh
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider --durations=15 tests
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider --doctest-modules agentmem adapters kernels

bench-locomo: venv
	$(VENV)/bin/agentmem bench locomo --data ../shared/data/locomo_dev.json

bench-latency: venv
	$(VENV)/bin/agentmem bench latency --n 10000,100000

# Refresh the lock: the newest releases within pyproject's ranges (torch held by constraints.txt),
# frozen into $(LOCK); then the suite runs against them. Commit the lock only if it passes.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip setuptools
	.venv-lock/bin/python -m pip install -q -c constraints.txt torch==2.13.0
	.venv-lock/bin/python -m pip install -q -c constraints.txt -e ".[$(EXTRAS)]"
	{ sed -n '/^#/p' $(LOCK); .venv-lock/bin/python -m pip freeze --all --exclude-editable \
	  | grep -v '^#' | sed 's/^torch==.*/torch==2.13.0/'; } > $(LOCK).new
	rm -rf .venv-lock
	mv $(LOCK).new $(LOCK)
	$(MAKE) test

clean:
	rm -rf $(VENV) .agentmem build *.egg-info
