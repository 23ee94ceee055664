"""`make chaos` (python -m chaos): one chaos run at the seed's scale; exit 1 on any violation.

Knobs (environment): CHAOS_SEED (replays a run), CHAOS_ROWS, CHAOS_CONCURRENCY, CHAOS_START_VALUE,
CHAOS_TICK_MS, CHAOS_FAULTS, CHAOS_FAULT_KINDS (comma-separated), CHAOS_INSTANCES, CHAOS_WORKERS,
CHAOS_OPS_PER_S, GREENROW_LEASE_TTL_MS, DATABASE_URL (else a PostgreSQL of its own, restarted by a fault).
"""
import sys
import time
from pathlib import Path

from chaos.database import ChaosDatabase
from chaos.report import render
from chaos.run import ChaosConfig, run_chaos, say

REPO = Path(__file__).resolve().parent.parent


def main():
    config = ChaosConfig.from_env()
    say(f"CHAOS_SEED={config.seed} (replay: CHAOS_SEED={config.seed} make chaos); {config.rows} rows, "
        f"max_concurrency {config.max_concurrency}, start_value {config.start_value}, tick_ms {config.tick_ms}")
    workdir = REPO / "var" / "chaos" / time.strftime("%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    database = ChaosDatabase(workdir)
    say(f"{database.describe()}; logs in {workdir.relative_to(REPO)}")
    findings = None
    try:
        findings = run_chaos(config, database.url, workdir, postgres=database.postgres)
    finally:
        database.close(keep=findings is None or bool(findings.violations))
    print(render(config.seed, findings), flush=True)
    return 1 if findings.violations else 0


if __name__ == "__main__":
    sys.exit(main())
