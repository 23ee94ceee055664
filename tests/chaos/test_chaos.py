"""A short chaos run, seeded so it replays: one fault of every kind against 2 instances x 2 workers behind
nginx, on a PostgreSQL of the test's own (one fault stops and starts it), while rows tick and clients cast,
call and read; the checker must find no violation.

`make chaos` is the long version (the seed's scale, more faults); this one is small enough for `make test`.
"""
from chaos.database import prepare
from chaos.injectors import INJECTORS
from chaos.report import render
from chaos.run import ChaosConfig, run_chaos

SHORT = ChaosConfig(seed=20261202, rows=2_000, max_concurrency=1_000, start_value=3, tick_ms=1000,
                    faults=len(INJECTORS), lease_ttl_ms=2000, ledger_rows=200, clients=4, ops_per_s=40.0)


def test_a_short_seeded_chaos_run_finds_no_violation(controlled_postgres, tmp_path):
    prepare(controlled_postgres.url)
    findings = run_chaos(SHORT, controlled_postgres.url, tmp_path, postgres=controlled_postgres)
    table = render(SHORT.seed, findings)
    print(table)
    assert sorted(findings.figures["faults"]) == sorted(INJECTORS), table
    assert findings.violations == [], table
