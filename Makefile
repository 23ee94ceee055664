# greenrow: `make run` starts the service, `make test` runs the whole test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The embedded PostgreSQL's data folder (make run without DATABASE_URL), as config/embedded_postgres.py finds it.
PGDATA_DIR := $(or $(GREENROW_PGDATA),var/pgdata)

.PHONY: run test venv clean cluster reset

run: $(VENV)/.runtime
	$(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

# nginx (Debian's package) on PORT (8080) in front of two instances of two workers, one PostgreSQL.
cluster: $(VENV)/.runtime
	$(BIN)/python -m deploy.cluster

# Two test processes (pytest-xdist), each test module kept in one: the suite waits on real processes
# far more than it computes, and runs in about half the time.
# promtool and prometheus (Debian's prometheus package) lint /metrics and scrape a cluster in the tests;
# chromium and chromedriver (Debian's chromium, chromium-driver) load the dashboard in a real browser.
test: $(VENV)/.dev
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { echo "make test needs Debian's prometheus package (promtool, prometheus): apt-get install prometheus"; exit 2; }
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { echo "make test needs Debian's chromium and chromium-driver packages (the dashboard's browser test): apt-get install chromium chromium-driver"; exit 2; }
	$(BIN)/python -m pytest -n 2 --dist loadfile tests --ignore=tests/containers

venv: $(VENV)/.dev

# pip shows what it downloads and installs (the first install is about 100 MB): no --quiet.
$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "greenrow needs Python 3.11 or newer (set PYTHON=python3.11)")'
	@echo "greenrow: creating $(VENV), then installing requirements.txt into it (about 100 MB, once)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	touch $@

$(VENV)/.runtime: $(VENV)/.python requirements.txt requirements-service.txt
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

# Start over: delete the embedded PostgreSQL's data folder (every run, row and message), after checking
# that no server runs on it. With DATABASE_URL set there is nothing here to delete: drop that database.
reset:
	@if [ -n "$$DATABASE_URL" ]; then \
	    echo "make reset: DATABASE_URL is set; make reset only deletes the embedded PostgreSQL's $(PGDATA_DIR): drop and create that database instead" >&2; exit 1; fi
	@pid=$$(head -n 1 "$(PGDATA_DIR)/postmaster.pid" 2>/dev/null); \
	if [ -n "$$pid" ] && kill -0 "$$pid" 2>/dev/null; then \
	    echo "make reset: PostgreSQL (pid $$pid) is running on $(PGDATA_DIR): stop make run first (Ctrl-C)" >&2; exit 1; fi
	rm -rf "$(PGDATA_DIR)"
	@echo "make reset: deleted $(PGDATA_DIR); the next make run starts on an empty database"

clean:
	rm -rf $(VENV) var/test-* var/chaos

# `make bench` (not part of `make test`): greenrow vs the asyncio peer and the Elixir reference, see bench/README.md.
# Knobs: BENCH_RUNS=3, BENCH_SCALE=0 (skip the 100k-row scale run), BENCH_DASHBOARD=0 (skip what watching costs),
# BENCH_QUICK=1 (2,000 rows, 1 run, no scale).
.PHONY: bench profile
bench: $(VENV)/.dev
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/run_bench.py

# One seed run with py-spy on every worker: bench/results/profiles/<stamp>.md. Knobs: PROFILE_LOAD=0, PROFILE_ROWS, PROFILE_CONCURRENCY.
profile: $(VENV)/.dev
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/profile_run.py

# The dashboard's cost on the service (not part of `make test`): bench/dashboard_cost.py, DASHBOARD_ROUNDS (2) rounds.
.PHONY: dashboard-cost
dashboard-cost: $(VENV)/.dev
	$(BIN)/python bench/dashboard_cost.py $(or $(DASHBOARD_ROUNDS),2)

# `make soak` (not part of `make test`): minutes of mixed API traffic through nginx in front of 2 instances x
# 2 workers, then the verdict (no 5xx but 503, every answer as expected, worker memory back). Knobs:
# SOAK_DURATION_S (600), SOAK_RATE (150 requests/s), SOAK_SEED. Report: bench/results/soak-<date>.md.
.PHONY: soak
soak: $(VENV)/.dev
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/soak.py

# `make chaos` (not part of `make test`): faults drawn from CHAOS_SEED against 2 instances x 2 workers behind
# nginx at the seed's scale, then the checker; exit 1 on any violation. Knobs: see the README (Chaos run).
.PHONY: chaos
chaos: $(VENV)/.dev
	$(BIN)/python -m chaos

# `make containers-test` (not part of `make test`; .ci/run runs it after): the Dockerfile and docker-compose.yml
# built and run on rootful podman, with stand-in base images built from Debian packages (README, Containers).
# `make containers-clean` removes podman's storage (the cached stand-ins included).
.PHONY: containers-test containers-clean
containers-test: $(VENV)/.containers
	$(BIN)/python -m deploy.containers check
	$(BIN)/python -m pytest -p no:cacheprovider tests/containers

containers-clean:
	$(PYTHON) -m deploy.containers clean

$(VENV)/.containers: $(VENV)/.dev deploy/containers/requirements.txt
	$(BIN)/pip install --quiet -r deploy/containers/requirements.txt
	touch $@
