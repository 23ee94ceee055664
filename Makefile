# greenrow: `make run` starts the service, `make test` runs the whole test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test venv clean cluster

run: $(VENV)/.runtime
	$(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

# nginx (Debian's package) on PORT (8080) in front of two instances of two workers, one PostgreSQL.
cluster: $(VENV)/.runtime
	$(BIN)/python -m deploy.cluster

# Two test processes (pytest-xdist), each test module kept in one: the suite waits on real processes
# far more than it computes, and runs in about half the time.
# promtool and prometheus (Debian's prometheus package) lint /metrics and scrape a cluster in the tests.
test: $(VENV)/.dev
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { echo "make test needs Debian's prometheus package (promtool, prometheus): apt-get install prometheus"; exit 2; }
	$(BIN)/python -m pytest -n 2 --dist loadfile tests

venv: $(VENV)/.dev

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "greenrow needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $@

$(VENV)/.runtime: $(VENV)/.python requirements.txt
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) var/test-* var/chaos

# `make bench` (not part of `make test`): greenrow vs the asyncio peer and the Elixir reference, see bench/README.md.
# Knobs: BENCH_RUNS=3, BENCH_SCALE=0 (skip the 100k-row scale run), BENCH_QUICK=1 (2,000 rows, 1 run, no scale).
.PHONY: bench profile
bench: $(VENV)/.dev
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/run_bench.py

# One seed run with py-spy on every worker: bench/results/profiles/<stamp>.md. Knobs: PROFILE_LOAD=0, PROFILE_ROWS, PROFILE_CONCURRENCY.
profile: $(VENV)/.dev
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/profile_run.py

# `make chaos` (not part of `make test`): faults drawn from CHAOS_SEED against 2 instances x 2 workers behind
# nginx at the seed's scale, then the checker; exit 1 on any violation. Knobs: see the README (Chaos run).
.PHONY: chaos
chaos: $(VENV)/.dev
	$(BIN)/python -m chaos
