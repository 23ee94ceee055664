"""PostgreSQL stopped for 5 s in the middle of a ticking run with casts and calls in flight, then started
again (`pg_ctl stop -m fast` / `pg_ctl start` on a server of the test's own): every request sent while it
is down gets a 503 within a second, and the run finishes as if nothing had happened."""
from chaos import faults
from tests.faults import checks
from tests.faults.scenario import FaultScenario
from tests.support.cluster import SHORT_LEASES

OUTAGE_S = 5.0
NODES = 2


def test_requests_get_quick_503s_and_the_run_finishes_exactly_after_postgresql_restarts(
        controlled_postgres, controlled_db, make_service_on):
    service = make_service_on(controlled_postgres.url, workers=NODES, env=SHORT_LEASES)
    scenario = FaultScenario(service, controlled_db, [service]).start()
    scenario.wait_for_progress(0.3)

    outage = faults.stop_postgres_for(controlled_postgres, OUTAGE_S)

    scenario.finish([outage], also=[lambda ops: checks.assert_quick_503s(ops, outage)])
