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
# Two workers more than the cores: many tests wait on real processes, servers and retries, and
# the spare workers' CPU work fills those waits (on 2 cores: 4 workers 195 s, 3 workers 218 s).
WORKERS ?= $(shell echo $$(( $$(nproc) + 2 )))
test: $(STAMP)
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) crmbot-demo.db crmbot-demo.db-wal crmbot-demo.db-shm
