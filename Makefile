# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/crmbot demo

# Whole files per worker (--dist loadfile): a module's fixtures and tallies stay in one process.
# One worker more than the cores: some tests wait on real processes and servers, and the spare
# worker's CPU work fills those waits.
WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: $(STAMP)
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) crmbot-demo.db crmbot-demo.db-wal crmbot-demo.db-shm
