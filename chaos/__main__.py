"""`make chaos` (python -m chaos): one chaos run at the seed's scale; exit 1 on any violation.

Knobs (environment): CHAOS_SEED (replays a run), CHAOS_ROWS, CHAOS_CONCURRENCY, CHAOS_START_VALUE,
CHAOS_TICK_MS, CHAOS_FAULTS, CHAOS_FAULT_KINDS (comma-separated), CHAOS_INSTANCES, CHAOS_WORKERS,
CHAOS_OPS_PER_S, GREENROW_LEASE_TTL_MS, DATABASE_URL (else an embedded PostgreSQL of its own).
"""
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from chaos.database import REPO, ChaosDatabase
from chaos.report import render
from chaos.run import ChaosConfig, run_chaos, say


def main():
    config = ChaosConfig.from_env()
    say(f"CHAOS_SEED={config.seed} (replay: CHAOS_SEED={config.seed} make chaos); {config.rows} rows, "
        f"max_concurrency {config.max_concurrency}, start_value {config.start_value}, tick_ms {config.tick_ms}")
    database = ChaosDatabase()
    url = database.create()
    workdir = REPO / "var" / "chaos" / time.strftime("%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"database {urlsplit(url).path.lstrip('/')} (kept until the next run); logs in {workdir.relative_to(REPO)}")
    findings = run_chaos(config, url, Path(workdir), postgres=None)
    print(render(config.seed, findings), flush=True)
    return 1 if findings.violations else 0


if __name__ == "__main__":
    sys.exit(main())
