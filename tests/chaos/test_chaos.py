"""A short chaos run, seeded so it replays: faults of several kinds against 2 instances x 2 workers behind
nginx while rows tick and clients cast, call and read; the checker must find no violation.

`make chaos` is the long version (the seed's scale, more faults); this one is small enough for `make test`.
"""
import psycopg2

from chaos import audit
from chaos.report import render
from chaos.run import ChaosConfig, run_chaos

SHORT = ChaosConfig(seed=20261202, rows=2_000, max_concurrency=1_000, start_value=3, tick_ms=1000, faults=4,
                    kinds=("kill_worker", "stop_node", "kill_connections", "kill_instance"), lease_ttl_ms=2000,
                    ledger_rows=200, clients=4, ops_per_s=40.0)


def test_a_short_seeded_chaos_run_finds_no_violation(database_url, tmp_path):
    conn = psycopg2.connect(database_url)
    try:
        audit.install(conn)
    finally:
        conn.close()
    findings = run_chaos(SHORT, database_url, tmp_path)
    table = render(SHORT.seed, findings)
    print(table)
    assert findings.figures["faults"] and sum(findings.figures["faults"].values()) == SHORT.faults, table
    assert findings.violations == [], table
