# Two entry points do all set-up on a fresh machine:  make smoke   (the main job)   make test
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: smoke test test-slow bench bench-compare browser postgres slurm lint clean claims claims-run

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

# The web-page test drives Debian's chromium headless; without it (no root, no apt) that test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (SUDO=$$(command -v sudo || true); $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	   ($$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q chromium >/dev/null 2>&1)) || \
	  echo "chromium could not be installed: the HTML page test will be skipped"

# The PostgreSQL store tests start a throwaway server with Debian's postgresql (initdb, pg_ctl); without
# it (no root, no apt) they skip with the reason.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || \
	  (SUDO=$$(command -v sudo || true); $$SUDO apt-get install -y -q postgresql >/dev/null 2>&1 || \
	   ($$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q postgresql >/dev/null 2>&1)) || \
	  echo "postgresql could not be installed: the PostgreSQL store tests will be skipped"

# The slurm back-end tests start a throwaway single-node Slurm cluster (.ci/slurm.sh: Debian's slurmctld,
# slurmd and munge on 127.0.0.1); without them (no root, no apt) they skip.
slurm:
	@bash .ci/slurm.sh install || echo "slurm could not be installed: the slurm back-end tests will be skipped"

test: $(STAMP) browser postgres slurm
	$(BIN)/pytest -q

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

bench: $(STAMP)
	$(BIN)/pytest benchmarks --benchmark-enable --benchmark-autosave -q

# compare with the last saved run (make bench first)
bench-compare: $(STAMP)
	$(BIN)/pytest benchmarks --benchmark-enable --benchmark-compare -q

# docs/claims.md is built from the committed claims database, docs/claims.db (results only: metrics,
# per-sample scores, provenance; tests/test_claims.py checks the page is current). `make claims` rebuilds
# the page; `make claims-run SUITE=paper-table1` first records that suite into the database (its cache
# stays in .planeval).
CLAIMS_DB := sqlite:///$(CURDIR)/docs/claims.db
claims: $(STAMP)
	$(BIN)/planeval claims --db $(CLAIMS_DB) -o docs/claims.md

claims-run: $(STAMP)
	$(BIN)/planeval run $(SUITE) --db $(CLAIMS_DB) --executor local-parallel
	$(BIN)/planeval claims --db $(CLAIMS_DB) -o docs/claims.md

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf .planeval .pytest_cache .benchmarks
