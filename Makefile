# Two entry points do all set-up on a fresh machine:  make smoke   (the main job)   make test
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: smoke test test-slow bench lint clean

# torch is installed pinned first (the CPU wheel); the constraints file keeps every other
# dependency from pulling a different torch build.
$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

smoke: $(STAMP)
	$(BIN)/planeval run smoke

test: $(STAMP)
	$(BIN)/pytest -q

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

bench: $(STAMP)
	$(BIN)/pytest benchmarks --benchmark-enable --benchmark-autosave -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf .planeval .pytest_cache .benchmarks
