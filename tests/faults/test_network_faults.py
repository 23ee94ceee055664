"""A silent network drop between the nodes and PostgreSQL (every packet to and from its port dropped by
iptables for 6 s, nothing refused or reset) in the middle of a ticking run with casts and calls in flight:
no request hangs past the database network timeout, and the run finishes as if nothing had happened.

Without client-side timeouts a statement caught in such a drop waits on TCP retransmissions for many
minutes (the kernel's default), holding its pool connection, its row server or the lease keeper."""
import pytest

from chaos import faults
from tests.faults import checks
from tests.faults.scenario import FaultScenario
from tests.support.cluster import SHORT_LEASES
from tests.support.database import Db

NODES = 2
NETWORK_TIMEOUT_MS = 3000
DROP_S = 6.0  # twice the timeout: every connection in use breaks, and those opened during it fail
ANSWER_WITHIN_S = NETWORK_TIMEOUT_MS / 1000.0 + 2.0  # the timeout, and a busy machine's margin


def test_no_request_hangs_and_the_run_finishes_exactly_after_a_silent_network_drop(
        controlled_postgres_over_tcp, make_service_on):
    try:
        faults.require_iptables()
    except RuntimeError as exc:  # a missing package fails the test, saying which one (never a skip)
        pytest.fail(str(exc), pytrace=False)
    env = {**SHORT_LEASES, "GREENROW_DB_NETWORK_TIMEOUT_MS": str(NETWORK_TIMEOUT_MS)}
    service = make_service_on(controlled_postgres_over_tcp.url, workers=NODES, env=env)
    scenario = FaultScenario(service, Db(controlled_postgres_over_tcp.url), [service]).start()
    scenario.wait_for_progress(0.3)

    drop = faults.drop_network_for(controlled_postgres_over_tcp.port, DROP_S)

    scenario.finish([drop], also=[lambda ops: checks.assert_answered_within(ops, drop, ANSWER_WITHIN_S)])
